//! A bus that carries committed activities between instances through
//! PostgreSQL LISTEN/NOTIFY.
//!
//! Writers only commit. Once a write has committed, its rows are queued for
//! this process's one notifier task, which sends everything queued in one
//! statement on a connection of its own, so only that connection takes
//! PostgreSQL's commit-time notify lock and the writers' commits group again
//! (a NOTIFY inside each writer's transaction serialised every commit behind
//! that lock through its WAL flush). While a send is in flight new rows queue,
//! and the next send takes them all. The notifier's connection commits without
//! waiting for the WAL flush: a notification is not durable anyway, and the
//! rows it announces were flushed by their writers.
//!
//! A writer waits until its rows are sent (at most [`WRITER_WAIT`], and not at
//! all while the notifier is failing), so when a `log` returns, its row is on
//! its way to every instance, and a row logged after another one returned is
//! delivered after it everywhere. A failed send is retried, in order, with
//! backoff; the listener drops the duplicates a retried send may cause.
//!
//! Each instance keeps one listening connection and fans what it hears out to
//! its own subscribers through a [`MemoryBus`], its own rows included: they
//! take the same round trip as everyone else's, so every subscriber of every
//! instance sees one order, and the listener's dedup is the only place that
//! decides what was delivered. When the listening connection drops, the
//! listener reconnects by itself and fills the gap from the table, so nothing
//! committed meanwhile is lost and nothing is delivered twice.
//!
//! What this does not promise: a row is notified shortly after its commit, not
//! atomically with it. A process that dies in between (a crash or kill, not a
//! graceful shutdown, which sends what is queued before it exits) leaves the
//! live subscribers of every instance without those rows: rows whose writes
//! had not returned yet, or, while the notifier was failing, rows whose
//! writes returned without waiting. They are in the table, and a subscriber
//! that resumes with `after` gets them. Concurrent writes on different
//! instances are delivered in the order their notifiers sent them, which can
//! differ from their commit order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use entity::activity::{self, Column, Entity};
use futures_util::stream::BoxStream;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{BusHealth, BusItem, BusStats, EventBus, MemoryBus};
use crate::service::Cursor;

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// How far back a gap fill looks before the last delivered row: a
/// transaction that began earlier can commit later than rows already seen.
const GAP_MARGIN: TimeDelta = TimeDelta::seconds(10);

/// Rows read per gap-fill query.
const GAP_PAGE: u64 = 1000;

/// How many delivered uuids are remembered to drop duplicates.
const REMEMBERED: usize = 65_536;

/// The most payload bytes one notify statement carries, so a queue that grew
/// while the database was away goes out in statements of bounded size.
const MAX_SEND_BYTES: usize = 1 << 20;

/// The most payload bytes that wait for the notifier. Writers cannot wait
/// for it (their rows are committed), so past this the oldest are dropped,
/// counted and logged: their subscribers get them by resuming with `after`.
const MAX_QUEUED_BYTES: usize = 256 << 20;

/// How long one notify statement may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a writer waits for its rows to be sent: a backstop for a send
/// that hangs; a send that fails releases its writers at once.
pub const WRITER_WAIT: Duration = Duration::from_secs(1);

/// Attempts at a failing send once shutdown began, before the rest is dropped.
const SHUTDOWN_ATTEMPTS: u32 = 3;

/// How long one of those attempts may take.
const SHUTDOWN_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Listener settings.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The database URL the listening connection opens.
    pub url: String,
    /// The schema the instances share; part of the channel name, so
    /// deployments in different schemas of one database do not hear each other.
    pub schema: Option<String>,
    /// The longest wait between reconnection attempts.
    pub max_reconnect_delay: Duration,
}

/// What travels in a NOTIFY: the row itself when it fits, else its id.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Payload {
    Row(Box<activity::Model>),
    Id { uuid: Uuid },
}

impl Payload {
    /// The notification text for `row`: the row when it fits, else its id.
    fn text(row: &activity::Model) -> String {
        match serde_json::to_string(&Payload::Row(Box::new(row.clone()))) {
            Ok(text) if text.len() <= MAX_PAYLOAD => text,
            _ => serde_json::json!({ "uuid": row.uuid }).to_string(),
        }
    }
}

/// The LISTEN/NOTIFY bus.
#[derive(Clone)]
pub struct PgBus {
    fanout: MemoryBus,
    health: Arc<Mutex<BusHealth>>,
    outbox: Arc<Writers>,
}

impl PgBus {
    /// Starts the listener and the notifier (both connected before this
    /// returns) and returns the bus.
    ///
    /// The notifier runs until every clone of the bus is dropped and it has
    /// sent what was queued; `tasks` tracks it, so waiting for `tasks` after
    /// the writers are gone waits for the last notifications to go out.
    pub async fn start(
        config: ListenerConfig,
        db: DatabaseConnection,
        capacity: usize,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self, DbErr> {
        let channel = match &config.schema {
            Some(schema) => format!("activity_feed_{schema}"),
            None => "activity_feed".to_owned(),
        };
        let outbox = Arc::new(Outbox::new());
        let bus = Self {
            fanout: MemoryBus::new(capacity),
            health: Arc::new(Mutex::new(BusHealth::Down("starting".into()))),
            outbox: Arc::new(Writers(outbox.clone())),
        };
        let first = connect(&config, &channel)
            .await
            .map_err(|e| DbErr::Custom(format!("listener: {e}")))?;
        let pool = notifier_pool(&config, &channel)
            .await
            .map_err(|e| DbErr::Custom(format!("notifier: {e}")))?;
        *bus.health.lock().unwrap_or_else(|e| e.into_inner()) = BusHealth::Up;
        let notifier = Notifier {
            pool,
            channel: channel.clone(),
            outbox,
            max_delay: config.max_reconnect_delay,
        };
        tasks.spawn(notifier.run(shutdown.clone()));
        let listener = Listener {
            config,
            channel,
            db,
            fanout: bus.fanout.clone(),
            health: bus.health.clone(),
            last: None,
            seen: Seen::default(),
        };
        tasks.spawn(listener.run(first, shutdown));
        Ok(bus)
    }
}

#[async_trait::async_trait]
impl EventBus for PgBus {
    async fn committed(&self, rows: &[activity::Model]) {
        if rows.is_empty() {
            return;
        }
        // Serialised here, on the writers' threads, so the one notifier task
        // only concatenates.
        let last = self.outbox.0.push(rows.iter().map(Payload::text));
        self.outbox.0.sent(last).await;
    }

    fn subscribe(&self) -> BoxStream<'static, BusItem> {
        self.fanout.subscribe()
    }

    fn health(&self) -> BusHealth {
        let listener = self
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match (listener, self.outbox.0.failing()) {
            (BusHealth::Up, Some(why)) => BusHealth::Down(format!("notifier: {why}")),
            (listener, _) => listener,
        }
    }

    fn stats(&self) -> BusStats {
        BusStats {
            unsent: self.outbox.0.unsent(),
            notify_failures: self.outbox.0.failures.load(Ordering::Relaxed),
            notify_dropped: self.outbox.0.dropped.load(Ordering::Relaxed),
            ..self.fanout.stats()
        }
    }
}

/// Notifications waiting for the notifier, shared by the bus and its task.
struct Outbox {
    state: Mutex<Queue>,
    /// Wakes the notifier when something is queued or the writers are gone.
    wake: Notify,
    /// How far the notifier got, for the writers waiting on it.
    progress: watch::Sender<Progress>,
    /// Sends that failed.
    failures: AtomicU64,
    /// Notifications given up on: queue overflow, or shutdown with the
    /// database unreachable.
    dropped: AtomicU64,
}

/// Where the notifier is: writers wait until `done` reaches their payloads.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Every payload numbered up to this one is sent (or given up on).
    done: u64,
    /// The last send failed: writers do not wait for the retry.
    failing: bool,
}

/// The queue itself.
#[derive(Default)]
struct Queue {
    /// Payloads numbered in the order they were queued, from 1.
    payloads: VecDeque<(u64, String)>,
    /// How many payloads were ever queued: the number of the last one.
    queued: u64,
    bytes: usize,
    /// Every bus handle is gone: nothing more will be queued.
    closed: bool,
    /// Why the last send failed, while the notifier retries it.
    failing: Option<String>,
}

impl Outbox {
    fn new() -> Self {
        Self {
            state: Mutex::default(),
            wake: Notify::new(),
            progress: watch::Sender::new(Progress::default()),
            failures: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues payloads in commit order, wakes the notifier, and returns the
    /// number of the last one.
    fn push(&self, payloads: impl Iterator<Item = String>) -> u64 {
        let mut dropped = 0u64;
        let last = {
            let mut queue = self.lock();
            for payload in payloads {
                queue.queued += 1;
                queue.bytes += payload.len();
                let n = queue.queued;
                queue.payloads.push_back((n, payload));
            }
            while queue.bytes > MAX_QUEUED_BYTES {
                let Some((_, old)) = queue.payloads.pop_front() else {
                    break;
                };
                queue.bytes -= old.len();
                dropped += 1;
            }
            queue.queued
        };
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::error!(
                dropped,
                "notifier queue full; live subscribers miss these rows until they resume with `after`"
            );
        }
        self.wake.notify_one();
        last
    }

    /// Waits until the payload numbered `last` is sent, the notifier fails,
    /// or [`WRITER_WAIT`] passes.
    async fn sent(&self, last: u64) {
        let mut progress = self.progress.subscribe();
        let reached = progress.wait_for(|p| p.done >= last || p.failing);
        let _ = tokio::time::timeout(WRITER_WAIT, reached).await;
    }

    /// Records a send that succeeded (`None`) or failed, and releases the
    /// writers it concerns.
    fn record(&self, failure: Option<String>) {
        let done = {
            let mut queue = self.lock();
            queue.failing.clone_from(&failure);
            // Everything before the oldest payload still queued is done: sent,
            // or dropped from a full queue while this send was in flight.
            match queue.payloads.front() {
                Some((n, _)) => n - 1,
                None => queue.queued,
            }
        };
        let failing = failure.is_some();
        self.progress.send_modify(|p| {
            p.failing = failing;
            if !failing {
                p.done = p.done.max(done);
            }
        });
    }

    /// Takes the oldest payloads, up to [`MAX_SEND_BYTES`] (at least one).
    fn take(&self) -> Option<Vec<(u64, String)>> {
        let mut queue = self.lock();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some((_, next)) = queue.payloads.front() {
            if !batch.is_empty() && bytes + next.len() > MAX_SEND_BYTES {
                break;
            }
            bytes += next.len();
            batch.extend(queue.payloads.pop_front());
        }
        queue.bytes -= bytes;
        (!batch.is_empty()).then_some(batch)
    }

    /// Puts a batch that could not be sent back at the front, keeping order.
    fn put_back(&self, batch: Vec<(u64, String)>) {
        let mut queue = self.lock();
        for entry in batch.into_iter().rev() {
            queue.bytes += entry.1.len();
            queue.payloads.push_front(entry);
        }
    }

    /// Drops everything queued, returning how many there were.
    fn discard(&self) -> u64 {
        let n = {
            let mut queue = self.lock();
            let n = queue.payloads.len() as u64;
            queue.payloads.clear();
            queue.bytes = 0;
            n
        };
        self.record(None);
        n
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn failing(&self) -> Option<String> {
        self.lock().failing.clone()
    }

    fn unsent(&self) -> u64 {
        self.lock().payloads.len() as u64
    }
}

/// The bus handles' share of the outbox: when the last handle goes, no writer
/// is left, and the notifier sends what is queued and ends.
struct Writers(Arc<Outbox>);

impl Drop for Writers {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// The task that sends this process's notifications.
struct Notifier {
    /// A pool of one connection of the notifier's own. Writers never wait
    /// behind a send for a pooled connection, nor a send behind a saturated
    /// pool; only this connection takes the notify lock; and it can commit
    /// without waiting for the WAL flush, which the writers' commits must.
    pool: PgPool,
    channel: String,
    outbox: Arc<Outbox>,
    max_delay: Duration,
}

impl Notifier {
    async fn run(self, shutdown: CancellationToken) {
        loop {
            let Some(batch) = self.outbox.take() else {
                if self.outbox.is_closed() {
                    return;
                }
                self.outbox.wake.notified().await;
                continue;
            };
            if !self.send_until_done(batch, &shutdown).await {
                let lost = self.outbox.discard();
                self.outbox.dropped.fetch_add(lost, Ordering::Relaxed);
                tracing::error!(
                    lost,
                    "shutting down with the database unreachable: notifications of committed rows were not sent"
                );
                return;
            }
        }
    }

    /// Sends `batch`, retrying with backoff while it fails; false when it
    /// gave up because shutdown began and the database stayed unreachable
    /// (the batch is back in the queue then).
    async fn send_until_done(
        &self,
        batch: Vec<(u64, String)>,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut delay = Duration::from_millis(50);
        let mut attempts_after_shutdown = 0;
        loop {
            // Once shutdown began, the server waits only so long for this task.
            let timeout = if shutdown.is_cancelled() {
                SHUTDOWN_SEND_TIMEOUT
            } else {
                SEND_TIMEOUT
            };
            let error = match tokio::time::timeout(timeout, self.send(&batch)).await {
                Ok(Ok(())) => {
                    self.outbox.record(None);
                    return true;
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {timeout:?}"),
            };
            self.outbox.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, unsent = batch.len(), retry_in = ?delay, "notifier cannot send; retrying");
            self.outbox.record(Some(error));
            if shutdown.is_cancelled() {
                attempts_after_shutdown += 1;
                if attempts_after_shutdown >= SHUTDOWN_ATTEMPTS {
                    self.outbox.put_back(batch);
                    return false;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // Retry at once: the remaining attempts are few and quick.
                _ = shutdown.cancelled(), if attempts_after_shutdown == 0 => {}
            }
            delay = (delay * 2).min(self.max_delay.max(Duration::from_millis(50)));
        }
    }

    /// One statement for the whole batch, whatever its size.
    async fn send(&self, batch: &[(u64, String)]) -> Result<(), sea_orm::sqlx::Error> {
        let payloads: Vec<&str> = batch.iter().map(|(_, p)| p.as_str()).collect();
        sea_orm::sqlx::query(
            "SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p",
        )
        .bind(&self.channel)
        .bind(serde_json::Value::from(payloads).to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The `application_name` of this process's notifier connection:
/// "af notifier <pid> <channel>", cut to the 63 bytes PostgreSQL keeps.
pub fn notifier_application_name(pid: u32, channel: &str) -> String {
    let mut name = format!("af notifier {pid} {channel}");
    name.truncate(63);
    name
}

/// Opens the notifier's pool of one connection. It reconnects by itself on
/// the next send after its connection is lost.
async fn notifier_pool(
    config: &ListenerConfig,
    channel: &str,
) -> Result<PgPool, sea_orm::sqlx::Error> {
    let options: PgConnectOptions = config.url.parse()?;
    let name = notifier_application_name(std::process::id(), channel);
    // A notification is not durable whatever the commit does, and the rows it
    // announces are already flushed by their writers, so this connection's
    // commits skip the WAL flush and hold the notify lock only briefly.
    let options = options
        .application_name(&name)
        .options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // A ping before every send would double its round trips; a send on a
        // connection that died fails instead, and its retry reconnects.
        .test_before_acquire(false)
        .acquire_timeout(SEND_TIMEOUT)
        // A batch's payloads make a large message: without TCP_NODELAY its
        // last segment waits for PostgreSQL's delayed ACK, ~40 ms per send.
        .after_connect(|conn, _| {
            Box::pin(async move {
                crate::db::nodelay::disable_nagle(conn).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// The `application_name` of this process's listening connection, so an
/// operator can find it in `pg_stat_activity`: "af listener <pid> <channel>",
/// cut to the 63 bytes PostgreSQL keeps.
pub fn listener_application_name(pid: u32, channel: &str) -> String {
    let mut name = format!("af listener {pid} {channel}");
    name.truncate(63);
    name
}

/// Opens the listening connection and LISTENs on `channel`.
async fn connect(
    config: &ListenerConfig,
    channel: &str,
) -> Result<PgListener, sea_orm::sqlx::Error> {
    let options: PgConnectOptions = config.url.parse()?;
    let name = listener_application_name(std::process::id(), channel);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.application_name(&name))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Remembers recently delivered uuids, to drop a row heard twice.
#[derive(Default)]
struct Seen {
    set: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl Seen {
    /// Records `uuid`; false when it was already delivered.
    fn first_time(&mut self, uuid: Uuid) -> bool {
        if !self.set.insert(uuid) {
            return false;
        }
        self.order.push_back(uuid);
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// The task that owns the listening connection.
struct Listener {
    config: ListenerConfig,
    channel: String,
    db: DatabaseConnection,
    fanout: MemoryBus,
    health: Arc<Mutex<BusHealth>>,
    /// The newest row delivered, where a gap fill starts.
    last: Option<Cursor>,
    seen: Seen,
}

impl Listener {
    fn set_health(&self, health: BusHealth) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
    }

    async fn run(mut self, first: PgListener, shutdown: CancellationToken) {
        let mut listener = Some(first);
        let mut delay = Duration::from_millis(100);
        loop {
            let mut current = match listener.take() {
                Some(l) => l,
                None => {
                    let connected = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        c = connect(&self.config, &self.channel) => c,
                    };
                    match connected {
                        Ok(l) => l,
                        Err(error) => {
                            tracing::warn!(%error, retry_in = ?delay, "listener cannot reconnect");
                            self.set_health(BusHealth::Down(error.to_string()));
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(delay) => {}
                            }
                            delay = (delay * 2).min(self.config.max_reconnect_delay);
                            continue;
                        }
                    }
                }
            };
            // Listening again: what was committed while away is in the table.
            if let Err(error) = self.fill_gap().await {
                tracing::warn!(%error, "listener cannot fill the gap; reconnecting");
                self.set_health(BusHealth::Down(error.to_string()));
                continue;
            }
            self.set_health(BusHealth::Up);
            delay = Duration::from_millis(100);
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    n = current.try_recv() => n,
                };
                match next {
                    Ok(Some(first)) => {
                        let mut batch = vec![first];
                        while let Some(more) = current.next_buffered() {
                            batch.push(more);
                        }
                        let payloads = batch.iter().map(|n| n.payload().to_owned()).collect();
                        if let Err(error) = self.deliver(payloads).await {
                            tracing::warn!(%error, "listener cannot load notified rows; reconnecting");
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "listener connection lost; reconnecting");
                        break;
                    }
                }
            }
            self.set_health(BusHealth::Down("reconnecting".into()));
        }
    }

    /// Delivers notified rows in the order they were committed, loading in
    /// one query those whose payload carried only the id.
    async fn deliver(&mut self, payloads: Vec<String>) -> Result<(), DbErr> {
        let decoded: Vec<Payload> = payloads
            .iter()
            .filter_map(|p| match serde_json::from_str(p) {
                Ok(payload) => Some(payload),
                Err(error) => {
                    tracing::warn!(%error, "ignoring an unreadable notification");
                    None
                }
            })
            .collect();
        let missing: Vec<Uuid> = decoded
            .iter()
            .filter_map(|p| match p {
                Payload::Id { uuid } => Some(*uuid),
                Payload::Row(_) => None,
            })
            .collect();
        let mut loaded: HashMap<Uuid, activity::Model> = if missing.is_empty() {
            HashMap::new()
        } else {
            Entity::find()
                .filter(Column::Uuid.is_in(missing))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|row| (row.uuid, row))
                .collect()
        };
        let rows = decoded.into_iter().filter_map(|p| match p {
            Payload::Row(row) => Some(*row),
            Payload::Id { uuid } => loaded.remove(&uuid),
        });
        for row in rows {
            self.publish(row).await;
        }
        Ok(())
    }

    async fn publish(&mut self, row: activity::Model) {
        if !self.seen.first_time(row.uuid) {
            return;
        }
        let cursor = Cursor::of(&row);
        if self
            .last
            .is_none_or(|last| (cursor.inserted_at, cursor.uuid) > (last.inserted_at, last.uuid))
        {
            self.last = Some(cursor);
        }
        self.fanout.committed(std::slice::from_ref(&row)).await;
    }

    /// Delivers what was committed since shortly before the last delivered
    /// row, in (inserted_at, uuid) order, skipping what was delivered already.
    async fn fill_gap(&mut self) -> Result<(), DbErr> {
        let Some(last) = self.last else { return Ok(()) };
        let mut from = Cursor {
            inserted_at: last.inserted_at - GAP_MARGIN,
            uuid: Uuid::nil(),
        };
        loop {
            let page = Entity::find()
                .filter(from.newer())
                .order_by(Column::InsertedAt, Order::Asc)
                .order_by(Column::Uuid, Order::Asc)
                .limit(GAP_PAGE)
                .all(&self.db)
                .await?;
            let done = (page.len() as u64) < GAP_PAGE;
            for row in page {
                from = Cursor::of(&row);
                self.publish(row).await;
            }
            if done {
                return Ok(());
            }
        }
    }
}
