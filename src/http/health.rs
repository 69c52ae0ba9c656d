use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::bus::BusHealth;

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
    let listener = match state.feed.bus().health() {
        BusHealth::Up => None,
        BusHealth::Down(why) => Some(why),
    };
    let ready = database.is_none() && listener.is_none();
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database.unwrap_or("ok"),
        "listener": listener.unwrap_or_else(|| "ok".into()),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
