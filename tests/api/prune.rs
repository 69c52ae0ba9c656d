//! `prune(days)`: deletes activities older than the cutoff, in bounded batches.

use chrono::{SubsecRound, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::helpers::{at, pluck, row, spawn_app};

const PRUNE: &str = "mutation($d: Int!) { prune(days: $d) { deleted cutoff } }";

async fn actions(app: &crate::helpers::TestApp) -> Vec<Value> {
    let data = app
        .data(
            "{ activities(perPage: 500) { entries { action } } }",
            json!({}),
        )
        .await;
    pluck(&data["activities"]["entries"], "action")
}

#[tokio::test]
async fn prune_deletes_only_activities_older_than_the_cutoff() {
    // Arrange
    let app = spawn_app().await;
    let now = Utc::now();
    let day = TimeDelta::days(1);
    let hour = TimeDelta::hours(1);
    app.db
        .insert(&[
            row("old.forty_days", now - day * 40),
            row("old.thirty_days_and_an_hour", now - day * 30 - hour),
            row("kept.thirty_days_less_an_hour", now - day * 30 + hour),
            row("kept.yesterday", now - day),
        ])
        .await;
    app.log(json!({ "action": "kept.now" })).await;

    // Act
    let before = Utc::now().trunc_subsecs(6);
    let result = app.data(PRUNE, json!({ "d": 30 })).await["prune"].clone();
    let after = Utc::now();

    // Assert
    assert_eq!(result["deleted"], 2);
    let cutoff = at(result["cutoff"].as_str().unwrap());
    assert!(
        before - day * 30 <= cutoff && cutoff <= after - day * 30,
        "cutoff {cutoff} is not 30 days before the request"
    );
    assert_eq!(
        actions(&app).await,
        [
            json!("kept.now"),
            json!("kept.yesterday"),
            json!("kept.thirty_days_less_an_hour")
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn prune_with_nothing_old_deletes_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "kept.now" })).await;

    // Act
    let result = app.data(PRUNE, json!({ "d": 1 })).await;

    // Assert
    assert_eq!(result["prune"]["deleted"], 0);
    assert_eq!(actions(&app).await, [json!("kept.now")]);
    app.stop().await;
}

#[tokio::test]
async fn prune_deletes_in_bounded_batches() {
    // Arrange: one batch's worth first, to learn what a batch costs; then
    // more old rows than one batch (5,000) holds.
    let app = spawn_app().await;
    let older = Utc::now() - TimeDelta::days(200);
    let one_batch: Vec<_> = (0..4_000i64)
        .map(|i| row("old.batch", older - TimeDelta::seconds(i)))
        .collect();
    app.db.insert(&one_batch).await;
    let statements_before = app.statements.get();
    let result = app.data(PRUNE, json!({ "d": 150 })).await;
    let per_batch = app.statements.get() - statements_before;
    assert_eq!(result["prune"]["deleted"], 4_000);
    let old = Utc::now() - TimeDelta::days(100);
    let rows: Vec<_> = (0..12_001i64)
        .map(|i| row("old.bulk", old - TimeDelta::seconds(i)))
        .collect();
    app.db.insert(&rows).await;
    app.log(json!({ "action": "kept.now" })).await;
    let statements_before = app.statements.get();

    // Act
    let result = app.data(PRUNE, json!({ "d": 90 })).await;

    // Assert: three batches of at most 5,000 rows each, not one of 12,001
    // (each batch one transaction that also keeps the rollups exact).
    assert_eq!(result["prune"]["deleted"], 12_001);
    assert_eq!(app.statements.get() - statements_before, 3 * per_batch);
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn prune_refuses_days_below_one_and_deletes_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.db
        .insert(&[row("old.row", Utc::now() - TimeDelta::days(400))])
        .await;

    for days in [0, -1, -365] {
        // Act
        let error = app.error(PRUNE, json!({ "d": days })).await;

        // Assert
        assert_eq!(error["message"], "days: must be at least 1", "{days}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(error["extensions"]["field"], "days");
    }
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}
