//! The background job that keeps the feed within its retention.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::service::{ActivityFeed, Caller};

/// Prunes to `days` now and then every `interval` until `shutdown`; an
/// interval of zero turns the job off.
pub fn spawn(
    feed: ActivityFeed,
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
            if let Err(error) = feed.prune(&Caller::SYSTEM, days.into()).await {
                tracing::error!(%error, "retention prune failed; will try again next interval");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    });
}
