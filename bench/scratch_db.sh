# Sourced by the psql-only benchmarks (seal_storage.sh, seal_erasure.sh): a
# scratch database of their own on $PGHOST:$PGPORT (default 127.0.0.1:5432,
# user postgres), dropped on exit, and `q`, psql on it that stops at the
# first error.
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
db="af_bench_$(basename "$0" .sh)_$$"
psql -d postgres -qc "CREATE DATABASE $db"
trap 'psql -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
q() { psql -d "$db" -X -q -v ON_ERROR_STOP=1 "$@"; }
