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
    // Arrange: 4,000 rows older than 150 days (one batch), and more rows
    // between 90 and 150 days old than one batch (5,000) holds.
    let app = spawn_app().await;
    let now = Utc::now();
    let oldest: Vec<_> = (0..4_000i64)
        .map(|i| {
            row(
                "old.oldest",
                now - TimeDelta::days(200) - TimeDelta::seconds(i),
            )
        })
        .collect();
    let old: Vec<_> = (0..12_001i64)
        .map(|i| {
            row(
                "old.bulk",
                now - TimeDelta::days(100) - TimeDelta::seconds(i),
            )
        })
        .collect();
    app.db.insert(&oldest).await;
    app.db.insert(&old).await;
    app.log(json!({ "action": "kept.now" })).await;

    // Act
    let before = app.statements.get();
    let one_batch = app.data(PRUNE, json!({ "d": 150 })).await;
    let between = app.statements.get();
    let three_batches = app.data(PRUNE, json!({ "d": 90 })).await;
    let after = app.statements.get();

    // Assert: a bounded number of statements per batch whatever its rows
    // (a batch that leaves sealed rows behind an older kept one adds three,
    // for their forms; finding the sealer's packed batches, as many as its
    // rounds made, and trimming the one the anchor falls in adds some), and
    // three batches of at most
    // 5,000 rows for 12,001: not one DELETE of them all, nor a statement
    // per row.
    assert_eq!(one_batch["prune"]["deleted"], 4_000);
    assert_eq!(three_batches["prune"]["deleted"], 12_001);
    let (one, three) = (between - before, after - between);
    assert!((5..=50).contains(&one), "{one} statements for one batch");
    assert!(
        (3 * 5..=3 * 50).contains(&three) && three > one,
        "{three} statements for three batches, {one} for one"
    );
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
