//! The HTTP endpoints beside GraphQL that read data: `/export` streams what
//! the caller may see, `/metrics` is for administrators.

use serde_json::{json, Value};

use super::{hs256_with, log_as, secured_app, Callers};
use crate::helpers::TestApp;

/// GETs `path` with `Authorization: Bearer token` (none for `None`).
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let res = request.send().await.expect("request sent");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// The `uuid` of every NDJSON line.
fn exported(body: &str) -> Vec<Value> {
    body.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line")["uuid"].clone())
        .collect()
}

#[tokio::test]
async fn export_streams_only_what_the_caller_may_see() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let mine = log_as(
        &app,
        &who.service,
        json!({ "action": "export.mine", "actorUuid": who.alice }),
    )
    .await;
    let bobs = log_as(
        &app,
        &who.service,
        json!({ "action": "export.bobs", "actorUuid": who.bob }),
    )
    .await;
    let forged = hs256_with("not-the-secret", "admin", &who.alice.to_string(), 3600);

    // Act
    let as_user = get(&app, "/export", Some(&who.user)).await;
    let as_service = get(&app, "/export", Some(&who.service)).await;
    let without = get(&app, "/export", None).await;
    let with_forged = get(&app, "/export", Some(&forged)).await;

    // Assert: newest first, the user's own only.
    assert_eq!(as_user.0, 200);
    assert_eq!(exported(&as_user.1), [mine["uuid"].clone()]);
    assert_eq!(as_service.0, 200);
    assert_eq!(
        exported(&as_service.1),
        [bobs["uuid"].clone(), mine["uuid"].clone()]
    );
    for (label, (status, body)) in [("no token", without), ("forged", with_forged)] {
        assert_eq!(status, 401, "{label}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{label}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_for_administrators_only() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();

    // Act
    let without = get(&app, "/metrics", None).await.0;
    let as_user = get(&app, "/metrics", Some(&who.user)).await.0;
    let as_service = get(&app, "/metrics", Some(&who.service)).await.0;
    let as_admin = get(&app, "/metrics", Some(&who.admin)).await.0;

    // Assert
    assert_eq!(
        [without, as_user, as_service, as_admin],
        [401, 403, 403, 200]
    );
    app.stop().await;
}

#[tokio::test]
async fn export_refuses_parameters_it_does_not_know_and_names_the_ones_it_does() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    log_as(&app, &who.service, json!({ "action": "post.created" })).await;
    log_as(&app, &who.service, json!({ "action": "invoice.paid" })).await;

    // Act: the filter's fields as parameters of their own, a misspelling,
    // an unknown format.
    let mut answers = Vec::new();
    for path in [
        "/export?action=post.*&format=ndjson",
        "/export?fliter=%7B%7D",
        "/export?format=xml",
    ] {
        answers.push((path, get(&app, path, Some(&who.service)).await));
    }
    let right = get(
        &app,
        "/export?format=ndjson&filter=%7B%22action%22%3A%22post.*%22%7D",
        Some(&who.service),
    )
    .await;

    // Assert: 400, with a code and the accepted parameters, and no rows.
    for (path, (status, body)) in answers {
        assert_eq!(status, 400, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{path}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("`format`") && message.contains("`filter`"),
            "{path}: {message}"
        );
    }
    assert_eq!((right.0, right.1.lines().count()), (200, 1));
    app.stop().await;
}

#[tokio::test]
async fn export_carries_the_request_context_and_neutralises_csv_formulas() {
    // Arrange: a server that records request context, and a producer whose
    // values a spreadsheet would run.
    let app = super::secured_app_with(|c| c.context.record_request_context = true).await;
    let who = Callers::new();
    let answer = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&who.service)
        .header("User-Agent", "=HYPERLINK(\"http://evil.example\")")
        .json(&json!({
            "query": "mutation($i: LogInput!) { log(input: $i) { activity { uuid } } }",
            "variables": { "i": {
                "action": "=1+2",
                "module": "+cmd",
                "mode": "-2",
                "resourceType": "@SUM(A1)",
                "correlationId": "checkout-81",
            } },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Act
    let ndjson = get(&app, "/export?format=ndjson", Some(&who.service))
        .await
        .1;
    let csv = get(&app, "/export?format=csv", Some(&who.service)).await.1;

    // Assert: NDJSON keeps values as they are, with the context.
    let row: Value = serde_json::from_str(ndjson.lines().next().unwrap()).unwrap();
    assert_eq!(row["action"], "=1+2");
    assert_eq!(row["correlationId"], "checkout-81");
    assert_eq!(row["clientIp"], "127.0.0.1");
    assert_eq!(row["userAgent"], "=HYPERLINK(\"http://evil.example\")");
    // CSV: every cell a formula would start with begins with a quote.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let record = reader.records().next().unwrap().unwrap();
    let field = |name: &str| record[header.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(field("action"), "'=1+2");
    assert_eq!(field("module"), "'+cmd");
    assert_eq!(field("mode"), "'-2");
    assert_eq!(field("resource_type"), "'@SUM(A1)");
    assert_eq!(field("user_agent"), "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(field("correlation_id"), "checkout-81");
    assert_eq!(field("client_ip"), "127.0.0.1");
    app.stop().await;
}
