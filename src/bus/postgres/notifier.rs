use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connection::CONNECT_TIMEOUT;
use crate::service::LiveStats;

/// Attempts at a failing send once shutdown began, before giving up.
const SHUTDOWN_ATTEMPTS: u32 = 3;

/// How long one of those attempts may take.
const SHUTDOWN_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The first wait after a failed send; it doubles up to the configured maximum.
const RETRY_MIN: Duration = Duration::from_millis(50);

/// Writes waiting to be announced, shared by the bus and its notifier task.
#[derive(Default)]
pub struct Signals {
    state: Mutex<State>,
    wake: Notify,
    failures: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Writes that committed, ever.
    raised: u64,
    /// Writes covered by a notification that was sent.
    sent: u64,
    /// The last send failed.
    failing: bool,
}

impl Signals {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write committed: the next notification covers it.
    pub fn raise(&self) {
        self.lock().raised += 1;
        self.wake.notify_one();
    }

    /// Whether the last send failed.
    pub fn failing(&self) -> bool {
        self.lock().failing
    }

    /// What the notifier has done, for metrics.
    pub fn stats(&self) -> LiveStats {
        let state = self.lock();
        LiveStats {
            unsent: state.raised - state.sent,
            notify_failures: self.failures.load(Ordering::Relaxed),
            notify_dropped: self.dropped.load(Ordering::Relaxed),
            ..LiveStats::default()
        }
    }

    /// The writes raised so far, when some are not covered by a send yet.
    fn unsent(&self) -> Option<u64> {
        let state = self.lock();
        (state.raised > state.sent).then_some(state.raised)
    }

    fn record(&self, covered: Option<u64>) {
        let mut state = self.lock();
        match covered {
            Some(raised) => {
                state.sent = state.sent.max(raised);
                state.failing = false;
            }
            None => state.failing = true,
        }
    }
}

/// The task that sends this instance's notifications.
pub struct Notifier {
    /// A pool of one connection of the notifier's own: only it takes the
    /// commit-time notify lock, and it commits without waiting for the WAL
    /// flush, which the writers' commits must.
    pub pool: PgPool,
    pub channel: String,
    pub signals: std::sync::Arc<Signals>,
    pub max_delay: Duration,
}

impl Notifier {
    /// Sends one notification per round of writes until `shutdown`, then
    /// one last for writes not announced yet.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut delay = RETRY_MIN;
        loop {
            let Some(raised) = self.signals.unsent() else {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.signals.wake.notified() => continue,
                }
            };
            if shutdown.is_cancelled() {
                return self.last_send(raised).await;
            }
            match tokio::time::timeout(CONNECT_TIMEOUT, self.send()).await {
                Ok(Ok(())) => {
                    self.signals.record(Some(raised));
                    delay = RETRY_MIN;
                }
                failed => {
                    let error = match failed {
                        Ok(Err(error)) => error.to_string(),
                        _ => format!("no answer within {CONNECT_TIMEOUT:?}"),
                    };
                    self.signals.failures.fetch_add(1, Ordering::Relaxed);
                    self.signals.record(None);
                    tracing::warn!(%error, retry_in = ?delay, "notifier cannot send; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    delay = (delay * 2).min(self.max_delay.max(RETRY_MIN));
                }
            }
        }
    }

    /// A few quick attempts once shutdown began; other instances still find
    /// the rows on their next poll if all fail.
    async fn last_send(&self, raised: u64) {
        for _ in 0..SHUTDOWN_ATTEMPTS {
            if let Ok(Ok(())) = tokio::time::timeout(SHUTDOWN_SEND_TIMEOUT, self.send()).await {
                self.signals.record(Some(raised));
                return;
            }
        }
        let state = self.signals.lock();
        let lost = state.raised - state.sent;
        drop(state);
        self.signals.dropped.fetch_add(lost, Ordering::Relaxed);
        tracing::warn!(
            lost,
            "shutting down with the database unreachable: other instances find these writes on their next poll"
        );
    }

    async fn send(&self) -> Result<(), sea_orm::sqlx::Error> {
        sea_orm::sqlx::query("SELECT pg_notify($1, '')")
            .bind(&self.channel)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
