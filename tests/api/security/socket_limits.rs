//! What one websocket may hold: messages no larger than a request body.

use std::time::Duration;

use serde_json::json;

use crate::helpers::spawn_app_with;

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
