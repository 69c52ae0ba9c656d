//! The background job that keeps the feed within its retention, run by one
//! instance at a time however many share the database.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::DatabaseConfig;
use crate::db::{self, AdvisoryLock};
use crate::service::{ActivityFeed, Caller, Result};

/// What one run of the job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It pruned this many activities.
    Pruned(u64),
    /// Another instance holds the retention lock and is pruning.
    Skipped,
}

/// Who may prune now: on PostgreSQL, whoever holds the retention advisory
/// lock of the schema; on SQLite (one process per file), always this process.
#[derive(Debug, Clone)]
pub struct RetentionLock {
    postgres: Option<(String, String)>,
}

impl RetentionLock {
    /// The lock for the database `config` points at.
    pub fn for_database(config: &DatabaseConfig) -> Self {
        let postgres = config
            .url
            .starts_with("postgres")
            .then(|| (config.url.clone(), db::lock_name("retention", config)));
        Self { postgres }
    }
}

/// Prunes to `days` once, unless another instance is pruning.
pub async fn run_once(feed: &ActivityFeed, lock: &RetentionLock, days: u32) -> Result<Outcome> {
    let Some((url, name)) = &lock.postgres else {
        return Ok(Outcome::Pruned(
            feed.prune(&Caller::SYSTEM, days.into()).await?.deleted,
        ));
    };
    let Some(held) = AdvisoryLock::try_acquire(url, name).await? else {
        return Ok(Outcome::Skipped);
    };
    let result = feed.prune(&Caller::SYSTEM, days.into()).await;
    held.release().await;
    Ok(Outcome::Pruned(result?.deleted))
}

/// Prunes to `days` now and then every `interval` until `shutdown`; an
/// interval of zero turns the job off.
pub fn spawn(
    feed: ActivityFeed,
    lock: RetentionLock,
    days: u32,
    interval: Duration,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    if interval.is_zero() {
        tracing::info!("retention job is off");
        return;
    }
    tasks.spawn(async move {
        loop {
            match run_once(&feed, &lock, days).await {
                Ok(Outcome::Skipped) => tracing::info!("another instance is pruning; skipped"),
                Ok(Outcome::Pruned(_)) => {}
                Err(error) => {
                    tracing::error!(%error, "retention prune failed; will try again next interval")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    });
}
