//! Live delivery: every committed activity, in position order, exactly once,
//! to every subscriber of this process, with no time horizon.
//!
//! One task per process, the publisher, reads the table after the last
//! position it published, takes the released rows (see [`super::position`])
//! and broadcasts them. It reads when woken (a write of this process, or
//! another instance's signal through the [`Bus`]), again shortly after a read
//! that found rows not yet released, and at least every [`IDLE_POLL`]. A
//! signal lost to a crash or a dropped connection therefore delays rows and
//! never loses them, and a row is loaded from the table, never taken from a
//! signal's payload, so nothing but a committed row can reach a subscriber.
//!
//! A subscriber that resumes reads the table from its own position (replay),
//! then continues from the broadcast, which it joined before the replay,
//! skipping by position what the replay already gave it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::activity::{self, Column, Entity};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use tokio::sync::{broadcast, Notify};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::position::{released, HORIZON_SQL};
use super::{
    rows, ActivityFeed, ActivityFilter, Caller, Operation, Position, Result, ResumeCursor,
    ServiceError,
};

/// Rows read per query, by the publisher and by a replay.
const PAGE: u64 = 500;

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

/// What a subscriber's stream yields.
pub type LiveItem = std::result::Result<Arc<activity::Model>, LiveError>;

/// Why a subscriber's stream stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
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

/// Whether a part of live delivery is working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Working.
    Up,
    /// Not working now (reconnecting, or its reads fail); what is committed
    /// meanwhile is delivered once it is back. The text is a state for
    /// readiness checks, never an error message.
    Down(&'static str),
}

/// Counts of what live delivery has done since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Activities handed to this process's subscribers.
    pub published: u64,
    /// Activities received by subscribers (one per subscriber per activity).
    pub delivered: u64,
    /// Times a subscriber fell too far behind and was dropped.
    pub lagged: u64,
    /// Live subscriptions now.
    pub subscribers: u64,
    /// Signals waiting to be sent to other instances now.
    pub unsent: u64,
    /// Attempts to send them that failed (each is retried).
    pub notify_failures: u64,
    /// Signals given up on (at shutdown with the database unreachable).
    pub notify_dropped: u64,
}

/// How instances tell each other that rows were committed: a signal, not
/// the rows, which every publisher reads from the table itself.
pub trait Bus: Send + Sync + 'static {
    /// A write of this process committed: wake every instance's publisher.
    /// Returns at once; it never waits for the signal to be sent.
    fn committed(&self);

    /// Whether signals flow, for readiness checks.
    fn health(&self) -> Health {
        Health::Up
    }

    /// What the bus has done, for metrics (its share of [`LiveStats`]).
    fn stats(&self) -> LiveStats {
        LiveStats::default()
    }
}

/// Wakes this process's publisher: handed to a [`Bus`] when it is built.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Rows may have been committed: the publisher reads soon. Wakes that
    /// come while it reads are folded into one more read.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// This process's live delivery: the broadcast subscribers read, the
/// publisher's progress, and the wake-up the bus rings.
#[derive(Clone)]
pub struct Live {
    shared: Arc<Shared>,
}

struct Shared {
    sender: broadcast::Sender<Arc<activity::Model>>,
    wake: Wake,
    progress: Mutex<Progress>,
    published: AtomicU64,
    delivered: AtomicU64,
    lagged: AtomicU64,
}

/// Where the publisher is.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Every row at or below this position is finished (committed or rolled
    /// back) and visible to any later read; `None` until the publisher runs.
    floor: Option<Position>,
    health: Health,
}

impl Live {
    /// Live delivery that keeps up to `capacity` events for its slowest subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            shared: Arc::new(Shared {
                sender,
                wake: Wake::default(),
                progress: Mutex::new(Progress {
                    floor: None,
                    health: Health::Down("starting"),
                }),
                published: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                lagged: AtomicU64::new(0),
            }),
        }
    }

    /// What a bus rings to wake the publisher.
    pub fn waker(&self) -> Wake {
        self.shared.wake.clone()
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.shared
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A position at or below which every row is finished and visible, read
    /// before a list so that the cursors of its rows can be kept at or below
    /// it (see `Activity.cursor`); `None` where every visible row is
    /// released (SQLite) or while no publisher runs.
    pub fn floor(&self) -> Option<Position> {
        self.progress().floor
    }

    /// Whether the publisher reads.
    pub fn health(&self) -> Health {
        self.progress().health
    }

    /// Every released row from now on, in position order.
    pub fn subscribe(&self) -> BoxStream<'static, LiveItem> {
        let shared = self.shared.clone();
        BroadcastStream::new(self.shared.sender.subscribe())
            .map(move |item| match item {
                Ok(row) => {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    Ok(row)
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    shared.lagged.fetch_add(1, Ordering::Relaxed);
                    Err(LiveError::Lagged { missed })
                }
            })
            .boxed()
    }

    /// What live delivery in this process has done.
    pub fn stats(&self) -> LiveStats {
        LiveStats {
            published: self.shared.published.load(Ordering::Relaxed),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            lagged: self.shared.lagged.load(Ordering::Relaxed),
            subscribers: self.shared.sender.receiver_count() as u64,
            ..LiveStats::default()
        }
    }
}

/// What the publisher's read found.
struct Tail {
    /// Released rows after the position read from, in position order.
    released: Vec<activity::Model>,
    /// Rows are committed after those but wait for an older transaction.
    pending: bool,
    /// Every row below this is finished, as of the read's snapshot.
    horizon: Option<Position>,
}

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
        loop {
            let wait = match self.read_tail(last).await {
                Ok(tail) => {
                    retry = RETRY_MIN;
                    let full = tail.released.len() as u64 == PAGE;
                    for row in tail.released {
                        last = Position::of(&row);
                        // An error only means nobody is subscribed right now.
                        let _ = self.live.shared.sender.send(Arc::new(row));
                        self.live.shared.published.fetch_add(1, Ordering::Relaxed);
                    }
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
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.live.shared.wake.0.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The rows after `from`, split into the released ones and whether more
    /// wait for an older transaction, with the horizon of the read.
    async fn read_tail(&self, from: Position) -> Result<Tail> {
        let backend = self.db.get_database_backend();
        let select = oldest_position_first(Entity::find().filter(from.later())).limit(PAGE);
        if backend != DbBackend::Postgres {
            // One writer at a time: whatever is committed is released.
            let released = select.all(&self.db).await?;
            return Ok(Tail {
                released,
                pending: false,
                horizon: None,
            });
        }
        let statement = select
            .expr_as(Expr::cust(HORIZON_SQL), "horizon")
            .build(backend);
        let found = self.db.query_all_raw(statement).await?;
        let mut tail = Tail {
            released: Vec::with_capacity(found.len()),
            pending: false,
            horizon: None,
        };
        for r in &found {
            let horizon: i64 = r.try_get_by_index(rows::ACTIVITY_COLUMNS)?;
            tail.horizon = Some(Position::before_transaction(horizon));
            let row = rows::activity(r, 0)?;
            // Ordered by position, so the released rows come first.
            if row.txid < horizon {
                tail.released.push(row);
            } else {
                tail.pending = true;
                break;
            }
        }
        Ok(tail)
    }

    /// The next released rows after `from` that match `filter` and that
    /// `caller` may see, in position order: what a resuming subscriber missed.
    async fn replay_page(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        from: Position,
    ) -> Result<Vec<activity::Model>> {
        let mut select = self.matching(caller, filter).filter(from.later());
        if let Some(released) = released(self.db.get_database_backend()) {
            select = select.filter(released);
        }
        Ok(oldest_position_first(select)
            .limit(PAGE)
            .all(&self.db)
            .await?)
    }

    /// Where a client's `after` cursor resumes: a position as given, or the
    /// position of the activity a time cursor names. A time cursor whose
    /// activity is gone (or hidden from the caller) cannot be placed among
    /// positions, so it is refused rather than guessed.
    pub async fn resume_point(&self, caller: &Caller, cursor: ResumeCursor) -> Result<Position> {
        match cursor {
            ResumeCursor::Position(position) => Ok(position),
            ResumeCursor::Time(cursor) => match self.get(caller, cursor.uuid).await? {
                Some(row) if row.inserted_at == cursor.inserted_at => Ok(Position::of(&row)),
                _ => Err(ServiceError::invalid(
                    "after",
                    "this cursor names no activity that can be resumed from; \
                     subscribe again without `after` and use the cursors it delivers",
                )),
            },
        }
    }

    /// Every activity released from now on that matches `filter` and that
    /// `caller` may see, in position order.
    ///
    /// With `after`, first replays the matching activities after that
    /// position, then goes live: nothing is missed and nothing is delivered
    /// twice, whenever the rows commit.
    pub fn subscribe(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
        after: Option<Position>,
    ) -> Result<impl Stream<Item = LiveItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        let caller = *caller;
        // Join the broadcast before replaying, so what is released during
        // the replay is kept.
        let mut live = self.live.subscribe();
        let feed = self.clone();
        Ok(async_stream::stream! {
            let mut last = after;
            if let Some(mut from) = after {
                loop {
                    let page = match feed.replay_page(&caller, &filter, from).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::error!(%error, "replay for a resuming subscriber failed");
                            yield Err(LiveError::Replay("could not read the activities to replay".into()));
                            return;
                        }
                    };
                    let done = (page.len() as u64) < PAGE;
                    for row in page {
                        from = Position::of(&row);
                        yield Ok(Arc::new(row));
                    }
                    if done {
                        break;
                    }
                }
                last = Some(from);
            }
            while let Some(item) = live.next().await {
                match item {
                    // Released before the replay's read: the replay had it.
                    Ok(row) if last.is_some_and(|l| Position::of(&row) <= l) => {}
                    Ok(row) if caller.sees(&row) && filter.matches(&row) => yield Ok(row),
                    Ok(_) => {}
                    Err(error) => yield Err(error),
                }
            }
        })
    }

    /// What `live` (a stream from [`Live::subscribe`]) carries that matches
    /// `filter` and that `caller` may see, in its order, errors included:
    /// [`Self::subscribe`] without replay, over a stream the caller holds
    /// already, so that one stream can serve every subscriber with the same
    /// filter and caller.
    pub fn follow(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
        live: BoxStream<'static, LiveItem>,
    ) -> Result<impl Stream<Item = LiveItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        let caller = *caller;
        Ok(live.filter(move |item| {
            let pass = match item {
                Ok(row) => caller.sees(row) && filter.matches(row),
                Err(_) => true,
            };
            std::future::ready(pass)
        }))
    }

    /// Live delivery in this process.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Whether live delivery works: the bus's signals and the publisher's reads.
    pub fn live_health(&self) -> Health {
        match self.bus.health() {
            Health::Up => self.live.health(),
            down => down,
        }
    }

    /// What live delivery has done: the publisher's and the bus's counts.
    pub fn live_stats(&self) -> LiveStats {
        let bus = self.bus.stats();
        LiveStats {
            unsent: bus.unsent,
            notify_failures: bus.notify_failures,
            notify_dropped: bus.notify_dropped,
            ..self.live.stats()
        }
    }
}

/// Oldest position first: the order rows are released in.
fn oldest_position_first(select: sea_orm::Select<Entity>) -> sea_orm::Select<Entity> {
    select
        .order_by(Column::Txid, Order::Asc)
        .order_by(Column::Seq, Order::Asc)
}
