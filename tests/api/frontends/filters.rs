//! The filters frontends look for: lists (`actionIn`, `actorUuidIn`,
//! `resourceTypeIn`), negation (`actionNot`) and an exclusive `after`
//! position, alike in lists, counts and live delivery.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

/// Logs `input` and returns its position cursor.
async fn logged_cursor(app: &TestApp, input: Value) -> Value {
    app.data(
        "mutation($i: LogInput!) { log(input: $i) { activity { cursor } } }",
        json!({ "i": input }),
    )
    .await["log"]["activity"]["cursor"]
        .clone()
}

#[tokio::test]
async fn list_and_negated_conditions_select_as_documented() {
    // Arrange
    let app = spawn_app().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    for (action, actor, rtype) in [
        ("post.created", Some(alice), "post"),
        ("post.deleted", Some(bob), "post"),
        ("user.followed", Some(alice), "user"),
        ("comment.added", None, "comment"),
    ] {
        app.log(json!({ "action": action, "actorUuid": actor, "resourceType": rtype }))
            .await;
    }

    // Act
    let cases = [
        (json!({ "actionIn": ["post.created", "user.followed"] }), 2),
        (json!({ "actionIn": [] }), 0),
        (json!({ "actorUuidIn": [alice, Uuid::now_v7()] }), 2),
        (json!({ "resourceTypeIn": ["post", "comment"] }), 3),
        (json!({ "actionNot": "post.*" }), 2),
        (json!({ "actionNot": "post.created" }), 3),
        (json!({ "actionNot": "post.*", "actorUuidIn": [alice] }), 1),
        (json!({ "actionIn": ["a\u{0}"] }), 0),
    ];
    let mut got = Vec::new();
    for (filter, _) in &cases {
        got.push(app.count(filter.clone()).await);
    }

    // Assert
    let want: Vec<u64> = cases.iter().map(|(_, n)| *n).collect();
    assert_eq!(got, want);
    let page = app
        .data(
            "{ activityFeed(filter: {actionNot: \"post.*\"}) { nodes { action } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        page["activityFeed"]["nodes"],
        json!([{ "action": "comment.added" }, { "action": "user.followed" }])
    );
    app.stop().await;
}

#[tokio::test]
async fn after_counts_what_is_new_since_a_cursor_exclusively() {
    // Arrange
    let app = spawn_app().await;
    logged_cursor(&app, json!({ "action": "a.1" })).await;
    let seen = logged_cursor(&app, json!({ "action": "a.2" })).await;

    // Act
    let none_new = app.count(json!({ "after": seen })).await;
    logged_cursor(&app, json!({ "action": "a.3" })).await;
    let last = logged_cursor(&app, json!({ "action": "b.4" })).await;
    let two_new = app.count(json!({ "after": seen })).await;
    let one_new_a = app.count(json!({ "after": seen, "action": "a.*" })).await;
    let after_last = app.count(json!({ "after": last })).await;
    let listed = app
        .data(
            "query($f: ActivityFilter) { activityFeed(filter: $f) { nodes { action } } }",
            json!({ "f": { "after": seen } }),
        )
        .await;

    // Assert
    assert_eq!((none_new, two_new, one_new_a, after_last), (0, 2, 1, 0));
    assert_eq!(
        listed["activityFeed"]["nodes"],
        json!([{ "action": "b.4" }, { "action": "a.3" }])
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_filter_values_are_bad_user_input() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "a.1" })).await;
    let edge_cursor = app
        .data("{ activityFeed { edges { cursor } } }", json!({}))
        .await["activityFeed"]["edges"][0]["cursor"]
        .clone();
    let count = "query($f: ActivityFilter) { activityCount(filter: $f) }";
    let many: Vec<String> = (0..101).map(|i| format!("a.{i}")).collect();

    // Act
    let edge = app
        .error(count, json!({ "f": { "after": edge_cursor } }))
        .await;
    let garbage = app.error(count, json!({ "f": { "after": "nope" } })).await;
    let too_many = app.error(count, json!({ "f": { "actionIn": many } })).await;

    // Assert
    for e in [&edge, &garbage] {
        assert_eq!(e["message"], "filter.after: must be an Activity.cursor");
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT");
    }
    assert_eq!(too_many["message"], "filter.actionIn: at most 100 entries");
    assert_eq!(too_many["extensions"]["code"], "BAD_USER_INPUT");
    app.stop().await;
}

#[tokio::test]
async fn a_filter_with_several_bad_fields_reports_every_one() {
    // Arrange
    let app = spawn_app().await;
    let count = "query($f: ActivityFilter) { activityCount(filter: $f) }";
    let many: Vec<String> = (0..101).map(|i| format!("a.{i}")).collect();
    let many_actors: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();

    // Act
    let error = app
        .error(
            count,
            json!({ "f": { "actionIn": many, "actorUuidIn": many_actors, "after": "nope" } }),
        )
        .await;

    // Assert
    assert_eq!(
        error["message"],
        "filter.actionIn: at most 100 entries; filter.actorUuidIn: at most 100 entries; \
         filter.after: must be an Activity.cursor"
    );
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "filter.actionIn");
    assert_eq!(
        error["extensions"]["fieldErrors"],
        json!([
            { "field": "filter.actionIn", "message": "at most 100 entries", "code": "BAD_USER_INPUT" },
            { "field": "filter.actorUuidIn", "message": "at most 100 entries", "code": "BAD_USER_INPUT" },
            { "field": "filter.after", "message": "must be an Activity.cursor", "code": "BAD_USER_INPUT" },
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn live_delivery_applies_the_new_conditions_as_lists_do() {
    // Arrange
    let app = spawn_app().await;
    let alice = Uuid::now_v7();
    let filter = json!({
        "actionNot": "post.*",
        "actorUuidIn": [alice],
        "resourceTypeIn": ["user", "comment"],
        "actionIn": ["user.followed", "comment.added", "post.created"],
    });
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        "subscription($f: ActivityFilter) { activityAdded(filter: $f) { action } }",
        json!({ "f": filter }),
    )
    .await;
    let misses = [
        json!({ "action": "post.created", "actorUuid": alice, "resourceType": "user" }),
        json!({ "action": "user.followed", "actorUuid": Uuid::now_v7(), "resourceType": "user" }),
        json!({ "action": "user.followed", "resourceType": "user" }),
        json!({ "action": "user.followed", "actorUuid": alice, "resourceType": "post" }),
        json!({ "action": "user.blocked", "actorUuid": alice, "resourceType": "user" }),
    ];

    // Act
    for miss in &misses {
        app.log(miss.clone()).await;
    }
    app.log(json!({ "action": "comment.added", "actorUuid": alice, "resourceType": "comment" }))
        .await;

    // Assert: had any miss been delivered, it would have come first.
    assert_eq!(
        ws.next_data().await,
        json!({ "activityAdded": { "action": "comment.added" } })
    );
    let listed = app.count(filter).await;
    assert_eq!(listed, 1, "the list agrees with live delivery");
    app.stop().await;
}
