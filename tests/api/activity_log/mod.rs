//! Issue 8, what users of activity logs ask for next: correlation ids,
//! request context, redaction, metadata filters, grouping and humanized
//! metadata — each through the real server, on SQLite and PostgreSQL.

mod correlation;
mod grouping;
mod humanized;
mod metadata_filter;
mod redaction;
mod request_context;
mod text_search;

use std::collections::BTreeSet;
use std::time::Duration;

use activity_feed::auth::{mint, Claims, SigningKey};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, Client, TestApp, WsClient};

/// The HS256 secret of [`spawn_secured`] servers.
const SECRET: &str = "activity-log-tests-secret-of-32-bytes";

/// The Activity fields these tests read.
const FIELDS: &str =
    "uuid action actorUuid correlationId clientIp userAgent metadata metadataText insertedAt";

/// A server that requires tokens signed with [`SECRET`].
async fn spawn_secured() -> TestApp {
    spawn_app_with(|c| c.auth.jwt_secret = Some(SECRET.into())).await
}

/// A token for `role` with subject `sub`, valid for an hour.
fn token(role: &str, sub: Uuid) -> String {
    let claims = Claims {
        sub: sub.to_string(),
        role: role.into(),
        exp: chrono::Utc::now().timestamp() + 3600,
    };
    mint(&claims, SigningKey::Secret(SECRET)).expect("token")
}

/// A service token.
fn service_token() -> String {
    token("service", Uuid::now_v7())
}

/// POSTs a GraphQL document with an optional bearer token and extra headers;
/// returns the whole response body.
async fn post(
    client: &Client,
    token: Option<&str>,
    headers: &[(&str, &str)],
    query: &str,
    variables: Value,
) -> Value {
    let mut req = client
        .http
        .post(client.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON response")
}

/// `data` of a document that must succeed, sent with `token`.
async fn data_as(client: &Client, token: &str, query: &str, variables: Value) -> Value {
    let body = post(client, Some(token), &[], query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// Logs one valid activity with `token` (none in open mode) and `headers`;
/// returns it with [`FIELDS`].
async fn log_with(
    client: &Client,
    token: Option<&str>,
    headers: &[(&str, &str)],
    input: Value,
) -> Value {
    let body = post(
        client,
        token,
        headers,
        &format!(
            "mutation($input: LogInput!) {{ log(input: $input) {{ activity {{ {FIELDS} }} errors {{ field message code }} }} }}"
        ),
        json!({ "input": input }),
    )
    .await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    assert_eq!(
        body["data"]["log"]["errors"],
        json!([]),
        "log refused: {body}"
    );
    body["data"]["log"]["activity"].clone()
}

/// Logs one valid activity in open mode.
async fn log(client: &Client, input: Value) -> Value {
    log_with(client, None, &[], input).await
}

/// The uuids of the activities matching `filter`, as `activities` lists them.
async fn uuids_matching(client: &Client, token: Option<&str>, filter: Value) -> BTreeSet<String> {
    let body = post(
        client,
        token,
        &[],
        "query($f: ActivityFilter) { activities(filter: $f, perPage: 500) { total entries { uuid } } }",
        json!({ "f": filter }),
    )
    .await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    let page = &body["data"]["activities"];
    let uuids: BTreeSet<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        page["total"],
        uuids.len(),
        "total and entries agree for {filter}"
    );
    uuids
}

/// Subscribes one `activityAdded` per filter on `ws` (ids "0", "1", …), the
/// last through `subscribe_ready`, so all are live when this returns.
async fn subscribe_filters(app: &Client, ws: &mut WsClient, filters: &[Value]) {
    let query = "subscription($f: ActivityFilter) { activityAdded(filter: $f) { uuid } }";
    let (last, rest) = filters.split_last().expect("at least one filter");
    for (i, filter) in rest.iter().enumerate() {
        ws.subscribe(&i.to_string(), query, json!({ "f": filter }))
            .await;
    }
    app.subscribe_ready(ws, &rest.len().to_string(), query, json!({ "f": last }))
        .await;
}

/// Reads `expected` subscription events from `ws`, then checks that no more
/// come; returns the uuids each subscription id received.
async fn collect_events(ws: &mut WsClient, expected: usize, ids: usize) -> Vec<BTreeSet<String>> {
    let mut got = vec![BTreeSet::new(); ids];
    for _ in 0..expected {
        let msg = ws.next_json().await.expect("a subscription event");
        assert_eq!(msg["type"], "next", "{msg}");
        let id: usize = msg["id"].as_str().unwrap().parse().unwrap();
        let uuid = msg["payload"]["data"]["activityAdded"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        got[id].insert(uuid);
    }
    ws.assert_silent(Duration::from_millis(300)).await;
    got
}
