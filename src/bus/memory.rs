use std::sync::Arc;

use entity::activity;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::{BusError, BusItem, EventBus};

/// An in-process bus on a tokio broadcast channel: the default, and the right
/// one whenever a single process writes (every SQLite deployment).
#[derive(Clone)]
pub struct MemoryBus {
    sender: broadcast::Sender<Arc<activity::Model>>,
}

impl MemoryBus {
    /// A bus that keeps up to `capacity` events for its slowest subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

#[async_trait::async_trait]
impl EventBus for MemoryBus {
    fn committed(&self, rows: &[activity::Model]) {
        for row in rows {
            // An error only means nobody is subscribed right now.
            let _ = self.sender.send(Arc::new(row.clone()));
        }
    }

    fn subscribe(&self) -> BoxStream<'static, BusItem> {
        BroadcastStream::new(self.sender.subscribe())
            .map(|item| {
                item.map_err(|BroadcastStreamRecvError::Lagged(missed)| BusError::Lagged { missed })
            })
            .boxed()
    }
}
