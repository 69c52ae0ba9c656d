//! The HTTP surface: routes and layers, wiring requests to the GraphQL schema.

use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::graphql::AppSchema;
use crate::service::ActivityFeed;

/// `/graphql`: queries over HTTP, subscriptions over websockets, GraphiQL for browsers.
mod graphql;
/// `/healthz` and `/readyz`.
mod health;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema.
    pub schema: AppSchema,
    /// The service, for health checks.
    pub feed: ActivityFeed,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Open websockets, so shutdown can wait for them.
    pub sockets: TaskTracker,
}

/// The server's routes. A host application can nest this router in its own.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
