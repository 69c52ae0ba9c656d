use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::connection;
use crate::service::{Health, Wake};

/// The first wait before reconnecting; it doubles up to the configured maximum.
const RETRY_MIN: Duration = Duration::from_millis(100);

/// The task that owns the listening connection.
pub struct Listener {
    pub url: String,
    pub channel: String,
    pub wake: Wake,
    pub health: Arc<Mutex<Health>>,
    pub max_delay: Duration,
}

impl Listener {
    fn set_health(&self, health: Health) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
    }

    /// Wakes the publisher on every notification. When the connection drops
    /// it reconnects with backoff, then wakes the publisher once: what was
    /// committed meanwhile is in the table, after the publisher's position.
    pub async fn run(self, first: PgListener, shutdown: CancellationToken) {
        let mut listener = Some(first);
        let mut delay = RETRY_MIN;
        loop {
            let mut current = match listener.take() {
                Some(l) => l,
                None => {
                    let connected = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        c = connection::listen(&self.url, &self.channel) => c,
                    };
                    match connected {
                        Ok(l) => l,
                        Err(error) => {
                            tracing::warn!(%error, retry_in = ?delay, "listener cannot reconnect");
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(delay) => {}
                            }
                            delay = (delay * 2).min(self.max_delay.max(RETRY_MIN));
                            continue;
                        }
                    }
                }
            };
            self.set_health(Health::Up);
            self.wake.wake();
            delay = RETRY_MIN;
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = current.try_recv() => n,
                };
                match next {
                    Ok(Some(_)) => {
                        // Whatever else is buffered is folded into the same read.
                        while current.next_buffered().is_some() {}
                        self.wake.wake();
                    }
                    Ok(None) => {
                        tracing::warn!("listener connection lost; reconnecting");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listener connection lost; reconnecting");
                        break;
                    }
                }
            }
            self.set_health(Health::Down("listener reconnecting"));
        }
    }
}
