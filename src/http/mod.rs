//! The HTTP surface: routes and layers, wiring requests to the GraphQL schema.

use axum::http::{header, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::{ContextConfig, LimitsConfig, Origin};
use crate::db::StatementCounter;
use crate::graphql::AppSchema;
use crate::metrics::Metrics;
use crate::service::ActivityFeed;

/// The caller's `Authorization` header, read once for every handler.
pub mod bearer;
/// Where a request comes from: client address and user agent.
mod client;
/// `/`: the live dashboard page and its embedded assets.
mod dashboard;
/// The threads websockets run on.
pub mod delivery;
/// Files compiled into the binary, served with validators.
mod embedded;
/// `/export`: the filtered feed as NDJSON or CSV.
mod export;
/// `/graphiql/…`: the pinned GraphiQL a browser's GET of `/graphql` loads.
mod graphiql;
/// `/graphql`: queries over HTTP, subscriptions over websockets, GraphiQL for browsers.
mod graphql;
/// `/healthz`, `/readyz` and `/metrics`.
mod health;
/// GraphQL over HTTP: negotiation, request checks, response framing.
pub mod protocol;
/// GraphQL over websockets: the protocols' rules, sessions, operations.
pub mod websocket;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema.
    pub schema: AppSchema,
    /// The shared subscription streams.
    pub fanout: crate::graphql::live::Fanout,
    /// The service, for health checks.
    pub feed: ActivityFeed,
    /// Verifies bearer tokens.
    pub auth: Authenticator,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Whether and how request context is recorded.
    pub context: ContextConfig,
    /// What the server counts.
    pub metrics: Arc<Metrics>,
    /// One permit per open websocket, up to the configured cap.
    pub socket_slots: Arc<tokio::sync::Semaphore>,
    /// The callers' buckets, for subscriptions shared without the schema.
    pub rate_limits: crate::ratelimit::RateLimits,
    /// The only documents that run, when there is a manifest; subscriptions
    /// are shared only for these.
    pub trusted: Option<crate::graphql::trusted::TrustedDocuments>,
    /// SQL statements run, for metrics.
    pub statements: StatementCounter,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Open websockets, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// The lower-priority threads websockets run on.
    pub delivery: delivery::DeliveryRuntime,
}

/// The server's routes. A host application can nest this router in its own.
pub fn router(state: AppState) -> Router {
    let limits = state.limits.clone();
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/export", get(export::export))
        .merge(dashboard::router())
        .merge(graphiql::router())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // A panic is a bug; the client gets a 500, the process keeps serving.
        .layer(CatchPanicLayer::new())
        .layer(cors(&limits.cors_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Cross-origin access for the configured browser origins only; with none
/// configured, no CORS headers are sent and browsers keep other sites out.
fn cors(origins: &[Origin]) -> CorsLayer {
    // An `Origin` is scheme, host and port in ASCII: always a header value.
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.as_str()).ok())
        .collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .max_age(std::time::Duration::from_secs(600))
}
