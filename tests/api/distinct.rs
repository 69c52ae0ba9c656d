//! `actionTypes`, `modes`, `modules`, `resourceTypes`: the distinct values
//! logged so far, sorted, without nulls.

use serde_json::json;

use crate::helpers::spawn_app;

const DISTINCT: &str = "{ actionTypes modes modules resourceTypes }";

#[tokio::test]
async fn distinct_lists_are_sorted_deduplicated_and_leave_nulls_out() {
    // Arrange
    let app = spawn_app().await;
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": [
            { "action": "post.created", "mode": "manual", "module": "posts", "resourceType": "post" },
            { "action": "comment.liked", "mode": "auto", "module": "comments", "resourceType": "comment" },
            { "action": "post.created", "mode": "manual", "module": "posts", "resourceType": "post" },
            { "action": "Zeta.synced", "mode": "cron", "module": "Admin" },
            { "action": "user.registered", "resourceType": "user" },
            { "action": "api_key.created", "mode": "script", "module": "admin", "resourceType": "api_key" },
        ]}),
    )
    .await;

    // Act
    let lists = app.data(DISTINCT, json!({})).await;

    // Assert: byte order (upper case before lower case) on both databases.
    assert_eq!(
        lists,
        json!({
            "actionTypes": ["Zeta.synced", "api_key.created", "comment.liked", "post.created", "user.registered"],
            "modes": ["auto", "cron", "manual", "script"],
            "modules": ["Admin", "admin", "comments", "posts"],
            "resourceTypes": ["api_key", "comment", "post", "user"],
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn distinct_lists_of_an_empty_feed_are_empty() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let lists = app.data(DISTINCT, json!({})).await;

    // Assert
    assert_eq!(
        lists,
        json!({ "actionTypes": [], "modes": [], "modules": [], "resourceTypes": [] })
    );
    app.stop().await;
}

#[tokio::test]
async fn distinct_lists_forget_values_whose_activities_were_pruned() {
    // Arrange
    let app = spawn_app().await;
    app.db
        .insert(&[{
            let mut old = crate::helpers::row(
                "old.action",
                chrono::Utc::now() - chrono::TimeDelta::days(10),
            );
            old.mode = Some("old-mode".into());
            old
        }])
        .await;
    app.log(json!({ "action": "new.action", "mode": "auto" }))
        .await;
    app.data("mutation { prune(days: 5) { deleted } }", json!({}))
        .await;

    // Act
    let lists = app.data("{ actionTypes modes }", json!({})).await;

    // Assert
    assert_eq!(
        lists,
        json!({ "actionTypes": ["new.action"], "modes": ["auto"] })
    );
    app.stop().await;
}
