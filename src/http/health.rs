use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::bearer::{challenge, Authorization};
use super::AppState;
use crate::service::{Health, Operation};

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers and live events flow.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = match state.feed.db().ping().await {
        Ok(()) => None,
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            Some("unreachable")
        }
    };
    // Causes go to the log (the bus and publisher log theirs with detail);
    // whoever may reach this route sees only the state.
    let listener = match state.feed.live_health() {
        Health::Up => None,
        Health::Down(why) => {
            tracing::warn!(reason = why, "readiness check: live events are not flowing");
            Some("unavailable")
        }
    };
    let ready = database.is_none() && listener.is_none();
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database.unwrap_or("ok"),
        "listener": listener.unwrap_or("ok"),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus metrics. With authentication on, only a caller the role table
/// lets [`Operation::ReadMetrics`] may read them.
pub async fn metrics(State(state): State<AppState>, authorization: Authorization) -> Response {
    if !state.auth.is_open() {
        match state.auth.authenticate(authorization.as_deref()).await {
            Ok(identity) if identity.caller.allows(Operation::ReadMetrics) => {}
            Ok(_) => return StatusCode::FORBIDDEN.into_response(),
            Err(e) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, challenge(&e))],
                )
                    .into_response()
            }
        }
    }
    let body = state.metrics.render(&state.feed, &state.statements);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
