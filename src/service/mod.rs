//! The activity feed as plain Rust: log, list, count, prune, keep users current.
//!
//! Nothing here knows about GraphQL or HTTP, so a Rust host application can
//! embed [`ActivityFeed`] and call [`ActivityFeed::log`] directly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sea_orm::DatabaseConnection;

/// Who may do what.
pub mod access;
/// Badge colours for actions and modes.
pub mod badge;
/// The time stored for new rows.
mod clock;
/// Grouped counts: their groupings and order.
mod counts;
/// Opaque keyset cursors.
pub mod cursor;
/// The service's error type.
pub mod error;
/// Streaming every matching activity out.
mod export;
/// Which activities a call is about.
pub mod filter;
/// Erasing a person from the log.
pub mod forget;
/// Collapsing runs of the same action on the same resource.
mod group;
/// Metadata as text for people.
pub mod humanize;
/// Live delivery: the publisher, subscriptions, resuming by position.
pub mod live;
/// Writing activities.
mod log;
/// Positions: the order rows become visible in, which live delivery follows.
pub mod position;
/// Deleting activities past their retention.
mod prune;
/// Reading activities: pages, keyset slices, counts, distinct values.
mod query;
/// Replacing sensitive metadata values before they are stored.
pub mod redact;
/// Counts kept per hour and dimension, so totals do not scan the table.
pub mod rollup;
/// Decoding list rows by column position.
pub(crate) mod rows;
/// The hash chain over the log: sealing, signed heads, verification.
pub mod seal;
/// The metadata filters: containment and text search.
pub mod search;
/// Realistic demo data.
pub mod seed;
/// Diffing a user's fields into one activity.
mod user_change;
/// The people table.
mod users;
/// The length and NUL checks of text input.
mod validate;

/// Rows for the service's unit tests.
#[cfg(test)]
mod testing {
    use entity::activity;
    use uuid::Uuid;

    /// A row with nothing but its action set, as if just written.
    pub fn row(action: &str) -> activity::Model {
        activity::Model {
            uuid: Uuid::now_v7(),
            action: action.into(),
            module: None,
            mode: None,
            actor_uuid: None,
            resource_type: None,
            resource_uuid: None,
            target_uuid: None,
            metadata: serde_json::json!({}),
            inserted_at: chrono::Utc::now(),
            idempotency_key: None,
            correlation_id: None,
            client_ip: None,
            user_agent: None,
            txid: 0,
            seq: 0,
            idempotency_scope: None,
        }
    }
}

pub use access::{Caller, Operation, Role};
pub use counts::{Bucket, GroupBy};
pub use cursor::Cursor;
pub use error::{ErrorCode, FieldError, Result, ServiceError};
pub use filter::ActivityFilter;
pub use forget::Forgotten;
pub use group::{ActivityGroup, GroupArgs, GroupSlice};
pub use live::{Bus, Health, Live, LiveError, LiveItem, LiveStats, Wake};
pub use log::{Logged, NewActivity, RequestContext};
pub use position::{Position, ResumeCursor};
pub use prune::PruneResult;
pub use query::{FeedArgs, FeedSlice, Page, PageArgs, MAX_UUIDS_PER_READ};
pub use redact::Redactor;
pub use seed::SeedPlan;
pub use user_change::{UserChange, UserChangeOutcome};
pub use users::{NewUser, UserSlice, MAX_USER_SEARCH_CHARS, MAX_USER_SEARCH_PAGE};

/// Bounds on what one call may ask for, so no caller can make the service
/// read or write without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most rows one page (`perPage`, `first`, `last`, `limit`) may hold.
    pub max_page_size: u64,
    /// The most entries one `log_batch` or `upsert_users` call may carry.
    pub max_batch_size: usize,
    /// The most bytes an activity's metadata may take, serialised as JSON.
    pub max_metadata_bytes: usize,
    /// The most words a `metadata_text` search may hold.
    pub max_search_words: usize,
}

impl Limits {
    /// The limits when the deployment names none: also the defaults of
    /// their settings (`MAX_PAGE_SIZE`, …), which read them from here.
    pub const DEFAULT: Limits = Limits {
        max_page_size: 500,
        max_batch_size: 1000,
        max_metadata_bytes: 64 * 1024,
        max_search_words: 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The activity feed service: a database, live delivery, and limits.
#[derive(Clone)]
pub struct ActivityFeed {
    db: DatabaseConnection,
    /// Tells other instances that this one committed rows.
    bus: Arc<dyn Bus>,
    /// This process's publisher and subscribers.
    live: Live,
    limits: Limits,
    redactor: Redactor,
    pruned: Arc<AtomicU64>,
    /// Rows this service's sealer has sealed.
    sealed: Arc<AtomicU64>,
    /// Of those, the ones sealed from its publisher's copies, unread.
    sealed_from_copies: Arc<AtomicU64>,
    /// The publisher's copies of released rows, for the sealer.
    released: Arc<seal::released::Released>,
    /// The key heads are signed with, when the deployment has one.
    signer: Option<Arc<seal::HeadSigner>>,
    /// Taken by whatever seals, prunes or erases in this process, beside
    /// the database's lock of the chain: on SQLite the sealer hashes
    /// outside the write lock, and this keeps the others out meanwhile.
    chain: Arc<tokio::sync::Mutex<()>>,
    /// The rollups' watermark as this instance last saw it (see [`rollup`]).
    rollup_mark: Arc<std::sync::Mutex<Position>>,
}

impl ActivityFeed {
    /// A service over a migrated database, delivering live through `live`
    /// and telling other instances of its writes through `bus` (built with
    /// `live`'s [`Live::waker`]). Live delivery starts with
    /// [`Self::start_publisher`].
    pub fn new(db: DatabaseConnection, bus: Arc<dyn Bus>, live: Live, limits: Limits) -> Self {
        Self {
            db,
            bus,
            live,
            limits,
            redactor: Redactor::default(),
            pruned: Arc::default(),
            sealed: Arc::default(),
            sealed_from_copies: Arc::default(),
            released: Arc::default(),
            signer: None,
            chain: Arc::default(),
            rollup_mark: Arc::default(),
        }
    }

    /// The same service, signing heads with `signer`.
    pub fn with_signer(mut self, signer: seal::HeadSigner) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// The public key of the key heads are signed with, when there is one.
    pub fn public_key(&self) -> Option<seal::PublicKey> {
        self.signer.as_ref().map(|s| s.public_key())
    }

    /// How many activities this service has pruned since it was created.
    pub fn pruned_total(&self) -> u64 {
        self.pruned.load(Ordering::Relaxed)
    }

    /// The same service over another pool: for a background job whose
    /// statements should neither wait for requests' connections nor be
    /// counted with theirs.
    pub fn with_db(&self, db: DatabaseConnection) -> Self {
        Self { db, ..self.clone() }
    }

    /// The database connection pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The limits this service enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The same service, redacting metadata with `redactor` (by default the
    /// keys of [`redact::DEFAULT_SENSITIVE_KEYS`]).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// What this service redacts.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Refuses a filter that would cost more than a caller may ask for: a
    /// text search of more words than the limit. SQLite's full-text match
    /// grows with the square of the words (40,000 took 3 s), and every live
    /// subscriber's filter is matched against every write.
    fn check_filter(&self, filter: &ActivityFilter) -> Result<()> {
        let words = filter
            .metadata_text
            .as_deref()
            .map_or(0, search::query_word_count);
        if words > self.limits.max_search_words {
            return Err(ServiceError::invalid(
                "metadataText",
                format!(
                    "must hold at most {} words; it holds {words}",
                    self.limits.max_search_words
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a page size outside 1..=max_page_size.
    fn check_page_size(&self, field: &str, size: u64) -> Result<()> {
        if size < 1 || size > self.limits.max_page_size {
            return Err(ServiceError::invalid(
                field,
                format!("must be between 1 and {}", self.limits.max_page_size),
            ));
        }
        Ok(())
    }

    /// [`Self::check_page_size`] for a Relay slice, where 0 is allowed: it
    /// reads no rows and still says whether there are any.
    fn check_slice_size(&self, field: &str, size: u64) -> Result<()> {
        if size > self.limits.max_page_size {
            return Err(ServiceError::invalid(
                field,
                format!("must be between 0 and {}", self.limits.max_page_size),
            ));
        }
        Ok(())
    }
}
