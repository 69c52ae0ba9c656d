//! Every close code the websocket can send, read by a strict client.
//!
//! tungstenite checks what RFC 6455 requires of a control frame: a Close
//! frame whose payload exceeds 125 bytes fails the read with
//! `ProtocolError::ControlFrameTooBig`, and a reason that is not UTF-8 with
//! a UTF-8 error, as Python's `websockets` and browsers do. So each case
//! below fails if the server's reason is too long or cut mid-character.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{secured_app, Callers};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// Long enough for any close the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// A websocket client that accepts only what RFC 6455 allows.
struct Strict(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Strict {
    /// Opens a socket speaking `protocol`.
    async fn open(app: &TestApp, protocol: &str) -> Self {
        let mut request = format!("ws://{}/graphql", app.addr)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        Self(stream)
    }

    /// Sends one text frame.
    async fn send(&mut self, message: Value) {
        self.0
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("websocket send");
    }

    /// Reads until the server's Close frame and returns its code and reason;
    /// panics on anything the protocol forbids, or when no Close comes.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.0.next())
                .await
                .expect("the server closed the socket in time")
                .expect("a Close frame before the end of the stream");
            match frame {
                Ok(Message::Close(Some(frame))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Ok(Message::Close(None)) => panic!("a Close frame without a code"),
                Ok(_) => continue,
                Err(error) => panic!("the server broke the protocol: {error}"),
            }
        }
    }

    /// `connection_init` with `payload`, answered with `connection_ack`.
    async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        loop {
            match self.0.next().await {
                Some(Ok(Message::Text(text))) => {
                    let msg: Value = serde_json::from_str(&text).unwrap();
                    if msg["type"] == "connection_ack" {
                        return;
                    }
                    panic!("expected connection_ack, got {msg}");
                }
                Some(Ok(_)) => continue,
                other => panic!("expected connection_ack, got {other:?}"),
            }
        }
    }
}

/// Asserts a Close frame's code, and that its reason fits (the client read it).
fn assert_closed(label: &str, got: (u16, String), code: u16) {
    assert_eq!(got.0, code, "{label}: {}", got.1);
    assert!(got.1.len() <= 123, "{label}: {} bytes", got.1.len());
}

const PROTOCOL: &str = "graphql-transport-ws";

/// A token with `alg: none`: its header names an algorithm the JWT library
/// does not know, and its error lists all it does, well past 123 bytes.
fn alg_none_token() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(
        json!({ "sub": "x", "role": "admin", "exp": chrono::Utc::now().timestamp() + 3600 })
            .to_string(),
    );
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn a_refused_connection_init_with_a_long_reason_closes_with_4403_that_fits() {
    // Arrange
    let app = secured_app().await;
    let mut ws = Strict::open(&app, PROTOCOL).await;

    // Act
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", alg_none_token()) } }))
        .await;

    // Assert
    let closed = ws.closed().await;
    assert_closed("alg none", closed.clone(), 4403);
    assert!(
        closed.1.starts_with("Forbidden: invalid token"),
        "{}",
        closed.1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_legacy_socket_refused_at_init_closes_with_4403() {
    // Arrange
    let app = secured_app().await;
    let mut ws = Strict::open(&app, "graphql-ws").await;

    // Act
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", alg_none_token()) } }))
        .await;

    // Assert
    assert_closed("legacy alg none", ws.closed().await, 4403);
    app.stop().await;
}

#[tokio::test]
async fn protocol_errors_close_with_their_codes_and_reasons_that_fit() {
    // Arrange
    let app = spawn_app().await;
    let subscribe = |id: &str| json!({ "type": "subscribe", "id": id, "payload": { "query": "subscription { activityAdded { uuid } }" } });
    // An id of two-byte characters: the 4409 reason quotes it, so it must be
    // cut, and cut between characters.
    let long_id = "é".repeat(100);

    // Act and assert: 4400, a message that is not one.
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.send(json!("nope")).await;
    assert_closed("4400", ws.closed().await, 4400);

    // 4401: subscribe before connection_ack.
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.send(subscribe("1")).await;
    assert_closed("4401", ws.closed().await, 4401);

    // 4409: a second subscribe with an id in use, a long multi-byte one.
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.init(json!({})).await;
    ws.send(subscribe(&long_id)).await;
    ws.send(subscribe(&long_id)).await;
    let closed = ws.closed().await;
    assert_closed("4409", closed.clone(), 4409);
    assert!(closed.1.starts_with("Subscriber for éé"), "{}", closed.1);

    // 4429: a second connection_init.
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.init(json!({})).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_closed("4429", ws.closed().await, 4429);

    // 1011: a legacy `start` before `connection_init`.
    let mut ws = Strict::open(&app, "graphql-ws").await;
    ws.send(json!({ "type": "start", "id": "1", "payload": { "query": "{ retentionDays }" } }))
        .await;
    assert_closed("1011", ws.closed().await, 1011);

    // 1000: the server answers the client's normal closure with its own.
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.init(json!({})).await;
    ws.0.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .expect("close frame sent");
    assert_closed("1000", ws.closed().await, 1000);
    app.stop().await;
}

#[tokio::test]
async fn a_socket_that_never_initialises_closes_with_4408() {
    // Arrange
    let app = spawn_app_with(|c| c.limits.ws_init_timeout = Duration::from_millis(200)).await;
    let mut ws = Strict::open(&app, PROTOCOL).await;

    // Act: nothing.

    // Assert
    assert_closed("4408", ws.closed().await, 4408);
    app.stop().await;
}

#[tokio::test]
async fn a_socket_whose_token_expires_closes_with_4403() {
    // Arrange: a token valid for two more seconds.
    let app = secured_app().await;
    let who = Callers::new();
    let token = super::hs256("admin", &who.alice.to_string(), 2);
    let mut ws = Strict::open(&app, PROTOCOL).await;
    ws.init(json!({ "Authorization": format!("Bearer {token}") }))
        .await;

    // Act: wait for it to expire.

    // Assert
    assert_closed("expiry", ws.closed().await, 4403);
    app.stop().await;
}
