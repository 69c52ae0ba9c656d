//! Numbered pages of `activities`: page sizes, the last page and past it,
//! `totalPages`.

use chrono::TimeDelta;
use serde_json::{json, Value};

use crate::helpers::{at, pluck, row, spawn_app, TestApp};

const PAGE: &str = "query($f: ActivityFilter, $p: Int!, $n: Int!) { activities(filter: $f, page: $p, perPage: $n) { entries { action } total page perPage totalPages } }";

/// Stores "a1" … "a<n>", one second apart, so newest first is a<n> … a1.
async fn arrange_rows(app: &TestApp, n: i64) {
    let start = at("2026-01-01T00:00:00Z");
    let rows: Vec<_> = (1..=n)
        .map(|i| row(&format!("a{i}"), start + TimeDelta::seconds(i)))
        .collect();
    app.db.insert(&rows).await;
}

async fn page(app: &TestApp, filter: Value, page: i64, per_page: i64) -> Value {
    app.data(PAGE, json!({ "f": filter, "p": page, "n": per_page }))
        .await["activities"]
        .clone()
}

fn actions(names: &[&str]) -> Value {
    names
        .iter()
        .map(|a| json!({ "action": a }))
        .collect::<Vec<_>>()
        .into()
}

#[tokio::test]
async fn pages_split_the_feed_newest_first_and_past_the_end_is_empty() {
    // Arrange
    let app = spawn_app().await;
    arrange_rows(&app, 7).await;

    // Act
    let mut pages = Vec::new();
    for p in [1, 2, 3, 4, 2_147_483_647] {
        pages.push(page(&app, json!(null), p, 3).await);
    }

    // Assert
    let expected = |p: i64, entries: &[&str]| json!({ "entries": actions(entries), "total": 7, "page": p, "perPage": 3, "totalPages": 3 });
    assert_eq!(pages[0], expected(1, &["a7", "a6", "a5"]));
    assert_eq!(pages[1], expected(2, &["a4", "a3", "a2"]));
    assert_eq!(pages[2], expected(3, &["a1"]));
    assert_eq!(pages[3], expected(4, &[]));
    assert_eq!(pages[4], expected(2_147_483_647, &[]));
    app.stop().await;
}

#[tokio::test]
async fn per_page_one_walks_every_activity_once() {
    // Arrange
    let app = spawn_app().await;
    arrange_rows(&app, 5).await;

    // Act
    let mut walked = Vec::new();
    for p in 1..=6 {
        walked.push(page(&app, json!(null), p, 1).await);
    }

    // Assert
    let names = ["a5", "a4", "a3", "a2", "a1"];
    for (i, got) in walked.iter().enumerate() {
        let entries = names.get(i).map_or(json!([]), |a| actions(&[a]));
        assert_eq!(
            *got,
            json!({ "entries": entries, "total": 5, "page": i + 1, "perPage": 1, "totalPages": 5 })
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn total_pages_is_the_ceiling_and_at_least_one() {
    // Arrange
    let app = spawn_app().await;
    arrange_rows(&app, 6).await;
    let cases = [
        (json!(null), 3, 6, 2),
        (json!(null), 4, 6, 2),
        (json!(null), 5, 6, 2),
        (json!(null), 6, 6, 1),
        (json!(null), 7, 6, 1),
        (json!(null), 500, 6, 1),
        (json!(null), 1, 6, 6),
        (json!({ "action": "nothing" }), 3, 0, 1),
        (json!({ "action": "a1" }), 3, 1, 1),
    ];

    for (filter, per_page, total, total_pages) in cases {
        // Act
        let got = page(&app, filter.clone(), 1, per_page).await;

        // Assert
        assert_eq!(got["total"], total, "{filter} {per_page}");
        assert_eq!(got["totalPages"], total_pages, "{filter} {per_page}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_empty_feed_has_one_empty_page() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let first = page(&app, json!(null), 1, 50).await;
    let second = page(&app, json!(null), 2, 50).await;

    // Assert
    assert_eq!(
        first,
        json!({ "entries": [], "total": 0, "page": 1, "perPage": 50, "totalPages": 1 })
    );
    assert_eq!(
        second,
        json!({ "entries": [], "total": 0, "page": 2, "perPage": 50, "totalPages": 1 })
    );
    app.stop().await;
}

#[tokio::test]
async fn defaults_are_page_one_of_fifty() {
    // Arrange
    let app = spawn_app().await;
    arrange_rows(&app, 51).await;

    // Act
    let got = app
        .data(
            "{ activities { entries { action } total page perPage totalPages } }",
            json!({}),
        )
        .await["activities"]
        .clone();

    // Assert
    assert_eq!(got["page"], 1);
    assert_eq!(got["perPage"], 50);
    assert_eq!(got["total"], 51);
    assert_eq!(got["totalPages"], 2);
    let names = pluck(&got["entries"], "action");
    assert_eq!(names.len(), 50);
    assert_eq!(names[0], "a51");
    assert_eq!(names[49], "a2");
    app.stop().await;
}

#[tokio::test]
async fn a_filtered_page_past_the_end_keeps_the_filtered_total() {
    // Arrange
    let app = spawn_app().await;
    arrange_rows(&app, 12).await;

    // Act: "a1" is an exact action (not a10 … a12), so one row matches.
    let exact = page(&app, json!({ "action": "a1" }), 2, 1).await;
    let all = page(&app, json!({ "until": "2026-01-01T00:00:04Z" }), 3, 2).await;

    // Assert
    assert_eq!(
        exact,
        json!({ "entries": [], "total": 1, "page": 2, "perPage": 1, "totalPages": 1 })
    );
    assert_eq!(
        all,
        json!({ "entries": [], "total": 4, "page": 3, "perPage": 2, "totalPages": 2 })
    );
    app.stop().await;
}

#[tokio::test]
async fn page_arguments_left_out_or_null_take_their_defaults() {
    // Arrange: a client that declares its page variables nullable and
    // sometimes does not send them.
    let app = spawn_app().await;
    arrange_rows(&app, 3).await;
    let query = "query($p: Int, $n: Int, $l: Int) {
        activities(page: $p, perPage: $n) { page perPage total }
        activitiesForUser(userUuid: \"0190a000-0000-7000-8000-000000000000\", page: $p, perPage: $n) { page perPage }
        recentActivities(limit: $l) { action }
    }";

    // Act
    let unset = app.data(query, json!({})).await;
    let null = app
        .data(query, json!({ "p": null, "n": null, "l": null }))
        .await;
    let literal_null = app
        .data(
            "{ activities(page: null, perPage: null) { page perPage } }",
            json!({}),
        )
        .await;

    // Assert
    for data in [&unset, &null] {
        assert_eq!(
            data["activities"],
            json!({ "page": 1, "perPage": 50, "total": 3 })
        );
        assert_eq!(
            data["activitiesForUser"],
            json!({ "page": 1, "perPage": 50 })
        );
        assert_eq!(
            pluck(&data["recentActivities"], "action"),
            [json!("a3"), json!("a2"), json!("a1")]
        );
    }
    assert_eq!(
        literal_null["activities"],
        json!({ "page": 1, "perPage": 50 })
    );
    app.stop().await;
}
