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
