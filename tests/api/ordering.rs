//! Newest first: insertedAt descending, uuid descending among equal times,
//! the same in every list.

use entity::activity;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{at, pluck, row, spawn_app, TestApp};

/// The uuids of every list query, which must all agree.
async fn listed(app: &TestApp) -> Vec<Value> {
    let data = app
        .data(
            "{
                activities(perPage: 500) { entries { uuid } }
                activityFeed(first: 500) { nodes { uuid } }
                recentActivities(limit: 500) { uuid }
            }",
            json!({}),
        )
        .await;
    let page = pluck(&data["activities"]["entries"], "uuid");
    assert_eq!(pluck(&data["activityFeed"]["nodes"], "uuid"), page);
    assert_eq!(pluck(&data["recentActivities"], "uuid"), page);
    page
}

#[tokio::test]
async fn a_batch_shares_one_time_and_is_ordered_by_uuid_descending() {
    // Arrange
    let app = spawn_app().await;
    let first = app.log(json!({ "action": "first" })).await;
    let batch = app
        .data(
            "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid insertedAt } } }",
            json!({ "i": (0..5).map(|i| json!({ "action": format!("batch.{i}") })).collect::<Vec<_>>() }),
        )
        .await["logBatch"]
        .clone();
    let last = app.log(json!({ "action": "last" })).await;

    // Act
    let order = listed(&app).await;

    // Assert
    let batch: Vec<Value> = pluck(&batch, "activity");
    let time = &batch[0]["insertedAt"];
    assert!(batch.iter().all(|a| &a["insertedAt"] == time), "{batch:?}");
    let mut batch_ids: Vec<Uuid> = batch
        .iter()
        .map(|a| Uuid::parse_str(a["uuid"].as_str().unwrap()).unwrap())
        .collect();
    batch_ids.sort_by(|a, b| b.cmp(a));
    let mut expected = vec![last["uuid"].clone()];
    expected.extend(batch_ids.iter().map(|id| json!(id)));
    expected.push(first["uuid"].clone());
    assert_eq!(order, expected);
    app.stop().await;
}

#[tokio::test]
async fn equal_times_are_ordered_by_uuid_whatever_the_write_order() {
    // Arrange: random uuids, so write order and uuid order differ.
    let app = spawn_app().await;
    let same = at("2026-04-01T08:30:00.250001Z");
    let mut rows: Vec<activity::Model> = (0..12)
        .map(|i| activity::Model {
            uuid: Uuid::new_v4(),
            ..row(&format!("tie.{i}"), same)
        })
        .collect();
    rows.push(row("older", at("2026-04-01T08:30:00.250000Z")));
    rows.push(row("newer", at("2026-04-01T08:30:00.250002Z")));
    app.db.insert(&rows).await;

    // Act
    let order = listed(&app).await;
    let mut paged = Vec::new();
    for p in 1..=5 {
        let data = app
            .data(
                "query($p: Int!) { activities(page: $p, perPage: 3) { entries { uuid } } }",
                json!({ "p": p }),
            )
            .await;
        paged.extend(pluck(&data["activities"]["entries"], "uuid"));
    }

    // Assert
    rows.sort_by_key(|r| std::cmp::Reverse((r.inserted_at, r.uuid)));
    let expected: Vec<Value> = rows.iter().map(|r| json!(r.uuid)).collect();
    assert_eq!(order, expected);
    assert_eq!(paged, expected, "numbered pages split ties consistently");
    assert_eq!(order[0], json!(rows[0].uuid));
    assert_eq!(rows[0].action, "newer");
    assert_eq!(rows[13].action, "older");
    app.stop().await;
}
