use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use entity::activity;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::{BusError, BusItem, BusStats, EventBus};

/// An in-process bus on a tokio broadcast channel: the default, and the right
/// one whenever a single process writes (every SQLite deployment).
#[derive(Clone)]
pub struct MemoryBus {
    sender: broadcast::Sender<Arc<activity::Model>>,
    stats: Arc<Counters>,
}

/// What the bus has done, counted as it happens.
#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    lagged: AtomicU64,
}

impl MemoryBus {
    /// A bus that keeps up to `capacity` events for its slowest subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            stats: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl EventBus for MemoryBus {
    async fn committed(&self, rows: &[activity::Model]) {
        for row in rows {
            // An error only means nobody is subscribed right now.
            let _ = self.sender.send(Arc::new(row.clone()));
        }
        self.stats
            .published
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
    }

    fn subscribe(&self) -> BoxStream<'static, BusItem> {
        let stats = self.stats.clone();
        BroadcastStream::new(self.sender.subscribe())
            .map(move |item| match item {
                Ok(row) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    Ok(row)
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    stats.lagged.fetch_add(1, Ordering::Relaxed);
                    Err(BusError::Lagged { missed })
                }
            })
            .boxed()
    }

    fn stats(&self) -> BusStats {
        BusStats {
            published: self.stats.published.load(Ordering::Relaxed),
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            lagged: self.stats.lagged.load(Ordering::Relaxed),
            subscribers: self.sender.receiver_count() as u64,
            ..BusStats::default()
        }
    }
}
