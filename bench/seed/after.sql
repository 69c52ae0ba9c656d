-- The large tiers' seed, step 3 of 3: the table back to WAL, its indexes
-- built once from their own definitions, statistics.
\set ON_ERROR_STOP on
ALTER TABLE activities SET LOGGED;
SET maintenance_work_mem = '512MB';
SET max_parallel_maintenance_workers = 2;
SELECT indexdef FROM seed_indexes \gexec
DROP TABLE seed_indexes;
VACUUM ANALYZE activities;
VACUUM ANALYZE users;
