//! A bus that carries committed activities between instances through
//! PostgreSQL LISTEN/NOTIFY.
//!
//! Writers NOTIFY inside their transaction, so PostgreSQL delivers only
//! committed rows, to every listening instance, in commit order. Each
//! instance keeps one listening connection and fans what it hears out to its
//! own subscribers through a [`MemoryBus`]. When that connection drops, the
//! listener reconnects by itself and fills the gap from the table, so nothing
//! committed meanwhile is lost and nothing is delivered twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use entity::activity::{self, Column, Entity};
use futures_util::stream::BoxStream;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
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

/// The LISTEN/NOTIFY bus.
#[derive(Clone)]
pub struct PgBus {
    fanout: MemoryBus,
    channel: String,
    health: Arc<Mutex<BusHealth>>,
}

impl PgBus {
    /// Starts the listener (connected before this returns) and returns the bus.
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
        let bus = Self {
            fanout: MemoryBus::new(capacity),
            channel: channel.clone(),
            health: Arc::new(Mutex::new(BusHealth::Down("starting".into()))),
        };
        let first = connect(&config, &channel)
            .await
            .map_err(|e| DbErr::Custom(format!("listener: {e}")))?;
        *bus.health.lock().unwrap_or_else(|e| e.into_inner()) = BusHealth::Up;
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
    async fn stage(
        &self,
        txn: &DatabaseTransaction,
        rows: &[activity::Model],
    ) -> Result<(), DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        let payloads: Vec<String> = rows
            .iter()
            .map(|row| {
                let full = serde_json::to_string(&Payload::Row(Box::new(row.clone())));
                match full {
                    Ok(text) if text.len() <= MAX_PAYLOAD => text,
                    _ => serde_json::json!({ "uuid": row.uuid }).to_string(),
                }
            })
            .collect();
        // One statement for the whole batch, whatever its size.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p",
            [
                self.channel.clone().into(),
                serde_json::Value::from(payloads).to_string().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    fn committed(&self, _rows: &[activity::Model]) {
        // The listener delivers, once PostgreSQL has the commit.
    }

    fn subscribe(&self) -> BoxStream<'static, BusItem> {
        self.fanout.subscribe()
    }

    fn health(&self) -> BusHealth {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stats(&self) -> BusStats {
        self.fanout.stats()
    }
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
            self.publish(row);
        }
        Ok(())
    }

    fn publish(&mut self, row: activity::Model) {
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
        self.fanout.committed(std::slice::from_ref(&row));
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
                self.publish(row);
            }
            if done {
                return Ok(());
            }
        }
    }
}
