//! `activityCount` and `activityCounts` for every `groupBy`.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{at, row, spawn_app, TestApp};

/// Logs a set whose groups all have different sizes, so the order is fixed:
/// actors A ×4, B ×3, none ×2, C ×1.
async fn arrange_counted(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut inputs = Vec::new();
    for _ in 0..4 {
        inputs.push(json!({ "action": "post.created", "module": "posts", "mode": "manual", "resourceType": "post", "actorUuid": a }));
    }
    for _ in 0..3 {
        inputs.push(json!({ "action": "comment.liked", "mode": "auto", "resourceType": "comment", "actorUuid": b }));
    }
    for _ in 0..2 {
        inputs.push(json!({ "action": "user.followed", "module": "social" }));
    }
    inputs.push(json!({ "action": "post.deleted", "module": "posts", "mode": "cron", "resourceType": "post", "actorUuid": c }));
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": inputs }),
    )
    .await;
    (a, b, c)
}

async fn counts(app: &TestApp, group_by: &str, filter: Value) -> Value {
    app.data(
        &format!("query($f: ActivityFilter) {{ activityCounts(filter: $f, groupBy: {group_by}) {{ key count }} }}"),
        json!({ "f": filter }),
    )
    .await["activityCounts"]
        .clone()
}

fn buckets(pairs: &[(Value, u64)]) -> Value {
    pairs
        .iter()
        .map(|(key, count)| json!({ "key": key, "count": count }))
        .collect()
}

#[tokio::test]
async fn activity_count_counts_all_or_the_matching() {
    // Arrange
    let app = spawn_app().await;
    let (a, ..) = arrange_counted(&app).await;

    // Act
    let all = app.count(json!({})).await;
    let no_filter = app.data("{ activityCount }", json!({})).await;
    let posts = app.count(json!({ "action": "post.*" })).await;
    let by_a = app.count(json!({ "actorUuid": a })).await;
    let none = app.count(json!({ "module": "nothing" })).await;

    // Assert
    assert_eq!(all, 10);
    assert_eq!(no_filter["activityCount"], 10);
    assert_eq!(posts, 5);
    assert_eq!(by_a, 4);
    assert_eq!(none, 0);
    app.stop().await;
}

#[tokio::test]
async fn counts_by_every_field_are_largest_first_with_nulls_as_a_bucket() {
    // Arrange
    let app = spawn_app().await;
    let (a, b, c) = arrange_counted(&app).await;

    // Act
    let by_action = counts(&app, "ACTION", json!(null)).await;
    let by_module = counts(&app, "MODULE", json!(null)).await;
    let by_mode = counts(&app, "MODE", json!(null)).await;
    let by_resource_type = counts(&app, "RESOURCE_TYPE", json!(null)).await;
    let by_actor = counts(&app, "ACTOR", json!(null)).await;

    // Assert
    assert_eq!(
        by_action,
        buckets(&[
            (json!("post.created"), 4),
            (json!("comment.liked"), 3),
            (json!("user.followed"), 2),
            (json!("post.deleted"), 1),
        ])
    );
    assert_eq!(
        by_module,
        buckets(&[(json!("posts"), 5), (json!(null), 3), (json!("social"), 2)])
    );
    assert_eq!(
        by_mode,
        buckets(&[
            (json!("manual"), 4),
            (json!("auto"), 3),
            (json!(null), 2),
            (json!("cron"), 1),
        ])
    );
    assert_eq!(
        by_resource_type,
        buckets(&[(json!("post"), 5), (json!("comment"), 3), (json!(null), 2)])
    );
    assert_eq!(
        by_actor,
        buckets(&[
            (json!(a.to_string()), 4),
            (json!(b.to_string()), 3),
            (json!(null), 2),
            (json!(c.to_string()), 1),
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn counts_apply_the_filter() {
    // Arrange
    let app = spawn_app().await;
    arrange_counted(&app).await;

    // Act
    let posts_by_action = counts(&app, "ACTION", json!({ "action": "post.*" })).await;
    let posts_by_mode = counts(&app, "MODE", json!({ "module": "posts" })).await;
    let nothing = counts(&app, "ACTION", json!({ "action": "nothing" })).await;

    // Assert
    assert_eq!(
        posts_by_action,
        buckets(&[(json!("post.created"), 4), (json!("post.deleted"), 1)])
    );
    assert_eq!(
        posts_by_mode,
        buckets(&[(json!("manual"), 4), (json!("cron"), 1)])
    );
    assert_eq!(nothing, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn counts_by_day_and_hour_are_in_time_order_with_utc_keys() {
    // Arrange: the biggest bucket is in the middle, so time order is not size order.
    let app = spawn_app().await;
    app.db
        .insert(&[
            row("a", at("2025-12-31T23:59:59.999999Z")),
            row("a", at("2026-01-01T10:15:00Z")),
            row("a", at("2026-01-01T10:45:30.5Z")),
            row("a", at("2026-01-01T11:05:00+01:00")),
            row("a", at("2026-01-01T11:59:59Z")),
            row("a", at("2026-01-02T00:00:00Z")),
        ])
        .await;

    // Act
    let by_day = counts(&app, "DAY", json!(null)).await;
    let by_hour = counts(&app, "HOUR", json!(null)).await;
    let by_hour_since = counts(
        &app,
        "HOUR",
        json!({ "since": "2026-01-01T10:30:00Z", "until": "2026-01-01T11:59:59Z" }),
    )
    .await;

    // Assert
    assert_eq!(
        by_day,
        buckets(&[
            (json!("2025-12-31"), 1),
            (json!("2026-01-01"), 4),
            (json!("2026-01-02"), 1),
        ])
    );
    assert_eq!(
        by_hour,
        buckets(&[
            (json!("2025-12-31T23:00:00Z"), 1),
            (json!("2026-01-01T10:00:00Z"), 3),
            (json!("2026-01-01T11:00:00Z"), 1),
            (json!("2026-01-02T00:00:00Z"), 1),
        ])
    );
    assert_eq!(
        by_hour_since,
        buckets(&[
            (json!("2026-01-01T10:00:00Z"), 1),
            (json!("2026-01-01T11:00:00Z"), 1),
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn counts_of_an_empty_feed_are_empty() {
    // Arrange
    let app = spawn_app().await;

    for group_by in [
        "ACTION",
        "MODULE",
        "MODE",
        "RESOURCE_TYPE",
        "ACTOR",
        "DAY",
        "HOUR",
    ] {
        // Act
        let result = counts(&app, group_by, json!(null)).await;

        // Assert
        assert_eq!(result, json!([]), "{group_by}");
    }
    assert_eq!(app.count(json!(null)).await, 0);
    app.stop().await;
}
