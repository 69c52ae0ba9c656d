//! `Activity.metadataText`: metadata for people, from any JSON shape.

use serde_json::{json, Value};
use uuid::Uuid;

use super::log;
use crate::helpers::spawn_app;

#[tokio::test]
async fn metadata_reads_as_a_line_for_people() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"status": {"from": "draft", "to": "published"}, "title_from": "Old", "title_to": "New", "tags": ["a", "b"], "note": null}),
            "status: draft → published, tags: a, b, title: Old → New",
        ),
        (json!({"from": 1, "to": 2}), "1 → 2"),
        (json!({}), ""),
        (
            json!({"user": {"name": "Ada", "roles": ["admin", "dev"]}}),
            "user: (name: Ada, roles: admin, dev)",
        ),
        (
            json!({"items": [{"sku": "A1", "qty": 2}, {"sku": "B2"}]}),
            "items: (qty: 2, sku: A1), (sku: B2)",
        ),
        (
            json!({"": "empty key", "_from": 1, "x_to": 2}),
            ": empty key, _from: 1, x_to: 2",
        ),
        (
            json!({"ok": true, "n": 1.5, "list": [[1, 2], []]}),
            "list: [1, 2], n: 1.5, ok: true",
        ),
    ];
    for (metadata, text) in cases {
        let row = log(
            &app,
            json!({"action": "shape.logged", "metadata": metadata}),
        )
        .await;
        assert_eq!(row["metadataText"], text, "{metadata}");
    }
    app.stop().await;
}

#[tokio::test]
async fn deep_and_odd_metadata_never_fails() {
    let app = spawn_app().await;
    let mut deep = json!("bottom");
    for i in 0..100 {
        deep = if i % 3 == 0 {
            json!([deep, null])
        } else {
            json!({ "k\"\n": deep, "from": i })
        };
    }
    let row = log(
        &app,
        json!({"action": "shape.logged", "metadata": {"deep": deep}}),
    )
    .await;
    let text = row["metadataText"].as_str().expect("text");
    assert!(text.starts_with("deep: "), "{text}");
    assert!(text.contains('…'), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_user_change_reads_as_its_changes() {
    let app = spawn_app().await;
    let data = app
        .data(
            "mutation($u: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $u,
                changes: {email: \"b@x\", first_name: \"Ada\", password: \"pw\"},
                before: {email: \"a@x\"}}) { activity { metadataText } } }",
            json!({"u": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        data["logUserChange"]["activity"]["metadataText"],
        Value::from("actor_role: user, email: a@x → b@x, first_name: → Ada, password: [REDACTED] → [REDACTED]")
    );
    app.stop().await;
}
