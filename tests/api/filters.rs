//! `ActivityFilter`: every field, the `.*` prefix rule with `%` and `_`
//! literal, inclusive `since`/`until`, and the same answer from every query
//! that takes a filter.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{at, pluck, row, spawn_app, TestApp};

/// The sorted actions a filter selects, after checking that `activities`,
/// `activityFeed`, `activityCount` and `activityCounts` all agree on them.
async fn selected(app: &TestApp, filter: Value) -> Vec<String> {
    let data = app
        .data(
            "query($f: ActivityFilter) {
                activities(filter: $f, perPage: 500) { total entries { action } }
                activityFeed(filter: $f, first: 500) { nodes { action } }
                activityCount(filter: $f)
                activityCounts(filter: $f, groupBy: ACTION) { key count }
            }",
            json!({ "f": filter }),
        )
        .await;
    let sorted = |list: &Value, field: &str| {
        let mut out: Vec<String> = pluck(list, field)
            .into_iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let listed = sorted(&data["activities"]["entries"], "action");
    let total = listed.len() as u64;
    assert_eq!(data["activities"]["total"], total, "total for {filter}");
    assert_eq!(data["activityCount"], total, "activityCount for {filter}");
    assert_eq!(
        sorted(&data["activityFeed"]["nodes"], "action"),
        listed,
        "activityFeed for {filter}"
    );
    let mut grouped = Vec::new();
    for bucket in data["activityCounts"].as_array().unwrap() {
        for _ in 0..bucket["count"].as_u64().unwrap() {
            grouped.push(bucket["key"].as_str().unwrap().to_owned());
        }
    }
    grouped.sort();
    assert_eq!(grouped, listed, "activityCounts for {filter}");
    listed
}

#[tokio::test]
async fn every_filter_field_is_an_exact_match() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (r1, r2, r3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (t1, t2) = (Uuid::now_v7(), Uuid::now_v7());
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": [
            { "action": "r1.created", "module": "posts", "mode": "manual", "actorUuid": a,
              "resourceType": "post", "resourceUuid": r1, "targetUuid": t1 },
            { "action": "r2.created", "module": "comments", "mode": "auto", "actorUuid": b,
              "resourceType": "comment", "resourceUuid": r2, "targetUuid": t2 },
            { "action": "r3.created", "module": "posts", "mode": "auto", "actorUuid": a,
              "resourceType": "user", "resourceUuid": r3 },
            { "action": "r4.created" },
        ]}),
    )
    .await;
    let cases = [
        (
            json!(null),
            vec!["r1.created", "r2.created", "r3.created", "r4.created"],
        ),
        (
            json!({}),
            vec!["r1.created", "r2.created", "r3.created", "r4.created"],
        ),
        (json!({ "action": "r2.created" }), vec!["r2.created"]),
        (json!({ "action": "r2" }), vec![]),
        (
            json!({ "module": "posts" }),
            vec!["r1.created", "r3.created"],
        ),
        (json!({ "module": "Posts" }), vec![]),
        (json!({ "module": "post" }), vec![]),
        (json!({ "mode": "auto" }), vec!["r2.created", "r3.created"]),
        (json!({ "actorUuid": a }), vec!["r1.created", "r3.created"]),
        (json!({ "actorUuid": Uuid::now_v7() }), vec![]),
        (json!({ "resourceType": "user" }), vec!["r3.created"]),
        (json!({ "resourceUuid": r2 }), vec!["r2.created"]),
        (json!({ "targetUuid": t1 }), vec!["r1.created"]),
        (
            json!({ "module": "posts", "mode": "auto" }),
            vec!["r3.created"],
        ),
        (json!({ "actorUuid": a, "targetUuid": t2 }), vec![]),
    ];

    for (filter, expected) in cases {
        // Act
        let actions = selected(&app, filter.clone()).await;

        // Assert
        assert_eq!(actions, expected, "{filter}");
    }
    app.stop().await;
}

#[tokio::test]
async fn dot_star_is_a_prefix_and_percent_and_underscore_are_literal() {
    // Arrange
    let app = spawn_app().await;
    let actions = [
        "post.created",
        "post.comment.added",
        "postage.paid",
        "post",
        "posts.x",
        "p%",
        "post_created",
        "%.x",
        "post_.x",
        "post%.x",
        "p_st.created",
        "post*",
    ];
    let inputs: Vec<Value> = actions.iter().map(|a| json!({ "action": a })).collect();
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": inputs }),
    )
    .await;
    let cases = [
        ("post.*", vec!["post.comment.added", "post.created"]),
        ("post.comment.*", vec!["post.comment.added"]),
        ("p%", vec!["p%"]),
        ("p%.*", vec![]),
        ("post_created", vec!["post_created"]),
        ("%.*", vec!["%.x"]),
        ("post_.*", vec!["post_.x"]),
        ("post%.*", vec!["post%.x"]),
        ("p_st.*", vec!["p_st.created"]),
        ("post*", vec!["post*"]),
        ("*", vec![]),
        ("post", vec!["post"]),
    ];

    for (filter, expected) in cases {
        // Act
        let got = selected(&app, json!({ "action": filter })).await;

        // Assert
        assert_eq!(got, expected, "action filter {filter:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn since_and_until_are_inclusive_to_the_microsecond() {
    // Arrange
    let app = spawn_app().await;
    app.db
        .insert(&[
            row("t0.whole_second", at("2026-01-01T10:00:00Z")),
            row("t1.one_micro_before", at("2026-01-01T10:00:00.123455Z")),
            row("t2.exact", at("2026-01-01T10:00:00.123456Z")),
            row("t3.one_micro_after", at("2026-01-01T10:00:00.123457Z")),
            row("t4.millis", at("2026-01-01T10:00:00.124Z")),
            row("t5.next_second", at("2026-01-01T10:00:01Z")),
        ])
        .await;
    let cases = [
        (
            json!({ "since": "2026-01-01T10:00:00.123456Z" }),
            vec![
                "t2.exact",
                "t3.one_micro_after",
                "t4.millis",
                "t5.next_second",
            ],
        ),
        (
            json!({ "until": "2026-01-01T10:00:00.123456Z" }),
            vec!["t0.whole_second", "t1.one_micro_before", "t2.exact"],
        ),
        (
            json!({ "since": "2026-01-01T10:00:00.123456Z", "until": "2026-01-01T10:00:00.123456Z" }),
            vec!["t2.exact"],
        ),
        (
            json!({ "since": "2026-01-01T10:00:00Z", "until": "2026-01-01T10:00:00Z" }),
            vec!["t0.whole_second"],
        ),
        (
            json!({ "since": "2026-01-01T10:00:00.124Z", "until": "2026-01-01T10:00:01Z" }),
            vec!["t4.millis", "t5.next_second"],
        ),
        (
            // The same instants written with another offset.
            json!({ "since": "2026-01-01T12:00:00.123456+02:00", "until": "2026-01-01T05:00:00.124-05:00" }),
            vec!["t2.exact", "t3.one_micro_after", "t4.millis"],
        ),
        (json!({ "since": "2026-01-01T10:00:01.000001Z" }), vec![]),
        (
            json!({ "since": "2026-01-01T10:00:01Z", "until": "2026-01-01T10:00:00Z" }),
            vec![],
        ),
    ];

    for (filter, expected) in cases {
        // Act
        let got = selected(&app, filter.clone()).await;

        // Assert
        assert_eq!(got, expected, "{filter}");
    }
    app.stop().await;
}
