-- The large tiers' seed, step 1 of 3 (bench/run --rows N runs all three;
-- see rows.sql): drops the secondary indexes and WAL for the load, and
-- writes the people.
\set ON_ERROR_STOP on
-- Secondary indexes are dropped for the load and built once afterwards, from
-- their own definitions: maintaining eleven indexes row by row is most of a
-- 10,000,000-row insert.
CREATE TABLE seed_indexes AS
  SELECT indexname, indexdef FROM pg_indexes
  WHERE schemaname = current_schema() AND tablename = 'activities' AND indexname <> 'activities_pkey';
SELECT format('DROP INDEX %I', indexname) FROM seed_indexes \gexec

-- Unlogged while loading: the rows are written once, without WAL, and
-- after.sql writes the table to WAL in one pass (half the load's time).
ALTER TABLE activities SET UNLOGGED;

-- A deterministic uuid per (kind, number): md5 of text.
CREATE FUNCTION pg_temp.seed_uuid(kind text, n bigint) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || n::text)::uuid $$;
-- A deterministic number in [0, m) per (salt, number): hash spread, not a sequence.
CREATE FUNCTION pg_temp.seed_pick(salt int, n bigint, m int) RETURNS int
  LANGUAGE sql IMMUTABLE AS $$ SELECT ((hashint8(n * 31 + salt)::bigint & 2147483647) % m)::int $$;

INSERT INTO users (uuid, email, first_name, last_name, inserted_at)
SELECT pg_temp.seed_uuid('user', u), 'person' || u || '@example.com', 'Person', 'No. ' || u,
       date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => :days)
FROM generate_series(1, :users) AS u
ON CONFLICT (uuid) DO NOTHING;

