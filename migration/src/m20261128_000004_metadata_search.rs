use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::{run, search_words};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Activities {
    Table,
    SearchText,
}

/// PostgreSQL: containment (`metadata @> …`) and the full-text index over
/// the words the service extracted from the metadata (`search_text`).
const POSTGRES_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS activities_metadata_gin_idx \
     ON activities USING GIN (metadata jsonb_path_ops)",
    "CREATE INDEX IF NOT EXISTS activities_search_text_gin_idx \
     ON activities USING GIN (to_tsvector('simple'::regconfig, search_text))",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS activities_search_text_gin_idx",
    "DROP INDEX IF EXISTS activities_metadata_gin_idx",
];

/// SQLite: an FTS5 index over `search_text`, keyed by the activity's rowid
/// and kept current by triggers, so every writer (the service, the seeder, a
/// prune) keeps it right without knowing of it.
const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS activities_fts USING fts5(\
       search_text, content = 'activities', content_rowid = 'rowid', \
       tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TRIGGER IF NOT EXISTS activities_fts_insert AFTER INSERT ON activities BEGIN \
       INSERT INTO activities_fts (rowid, search_text) VALUES (new.rowid, new.search_text); \
     END",
    "CREATE TRIGGER IF NOT EXISTS activities_fts_delete AFTER DELETE ON activities BEGIN \
       INSERT INTO activities_fts (activities_fts, rowid, search_text) \
       VALUES ('delete', old.rowid, old.search_text); \
     END",
    "CREATE TRIGGER IF NOT EXISTS activities_fts_update AFTER UPDATE OF search_text ON activities BEGIN \
       INSERT INTO activities_fts (activities_fts, rowid, search_text) \
       VALUES ('delete', old.rowid, old.search_text); \
       INSERT INTO activities_fts (rowid, search_text) VALUES (new.rowid, new.search_text); \
     END",
    "INSERT INTO activities_fts (activities_fts) VALUES ('rebuild')",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS activities_fts_update",
    "DROP TRIGGER IF EXISTS activities_fts_delete",
    "DROP TRIGGER IF EXISTS activities_fts_insert",
    "DROP TABLE IF EXISTS activities_fts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The words of the metadata's string and number values, lower-cased
        // and space-separated; written by the service with every activity.
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .add_column(
                        ColumnDef::new(Activities::SearchText)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        // Rows written before this migration get the words the service
        // writes for new ones, by its rule rather than SQL's (see
        // `search_words`); before the indexes, so they are built once.
        search_words::refill(manager).await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_UP).await,
            DatabaseBackend::Sqlite => run(manager, SQLITE_UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_DOWN).await?,
            DatabaseBackend::Sqlite => run(manager, SQLITE_DOWN).await?,
            _ => {}
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .drop_column(Activities::SearchText)
                    .to_owned(),
            )
            .await
    }
}
