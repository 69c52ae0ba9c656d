//! Prometheus metrics: what the server counts, and its `/metrics` text.
//!
//! Counters that belong to other layers (live deliveries, SQL statements,
//! pruned rows, pool usage) are read from those layers at scrape time, so
//! the layers themselves stay free of any metrics library. Running totals
//! (`_total`) are exported as counters, levels as gauges.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::db::StatementCounter;
use crate::service::ActivityFeed;

/// Distinct operation names kept as labels; later ones are counted as "other",
/// so clients cannot grow the label set without bound.
const MAX_OPERATION_NAMES: usize = 200;

/// The longest operation name kept as a label, in bytes; longer ones count
/// as "other". Every label value is held for the life of the process and
/// written on every scrape: 2 MB names once grew `/metrics` to 80 MB.
const MAX_OPERATION_NAME_BYTES: usize = 64;

/// Whether `name` may be an operation's label: a GraphQL name
/// (`[_A-Za-z][_0-9A-Za-z]*`) of at most [`MAX_OPERATION_NAME_BYTES`]. An
/// `operationName` that is not one cannot name an operation of the document
/// anyway; it is only text a client sent.
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_OPERATION_NAME_BYTES
        && bytes
            .next()
            .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    rate_limited: IntCounterVec,
    /// Open GraphQL websockets.
    pub websockets: IntGauge,
    /// Subscriptions started.
    pub subscriptions_started: IntCounter,
    /// Subscriptions open now.
    pub subscriptions_active: IntGauge,
    /// Streams that identical subscriptions share, running now.
    pub shared_streams: IntGauge,
    published: IntCounter,
    delivered: IntCounter,
    lagged: IntCounter,
    unsent: IntGauge,
    notify_failures: IntCounter,
    notify_dropped: IntCounter,
    statements: IntCounter,
    pruned: IntCounter,
    pool_size: IntGauge,
    pool_idle: IntGauge,
    names: Mutex<HashSet<String>>,
    /// Held while a scrape brings the counters up to their sources' totals,
    /// so that two scrapes at once do not both add the same difference.
    catching_up: Mutex<()>,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

/// Brings `counter` up to `total`, a running total read from its source;
/// a source never goes back, so a smaller total changes nothing.
fn catch_up(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("activity_feed".into()), None).expect("valid prefix");
        let labels = &["operation", "type"];
        let requests = IntCounterVec::new(
            Opts::new(
                "graphql_requests_total",
                "GraphQL operations executed, by operation name and type",
            ),
            labels,
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "graphql_errors_total",
                "GraphQL operations that returned errors, by operation name and type",
            ),
            labels,
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "graphql_request_duration_seconds",
                "Time to execute a GraphQL operation, by type",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["type"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Operations refused by a caller's rate limit, by bucket: token or address",
            ),
            &["bucket"],
        )
        .expect("valid metric");
        let subscriptions_started = IntCounter::new(
            "subscriptions_started_total",
            "GraphQL subscriptions started",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(latency.clone()),
            Box::new(subscriptions_started.clone()),
            Box::new(rate_limited.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Self {
            websockets: gauge(&registry, "websockets_open", "Open GraphQL websockets"),
            subscriptions_active: gauge(
                &registry,
                "subscriptions_active",
                "GraphQL subscriptions open now",
            ),
            shared_streams: gauge(
                &registry,
                "shared_subscription_streams",
                "Subscription streams running, each shared by identical subscriptions",
            ),
            published: counter(
                &registry,
                "events_published_total",
                "Activities published to this process's subscribers",
            ),
            delivered: counter(
                &registry,
                "events_delivered_total",
                "Activities received by subscribers, one per subscriber",
            ),
            lagged: counter(
                &registry,
                "subscribers_lagged_total",
                "Subscribers dropped for falling too far behind",
            ),
            unsent: gauge(
                &registry,
                "events_unsent",
                "Committed activities waiting to be sent to other instances",
            ),
            notify_failures: counter(
                &registry,
                "notify_failures_total",
                "Failed attempts to send activities to other instances (each is retried)",
            ),
            notify_dropped: counter(
                &registry,
                "notify_dropped_total",
                "Activities never sent to other instances (queue full, or shutdown with the database unreachable)",
            ),
            statements: counter(&registry, "db_statements_total", "SQL statements run"),
            pruned: counter(
                &registry,
                "activities_pruned_total",
                "Activities deleted by prune and the retention job",
            ),
            pool_size: gauge(
                &registry,
                "db_pool_connections",
                "Connections in the database pool",
            ),
            pool_idle: gauge(
                &registry,
                "db_pool_idle_connections",
                "Idle connections in the database pool",
            ),
            requests,
            errors,
            latency,
            rate_limited,
            subscriptions_started,
            registry,
            names: Mutex::default(),
            catching_up: Mutex::default(),
        }
    }

    /// Counts an operation refused by the rate limit of a `bucket` ("token" or "address").
    pub fn rate_limited(&self, bucket: &str) {
        self.rate_limited.with_label_values(&[bucket]).inc();
    }

    /// The label for an operation name: the name itself while fewer than
    /// [`MAX_OPERATION_NAMES`] are known, "anonymous" without one, else
    /// "other", as for names that are not [label names](is_label_name).
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "anonymous".into();
        };
        if !is_label_name(name) {
            return "other".into();
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.contains(name) {
            return name.into();
        }
        if names.len() < MAX_OPERATION_NAMES {
            names.insert(name.into());
            return name.into();
        }
        "other".into()
    }

    /// Records one executed operation.
    pub fn observe(&self, operation: Option<&str>, kind: &str, seconds: f64, failed: bool) {
        let op = self.operation_label(operation);
        self.requests.with_label_values(&[op.as_str(), kind]).inc();
        if failed {
            self.errors.with_label_values(&[op.as_str(), kind]).inc();
        }
        self.latency.with_label_values(&[kind]).observe(seconds);
    }

    /// The Prometheus text exposition of every metric, read fresh.
    pub fn render(&self, feed: &ActivityFeed, statements: &StatementCounter) -> String {
        let live = feed.live_stats();
        {
            let _one_scrape = self.catching_up.lock().unwrap_or_else(|e| e.into_inner());
            catch_up(&self.published, live.published);
            catch_up(&self.delivered, live.delivered);
            catch_up(&self.lagged, live.lagged);
            catch_up(&self.notify_failures, live.notify_failures);
            catch_up(&self.notify_dropped, live.notify_dropped);
            catch_up(&self.statements, statements.get());
            catch_up(&self.pruned, feed.pruned_total());
        }
        let set = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.unsent, live.unsent);
        let (size, idle) = pool_usage(feed.db());
        set(&self.pool_size, size);
        set(&self.pool_idle, idle);
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// (connections, idle connections) of the pool.
fn pool_usage(db: &sea_orm::DatabaseConnection) -> (u64, u64) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size().into(), pool.num_idle() as u64)
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size().into(), pool.num_idle() as u64)
        }
        _ => (0, 0),
    }
}
