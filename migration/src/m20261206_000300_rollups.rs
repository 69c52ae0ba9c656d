use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: three rollups of activity counts, the watermark position up
/// to which they hold every row, and the staging table one fold or prune
/// batch fills under the rollup lock.
///
/// Text columns take the "C" collation of `activities`, so that prefix
/// ranges and sort order agree with the table. The unique keys treat NULL as
/// a value (PostgreSQL 15), because a NULL module is a group of its own.
/// The rollups start empty at position (0, 0): the server's folder fills
/// them from the table in bounded batches, and every read adds the rows past
/// the watermark, so they are exact from the first moment.
const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS activity_rollup_hours (\
       hour timestamptz NOT NULL, action varchar(100) COLLATE \"C\" NOT NULL, \
       module varchar(50) COLLATE \"C\", mode varchar(20) COLLATE \"C\", \
       resource_type varchar(50) COLLATE \"C\", n bigint NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activity_rollup_hours_key ON activity_rollup_hours \
       (hour, action, module, mode, resource_type) NULLS NOT DISTINCT",
    "CREATE INDEX IF NOT EXISTS activity_rollup_hours_action ON activity_rollup_hours (action, hour)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_totals (\
       action varchar(100) COLLATE \"C\" NOT NULL, module varchar(50) COLLATE \"C\", \
       mode varchar(20) COLLATE \"C\", resource_type varchar(50) COLLATE \"C\", n bigint NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activity_rollup_totals_key ON activity_rollup_totals \
       (action, module, mode, resource_type) NULLS NOT DISTINCT",
    "CREATE TABLE IF NOT EXISTS activity_rollup_hour_totals (\
       hour timestamptz PRIMARY KEY, n bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_mark (\
       id integer PRIMARY KEY CHECK (id = 1), txid bigint NOT NULL, seq bigint NOT NULL)",
    "INSERT INTO activity_rollup_mark (id, txid, seq) VALUES (1, 0, 0) ON CONFLICT DO NOTHING",
    // Emptied at the start of every use and only used inside a transaction,
    // so it needs no WAL.
    "CREATE UNLOGGED TABLE IF NOT EXISTS activity_rollup_delta (\
       hour timestamptz NOT NULL, action varchar(100) COLLATE \"C\" NOT NULL, \
       module varchar(50) COLLATE \"C\", mode varchar(20) COLLATE \"C\", \
       resource_type varchar(50) COLLATE \"C\", n bigint NOT NULL)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS activity_rollup_delta",
    "DROP TABLE IF EXISTS activity_rollup_mark",
    "DROP TABLE IF EXISTS activity_rollup_hour_totals",
    "DROP TABLE IF EXISTS activity_rollup_totals",
    "DROP TABLE IF EXISTS activity_rollup_hours",
];

/// SQLite: the same tables. `hour` is the first 13 characters of the stored
/// RFC 3339 time ("2026-12-06T14"), which sorts and compares as the time does.
/// Its unique indexes let NULLs repeat, but only the folder and prune write
/// these tables, under the write lock, and they merge with `IS`.
const SQLITE_UP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS activity_rollup_hours (\
       hour TEXT NOT NULL, action TEXT NOT NULL, module TEXT, mode TEXT, \
       resource_type TEXT, n INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activity_rollup_hours_key ON activity_rollup_hours \
       (hour, action, module, mode, resource_type)",
    "CREATE INDEX IF NOT EXISTS activity_rollup_hours_action ON activity_rollup_hours (action, hour)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_totals (\
       action TEXT NOT NULL, module TEXT, mode TEXT, resource_type TEXT, n INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activity_rollup_totals_key ON activity_rollup_totals \
       (action, module, mode, resource_type)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_hour_totals (\
       hour TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_mark (\
       id INTEGER PRIMARY KEY CHECK (id = 1), txid INTEGER NOT NULL, seq INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO activity_rollup_mark (id, txid, seq) VALUES (1, 0, 0)",
    "CREATE TABLE IF NOT EXISTS activity_rollup_delta (\
       hour TEXT NOT NULL, action TEXT NOT NULL, module TEXT, mode TEXT, \
       resource_type TEXT, n INTEGER NOT NULL)",
];

const SQLITE_DOWN: &[&str] = POSTGRES_DOWN;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_UP).await,
            DatabaseBackend::Sqlite => run(manager, SQLITE_UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_DOWN).await,
            DatabaseBackend::Sqlite => run(manager, SQLITE_DOWN).await,
            _ => Ok(()),
        }
    }
}
