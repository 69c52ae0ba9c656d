//! Live delivery: every committed activity, in position order, exactly once,
//! to every subscriber of this process, with no time horizon.
//!
//! One task per process, the publisher, reads the table after the last
//! position it published, takes the released rows (see [`super::position`])
//! and hands them to the [`router`], which gives each to the subscriptions
//! whose filters may match it. It reads when woken (a write of this process, or
//! another instance's signal through the [`Bus`]), again shortly after a read
//! that found rows not yet released, and at least every [`IDLE_POLL`]. A
//! signal lost to a crash or a dropped connection therefore delays rows and
//! never loses them, and a row is loaded from the table, never taken from a
//! signal's payload, so nothing but a committed row can reach a subscriber.
//!
//! A subscriber that resumes reads the table from its own position (replay),
//! then continues from the router, which it joined before the replay,
//! skipping by position what the replay already gave it.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use entity::activity;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::{watch, Notify};

use super::{
    ActivityFeed, ActivityFilter, Caller, Operation, Position, Result, ResumeCursor, ServiceError,
};

/// The task that reads released rows and hands them to the router.
mod publisher;
/// Which subscriptions a row goes to.
pub mod router;
/// The one reader of rows after a position.
pub(crate) mod tail;

pub use publisher::IDLE_POLL;
pub use router::{Narrower, Route, Subscription};
use tail::PAGE;

/// The longest a writer waits for the publisher: a backstop for a
/// publisher that cannot read; a read that fails releases its writers at once.
pub const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

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

/// This process's live delivery: the router subscribers wait in, the
/// publisher's progress, and the wake-up the bus rings.
#[derive(Clone)]
pub struct Live {
    shared: Arc<Shared>,
}

struct Shared {
    router: router::Router,
    wake: Wake,
    progress: Mutex<Progress>,
    published: AtomicU64,
    /// Reads the publisher has started, numbered from 1.
    reads_started: AtomicU64,
    /// The number of the publisher's last finished read (its rows handed
    /// out), for writers waiting for a read that began after their commit.
    reads_done: watch::Sender<u64>,
    /// A publisher runs: without one (a CLI command) writers never wait.
    running: std::sync::atomic::AtomicBool,
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
    /// Live delivery that keeps up to `capacity` events for each subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                router: router::Router::new(capacity),
                wake: Wake::default(),
                progress: Mutex::new(Progress {
                    floor: None,
                    health: Health::Down("starting"),
                }),
                published: AtomicU64::new(0),
                reads_started: AtomicU64::new(0),
                reads_done: watch::Sender::new(0),
                running: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// What a bus rings to wake the publisher.
    pub fn waker(&self) -> Wake {
        self.shared.wake.clone()
    }

    /// Wakes the publisher after a write committed and waits (at most
    /// [`WRITER_WAIT`]) until a read that began after the commit has
    /// finished: the write's rows are then handed to this process's
    /// subscribers, unless they wait for an older transaction. So a client
    /// that subscribes after its `log` returned is not sent that row as
    /// new, and every subscriber of this process has it before the writer's
    /// next write.
    pub async fn committed(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.shared.running.load(SeqCst) {
            return;
        }
        let before = self.shared.reads_started.load(SeqCst);
        let mut done = self.shared.reads_done.subscribe();
        self.shared.wake.wake();
        let _ = tokio::time::timeout(WRITER_WAIT, done.wait_for(|&n| n > before)).await;
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

    /// Every released row from now on, in position order, until
    /// [`Narrower::narrow`] confines the subscription to its route.
    pub fn subscribe(&self) -> Subscription {
        self.shared.router.subscribe()
    }

    /// What live delivery in this process has done.
    pub fn stats(&self) -> LiveStats {
        let router = &self.shared.router;
        LiveStats {
            published: self
                .shared
                .published
                .load(std::sync::atomic::Ordering::Relaxed),
            delivered: router.delivered(),
            lagged: router.lagged(),
            subscribers: router.subscribers(),
            ..LiveStats::default()
        }
    }
}

impl ActivityFeed {
    /// The next released rows after `from` that match `filter` and that
    /// `caller` may see, in position order: what a resuming subscriber missed.
    async fn replay_page(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        from: Position,
    ) -> Result<Vec<activity::Model>> {
        Ok(self
            .read_after(self.matching(caller, filter), from)
            .await?
            .released)
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
        self.check_filter(&filter)?;
        let caller = *caller;
        // Join before replaying, so what is released during the replay is kept.
        let mut live = self.live.subscribe();
        live.narrower().narrow(Route::of(&caller, &filter));
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

    /// What `live` (a stream from [`Live::subscribe`], narrowed through
    /// `narrower`) carries that matches `filter` and that `caller` may see,
    /// in its order, errors included: [`Self::subscribe`] without replay,
    /// over a stream the caller holds already, so that one stream can serve
    /// every subscriber with the same filter and caller.
    pub fn follow(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
        live: BoxStream<'static, LiveItem>,
        narrower: &Narrower,
    ) -> Result<impl Stream<Item = LiveItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        self.check_filter(&filter)?;
        let caller = *caller;
        narrower.narrow(Route::of(&caller, &filter));
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
