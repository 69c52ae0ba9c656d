//! The websocket guard: graphql-transport-ws close codes, and tokens from
//! `connection_init` or the upgrade request, checked for as long as the
//! socket stays open.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{hs256, hs256_with, secured_app, secured_app_with, Callers};
use crate::helpers::{TestApp, WsClient};

/// Long enough for any close the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);

const PROTOCOL: &str = "graphql-transport-ws";

/// Sends `connection_init` with `payload` and returns the close code the
/// server answered with, or panics if it acknowledged.
async fn init_refused(ws: &mut WsClient, payload: serde_json::Value) -> Option<u16> {
    ws.send_json(json!({ "type": "connection_init", "payload": payload }))
        .await;
    match ws.next_json_or_close(PATIENCE).await {
        Ok(msg) => panic!("expected the socket to close, got {msg}"),
        Err(code) => code,
    }
}

async fn acked(app: &TestApp, token: &str) -> WsClient {
    app.websocket_with(
        PROTOCOL,
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await
}

#[tokio::test]
async fn connection_init_without_a_valid_token_is_closed_with_4403() {
    // Arrange
    let app = secured_app().await;
    let sub = Uuid::now_v7().to_string();
    let payloads = [
        ("no payload", json!(null)),
        ("empty payload", json!({})),
        (
            "garbage token",
            json!({ "Authorization": "Bearer garbage" }),
        ),
        (
            "forged token",
            json!({ "Authorization": format!("Bearer {}", hs256_with("nope", "admin", &sub, 3600)) }),
        ),
        (
            "expired token",
            json!({ "Authorization": format!("Bearer {}", hs256("admin", &sub, -3600)) }),
        ),
        (
            "unknown role",
            json!({ "Authorization": format!("Bearer {}", hs256("root", &sub, 3600)) }),
        ),
        (
            "Basic credentials",
            json!({ "Authorization": "Basic YWRtaW46YWRtaW4=" }),
        ),
        (
            "bare token field, forged",
            json!({ "token": hs256_with("nope", "admin", &sub, 3600) }),
        ),
        ("token of the wrong type", json!({ "Authorization": 42 })),
    ];

    for (label, payload) in payloads {
        // Act
        let mut ws = app.raw_websocket(PROTOCOL).await;
        let code = init_refused(&mut ws, payload).await;

        // Assert
        assert_eq!(code, Some(4403), "{label}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_upgrade_requests_authorization_header_is_honoured_and_checked() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let sub = Uuid::now_v7().to_string();

    // Act: a valid header with an empty init payload; a bad header; a bad
    // header overridden by a valid token in the payload.
    let mut good = app
        .raw_websocket_authorized(PROTOCOL, &format!("Bearer {}", who.service))
        .await;
    good.send_json(json!({ "type": "connection_init", "payload": {} }))
        .await;
    let good_reply = good.next_json_or_close(PATIENCE).await;
    let mut bad = app
        .raw_websocket_authorized(PROTOCOL, &format!("Bearer {}", hs256("admin", &sub, -60)))
        .await;
    let bad_code = init_refused(&mut bad, json!({})).await;
    let mut overridden = app
        .raw_websocket_authorized(PROTOCOL, "Bearer garbage")
        .await;
    overridden
        .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", who.user) } }))
        .await;
    let overridden_reply = overridden.next_json_or_close(PATIENCE).await;

    // Assert
    assert_eq!(good_reply, Ok(json!({ "type": "connection_ack" })));
    assert_eq!(bad_code, Some(4403));
    assert_eq!(overridden_reply, Ok(json!({ "type": "connection_ack" })));
    app.stop().await;
}

#[tokio::test]
async fn subscribe_before_connection_ack_is_closed_with_4401() {
    // Arrange
    let app = secured_app().await;
    let mut ws = app.raw_websocket(PROTOCOL).await;

    // Act
    ws.subscribe("1", "subscription { activityAdded { uuid } }", json!({}))
        .await;

    // Assert
    assert_eq!(ws.close_code_within(PATIENCE).await, Some(4401));
    app.stop().await;
}

#[tokio::test]
async fn malformed_messages_are_closed_with_4400() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let malformed = [
        "not json",
        "[]",
        "42",
        r#"{"type":"wat"}"#,
        r#"{"type":"subscribe","id":"1"}"#,
        r#"{"type":"subscribe","id":"","payload":{"query":"subscription { activityAdded { uuid } }"}}"#,
        r#"{"type":"subscribe","id":"1","payload":{"query":42}}"#,
        r#"{"type":"complete"}"#,
        r#"{"id":"1"}"#,
    ];

    for text in malformed {
        // Act: each on an acknowledged socket.
        let mut ws = acked(&app, &who.user).await;
        ws.send_text(text).await;

        // Assert
        assert_eq!(ws.close_code_within(PATIENCE).await, Some(4400), "{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed_with_4408() {
    // Arrange
    let app = secured_app_with(|config| {
        config.limits.ws_init_timeout = Duration::from_millis(200);
    })
    .await;

    // Act: connect and say nothing.
    let mut ws = app.raw_websocket(PROTOCOL).await;

    // Assert
    assert_eq!(ws.close_code_within(PATIENCE).await, Some(4408));
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_operation_id_is_closed_with_4409() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let mut ws = acked(&app, &who.user).await;
    ws.subscribe("same", "subscription { activityAdded { uuid } }", json!({}))
        .await;

    // Act
    ws.subscribe("same", "subscription { activityAdded { uuid } }", json!({}))
        .await;

    // Assert
    assert_eq!(ws.close_code_within(PATIENCE).await, Some(4409));
    app.stop().await;
}

#[tokio::test]
async fn a_second_connection_init_is_closed_with_4429() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let mut ws = acked(&app, &who.user).await;

    // Act
    ws.send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", who.admin) } }))
        .await;

    // Assert
    assert_eq!(ws.close_code_within(PATIENCE).await, Some(4429));
    app.stop().await;
}

#[tokio::test]
async fn a_token_that_expires_while_the_socket_is_open_closes_it_with_4403() {
    // Arrange: a token valid for two more seconds, subscribed to everything.
    let app = secured_app().await;
    let who = Callers::new();
    let short = hs256("user", &who.alice.to_string(), 2);
    let mut ws = acked(&app, &short).await;
    ws.subscribe("1", "subscription { activityAdded { uuid } }", json!({}))
        .await;

    // Act: wait for the server to notice, however long it takes within reason.
    let mut messages = Vec::new();
    let code = loop {
        match ws.next_json_or_close(PATIENCE).await {
            Ok(msg) => messages.push(msg),
            Err(code) => break code,
        }
    };

    // Assert: closed as Forbidden; nothing but the subscription's own
    // UNAUTHENTICATED error may have come before.
    assert_eq!(code, Some(4403));
    for msg in &messages {
        assert_eq!(msg["type"], "next", "{msg}");
        assert_eq!(msg["payload"]["data"], Value::Null, "{msg}");
        assert_eq!(
            msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{msg}"
        );
    }
    // And the expired token opens no new socket.
    let mut again = app.raw_websocket(PROTOCOL).await;
    let again_code = init_refused(
        &mut again,
        json!({ "Authorization": format!("Bearer {short}") }),
    )
    .await;
    assert_eq!(again_code, Some(4403));
    app.stop().await;
}

#[tokio::test]
async fn at_expiry_each_subscription_gets_its_unauthenticated_error_before_the_4403() {
    // Arrange: a token valid for two more seconds, with one shared
    // subscription (no cursor) and one of its own (resuming after one).
    let app = secured_app().await;
    let who = Callers::new();
    let cursor = app
        .graphql_authorized(
            Some(&format!("Bearer {}", who.admin)),
            r#"mutation { log(input: {action: "expiry.before"}) { activity { cursor } } }"#,
            json!({}),
        )
        .await
        .body["data"]["log"]["activity"]["cursor"]
        .clone();
    let short = hs256("user", &who.alice.to_string(), 2);
    let mut ws = acked(&app, &short).await;
    ws.subscribe(
        "shared",
        "subscription { activityAdded { uuid } }",
        json!({}),
    )
    .await;
    ws.subscribe(
        "own",
        "subscription($c: String) { activityAdded(after: $c) { uuid } }",
        json!({ "c": cursor }),
    )
    .await;

    // Act: read everything until the server closes the socket.
    let mut messages = Vec::new();
    let code = loop {
        match ws.next_json_or_close(PATIENCE).await {
            Ok(msg) => messages.push(msg),
            Err(code) => break code,
        }
    };

    // Assert: the replayed row first, then exactly one UNAUTHENTICATED
    // result per subscription, no `complete`, and the close last.
    assert_eq!(code, Some(4403));
    let errors_of = |id: &str| {
        messages
            .iter()
            .filter(|m| m["id"] == id && m["payload"]["errors"].is_array())
            .map(|m| {
                assert_eq!(m["type"], "next", "{m}");
                m["payload"]["errors"][0]["extensions"]["code"].clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        errors_of("shared"),
        [json!("UNAUTHENTICATED")],
        "{messages:?}"
    );
    assert_eq!(errors_of("own"), [json!("UNAUTHENTICATED")], "{messages:?}");
    assert!(
        messages.iter().all(|m| m["type"] != "complete"),
        "{messages:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_legacy_protocol_refuses_a_bad_token_too() {
    // Arrange
    let app = secured_app().await;
    let mut ws = app.raw_websocket("graphql-ws").await;

    // Act
    ws.send_json(
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer garbage" } }),
    )
    .await;
    let mut replies = Vec::new();
    let code = loop {
        match ws.next_json_or_close(PATIENCE).await {
            Ok(msg) => replies.push(msg),
            Err(code) => break code,
        }
    };

    // Assert: a connection_error, then the Forbidden close.
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["type"], "connection_error");
    assert_eq!(code, Some(4403));
    app.stop().await;
}

/// Opens a graphql-transport-ws upgrade sending `Origin: origin` (none for
/// `None`), as a browser page would; the HTTP status of a refused upgrade.
async fn upgrade_from(
    app: &TestApp,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    if let Some(origin) = origin {
        headers.insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(stream),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("upgrade failed without an HTTP answer: {other}"),
    }
}

/// Sends `connection_init` and returns the server's first answer.
async fn init(
    stream: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    payload: Value,
) -> Value {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let init = json!({ "type": "connection_init", "payload": payload });
    stream
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no answer to connection_init: {other:?}"),
        }
    }
}

#[tokio::test]
async fn open_mode_refuses_websockets_from_other_sites() {
    // Arrange: open development mode, where a socket needs no token.
    let app = crate::helpers::spawn_app().await;
    let own = format!("http://{}", app.addr);

    // Act
    let evil = upgrade_from(&app, Some("https://evil.example")).await.err();
    let null = upgrade_from(&app, Some("null")).await.err();
    let same_origin = upgrade_from(&app, Some(&own)).await;
    let no_origin = upgrade_from(&app, None).await;

    // Assert: another site's page gets no socket, so it cannot log or
    // prune; the server's own pages and clients that are not browsers can.
    assert_eq!(evil, Some(403));
    assert_eq!(null, Some(403));
    let mut same_origin = same_origin.expect("a same-origin socket");
    assert_eq!(
        init(&mut same_origin, json!({})).await["type"],
        "connection_ack"
    );
    let mut no_origin = no_origin.expect("a socket without Origin");
    assert_eq!(
        init(&mut no_origin, json!({})).await["type"],
        "connection_ack"
    );
    app.stop().await;
}

#[tokio::test]
async fn websockets_from_cors_origins_are_served_and_others_refused_with_a_token_too() {
    // Arrange: a secured server that lets one browser origin call.
    let app = secured_app_with(|c| {
        c.limits.cors_origins = vec!["https://app.example".parse().unwrap()];
    })
    .await;
    let who = Callers::new();
    let token = json!({ "Authorization": format!("Bearer {}", who.admin) });

    // Act
    let listed = upgrade_from(&app, Some("https://APP.example")).await;
    let other = upgrade_from(&app, Some("https://evil.example")).await.err();
    let other_port = upgrade_from(&app, Some("https://app.example:8443"))
        .await
        .err();

    // Assert: a valid token does not make another site's page welcome.
    let mut listed = listed.expect("a socket from a listed origin");
    assert_eq!(init(&mut listed, token).await["type"], "connection_ack");
    assert_eq!(other, Some(403));
    assert_eq!(other_port, Some(403));
    app.stop().await;
}
