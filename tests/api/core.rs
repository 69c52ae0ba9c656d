//! The core loop: log an activity, read it back, see it arrive live.

use serde_json::json;

use crate::helpers::{spawn_app, ACTIVITY_FIELDS};

#[tokio::test]
async fn logged_activity_reads_back_exactly() {
    // Arrange
    let app = spawn_app().await;
    let actor = uuid::Uuid::now_v7();

    // Act
    let logged = app
        .log(json!({
            "action": "post.created", "module": "posts", "mode": "manual",
            "actorUuid": actor, "resourceType": "post", "metadata": {"title": "Hi"}
        }))
        .await;
    let read = app
        .data(
            &format!("query($u: UUID!) {{ activity(uuid: $u) {{ {ACTIVITY_FIELDS} }} }}"),
            json!({ "u": logged["uuid"] }),
        )
        .await;

    // Assert
    assert_eq!(read["activity"], logged);
    assert_eq!(logged["actionBadgeColor"], "badge-success");
    assert_eq!(logged["modeBadgeColor"], "badge-warning");
    assert_eq!(logged["metadata"], json!({"title": "Hi"}));
    app.stop().await;
}

#[tokio::test]
async fn subscriber_sees_activity_logged_after_it_subscribed() {
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        r#"subscription { activityAdded(filter: {action: "comment.liked"}) { action actor { email } } }"#,
        json!({}),
    )
    .await;

    app.log(json!({ "action": "comment.liked" })).await;

    let data = ws.next_data().await;
    assert_eq!(
        data["activityAdded"],
        json!({ "action": "comment.liked", "actor": null })
    );
    app.stop().await;
}
