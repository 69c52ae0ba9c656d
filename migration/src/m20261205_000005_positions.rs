use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: a row's position is `(txid, seq)`, the id of the transaction
/// that wrote it and a number from a sequence. Neither alone is in commit
/// order, but a reader that takes only rows whose transaction id is below
/// its snapshot's xmin (every transaction below it has ended) sees positions
/// appear in order: whatever commits later has a higher `txid`.
/// Existing rows get `txid` 0 and numbers in their old (inserted_at, uuid)
/// order, so they come before every new row, in the order cursors had them.
const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE activities ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0",
    "ALTER TABLE activities ADD COLUMN IF NOT EXISTS seq bigint",
    "UPDATE activities SET seq = o.n \
     FROM (SELECT uuid, row_number() OVER (ORDER BY inserted_at, uuid) AS n FROM activities) AS o \
     WHERE activities.uuid = o.uuid",
    "CREATE SEQUENCE IF NOT EXISTS activities_seq OWNED BY activities.seq",
    "SELECT setval('activities_seq', (SELECT coalesce(max(seq), 0) + 1 FROM activities), false)",
    "ALTER TABLE activities ALTER COLUMN seq SET DEFAULT nextval('activities_seq')",
    "ALTER TABLE activities ALTER COLUMN seq SET NOT NULL",
    // xid8 has no cast to bigint; its text form is the 64-bit epoch-extended
    // id, which never wraps.
    "ALTER TABLE activities ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)",
    "CREATE UNIQUE INDEX IF NOT EXISTS activities_position_idx ON activities (txid, seq)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS activities_position_idx",
    "ALTER TABLE activities DROP COLUMN IF EXISTS seq",
    "DROP SEQUENCE IF EXISTS activities_seq",
    "ALTER TABLE activities DROP COLUMN IF EXISTS txid",
];

/// SQLite: one writer at a time, so the order of writes is the order of
/// commits and `txid` stays 0. `seq` comes from `activity_positions`, a
/// counter that only grows: a rowid or `max(seq) + 1` would hand a number
/// out again once the newest rows are pruned (and VACUUM may renumber
/// rowids), and a client holding that number would skip the new row.
/// The service writes `last + k` for the k-th row of an INSERT (so that
/// RETURNING, which does not see a trigger's changes, reports it); the
/// trigger moves the counter past it.
const SQLITE_UP: &[&str] = &[
    "ALTER TABLE activities ADD COLUMN txid INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE activities ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "UPDATE activities SET seq = o.n \
     FROM (SELECT rowid AS r, row_number() OVER (ORDER BY inserted_at, uuid) AS n FROM activities) AS o \
     WHERE activities.rowid = o.r",
    "CREATE TABLE IF NOT EXISTS activity_positions (\
       id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL)",
    "INSERT INTO activity_positions (id, last) SELECT 1, coalesce(max(seq), 0) FROM activities",
    // A writer that leaves `seq` at its default 0 (an import by hand, a
    // tool) gets the next number here, row by row.
    "CREATE TRIGGER IF NOT EXISTS activities_position AFTER INSERT ON activities BEGIN \
       UPDATE activity_positions SET last = CASE WHEN new.seq = 0 THEN last + 1 \
         ELSE max(last, new.seq) END; \
       UPDATE activities SET seq = (SELECT last FROM activity_positions) \
         WHERE new.seq = 0 AND rowid = new.rowid; \
     END",
    "CREATE UNIQUE INDEX IF NOT EXISTS activities_position_idx ON activities (txid, seq)",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS activities_position_idx",
    "DROP TRIGGER IF EXISTS activities_position",
    "DROP TABLE IF EXISTS activity_positions",
    "ALTER TABLE activities DROP COLUMN seq",
    "ALTER TABLE activities DROP COLUMN txid",
];

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
