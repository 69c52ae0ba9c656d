//! What one websocket may hold: messages no larger than a request body, a
//! deadline for `connection_init` under either protocol, and a cap on the
//! subscriptions it runs at once.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, WsClient};

/// Long enough for any answer or close the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// A `connection_init` of about `bytes` bytes.
fn init_of(bytes: usize) -> String {
    json!({ "type": "connection_init", "payload": { "pad": "x".repeat(bytes) } }).to_string()
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_closes_the_socket_with_1009() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_body_bytes = 4096).await;
    let mut small = app.raw_websocket("graphql-transport-ws").await;
    let mut large = app.raw_websocket("graphql-transport-ws").await;

    // Act
    small.send_text(&init_of(3000)).await;
    let small_reply = small.next_json_or_close(PATIENCE).await;
    large.send_text(&init_of(8192)).await;
    let large_reply = large.next_json_or_close(PATIENCE).await;

    // Assert
    assert_eq!(small_reply, Ok(json!({ "type": "connection_ack" })));
    assert_eq!(large_reply, Err(Some(1009)));
    app.stop().await;
}

#[tokio::test]
async fn legacy_sockets_that_never_send_init_are_closed_after_the_init_timeout() {
    // Arrange
    let app =
        spawn_app_with(|config| config.limits.ws_init_timeout = Duration::from_millis(300)).await;
    let mut silent = app.raw_websocket("graphql-ws").await;
    let mut acked = app.websocket_with("graphql-ws", json!({})).await;

    // Act: the silent one waits; the acknowledged one outlives the deadline, then asks.
    let silent_close = silent.close_code_within(PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    acked
        .send_json(
            json!({ "id": "1", "type": "start", "payload": { "query": "{ retentionDays }" } }),
        )
        .await;
    let answer = acked.next_data().await;

    // Assert
    assert_eq!(silent_close, Some(4408));
    assert_eq!(answer, json!({ "retentionDays": 90 }));
    app.stop().await;
}

/// The next message on `ws` that is not a `pong`.
async fn next_message(ws: &mut WsClient) -> Value {
    loop {
        let msg = ws.next_json().await.expect("a message");
        if msg["type"] != "pong" {
            return msg;
        }
    }
}

/// Sends a ping and waits for its pong: the server has handled everything sent before it.
async fn settled(ws: &mut WsClient) {
    ws.send_json(json!({ "type": "ping" })).await;
    let msg = ws.next_json().await.expect("a pong");
    assert_eq!(
        msg["type"], "pong",
        "unexpected message while waiting for the pong: {msg}"
    );
}

#[tokio::test]
async fn subscriptions_beyond_the_per_socket_cap_are_refused_and_the_socket_stays_open() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_subscriptions_per_socket = 2).await;
    let live = r#"subscription { activityAdded(filter: {action: "cap.test"}) { action } }"#;
    let mut ws = app.websocket().await;
    let mut legacy = app.websocket_with("graphql-ws", json!({})).await;

    // Act: three subscriptions on a socket that may run two.
    ws.subscribe("a", live, json!({})).await;
    ws.subscribe("b", live, json!({})).await;
    ws.subscribe("c", live, json!({})).await;
    let refusal = next_message(&mut ws).await;
    // Completing one makes room for another.
    ws.stop("a").await;
    ws.subscribe("c", live, json!({})).await;
    settled(&mut ws).await;
    app.log(json!({ "action": "cap.test" })).await;
    let mut delivered = [next_message(&mut ws).await, next_message(&mut ws).await];
    delivered.sort_by_key(|m| m["id"].as_str().map(str::to_owned));
    // The legacy protocol is capped too.
    for id in ["1", "2", "3"] {
        legacy.subscribe(id, live, json!({})).await;
    }
    let legacy_refusal = legacy.next_json().await.expect("a refusal");

    // Assert
    let message = "a websocket may run at most 2 subscriptions at once; complete one first";
    assert_eq!(
        refusal,
        json!({ "id": "c", "type": "error", "payload": [{ "message": message, "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" } }] })
    );
    for (msg, id) in delivered.iter().zip(["b", "c"]) {
        assert_eq!(
            msg,
            &json!({ "id": id, "type": "next", "payload": { "data": { "activityAdded": { "action": "cap.test" } } } })
        );
    }
    assert_eq!(
        legacy_refusal,
        json!({ "id": "3", "type": "error", "payload": { "message": message, "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" } } })
    );
    app.stop().await;
}
