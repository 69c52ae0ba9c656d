//! `activityAdded`: committed activities, filtered server-side with the same
//! rules as the queries, over graphql-transport-ws and the legacy graphql-ws;
//! never a refused or rolled-back row; close code 1012 on shutdown.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, WsClient, ACTIVITY_FIELDS};

/// A websocket with one live subscription to `activityAdded(filter: $f) { <fields> }`.
async fn subscribed(app: &TestApp, filter: Value, fields: &str) -> WsClient {
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        &format!("subscription($f: ActivityFilter) {{ activityAdded(filter: $f) {{ {fields} }} }}"),
        json!({ "f": filter }),
    )
    .await;
    ws
}

#[tokio::test]
async fn a_filtered_subscription_receives_only_matching_activities() {
    // Arrange
    let app = spawn_app().await;
    let (actor, resource, target) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let matching = json!({
        "module": "posts", "mode": "manual", "actorUuid": actor,
        "resourceType": "post", "resourceUuid": resource, "targetUuid": target,
    });
    let mut filter = matching.clone();
    filter["action"] = json!("post.*");
    let mut ws = subscribed(&app, filter, "action").await;
    let with = |action: &str, field: &str, value: Value| {
        let mut input = matching.clone();
        input["action"] = json!(action);
        if !field.is_empty() {
            input[field] = value;
        }
        input
    };
    let misses = [
        with("postage.paid", "", json!(null)),
        with("post", "", json!(null)),
        with("comment.created", "", json!(null)),
        with("post.x", "module", json!("comments")),
        with("post.x", "module", json!(null)),
        with("post.x", "mode", json!("auto")),
        with("post.x", "actorUuid", json!(Uuid::now_v7())),
        with("post.x", "actorUuid", json!(null)),
        with("post.x", "resourceType", json!("comment")),
        with("post.x", "resourceUuid", json!(Uuid::now_v7())),
        with("post.x", "targetUuid", json!(Uuid::now_v7())),
    ];

    // Act
    for miss in &misses {
        app.log(miss.clone()).await;
    }
    app.log(with("post.created", "", json!(null))).await;
    for miss in &misses {
        app.log(miss.clone()).await;
    }
    app.log(with("post.comment.added", "", json!(null))).await;

    // Assert: had any miss been delivered, it would have come first.
    assert_eq!(
        ws.next_data().await,
        json!({ "activityAdded": { "action": "post.created" } })
    );
    assert_eq!(
        ws.next_data().await,
        json!({ "activityAdded": { "action": "post.comment.added" } })
    );
    app.stop().await;
}

#[tokio::test]
async fn percent_and_underscore_are_literal_in_subscription_filters() {
    // Arrange
    let app = spawn_app().await;
    let mut underscore = subscribed(&app, json!({ "action": "p_st.*" }), "action").await;
    let mut percent = subscribed(&app, json!({ "action": "p%" }), "action").await;

    // Act
    for action in ["post.created", "p%x", "pxst.created", "p%", "p_st.created"] {
        app.log(json!({ "action": action })).await;
    }

    // Assert
    assert_eq!(
        underscore.next_data().await,
        json!({ "activityAdded": { "action": "p_st.created" } })
    );
    assert_eq!(
        percent.next_data().await,
        json!({ "activityAdded": { "action": "p%" } })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_gets_the_row_exactly_as_log_returned_it() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = subscribed(&app, json!({ "action": "post.created" }), ACTIVITY_FIELDS).await;

    // Act
    let logged = app
        .log(json!({ "action": "post.created", "mode": "auto", "metadata": { "k": [1, 2] } }))
        .await;

    // Assert
    assert_eq!(ws.next_data().await, json!({ "activityAdded": logged }));
    app.stop().await;
}

#[tokio::test]
async fn batches_and_user_changes_arrive_in_commit_order_with_people_resolved() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": user, "email": "u@example.com" }]))
        .await;
    let mut ws = subscribed(
        &app,
        json!({ "module": "users" }),
        "action actor { email } resourceUser { email }",
    )
    .await;

    // Act
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": [
            { "action": "user.a", "module": "users", "actorUuid": user },
            { "action": "user.b", "module": "other" },
            { "action": "user.c", "module": "users" },
        ]}),
    )
    .await;
    app.data(
        "mutation($i: LogUserChangeInput!) { logUserChange(input: $i) { changed } }",
        json!({ "i": { "action": "user.updated", "userUuid": user, "changes": { "email": "v@example.com" } } }),
    )
    .await;

    // Assert
    let me = json!({ "email": "u@example.com" });
    assert_eq!(
        ws.next_data().await["activityAdded"],
        json!({ "action": "user.a", "actor": me, "resourceUser": null })
    );
    assert_eq!(
        ws.next_data().await["activityAdded"],
        json!({ "action": "user.c", "actor": null, "resourceUser": null })
    );
    assert_eq!(
        ws.next_data().await["activityAdded"],
        json!({ "action": "user.updated", "actor": me, "resourceUser": me })
    );
    app.stop().await;
}

#[tokio::test]
async fn every_subscriber_gets_every_matching_activity() {
    // Arrange
    let app = spawn_app().await;
    let mut first = subscribed(&app, json!({ "action": "shared.*" }), "action").await;
    let mut second = subscribed(&app, json!({ "action": "shared.*" }), "action").await;

    // Act
    app.log(json!({ "action": "shared.one" })).await;
    app.log(json!({ "action": "shared.two" })).await;

    // Assert
    for ws in [&mut first, &mut second] {
        assert_eq!(
            ws.next_data().await,
            json!({ "activityAdded": { "action": "shared.one" } })
        );
        assert_eq!(
            ws.next_data().await,
            json!({ "activityAdded": { "action": "shared.two" } })
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn refused_and_rolled_back_writes_are_never_published() {
    // Arrange
    let app = spawn_app().await;
    app.db.fail_inserts_of("x.fail").await;
    let mut ws = subscribed(&app, json!({ "action": "x.*" }), "action").await;

    // Act: refused by validation, a batch refused by validation, a write the
    // database fails, and a batch whose transaction the database rolls back.
    let refused = app
        .data(
            "mutation { log(input: {action: \"x.bad\", metadata: [1]}) { activity { uuid } errors { field } } }",
            json!({}),
        )
        .await;
    let refused_batch = app
        .data(
            "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid } } }",
            json!({ "i": [{ "action": "x.ok" }, { "action": "x.bad", "mode": "m".repeat(21) }] }),
        )
        .await;
    let failed = app
        .error(
            "mutation { log(input: {action: \"x.fail\"}) { activity { uuid } } }",
            json!({}),
        )
        .await;
    let rolled_back = app
        .error(
            "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid } } }",
            json!({ "i": [{ "action": "x.ok" }, { "action": "x.fail" }] }),
        )
        .await;
    app.log(json!({ "action": "x.marker" })).await;

    // Assert
    assert_eq!(
        refused["log"],
        json!({ "activity": null, "errors": [{ "field": "metadata" }] })
    );
    assert_eq!(
        refused_batch["logBatch"],
        json!([{ "activity": null }, { "activity": null }])
    );
    for error in [&failed, &rolled_back] {
        assert_eq!(error["message"], "internal error");
        assert_eq!(error["extensions"]["code"], "INTERNAL");
    }
    assert_eq!(
        ws.next_data().await,
        json!({ "activityAdded": { "action": "x.marker" } })
    );
    assert_eq!(app.count(json!({ "action": "x.*" })).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = app.websocket_with("graphql-ws", json!({})).await;
    app.subscribe_ready(
        &mut ws,
        "1",
        r#"subscription { activityAdded(filter: {action: "legacy.*"}) { action } }"#,
        json!({}),
    )
    .await;

    // Act
    app.log(json!({ "action": "other.thing" })).await;
    app.log(json!({ "action": "legacy.logged" })).await;
    let data = ws.next_data().await;
    ws.stop("1").await;
    let stopped = ws.next_json().await;

    // Assert
    assert_eq!(
        data,
        json!({ "activityAdded": { "action": "legacy.logged" } })
    );
    assert_eq!(stopped, Some(json!({ "type": "complete", "id": "1" })));
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_closes_every_socket_with_1012_and_completes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let mut modern = subscribed(&app, json!({ "action": "a.b" }), "action").await;
    let mut legacy = app.websocket_with("graphql-ws", json!({})).await;
    app.subscribe_ready(
        &mut legacy,
        "7",
        r#"subscription { activityAdded(filter: {action: "legacy.*"}) { action } }"#,
        json!({}),
    )
    .await;

    // Act
    app.begin_shutdown();

    // Assert: "service restart", so clients reconnect; a `complete` would
    // tell a graphql-ws client that the subscription is over for good.
    for (ws, id) in [(&mut modern, "1"), (&mut legacy, "7")] {
        let code = loop {
            match ws.next_json_or_close(Duration::from_secs(5)).await {
                // The probe's own `complete` may still be on its way.
                Ok(msg) if msg["id"] == "probe" => continue,
                Ok(msg) => panic!("subscription {id} got {msg} instead of a close"),
                Err(code) => break code,
            }
        };
        assert_eq!(code, Some(1012), "subscription {id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_subscribe_message_larger_than_the_socket_read_buffer_arrives_whole() {
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    // 20 KiB of comment: five times the 4 KiB the server reads at a time.
    let query = format!(
        "# {}\nsubscription {{ activityAdded(filter: {{action: \"big.read\"}}) {{ action }} }}",
        "x".repeat(20 * 1024)
    );
    app.subscribe_ready(&mut ws, "1", &query, json!({})).await;

    app.log(json!({ "action": "big.read" })).await;

    assert_eq!(ws.next_data().await["activityAdded"]["action"], "big.read");
    app.stop().await;
}

#[tokio::test]
async fn every_row_of_many_concurrent_writers_arrives_exactly_once() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = subscribed(&app, json!({ "action": "many.*" }), "uuid").await;

    // Act: 16 writers at once, each with logs and a batch.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let client = app.client.clone();
        writers.spawn(async move {
            let mut uuids = Vec::new();
            for i in 0..10 {
                let row = client
                    .log(json!({ "action": format!("many.w{w}.n{i}") }))
                    .await;
                uuids.push(row["uuid"].as_str().unwrap().to_owned());
            }
            let batch = client
                .data(
                    "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid } } }",
                    json!({ "i": (0..5).map(|i| json!({ "action": format!("many.w{w}.b{i}") })).collect::<Vec<_>>() }),
                )
                .await;
            for entry in batch["logBatch"].as_array().unwrap() {
                uuids.push(entry["activity"]["uuid"].as_str().unwrap().to_owned());
            }
            uuids
        });
    }
    let mut logged = std::collections::HashSet::new();
    while let Some(uuids) = writers.join_next().await {
        logged.extend(uuids.unwrap());
    }

    // Assert
    assert_eq!(logged.len(), 16 * 15);
    let mut received = std::collections::HashSet::new();
    for _ in 0..logged.len() {
        let uuid = ws.next_data().await["activityAdded"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(received.insert(uuid.clone()), "{uuid} delivered twice");
    }
    assert_eq!(received, logged);
    ws.assert_silent(std::time::Duration::from_millis(300))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn live_events_show_people_as_they_are_now_edited_and_erased() {
    // Arrange: a person, and a subscriber that shows each event's actor.
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": user, "email": "before@example.com" }]))
        .await;
    let mut ws = subscribed(
        &app,
        json!({ "action": "people.*" }),
        "action actor { email }",
    )
    .await;
    let act = |action: &'static str| json!({ "action": action, "actorUuid": user });

    // Act: an event, an edit of the person, an event, their erasure, an event.
    app.log(act("people.first")).await;
    let first = ws.next_data().await;
    app.upsert_users(json!([{ "uuid": user, "email": "after@example.com" }]))
        .await;
    app.log(act("people.edited")).await;
    let edited = ws.next_data().await;
    app.data(
        "mutation($u: UUID!) { forgetPerson(uuid: $u, reason: \"request\") { found } }",
        json!({ "u": user }),
    )
    .await;
    app.log(act("people.erased")).await;
    let erased = loop {
        // forgetPerson logs its own `person.forgotten`, which the filter
        // leaves out; anything else here is the next event.
        let data = ws.next_data().await;
        if data["activityAdded"]["action"] == "people.erased" {
            break data;
        }
    };

    // Assert: each event shows the person as stored when it was delivered,
    // and nobody once they are erased, however long the subscription lives.
    assert_eq!(
        first["activityAdded"]["actor"],
        json!({ "email": "before@example.com" })
    );
    assert_eq!(
        edited["activityAdded"]["actor"],
        json!({ "email": "after@example.com" })
    );
    assert_eq!(erased["activityAdded"]["actor"], Value::Null, "{erased}");
    app.stop().await;
}
