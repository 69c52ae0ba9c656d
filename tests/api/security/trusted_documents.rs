//! Trusted documents (`TRUSTED_DOCUMENTS`): only the manifest's documents
//! run, sent by id (`extensions.persistedQuery`, `documentId`) or as text;
//! anything else is refused and writes nothing; admins run others only when
//! the deployment allows it; websocket subscriptions are held to the same
//! list; the dashboard's own manifest keeps the dashboard working; an
//! invalid manifest stops the server at start.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{error_codes, hs256, secured_app_with, Callers, Db};
use crate::helpers::TestApp;

/// Long enough for anything the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);
const COUNT: &str = "query TrustedCount { activityCount }";
const LOG: &str = "mutation TrustedLog($action: String!) { log(input: {action: $action}) { activity { uuid action } } }";
const LIVE: &str = "subscription TrustedLive { activityAdded { action } }";
/// Not in the manifest.
const OTHER: &str = "query Untrusted { activityCount modules }";
const OTHER_WRITE: &str =
    "mutation UntrustedLog { log(input: {action: \"untrusted.write\"}) { activity { uuid } } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// A manifest file of `documents`, keyed by their sha256.
fn manifest(documents: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persisted-documents.json");
    let map: serde_json::Map<String, Value> = documents
        .iter()
        .map(|d| (sha256(d), Value::String(d.to_string())))
        .collect();
    std::fs::write(&path, Value::Object(map).to_string()).unwrap();
    (dir, path)
}

/// A secured server that runs `documents` only.
async fn trusted_app(
    documents: &[&str],
    configure: impl FnOnce(&mut activity_feed::config::ServeConfig),
) -> (TestApp, tempfile::TempDir) {
    let (dir, path) = manifest(documents);
    let app = secured_app_with(|config| {
        config.trusted_documents.trusted_documents = Some(path);
        configure(config);
    })
    .await;
    (app, dir)
}

/// POSTs `body` as `token`; returns status and body.
async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn ok(label: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 200, "{label}: {body}");
    assert!(body.get("errors").is_none(), "{label}: {body}");
}

#[tokio::test]
async fn only_the_manifests_documents_run_by_id_or_by_text() {
    // Arrange
    let (app, _dir) = trusted_app(&[COUNT, LOG, LIVE], |_| {}).await;
    let who = Callers::new();
    let db = Db::open(&app).await;

    // Act + Assert: by text, by Apollo's persisted query id, by documentId
    // with and without its prefix.
    ok(
        "text",
        &post(&app, &who.service, json!({ "query": COUNT })).await,
    );
    let apq = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(COUNT) } } });
    let by_apq = post(&app, &who.service, apq).await;
    ok("persistedQuery", &by_apq);
    assert!(by_apq.1["data"]["activityCount"].is_number());
    let prefixed = json!({ "documentId": format!("sha256:{}", sha256(LOG)), "variables": { "action": "trusted.by_id" } });
    ok("documentId", &post(&app, &who.service, prefixed).await);
    let bare =
        json!({ "documentId": sha256(LOG), "variables": { "action": "trusted.by_bare_id" } });
    ok("bare documentId", &post(&app, &who.service, bare).await);

    // Anything else runs nothing: other text, an unknown id, a write, and
    // an attempt to register a new persisted query.
    let before = db.rows().await;
    let refusals = [
        (
            "other text",
            json!({ "query": OTHER }),
            "DOCUMENT_NOT_TRUSTED",
        ),
        (
            "other write",
            json!({ "query": OTHER_WRITE }),
            "DOCUMENT_NOT_TRUSTED",
        ),
        (
            "registering a new persisted query",
            json!({ "query": OTHER, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } }),
            "DOCUMENT_NOT_TRUSTED",
        ),
        (
            "unknown documentId",
            json!({ "documentId": format!("sha256:{}", sha256(OTHER)) }),
            "PERSISTED_QUERY_NOT_FOUND",
        ),
        (
            "unknown persisted query",
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } }),
            "PERSISTED_QUERY_NOT_FOUND",
        ),
        (
            "the text with one more space",
            json!({ "query": format!("{COUNT} ") }),
            "DOCUMENT_NOT_TRUSTED",
        ),
    ];
    for (label, body, code) in refusals {
        let (status, answer) = post(&app, &who.admin, body).await;
        assert_eq!(status, 200, "{label}: {answer}");
        assert_eq!(error_codes(&answer), [code], "{label}: {answer}");
        assert!(answer["data"].is_null(), "{label} ran: {answer}");
    }
    assert_eq!(db.rows().await, before, "a refused document wrote");
    // A registration refused is not stored either.
    let again = post(&app, &who.admin, json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } })).await;
    assert_eq!(error_codes(&again.1), ["PERSISTED_QUERY_NOT_FOUND"]);
    db.close().await;
    app.stop().await;
}

/// GETs `/graphql` with `params` in the query string, as `token`; returns
/// status and body.
async fn get(app: &TestApp, token: &str, params: &[(&str, String)]) -> (u16, Value) {
    let res = app
        .http
        .get(app.url("/graphql"))
        .bearer_auth(token)
        .header("accept", "application/json")
        .query(params)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_get_runs_a_trusted_query_by_document_id_but_never_a_mutation() {
    // Arrange
    let (app, _dir) = trusted_app(&[COUNT, LOG], |_| {}).await;
    let who = Callers::new();
    let db = Db::open(&app).await;
    let before = db.rows().await;

    // Act
    let by_id = get(
        &app,
        &who.service,
        &[("documentId", format!("sha256:{}", sha256(COUNT)))],
    )
    .await;
    let by_bare_id = get(&app, &who.service, &[("documentId", sha256(COUNT))]).await;
    let mutation = get(
        &app,
        &who.admin,
        &[
            ("documentId", format!("sha256:{}", sha256(LOG))),
            (
                "variables",
                json!({ "action": "trusted.by_get" }).to_string(),
            ),
        ],
    )
    .await;
    let unknown = get(
        &app,
        &who.admin,
        &[("documentId", format!("sha256:{}", sha256(OTHER)))],
    )
    .await;

    // Assert
    ok("GET by documentId", &by_id);
    assert!(by_id.1["data"]["activityCount"].is_number(), "{}", by_id.1);
    ok("GET by bare documentId", &by_bare_id);
    assert_eq!(mutation.0, 405, "{}", mutation.1);
    assert_eq!(error_codes(&mutation.1), ["BAD_REQUEST"], "{}", mutation.1);
    assert_eq!(unknown.0, 200, "{}", unknown.1);
    assert_eq!(
        error_codes(&unknown.1),
        ["PERSISTED_QUERY_NOT_FOUND"],
        "{}",
        unknown.1
    );
    assert_eq!(db.rows().await, before, "a GET wrote");
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_media_type_of_graphql_over_http_gets_400_for_a_refused_document() {
    // Arrange
    let (app, _dir) = trusted_app(&[COUNT], |_| {}).await;
    let who = Callers::new();

    // Act
    let res = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&who.admin)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": OTHER }))
        .send()
        .await
        .unwrap();

    // Assert: a request error, nothing executed.
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_codes(&body), ["DOCUMENT_NOT_TRUSTED"], "{body}");
    assert!(body.get("data").is_none(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn admins_run_other_documents_only_when_the_setting_allows_it() {
    // Arrange
    let who = Callers::new();
    let (strict, _a) = trusted_app(&[COUNT], |_| {}).await;
    let (lenient, _b) = trusted_app(&[COUNT], |config| {
        config.trusted_documents.trusted_documents_admin_any = true;
    })
    .await;

    // Act
    let strict_admin = post(&strict, &who.admin, json!({ "query": OTHER })).await;
    let lenient_admin = post(&lenient, &who.admin, json!({ "query": OTHER })).await;
    let lenient_service = post(&lenient, &who.service, json!({ "query": OTHER })).await;
    let lenient_admin_apq = post(
        &lenient,
        &who.admin,
        json!({ "query": OTHER, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } }),
    )
    .await;
    let lenient_admin_by_hash = post(
        &lenient,
        &who.admin,
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } }),
    )
    .await;
    let service_by_that_hash = post(
        &lenient,
        &who.service,
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(OTHER) } } }),
    )
    .await;

    // Assert: an admin's own automatic persisted queries work too, and do
    // not become trusted for anyone else.
    assert_eq!(error_codes(&strict_admin.1), ["DOCUMENT_NOT_TRUSTED"]);
    ok("lenient admin", &lenient_admin);
    assert_eq!(error_codes(&lenient_service.1), ["DOCUMENT_NOT_TRUSTED"]);
    ok("lenient admin registers", &lenient_admin_apq);
    ok("lenient admin by hash", &lenient_admin_by_hash);
    assert_eq!(
        error_codes(&service_by_that_hash.1),
        ["PERSISTED_QUERY_NOT_FOUND"]
    );
    strict.stop().await;
    lenient.stop().await;
}

/// An acknowledged graphql-transport-ws socket for `token`.
async fn socket(app: &TestApp, token: &str) -> crate::helpers::WsClient {
    app.websocket_with(
        "graphql-transport-ws",
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await
}

/// The first `next` or `error` for `id`.
async fn first_for(ws: &mut crate::helpers::WsClient, id: &str) -> Value {
    loop {
        let msg = ws.next_json_or_close(PATIENCE).await.expect("socket open");
        if msg["id"] == id && matches!(msg["type"].as_str(), Some("next" | "error")) {
            return msg;
        }
    }
}

#[tokio::test]
async fn websocket_operations_are_held_to_the_manifest() {
    // Arrange
    let (app, _dir) = trusted_app(&[COUNT, LOG, LIVE], |_| {}).await;
    let who = Callers::new();
    let mut ws = socket(&app, &who.admin).await;

    // Act: the trusted subscription (shared between subscribers), an
    // untrusted one, and a trusted query sent by id.
    ws.send_json(json!({ "type": "subscribe", "id": "live", "payload": { "query": LIVE } }))
        .await;
    ws.send_json(json!({ "type": "subscribe", "id": "other", "payload": { "query": "subscription Other { activityAdded { uuid action } }" } }))
        .await;
    let refused = first_for(&mut ws, "other").await;
    ws.send_json(json!({ "type": "subscribe", "id": "byid", "payload": { "query": "", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(COUNT) } } } }))
        .await;
    let by_id = first_for(&mut ws, "byid").await;
    let mut delivered = None;
    for _ in 0..100 {
        let logged = post(
            &app,
            &who.service,
            json!({ "query": LOG, "variables": { "action": "trusted.live" } }),
        )
        .await;
        ok("log", &logged);
        if let Ok(msg) = ws.next_json_or_close(Duration::from_millis(100)).await {
            if msg["id"] == "live" && msg["type"] == "next" {
                delivered = Some(msg);
                break;
            }
        }
    }

    // Assert
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "DOCUMENT_NOT_TRUSTED",
        "{refused}"
    );
    assert_eq!(by_id["type"], "next", "{by_id}");
    assert!(
        by_id["payload"]["data"]["activityCount"].is_number(),
        "{by_id}"
    );
    let delivered = delivered.expect("the trusted subscription delivered");
    assert_eq!(
        delivered["payload"]["data"]["activityAdded"]["action"],
        "trusted.live"
    );
    app.stop().await;
}

/// The dashboard's documents, from the manifest the binary embeds.
fn dashboard_documents() -> Vec<String> {
    let text = activity_feed::graphql::trusted::DASHBOARD_MANIFEST;
    let map: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
    map.values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_dashboards_documents_run_beside_any_manifest_unless_turned_off() {
    // Arrange: a deployment's manifest that knows nothing of the dashboard.
    let (with, _a) = trusted_app(&[COUNT], |_| {}).await;
    let (without, _b) = trusted_app(&[COUNT], |config| {
        config.trusted_documents.trusted_documents_dashboard = false;
    })
    .await;
    let token = hs256("user", &Uuid::now_v7().to_string(), 3600);
    let variables =
        json!({ "filter": {}, "window": {}, "groupBy": "DAY", "first": 5, "search": "a" });
    let documents = dashboard_documents();
    assert!(documents.len() >= 10, "{}", documents.len());

    for document in documents.iter().filter(|d| d.starts_with("query")) {
        // Act
        let served = post(
            &with,
            &token,
            json!({ "query": document, "variables": variables }),
        )
        .await;
        let refused = post(
            &without,
            &token,
            json!({ "query": document, "variables": variables }),
        )
        .await;

        // Assert
        ok(document, &served);
        assert_eq!(
            error_codes(&refused.1),
            ["DOCUMENT_NOT_TRUSTED"],
            "{document}"
        );
    }
    let mut ws = socket(&with, &token).await;
    for (i, document) in documents
        .iter()
        .filter(|d| d.starts_with("subscription"))
        .enumerate()
    {
        let id = format!("s{i}");
        ws.send_json(json!({ "type": "subscribe", "id": id, "payload": { "query": document, "variables": { "filter": {}, "after": null } } }))
            .await;
    }
    // Nothing refused: an error would come at once.
    ws.assert_silent(Duration::from_millis(500)).await;
    with.stop().await;
    without.stop().await;
}

#[tokio::test]
async fn a_manifest_the_server_cannot_use_stops_startup() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let stale = "query Stale { activityCount removedField }";
    let cases = [
        (
            write("stale.json", &json!({ sha256(stale): stale }).to_string()),
            vec![sha256(stale), "removedField".into()],
        ),
        (
            write("syntax.json", &json!({ "doc-1": "query {" }).to_string()),
            vec!["doc-1".into()],
        ),
        (
            write(
                "wrong-hash.json",
                &json!({ sha256(OTHER): COUNT }).to_string(),
            ),
            vec![sha256(OTHER), sha256(COUNT)],
        ),
        (write("list.json", "[]"), vec!["manifest".into()]),
        (dir.path().join("missing.json"), vec!["missing.json".into()]),
    ];
    let database = activity_feed::config::DatabaseConfig {
        url: "sqlite::memory:".into(),
        ..activity_feed::config::DatabaseConfig::default()
    };
    for (path, says) in cases {
        let mut config = activity_feed::config::ServeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..activity_feed::config::ServeConfig::default()
        };
        config.auth.jwt_secret = Some(super::SECRET.into());
        config.trusted_documents.trusted_documents = Some(path.clone());

        // Act
        let result = activity_feed::startup::Application::build(&database, config).await;

        // Assert
        match result {
            Err(activity_feed::startup::StartupError::Config(message)) => {
                for part in &says {
                    assert!(
                        message.contains(part.as_str()),
                        "{}: {message}",
                        path.display()
                    );
                }
            }
            Err(other) => panic!(
                "{}: expected a configuration error, got {other}",
                path.display()
            ),
            Ok(_) => panic!("{}: the server started", path.display()),
        }
    }
}
