//! The database pool: per-backend connection settings, migrations, and a
//! count of the statements it runs (for tests and metrics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseConfig;

/// How many SQL statements the pool has run since it was opened.
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// The number so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens the pool, counting every statement into `counter`.
#[tracing::instrument(skip_all)]
pub async fn connect(
    config: &DatabaseConfig,
    counter: &StatementCounter,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.pool_size.max(1))
        .statement_timeout(config.statement_timeout)
        .sqlx_logging(false)
        // WAL lets readers go on while one writer writes; NORMAL is safe under WAL.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10))
        });
    if let Some(schema) = &config.schema {
        options.set_schema_search_path(schema.clone());
    }
    let mut db = Database::connect(options).await?;
    let counter = counter.0.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(db)
}

/// Applies pending migrations.
#[tracing::instrument(skip_all)]
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
