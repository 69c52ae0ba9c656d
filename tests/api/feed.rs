//! `activityFeed`: the Relay connection, keyset-paged on (insertedAt, uuid).

use chrono::TimeDelta;
use entity::activity;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{at, pluck, row, spawn_app, TestApp};

const FEED: &str =
    "query($f: ActivityFilter, $first: Int, $after: String, $last: Int, $before: String) {
    activityFeed(filter: $f, first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { uuid action } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

async fn feed(app: &TestApp, args: Value) -> Value {
    app.data(FEED, args).await["activityFeed"].clone()
}

/// Eight rows with two runs of equal times, whose uuids are random (so
/// their order is not the order they were written in). Returns their uuids
/// in feed order: newest first, uuid descending among equal times.
async fn arrange_ties(app: &TestApp) -> Vec<Value> {
    let t = at("2026-03-01T12:00:00.000001Z");
    let tie = |action: &str, at| activity::Model {
        uuid: Uuid::new_v4(),
        ..row(action, at)
    };
    let mut rows = vec![
        row("x1", t),
        tie("tie.a", t + TimeDelta::seconds(1)),
        tie("tie.b", t + TimeDelta::seconds(1)),
        tie("tie.c", t + TimeDelta::seconds(1)),
        row("x3", t + TimeDelta::seconds(2)),
        tie("tie2.a", t + TimeDelta::seconds(3)),
        tie("tie2.b", t + TimeDelta::seconds(3)),
        row("x5", t + TimeDelta::seconds(4)),
    ];
    app.db.insert(&rows).await;
    rows.sort_by_key(|r| std::cmp::Reverse((r.inserted_at, r.uuid)));
    rows.iter().map(|r| json!(r.uuid)).collect()
}

fn node_ids(conn: &Value) -> Vec<Value> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["uuid"].clone())
        .collect()
}

/// Checks that startCursor and endCursor are the first and last edges' cursors.
fn assert_cursors_match_edges(conn: &Value) {
    let cursors = pluck(&conn["edges"], "cursor");
    assert_eq!(conn["pageInfo"]["startCursor"], cursors[0]);
    assert_eq!(conn["pageInfo"]["endCursor"], *cursors.last().unwrap());
}

#[tokio::test]
async fn first_and_after_walk_forward_through_ties_without_gaps_or_repeats() {
    // Arrange
    let app = spawn_app().await;
    let expected = arrange_ties(&app).await;

    // Act
    let mut pages = vec![feed(&app, json!({ "first": 3 })).await];
    while pages.last().unwrap()["pageInfo"]["hasNextPage"] == true {
        let after = pages.last().unwrap()["pageInfo"]["endCursor"].clone();
        pages.push(feed(&app, json!({ "first": 3, "after": after })).await);
        assert!(pages.len() <= 3, "the walk does not end");
    }

    // Assert
    assert_eq!(pages.len(), 3);
    assert_eq!(node_ids(&pages[0]), expected[0..3]);
    assert_eq!(node_ids(&pages[1]), expected[3..6]);
    assert_eq!(node_ids(&pages[2]), expected[6..8]);
    let flags: Vec<(Value, Value)> = pages
        .iter()
        .map(|p| {
            (
                p["pageInfo"]["hasPreviousPage"].clone(),
                p["pageInfo"]["hasNextPage"].clone(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            (json!(false), json!(true)),
            (json!(true), json!(true)),
            (json!(true), json!(false))
        ]
    );
    pages.iter().for_each(assert_cursors_match_edges);
    app.stop().await;
}

#[tokio::test]
async fn first_one_visits_every_row_of_a_tie_once() {
    // Arrange
    let app = spawn_app().await;
    let expected = arrange_ties(&app).await;

    // Act
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for _ in 0..expected.len() {
        let page = feed(&app, json!({ "first": 1, "after": after })).await;
        seen.extend(node_ids(&page));
        after = page["pageInfo"]["endCursor"].clone();
    }
    let past_the_end = feed(&app, json!({ "first": 1, "after": after })).await;

    // Assert
    assert_eq!(seen, expected);
    assert_eq!(
        past_the_end,
        json!({ "edges": [], "pageInfo": {
            "hasNextPage": false, "hasPreviousPage": true, "startCursor": null, "endCursor": null,
        }})
    );
    app.stop().await;
}

#[tokio::test]
async fn last_and_before_walk_backward() {
    // Arrange
    let app = spawn_app().await;
    let expected = arrange_ties(&app).await;

    // Act
    let oldest = feed(&app, json!({ "last": 3 })).await;
    let middle = feed(
        &app,
        json!({ "last": 3, "before": oldest["pageInfo"]["startCursor"] }),
    )
    .await;
    let newest = feed(
        &app,
        json!({ "last": 3, "before": middle["pageInfo"]["startCursor"] }),
    )
    .await;

    // Assert: each page is still newest first.
    assert_eq!(node_ids(&oldest), expected[5..8]);
    assert_eq!(node_ids(&middle), expected[2..5]);
    assert_eq!(node_ids(&newest), expected[0..2]);
    assert_eq!(oldest["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(oldest["pageInfo"]["hasNextPage"], false);
    assert_eq!(middle["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(middle["pageInfo"]["hasNextPage"], true);
    assert_eq!(newest["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(newest["pageInfo"]["hasNextPage"], true);
    for page in [&oldest, &middle, &newest] {
        assert_cursors_match_edges(page);
    }
    app.stop().await;
}

#[tokio::test]
async fn after_and_before_together_give_the_rows_between() {
    // Arrange
    let app = spawn_app().await;
    let expected = arrange_ties(&app).await;
    let all = feed(&app, json!({ "first": 8 })).await;
    let cursors = pluck(&all["edges"], "cursor");

    // Act
    let between = feed(
        &app,
        json!({ "first": 10, "after": cursors[1], "before": cursors[6] }),
    )
    .await;

    // Assert
    assert_eq!(node_ids(&all), expected);
    assert_eq!(node_ids(&between), expected[2..6]);
    app.stop().await;
}

#[tokio::test]
async fn the_filter_applies_to_every_page() {
    // Arrange
    let app = spawn_app().await;
    arrange_ties(&app).await;

    // Act
    let first = feed(&app, json!({ "f": { "action": "tie.*" }, "first": 2 })).await;
    let rest = feed(
        &app,
        json!({ "f": { "action": "tie.*" }, "first": 2, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;

    // Assert
    let mut actions: Vec<Value> = pluck(&first["edges"], "node")
        .into_iter()
        .chain(pluck(&rest["edges"], "node"))
        .map(|n| n["action"].clone())
        .collect();
    actions.sort_by_key(|a| a.to_string());
    assert_eq!(actions, [json!("tie.a"), json!("tie.b"), json!("tie.c")]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    app.stop().await;
}

#[tokio::test]
async fn without_first_or_last_the_feed_gives_fifty() {
    // Arrange
    let app = spawn_app().await;
    let start = at("2026-01-01T00:00:00Z");
    let rows: Vec<_> = (0..60)
        .map(|i| row(&format!("n{i}"), start + TimeDelta::seconds(i)))
        .collect();
    app.db.insert(&rows).await;

    // Act
    let page = feed(&app, json!({})).await;

    // Assert
    let actions: Vec<Value> = pluck(&page["edges"], "node")
        .into_iter()
        .map(|n| n["action"].clone())
        .collect();
    let expected: Vec<Value> = (10..60).rev().map(|i| json!(format!("n{i}"))).collect();
    assert_eq!(actions, expected);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    app.stop().await;
}

#[tokio::test]
async fn an_empty_feed_is_an_empty_connection() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let page = feed(&app, json!({ "first": 10 })).await;

    // Assert
    assert_eq!(
        page,
        json!({ "edges": [], "pageInfo": {
            "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null,
        }})
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input() {
    // Arrange
    let app = spawn_app().await;
    arrange_ties(&app).await;
    let cases = [
        (json!({ "after": "garbage" }), "after: invalid cursor"),
        (json!({ "before": "garbage" }), "before: invalid cursor"),
        // Valid base64 of something that is not a cursor.
        (
            json!({ "after": "bm90LWEtY3Vyc29y" }),
            "after: invalid cursor",
        ),
        (
            json!({ "first": 2, "last": 2 }),
            "first: give either first or last, not both",
        ),
        (json!({ "first": -1 }), "first: must not be negative"),
        (json!({ "last": -1 }), "last: must not be negative"),
        (json!({ "first": 501 }), "first: must be between 0 and 500"),
        (json!({ "last": 501 }), "last: must be between 0 and 500"),
        (
            json!({ "first": 100_000 }),
            "first: must be between 0 and 500",
        ),
    ];

    for (args, message) in cases {
        // Act
        let error = app.error(FEED, args.clone()).await;

        // Assert
        assert_eq!(error["message"], message, "{args}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{args}");
    }
    app.stop().await;
}
