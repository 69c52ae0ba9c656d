//! The database pool: per-backend connection settings, migrations, and a
//! count of the statements it runs (for tests and metrics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _, PgConnection};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseConfig;

/// Interrupts SQLite statements past their time or their request.
pub mod watchdog;

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
        // sqlx pings a connection on every checkout by default: one more round
        // trip for every statement, doubling a single `log`. Only connections
        // idle long enough to have been dropped by a firewall or proxy are
        // pinged; after a database restart, each hot connection fails one
        // statement and is replaced.
        .test_before_acquire_if_idle_for(std::time::Duration::from_secs(10))
        // WAL lets readers go on while one writer writes; NORMAL is safe under WAL.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10))
        })
        // sqlx prepares every statement, and after five runs PostgreSQL may
        // switch to a generic plan that cannot see the bounds of a `post.*`
        // range, and scans the whole prefix (34 ms against 0.7 ms; see
        // BENCHMARKS.md). Plans made for the actual values are cheap here.
        .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    // PostgreSQL applies the statement timeout itself; on SQLite every
    // checkout arms the connection's watchdog, a new connection too.
    let timeout = config.statement_timeout;
    options.map_sqlx_sqlite_before_acquire(move |conn, _| {
        Box::pin(async move { watchdog::arm(conn, timeout).await.map(|()| true) })
    });
    options.map_sqlx_sqlite_pool_opts(move |pool| {
        pool.after_connect(move |conn, _| Box::pin(watchdog::arm(conn, timeout)))
            .after_release(|conn, _| Box::pin(watchdog::reusable(conn)))
    });
    // sqlx keeps one `after_connect`, and sea-orm's would set the search
    // path: this one does that. (sqlx 0.9.1 sets TCP_NODELAY itself.)
    let search_path = config
        .schema
        .as_ref()
        .map(|schema| format!("SET search_path = \"{}\"", schema.replace('"', "\"\"")));
    options.map_sqlx_postgres_pool_opts(move |pool| {
        let search_path = search_path.clone();
        pool.after_connect(move |conn, _| {
            let search_path = search_path.clone();
            Box::pin(async move {
                if let Some(sql) = search_path {
                    sqlx::Executor::execute(&mut *conn, sqlx::AssertSqlSafe(sql)).await?;
                }
                Ok(())
            })
        })
    });
    let mut db = Database::connect(options).await?;
    let counter = counter.0.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Ok(db)
}

/// Applies pending migrations. On PostgreSQL, instances that start together
/// take turns under an advisory lock instead of racing on the same DDL.
#[tracing::instrument(skip_all)]
pub async fn migrate(db: &DatabaseConnection, config: &DatabaseConfig) -> Result<(), DbErr> {
    if !config.url.starts_with("postgres") {
        return Migrator::up(db, None).await;
    }
    let lock = AdvisoryLock::acquire(&config.url, &lock_name("migrate", config)).await?;
    let result = Migrator::up(db, None).await;
    lock.release().await;
    result
}

/// The name of an advisory lock for `purpose` in the configured schema.
pub fn lock_name(purpose: &str, config: &DatabaseConfig) -> String {
    let schema = config.schema.as_deref().unwrap_or("public");
    format!("activity-feed {purpose} {schema}")
}

/// A PostgreSQL session advisory lock on a connection of its own: held until
/// released, or until the process dies and PostgreSQL drops the connection.
pub struct AdvisoryLock {
    conn: PgConnection,
    name: String,
}

fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(e.to_string())
}

impl AdvisoryLock {
    async fn open(url: &str) -> Result<PgConnection, DbErr> {
        let options: PgConnectOptions = url.parse().map_err(sqlx_err)?;
        options.connect().await.map_err(sqlx_err)
    }

    /// Waits for the lock named `name`.
    pub async fn acquire(url: &str, name: &str) -> Result<Self, DbErr> {
        let mut conn = Self::open(url).await?;
        sea_orm::sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(name)
            .execute(&mut conn)
            .await
            .map_err(sqlx_err)?;
        Ok(Self {
            conn,
            name: name.to_owned(),
        })
    }

    /// Takes the lock named `name` if nobody holds it.
    pub async fn try_acquire(url: &str, name: &str) -> Result<Option<Self>, DbErr> {
        let mut conn = Self::open(url).await?;
        let locked: bool = sea_orm::sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(sqlx_err)?;
        if !locked {
            conn.close().await.ok();
            return Ok(None);
        }
        Ok(Some(Self {
            conn,
            name: name.to_owned(),
        }))
    }

    /// Releases the lock and closes its connection.
    pub async fn release(mut self) {
        let released = sea_orm::sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(&self.name)
            .execute(&mut self.conn)
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, lock = %self.name, "cannot release a lock; it goes with its connection");
        }
        self.conn.close().await.ok();
    }
}
