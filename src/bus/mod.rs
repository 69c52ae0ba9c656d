//! How committed activities reach live subscribers.
//!
//! Writers hand every batch to an [`EventBus`] once it is committed, in
//! commit order, so a rollback publishes nothing. An in-process bus publishes
//! there; a bus that travels through the database hands the rows to a sender
//! of its own, outside the writers' transactions, and the writer waits until
//! they are sent (see [`postgres`] for what that does and does not promise).
//! Subscribers get one stream of committed rows.

use std::sync::Arc;

use entity::activity;
use futures_util::stream::BoxStream;

/// Fans committed rows out to every subscriber of this process.
pub mod memory;
/// Carries committed rows between instances through PostgreSQL LISTEN/NOTIFY.
pub mod postgres;

pub use memory::MemoryBus;
pub use postgres::PgBus;

/// What a subscriber's stream yields.
pub type BusItem = Result<Arc<activity::Model>, BusError>;

/// Why a subscriber's stream stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The subscriber read too slowly and `missed` events were dropped for it.
    #[error("subscriber fell behind and missed {missed} events")]
    Lagged {
        /// How many events it missed.
        missed: u64,
    },
    /// Replaying history for a resuming subscriber failed.
    #[error("replay failed: {0}")]
    Replay(String),
}

/// Counts of what a bus has carried since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Activities handed to this process's subscribers.
    pub published: u64,
    /// Activities received by subscribers (one per subscriber per activity).
    pub delivered: u64,
    /// Times a subscriber fell too far behind and was dropped.
    pub lagged: u64,
    /// Live subscriptions now.
    pub subscribers: u64,
    /// Committed activities waiting to be sent to other instances now.
    pub unsent: u64,
    /// Attempts to send them that failed (each is retried).
    pub notify_failures: u64,
    /// Activities never sent to other instances: given up at shutdown with
    /// the database unreachable, or dropped from a full queue.
    pub notify_dropped: u64,
}

/// Whether the bus is delivering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusHealth {
    /// Delivering.
    Up,
    /// Not delivering now (e.g. reconnecting); what is committed meanwhile is
    /// delivered once it is back.
    Down(String),
}

/// Publishes committed activities and hands out subscriptions to them.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Called once the rows are committed, in commit order; returns once they
    /// are on their way to every subscriber (for a bus that sends them
    /// through the database: once sent, or at once while it cannot send).
    async fn committed(&self, rows: &[activity::Model]);

    /// Every activity committed from now on.
    fn subscribe(&self) -> BoxStream<'static, BusItem>;

    /// Whether the bus is delivering, for readiness checks.
    fn health(&self) -> BusHealth {
        BusHealth::Up
    }

    /// What the bus has carried, for metrics.
    fn stats(&self) -> BusStats;
}
