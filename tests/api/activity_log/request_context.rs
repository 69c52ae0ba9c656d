//! Request context: the caller's IP address and user agent, recorded only
//! when the deployment asks for it, from the peer or a trusted proxy.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{log_with, post, uuids_matching};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// A server that records request context, trusting `proxies`.
async fn recording(proxies: &[&str]) -> TestApp {
    let proxies: Vec<_> = proxies.iter().map(|p| p.parse().unwrap()).collect();
    spawn_app_with(|c| {
        c.context.record_request_context = true;
        c.context.trusted_proxies = proxies;
    })
    .await
}

#[tokio::test]
async fn nothing_is_recorded_by_default() {
    let app = spawn_app().await;
    let row = log_with(
        &app,
        None,
        &[
            ("user-agent", "Probe/1.0"),
            ("x-forwarded-for", "203.0.113.5"),
        ],
        json!({"action": "a"}),
    )
    .await;
    assert_eq!(
        (&row["clientIp"], &row["userAgent"]),
        (&Value::Null, &Value::Null)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_peer_and_its_user_agent_are_recorded_and_filterable() {
    let app = recording(&[]).await;
    let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
    let firefox = log_with(&app, None, &[("user-agent", ua)], json!({"action": "a"})).await;
    let curl = log_with(
        &app,
        None,
        &[("user-agent", "curl/8.5.0")],
        json!({"action": "a"}),
    )
    .await;
    let bare = log_with(&app, None, &[], json!({"action": "a"})).await;

    assert_eq!(firefox["clientIp"], "127.0.0.1");
    assert_eq!(firefox["userAgent"], ua);
    assert_eq!(bare["userAgent"], Value::Null);
    let uuid = |row: &Value| row["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        uuids_matching(&app, None, json!({"userAgent": "Firefox/"})).await,
        [uuid(&firefox)].into()
    );
    assert_eq!(
        uuids_matching(&app, None, json!({"userAgent": "curl"})).await,
        [uuid(&curl)].into()
    );
    assert!(uuids_matching(&app, None, json!({"userAgent": "firefox"}))
        .await
        .is_empty());
    // `%` and `_` are not wildcards.
    assert!(uuids_matching(&app, None, json!({"userAgent": "%"}))
        .await
        .is_empty());
    assert_eq!(
        uuids_matching(&app, None, json!({"clientIp": "127.0.0.1"}))
            .await
            .len(),
        3
    );
    assert!(uuids_matching(&app, None, json!({"clientIp": "10.0.0.1"}))
        .await
        .is_empty());
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let headers = [("x-forwarded-for", "198.51.100.7, 203.0.113.9")];
    let untrusting = recording(&[]).await;
    let row = log_with(&untrusting, None, &headers, json!({"action": "a"})).await;
    assert_eq!(row["clientIp"], "127.0.0.1");
    untrusting.stop().await;

    let behind_proxy = recording(&["127.0.0.0/8"]).await;
    let row = log_with(&behind_proxy, None, &headers, json!({"action": "a"})).await;
    // The rightmost hop not a trusted proxy: the left one is the client's own claim.
    assert_eq!(row["clientIp"], "203.0.113.9");
    let row = log_with(&behind_proxy, None, &[], json!({"action": "a"})).await;
    assert_eq!(row["clientIp"], "127.0.0.1");
    assert_eq!(
        uuids_matching(&behind_proxy, None, json!({"clientIp": "203.0.113.9"}))
            .await
            .len(),
        1
    );
    behind_proxy.stop().await;
}

#[tokio::test]
async fn trusted_proxies_may_be_written_as_ipv4_mapped_ranges() {
    // Arrange: the IPv4-mapped form of 127.0.0.0/8; the peer is 127.0.0.1.
    let app = recording(&["::ffff:127.0.0.0/104"]).await;

    // Act
    let row = log_with(
        &app,
        None,
        &[("x-forwarded-for", "203.0.113.9")],
        json!({"action": "a"}),
    )
    .await;

    // Assert
    assert_eq!(row["clientIp"], "203.0.113.9");
    app.stop().await;
}

#[tokio::test]
async fn batches_and_user_changes_record_it_too_and_inputs_cannot_forge_it() {
    let app = recording(&[]).await;
    let ua = [("user-agent", "importer/2")];
    let body = post(
        &app,
        None,
        &ua,
        "mutation { logBatch(inputs: [{action: \"a\"}, {action: \"b\"}]) { activity { clientIp userAgent } } }",
        json!({}),
    )
    .await;
    let expected = json!({"activity": {"clientIp": "127.0.0.1", "userAgent": "importer/2"}});
    assert_eq!(
        body["data"]["logBatch"],
        json!([expected, expected]),
        "{body}"
    );

    let body = post(
        &app,
        None,
        &ua,
        "mutation($u: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $u, changes: {email: \"e@x\"}}) { activity { clientIp userAgent } } }",
        json!({"u": Uuid::now_v7()}),
    )
    .await;
    assert_eq!(body["data"]["logUserChange"], expected, "{body}");

    let body = post(
        &app,
        None,
        &[],
        "mutation { log(input: {action: \"a\", clientIp: \"1.2.3.4\"}) { activity { uuid } } }",
        json!({}),
    )
    .await;
    assert!(
        body["errors"].is_array(),
        "clientIp is not an input: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_mutation_over_a_websocket_records_where_the_socket_came_from() {
    let app = recording(&[]).await;
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    headers.insert("User-Agent", HeaderValue::from_static("socket-client/1"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type": "connection_init"})))
        .await
        .unwrap();
    ws.send(send(json!({
        "id": "1", "type": "subscribe",
        "payload": {"query": "mutation { log(input: {action: \"ws.logged\"}) { activity { clientIp userAgent } } }"},
    })))
    .await
    .unwrap();
    let data = loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("a reply in time")
            .expect("open")
            .expect("a message");
        let Message::Text(text) = msg else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["type"] == "next" {
            break value["payload"]["data"].clone();
        }
    };
    assert_eq!(
        data["log"]["activity"],
        json!({"clientIp": "127.0.0.1", "userAgent": "socket-client/1"})
    );
    app.stop().await;
}
