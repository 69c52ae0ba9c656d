//! How instances tell each other that rows were committed.
//!
//! The service owns live delivery ([`crate::service::live`]): each process's
//! publisher reads committed rows from the table in position order. A bus
//! only carries the signal that there is something to read, so that other
//! instances read at once instead of at their next poll.

/// One process alone: nothing to tell anyone.
pub mod memory;
/// Between instances on one PostgreSQL, through LISTEN/NOTIFY.
pub mod postgres;

pub use memory::LocalBus;
pub use postgres::PgBus;
