#!/usr/bin/env bash
# What PostgreSQL spends storing seals: one row per activity (the `seals`
# table as migrated) against one row per batch of 2,000 (hashes and uuids
# packed in a bytea, the salts as lines of text). The sealer's INSERT is
# about half of its database work (BENCHMARKS.md, "What the sealer costs
# writers"); this measures how much of it a packed layout would leave.
#
#   bench/seal_storage.sh [rounds] [batches]
#
# It needs only psql and a PostgreSQL at $PGHOST:$PGPORT (default
# 127.0.0.1:5432, user postgres). The batches are built inside the server
# first, so the timings are PostgreSQL's own work on the rows: no client,
# no protocol. Rounds alternate the order on this noisy machine.
# Prints one line per layout and round, then the medians.
#
# Layouts: `per-row`; `per-row-lean`, the least a row per seal can hold
# (position, uuid, the hash as 32 bytes, six raw 16-byte salts; no previous
# position, no JSON) with its primary key; `per-row-no-key`, the same
# without the key, a floor no usable table reaches; `per-batch`, the packed values fresh, as a client
# sends them, so that PostgreSQL compresses them (TOAST) on the way in;
# `per-batch-ext`, the same into columns with `STORAGE EXTERNAL` (stored
# out of line, never compressed). A packed value copied from a table where
# it is already compressed is not compressed again, which is why the
# batches are concatenated afresh: the first version of this script
# inserted them as stored and so timed no compression at all.
set -euo pipefail
rounds="${1:-4}"
batches="${2:-100}"
source "$(dirname "$0")/scratch_db.sh"

q <<SQL
CREATE TABLE seals (txid bigint NOT NULL, seq bigint NOT NULL, activity_uuid uuid NOT NULL,
  prev_txid bigint NOT NULL, prev_seq bigint NOT NULL, hash varchar(64) NOT NULL,
  pruned boolean NOT NULL DEFAULT false, salts text, erased text, form text,
  PRIMARY KEY (txid, seq));
CREATE TABLE seal_batches (txid bigint NOT NULL, seq bigint NOT NULL,
  last_txid bigint NOT NULL, last_seq bigint NOT NULL, sealed bytea NOT NULL, salts text,
  PRIMARY KEY (txid, seq));
CREATE TABLE seals_lean (txid bigint NOT NULL, seq bigint NOT NULL, activity_uuid uuid NOT NULL,
  hash bytea NOT NULL, salts bytea, PRIMARY KEY (txid, seq));
CREATE TABLE seals_no_key (LIKE seals_lean);
CREATE TABLE seal_batches_ext (LIKE seal_batches INCLUDING ALL);
ALTER TABLE seal_batches_ext ALTER sealed SET STORAGE EXTERNAL, ALTER salts SET STORAGE EXTERNAL;
-- A batch as the sealer has it: positions, uuids, hex hashes, salts JSON
-- shaped like a row with an actor and one metadata string.
CREATE TABLE input AS SELECT g AS batch,
  array_agg(g * 10000 + i ORDER BY i) AS t, array_agg(i::bigint ORDER BY i) AS q,
  array_agg(gen_random_uuid() ORDER BY i) AS u,
  array_agg(encode(sha256(int8send(g * 10000 + i)), 'hex') ORDER BY i) AS h,
  array_agg('{"actor_uuid":"' || md5(i::text) || '","metadata":{"title":"'
            || md5((i + 1)::text) || '"}}' ORDER BY i) AS s
  FROM generate_series(1, $batches) g, generate_series(1, 2000) i GROUP BY g;
CREATE TABLE packed AS SELECT batch, t[1] AS first, t[array_length(t, 1)] AS last,
  (SELECT string_agg(decode(x.h, 'hex') || uuid_send(x.u), ''::bytea ORDER BY x.n)
     FROM unnest(h, u) WITH ORDINALITY AS x(h, u, n)) AS sealed,
  array_to_string(s, E'\n') AS salts FROM input;
SQL

# Microseconds per row one layout takes to store every batch, one statement
# and one commit per batch as the sealer writes them, timed inside the
# server (no connection set-up), after a checkpoint so that each layout
# starts from clean pages.
run() {
    local body
    case "$1" in
    per-row) body="FOR r IN SELECT * FROM input ORDER BY batch LOOP
        INSERT INTO seals (txid, seq, activity_uuid, prev_txid, prev_seq, hash, salts)
        SELECT t, q, u, t - 1, q, h, s FROM unnest(r.t, r.q, r.u, r.h, r.s) AS x(t, q, u, h, s);
        COMMIT; END LOOP;" ;;
    per-row-lean) body="FOR r IN SELECT * FROM input ORDER BY batch LOOP
        INSERT INTO seals_lean SELECT t, q, u, decode(h, 'hex'), decode(h, 'hex') || decode(h, 'hex') || decode(h, 'hex')
        FROM unnest(r.t, r.q, r.u, r.h) AS x(t, q, u, h);
        COMMIT; END LOOP;" ;;
    per-row-no-key) body="FOR r IN SELECT * FROM input ORDER BY batch LOOP
        INSERT INTO seals_no_key SELECT t, q, u, decode(h, 'hex'), decode(h, 'hex') || decode(h, 'hex') || decode(h, 'hex')
        FROM unnest(r.t, r.q, r.u, r.h) AS x(t, q, u, h);
        COMMIT; END LOOP;" ;;
    per-batch) body="FOR r IN SELECT * FROM packed ORDER BY batch LOOP
        INSERT INTO seal_batches VALUES (r.first, 0, r.last, 0, r.sealed || ''::bytea, r.salts || '');
        COMMIT; END LOOP;" ;;
    per-batch-ext) body="FOR r IN SELECT * FROM packed ORDER BY batch LOOP
        INSERT INTO seal_batches_ext VALUES (r.first, 0, r.last, 0, r.sealed || ''::bytea, r.salts || '');
        COMMIT; END LOOP;" ;;
    concat) body="FOR r IN SELECT * FROM packed ORDER BY batch LOOP
        PERFORM octet_length(r.sealed || ''::bytea) + octet_length(r.salts || '');
        COMMIT; END LOOP;" ;;
    esac
    q -c "TRUNCATE seals, seals_lean, seals_no_key, seal_batches, seal_batches_ext" -c "CHECKPOINT"
    local took
    took=$(q -c "DO \$\$ DECLARE r record; t0 timestamptz := clock_timestamp(); BEGIN $body
        RAISE NOTICE 'took %', extract(epoch FROM clock_timestamp() - t0); END \$\$;" 2>&1 |
        sed -n 's/.*took //p')
    local size
    size=$(q -Atc "SELECT pg_total_relation_size('seals') + pg_total_relation_size('seals_lean')\
        + pg_total_relation_size('seals_no_key') + pg_total_relation_size('seal_batches')\
        + pg_total_relation_size('seal_batches_ext')")
    awk -v l="$1" -v t="$took" -v n=$((batches * 2000)) -v b="$size" -v r="$2" \
        'BEGIN { printf "round %d %-13s %7.2f µs/row  %6.1f B/row\n", r, l, t * 1e6 / n, b / n }'
}

# `concat` only builds the fresh values and stores nothing: subtract it from
# the two packed layouts to get their storage alone.
layouts="per-row per-row-lean per-row-no-key per-batch per-batch-ext concat"
reversed="concat per-batch-ext per-batch per-row-no-key per-row-lean per-row"
results=$(mktemp)
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then order="$layouts"; else order="$reversed"; fi
    for layout in $order; do run "$layout" "$r" | tee -a "$results"; done
done
for layout in $layouts; do
    grep " $layout " "$results" | awk '{ print $4 }' | sort -n |
        awk -v l="$layout" '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
            printf "median %-13s %7.2f µs/row\n", l, m }'
done
rm -f "$results"
