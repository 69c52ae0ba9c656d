#!/usr/bin/env bash
# What erasure would pay if seals were packed one row per batch: it must
# delete each erased field's salt, and a packed batch's salts are one value,
# so every batch holding a row of the person is rewritten whole. This
# measures the worst case, a person with rows in every batch, against
# updating the same rows' seals one row each as `seals` stores them today.
#
#   bench/seal_erasure.sh [rounds] [batches]
#
# It needs only psql and a PostgreSQL at $PGHOST:$PGPORT (default
# 127.0.0.1:5432, user postgres). Each batch holds 2,000 seals: 64-byte
# entries (position, uuid, hash) and salts as lines of JSON, both columns
# `STORAGE EXTERNAL`; the person has 4 rows in each. Timed inside the
# server, after a checkpoint; the packed rewrite changes every batch's
# salts (a changed value is stored afresh, an unchanged one is not), the
# text edit itself left to the client as a sealer would do it.
set -euo pipefail
rounds="${1:-3}"
batches="${2:-500}"
source "$(dirname "$0")/scratch_db.sh"

q <<SQL
CREATE TABLE seal_batches (last_txid bigint, last_seq bigint, entries bytea NOT NULL,
  salts text NOT NULL, PRIMARY KEY (last_txid, last_seq));
ALTER TABLE seal_batches ALTER entries SET STORAGE EXTERNAL, ALTER salts SET STORAGE EXTERNAL;
INSERT INTO seal_batches SELECT g, 0,
  (SELECT string_agg(sha256(int8send(g * 10000 + i)) || sha256(int8send(i)), ''::bytea)
     FROM generate_series(1, 2000) i),
  (SELECT string_agg('{"actor_uuid":"' || md5((g * 10000 + i)::text) || '","metadata":{"title":"'
     || md5(i::text) || '"}}', E'\n') FROM generate_series(1, 2000) i)
  FROM generate_series(1, $batches) g;
CREATE TABLE seals (txid bigint, seq bigint, salts text, PRIMARY KEY (txid, seq));
INSERT INTO seals SELECT g, i, '{"actor_uuid":"' || md5((g * 10000 + i)::text)
  || '","metadata":{"title":"' || md5(i::text) || '"}}'
  FROM generate_series(1, $batches) g, generate_series(1, 2000) i;
VACUUM ANALYZE;
SQL
echo "$((batches * 2000)) seals; packed $(q -Atc "SELECT pg_size_pretty(pg_total_relation_size('seal_batches'))"), per row $(q -Atc "SELECT pg_size_pretty(pg_total_relation_size('seals'))")"

timed() {
    q -c "CHECKPOINT"
    q -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN $1
        RAISE NOTICE 'took %', extract(epoch FROM clock_timestamp() - t0); END \$\$;" 2>&1 |
        grep -o 'took [0-9.]*' | cut -d' ' -f2
}
for r in $(seq 1 "$rounds"); do
    echo "round $r packed (every batch's salts rewritten): $(timed "UPDATE seal_batches SET salts = salts || ' ';") s"
    echo "round $r per-row (the person's $((batches * 4)) seals updated): $(timed "UPDATE seals SET salts = salts || ' ' WHERE seq IN (1, 500, 1000, 1500);") s"
done
