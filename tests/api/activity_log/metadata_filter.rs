//! `ActivityFilter.metadata`: containment as PostgreSQL's jsonb `@>` decides
//! it, the same on SQLite, and the same for live subscribers.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    collect_events, data_as, log, log_with, service_token, spawn_secured, subscribe_filters, token,
    uuids_matching,
};
use crate::helpers::spawn_app;

const ACTION: &str = "meta.tested";

/// Named metadata shapes.
fn rows() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"plan": "pro", "seats": 5, "tags": ["a", "b"], "owner": {"name": "Ada", "team": {"id": 7}}, "flag": true, "gone": null}),
        ),
        (
            "b",
            json!({"plan": "free", "seats": 5.0, "tags": ["b"], "owner": {"name": "Bob"}, "flag": false}),
        ),
        (
            "c",
            json!({"plan": "pro", "items": [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": 1}], "matrix": [[1, 2], [3]]}),
        ),
        ("d", json!({})),
        ("e", json!({"plan": ["pro"], "seats": "5"})),
        (
            "f",
            json!({"owner": "Ada", "odd key \"q\"": {"ü.$[0]": 1.5}}),
        ),
    ]
}

/// Wanted metadata and the rows that contain it.
fn cases() -> Vec<(Value, &'static str)> {
    vec![
        (json!({}), "abcdef"),
        (json!({"plan": "pro"}), "ac"),
        (json!({"seats": 5}), "ab"),
        (json!({"seats": 5.0}), "ab"),
        (json!({"seats": "5"}), "e"),
        (json!({"tags": ["b"]}), "ab"),
        (json!({"tags": ["b", "a", "b"]}), "a"),
        (json!({"tags": []}), "ab"),
        (json!({"tags": "b"}), ""),
        (json!({"owner": {"name": "Ada"}}), "a"),
        (json!({"owner": {}}), "ab"),
        (json!({"owner": "Ada"}), "f"),
        (json!({"owner": {"team": {"id": 7}}}), "a"),
        (json!({"owner": {"team": {"id": 8}}}), ""),
        (json!({"flag": false}), "b"),
        (json!({"flag": true, "plan": "pro"}), "a"),
        (json!({"gone": null}), "a"),
        (json!({"missing": null}), ""),
        (json!({"items": [{"sku": "y2"}]}), "c"),
        (json!({"items": [{"sku": "y2", "qty": 2}]}), ""),
        (json!({"items": [{"qty": 1}, {"qty": 2}]}), "c"),
        (json!({"matrix": [[3]]}), "c"),
        (json!({"matrix": [[2, 1]]}), "c"),
        (json!({"matrix": [3]}), ""),
        (json!({"plan": ["pro"]}), "e"),
        (json!({"odd key \"q\"": {"ü.$[0]": 1.5}}), "f"),
    ]
}

#[tokio::test]
async fn containment_matches_the_same_rows_stored_and_live() {
    let app = spawn_app().await;
    let cases = cases();
    // Every case also names the action, so the harness's probes never match.
    let filters: Vec<Value> = cases
        .iter()
        .map(|(m, _)| json!({"action": ACTION, "metadata": m}))
        .collect();
    let mut ws = app.websocket().await;
    subscribe_filters(&app, &mut ws, &filters).await;

    let mut uuid_of = std::collections::HashMap::new();
    for (name, metadata) in rows() {
        let row = log(&app, json!({"action": ACTION, "metadata": metadata})).await;
        uuid_of.insert(name, row["uuid"].as_str().unwrap().to_owned());
    }
    let expected: Vec<BTreeSet<String>> = cases
        .iter()
        .map(|(_, names)| {
            names
                .chars()
                .map(|c| uuid_of[c.to_string().as_str()].clone())
                .collect()
        })
        .collect();

    for ((wanted, names), filter) in cases.iter().zip(&filters) {
        let stored = uuids_matching(&app, None, filter.clone()).await;
        let want: BTreeSet<String> = names
            .chars()
            .map(|c| uuid_of[c.to_string().as_str()].clone())
            .collect();
        assert_eq!(stored, want, "stored rows for {wanted}");
    }
    let total = expected.iter().map(BTreeSet::len).sum();
    let live = collect_events(&mut ws, total, cases.len()).await;
    for (i, (wanted, _)) in cases.iter().enumerate() {
        assert_eq!(live[i], expected[i], "live rows for {wanted}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_filter_combines_with_the_others_and_every_read() {
    let app = spawn_app().await;
    log(
        &app,
        json!({"action": "post.created", "metadata": {"lang": "en"}}),
    )
    .await;
    log(
        &app,
        json!({"action": "post.created", "metadata": {"lang": "de"}}),
    )
    .await;
    log(
        &app,
        json!({"action": "post.deleted", "metadata": {"lang": "en"}}),
    )
    .await;
    let data = app
        .data(
            r#"{
                count: activityCount(filter: {action: "post.*", metadata: {lang: "en"}})
                created: activityCount(filter: {action: "post.created", metadata: {lang: "en"}})
                feed: activityFeed(first: 10, filter: {metadata: {lang: "de"}}) { edges { node { action } } }
                counts: activityCounts(groupBy: ACTION, filter: {metadata: {lang: "en"}}) { key count }
                groups: groupedActivities(filter: {metadata: {lang: "en"}}) { edges { node { action count } } }
            }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["count"], 2);
    assert_eq!(data["created"], 1);
    assert_eq!(
        data["feed"]["edges"],
        json!([{"node": {"action": "post.created"}}])
    );
    assert_eq!(
        data["counts"],
        json!([{"key": "post.created", "count": 1}, {"key": "post.deleted", "count": 1}])
    );
    assert_eq!(data["groups"]["edges"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_filter_takes_only_a_json_object() {
    let app = spawn_app().await;
    let body = app
        .graphql(
            "query($m: JSON) { activityCount(filter: {metadata: $m}) }",
            json!({"m": [1, 2]}),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_user_finds_only_their_own_activities_by_metadata() {
    let app = spawn_secured().await;
    let service = service_token();
    let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
    for actor in [me, other, other] {
        log_with(
            &app,
            Some(&service),
            &[],
            json!({"action": "invoice.paid", "actorUuid": actor, "metadata": {"currency": "EUR", "total": 10}}),
        )
        .await;
    }
    let mine = token("user", me);
    let data = data_as(
        &app,
        &mine,
        r#"{ activityCount(filter: {metadata: {currency: "EUR"}})
             text: activityCount(filter: {metadataText: "eur"})
             activities(filter: {metadata: {total: 10}}) { entries { actorUuid } } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(data["activityCount"], 1);
    assert_eq!(data["text"], 1);
    assert_eq!(data["activities"]["entries"], json!([{"actorUuid": me}]));
    let all = data_as(
        &app,
        &service,
        r#"{ activityCount(filter: {metadata: {currency: "EUR"}}) }"#,
        Value::Null,
    )
    .await;
    assert_eq!(all["activityCount"], 3);
    app.stop().await;
}
