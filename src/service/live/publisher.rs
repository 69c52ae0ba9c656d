//! The publisher: one task per process that reads released rows after the
//! last position it published and hands them to the router.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use entity::activity::{self, Entity};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tail::PAGE;
use super::Health;
use crate::service::position::HORIZON_SQL;
use crate::service::seal::store::chain_epoch;
use crate::service::{ActivityFeed, Position, Result};

/// The longest the publisher waits without a signal: the bound on how late
/// a row whose signal was lost can arrive.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

/// The first wait before reading again when committed rows wait for an
/// older transaction to end; it doubles up to [`PENDING_POLL_MAX`].
const PENDING_POLL_MIN: Duration = Duration::from_millis(2);

/// The longest wait between reads while rows wait to be released.
const PENDING_POLL_MAX: Duration = Duration::from_millis(100);

/// The first wait after a failed read; it doubles up to the configured maximum.
const RETRY_MIN: Duration = Duration::from_millis(100);

impl ActivityFeed {
    /// Starts this process's publisher from the position current now: it
    /// publishes every row released from then on, until `shutdown`.
    ///
    /// It reads through `db`, a pool of its own (one connection is enough),
    /// so that it never waits behind requests for a connection and its
    /// reads are not counted as theirs. `max_retry_delay` bounds the wait
    /// between reads that fail.
    pub async fn start_publisher(
        &self,
        db: sea_orm::DatabaseConnection,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
        max_retry_delay: Duration,
    ) -> Result<()> {
        let feed = Self { db, ..self.clone() };
        let start = feed.current_position().await?;
        {
            let mut progress = self.live.progress();
            if self.db.get_database_backend() == DbBackend::Postgres {
                progress.floor = Some(start);
            }
            progress.health = Health::Up;
        }
        tasks.spawn(async move { feed.publish(start, shutdown, max_retry_delay).await });
        Ok(())
    }

    /// The position below which every row is finished now: what a publisher
    /// that starts now has, in effect, already delivered.
    async fn current_position(&self) -> Result<Position> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => format!("SELECT {HORIZON_SQL}"),
            _ => "SELECT last FROM activity_positions".to_owned(),
        };
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| sea_orm::DbErr::Custom("no current position".into()))?;
        let n: i64 = row.try_get_by_index(0)?;
        Ok(match backend {
            DbBackend::Postgres => Position::before_transaction(n),
            _ => Position { txid: 0, seq: n },
        })
    }

    async fn publish(self, mut last: Position, shutdown: CancellationToken, max_retry: Duration) {
        let mut pending_wait = PENDING_POLL_MIN;
        let mut retry = RETRY_MIN;
        let shared = &self.live.shared;
        shared.running.store(true, Ordering::SeqCst);
        loop {
            let read = shared.reads_started.fetch_add(1, Ordering::SeqCst) + 1;
            // A sealer in this process seals from these rows instead of
            // reading them again; it needs the epoch from before the read
            // to know that no erasure or prune has changed them since.
            let keep = self.released.wanted();
            let epoch = if keep {
                chain_epoch(&self.db).await.ok()
            } else {
                None
            };
            let after = last;
            let tail = self.read_after(Entity::find(), last).await;
            let wait = match tail {
                Ok(tail) => {
                    retry = RETRY_MIN;
                    let full = tail.released.len() as u64 == PAGE;
                    if let Some(newest) = tail.released.last() {
                        last = Position::of(newest);
                    }
                    let rows: Vec<Arc<activity::Model>> =
                        tail.released.into_iter().map(Arc::new).collect();
                    if keep {
                        self.released.push(after, epoch, &rows);
                    }
                    self.live.shared.router.dispatch(&rows);
                    self.live
                        .shared
                        .published
                        .fetch_add(rows.len() as u64, Ordering::Relaxed);
                    {
                        let mut progress = self.live.progress();
                        // Only PostgreSQL shows rows before they are released.
                        if let Some(floor) = progress.floor {
                            let reached = tail.horizon.map_or(last, |h| h.max(last));
                            progress.floor = Some(floor.max(reached));
                        }
                        progress.health = Health::Up;
                    }
                    if full {
                        shared.reads_done.send_replace(read);
                        continue;
                    }
                    if tail.pending {
                        let wait = pending_wait;
                        pending_wait = (pending_wait * 2).min(PENDING_POLL_MAX);
                        wait
                    } else {
                        pending_wait = PENDING_POLL_MIN;
                        IDLE_POLL
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?retry, "cannot read new activities; retrying");
                    self.live.progress().health = Health::Down("reading new activities fails");
                    let wait = retry;
                    retry = (retry * 2).min(max_retry.max(RETRY_MIN));
                    wait
                }
            };
            // Failed or not, writers waiting for this read go on.
            shared.reads_done.send_replace(read);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    shared.running.store(false, Ordering::SeqCst);
                    return;
                }
                _ = self.live.shared.wake.0.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
