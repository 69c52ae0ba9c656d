//! `LogInput.idempotencyKey`: a retried `log` returns the first activity and
//! writes nothing, under concurrent retries too; keys are each caller's own,
//! and a key replayed with other input is a conflict.

use serde_json::{json, Value};
use tokio::task::JoinSet;

use migration::MigratorTrait;
use sea_orm::EntityTrait;

use super::{log_as, secured_app, Callers, Db};
use crate::helpers::{spawn_app, spawn_app_on, TestDb, ACTIVITY_FIELDS};

fn log_mutation() -> String {
    format!("mutation($i: LogInput!) {{ log(input: $i) {{ activity {{ {ACTIVITY_FIELDS} }} errors {{ field message code }} }} }}")
}

fn batch_mutation() -> String {
    format!("mutation($i: [LogInput!]!) {{ logBatch(inputs: $i) {{ activity {{ {ACTIVITY_FIELDS} }} errors {{ field message code }} }} }}")
}

#[tokio::test]
async fn a_retried_log_returns_the_first_activity_and_writes_once() {
    // Arrange
    let app = spawn_app().await;
    let db = Db::open(&app).await;
    let first = app
        .log(json!({ "action": "order.paid", "metadata": { "try": 1 }, "idempotencyKey": "order-42-paid" }))
        .await;

    // Act: the same key again, with the same content.
    let retry = app
        .log(json!({ "action": "order.paid", "metadata": { "try": 1 }, "idempotencyKey": "order-42-paid" }))
        .await;
    let other_key = app
        .log(json!({ "action": "order.paid", "idempotencyKey": "order-43-paid" }))
        .await;

    // Assert
    assert_eq!(retry, first);
    assert_ne!(other_key["uuid"], first["uuid"]);
    assert_eq!(db.rows().await.activities, 2);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_logs_with_one_key_write_one_row() {
    // Arrange
    let app = spawn_app().await;
    let db = Db::open(&app).await;
    let (client, url) = (app.http.clone(), app.url("/graphql"));
    let body = json!({
        "query": log_mutation(),
        "variables": { "i": { "action": "payment.captured", "idempotencyKey": "capture-7" } },
    });

    // Act: twenty requests in flight at once, over real HTTP.
    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        requests.spawn(async move {
            let res = client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request sent");
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.expect("JSON response")
        });
    }
    let answers: Vec<Value> = requests.join_all().await;

    // Assert
    assert_eq!(answers.len(), 20);
    let first = answers[0]["data"]["log"]["activity"].clone();
    assert!(first["uuid"].is_string(), "{}", answers[0]);
    for answer in &answers {
        assert_eq!(
            answer["data"]["log"],
            json!({ "activity": first, "errors": [] }),
            "{answer}"
        );
    }
    assert_eq!(db.rows().await.activities, 1);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn log_batch_entries_with_keys_are_written_once() {
    // Arrange
    let app = spawn_app().await;
    let db = Db::open(&app).await;
    let batch = batch_mutation();
    let entries = json!([
        { "action": "import.row", "idempotencyKey": "row-1" },
        { "action": "import.row", "idempotencyKey": "row-2" },
        { "action": "import.unkeyed" },
    ]);
    let first = app.data(&batch, json!({ "i": entries })).await["logBatch"].clone();

    // Act: the batch retried; a batch mixing a retried key and a new one;
    // a batch repeating one key.
    let retried = app.data(&batch, json!({ "i": entries })).await["logBatch"].clone();
    let mixed = app
        .data(
            &batch,
            json!({ "i": [
            { "action": "import.row", "idempotencyKey": "row-2" },
            { "action": "import.row", "idempotencyKey": "row-3" },
        ] }),
        )
        .await["logBatch"]
        .clone();
    let repeated = app
        .data(
            &batch,
            json!({ "i": [
            { "action": "import.twice", "idempotencyKey": "row-4" },
            { "action": "import.twice", "idempotencyKey": "row-4" },
        ] }),
        )
        .await["logBatch"]
        .clone();

    // Assert
    assert_eq!(retried[0], first[0]);
    assert_eq!(retried[1], first[1]);
    assert_ne!(
        retried[2]["activity"]["uuid"], first[2]["activity"]["uuid"],
        "an unkeyed entry is new every time"
    );
    assert_eq!(mixed[0], first[1]);
    assert_ne!(mixed[1]["activity"]["uuid"], first[1]["activity"]["uuid"]);
    assert_eq!(repeated[0], repeated[1]);
    // row-1, row-2, two unkeyed, row-3, row-4.
    assert_eq!(db.rows().await.activities, 6);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn keys_that_are_empty_too_long_or_hold_nul_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let db = Db::open(&app).await;
    let log = log_mutation();
    let refused = |message: &str| json!({ "activity": null, "errors": [{ "field": "idempotencyKey", "message": message, "code": "BAD_USER_INPUT" }] });
    let length = "must be 1 to 200 characters";

    // Act
    let empty = app
        .data(
            &log,
            json!({ "i": { "action": "a", "idempotencyKey": "" } }),
        )
        .await;
    let long = app
        .data(
            &log,
            json!({ "i": { "action": "a", "idempotencyKey": "k".repeat(201) } }),
        )
        .await;
    let nul = app
        .data(
            &log,
            json!({ "i": { "action": "a", "idempotencyKey": "k\u{0}" } }),
        )
        .await;
    let in_batch = app
        .data(
            &batch_mutation(),
            json!({ "i": [{ "action": "a" }, { "action": "a", "idempotencyKey": "" }] }),
        )
        .await;
    let rows_after_refusals = db.rows().await.activities;
    let longest = app
        .data(
            &log,
            json!({ "i": { "action": "a", "idempotencyKey": "é".repeat(200) } }),
        )
        .await;

    // Assert
    assert_eq!(empty["log"], refused(length));
    assert_eq!(long["log"], refused(length));
    assert_eq!(nul["log"], refused("must not contain NUL characters"));
    assert_eq!(in_batch["logBatch"][1], refused(length));
    assert_eq!(rows_after_refusals, 0);
    assert_eq!(longest["log"]["errors"], json!([]));
    assert_eq!(db.rows().await.activities, 1);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_retried_log_is_not_delivered_live_twice() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        r#"subscription { activityAdded(filter: {action: "once.*"}) { uuid action } }"#,
        json!({}),
    )
    .await;

    // Act: a log, its retry, then a fence.
    let first = app
        .log(json!({ "action": "once.only", "idempotencyKey": "once" }))
        .await;
    app.log(json!({ "action": "once.only", "idempotencyKey": "once" }))
        .await;
    let fence = app.log(json!({ "action": "once.fence" })).await;

    // Assert: the first, then the fence; no second delivery in between.
    assert_eq!(ws.next_data().await["activityAdded"]["uuid"], first["uuid"]);
    assert_eq!(ws.next_data().await["activityAdded"]["uuid"], fence["uuid"]);
    app.stop().await;
}

#[tokio::test]
async fn keys_are_scoped_per_caller_so_producers_never_take_each_others_rows() {
    // Arrange: two producers (services with their own `sub`) and an admin.
    let app = secured_app().await;
    let db = Db::open(&app).await;
    let who = Callers::new();
    let billing = super::hs256("service", &uuid::Uuid::now_v7().to_string(), 3600);
    let posts = log_as(
        &app,
        &who.service,
        json!({ "action": "post.created", "idempotencyKey": "req-1" }),
    )
    .await;

    // Act: the other producers use the same key for activities of their own.
    let invoice = log_as(
        &app,
        &billing,
        json!({ "action": "invoice.paid", "idempotencyKey": "req-1" }),
    )
    .await;
    let admin = log_as(
        &app,
        &who.admin,
        json!({ "action": "role.assigned", "idempotencyKey": "req-1" }),
    )
    .await;
    let posts_retry = log_as(
        &app,
        &who.service,
        json!({ "action": "post.created", "idempotencyKey": "req-1" }),
    )
    .await;
    let invoice_retry = log_as(
        &app,
        &billing,
        json!({ "action": "invoice.paid", "idempotencyKey": "req-1" }),
    )
    .await;

    // Assert: each got its own row, and each retry its own first row.
    assert_eq!(invoice["action"], "invoice.paid");
    assert_eq!(admin["action"], "role.assigned");
    assert_ne!(invoice["uuid"], posts["uuid"]);
    assert_eq!(posts_retry, posts);
    assert_eq!(invoice_retry, invoice);
    assert_eq!(db.rows().await.activities, 3);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_key_replayed_with_other_input_is_a_conflict_and_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let db = Db::open(&app).await;
    let log = log_mutation();
    let first = app
        .log(json!({ "action": "order.paid", "metadata": { "total": 100, "lines": [1, 2] }, "idempotencyKey": "order-42" }))
        .await;

    // Act: other metadata, another action; a batch holding such an entry;
    // and the same input with its metadata's keys in another order.
    let other_metadata = app
        .data(
            &log,
            json!({ "i": { "action": "order.paid", "metadata": { "total": 200, "lines": [1, 2] }, "idempotencyKey": "order-42" } }),
        )
        .await;
    let other_action = app
        .data(
            &log,
            json!({ "i": { "action": "order.refunded", "metadata": { "total": 100, "lines": [1, 2] }, "idempotencyKey": "order-42" } }),
        )
        .await;
    let batch = app
        .data(
            &batch_mutation(),
            json!({ "i": [
                { "action": "import.row" },
                { "action": "import.row", "idempotencyKey": "order-42" },
            ] }),
        )
        .await;
    let rows_after_conflicts = db.rows().await.activities;
    let same = app
        .log(json!({ "idempotencyKey": "order-42", "metadata": { "lines": [1, 2], "total": 100.0 }, "action": "order.paid" }))
        .await;

    // Assert
    for answer in [&other_metadata["log"], &other_action["log"]] {
        assert_eq!(answer["activity"], Value::Null, "{answer}");
        assert_eq!(
            answer["errors"][0]["code"], "IDEMPOTENCY_CONFLICT",
            "{answer}"
        );
        assert_eq!(answer["errors"][0]["field"], "idempotencyKey", "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(first["uuid"].as_str().unwrap()),
            "{message}"
        );
    }
    assert_eq!(batch["logBatch"][0]["errors"][0]["code"], "BATCH_REJECTED");
    assert_eq!(
        batch["logBatch"][1]["errors"][0]["code"],
        "IDEMPOTENCY_CONFLICT"
    );
    assert_eq!(
        rows_after_conflicts, 1,
        "a refused batch writes none of its entries"
    );
    assert_eq!(same, first);
    assert_eq!(db.rows().await.activities, 1);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn keys_stored_before_scoping_are_kept_in_a_legacy_scope() {
    // Arrange: a database migrated as it was before keys were scoped, with
    // a keyed row in it.
    let db = TestDb::new().await;
    let conn = db.connect().await;
    migration::Migrator::up(&conn, Some(4))
        .await
        .expect("the first four migrations");
    conn.close().await.ok();
    let old = uuid::Uuid::now_v7();
    db.execute(
        &format!(
            "INSERT INTO activities (uuid, action, metadata, inserted_at, idempotency_key) \
             VALUES (X'{}', 'order.paid', '{{}}', '2026-11-30T00:00:00+00:00', 'order-1')",
            old.simple()
        ),
        &format!(
            "INSERT INTO activities (uuid, action, metadata, inserted_at, idempotency_key) \
             VALUES ('{old}', 'order.paid', '{{}}', '2026-11-30T00:00:00Z', 'order-1')"
        ),
    )
    .await;

    // Act: the server migrates the rest at start.
    let app = spawn_app_on(db, |c| c.retention_days = 3650).await;
    let read = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { uuid action } }",
            json!({ "u": old }),
        )
        .await;
    let relogged = app
        .log(json!({ "action": "order.paid", "idempotencyKey": "order-1" }))
        .await;

    // Assert: the old row is there, its key in the legacy scope, which no
    // caller has: the same key now writes a row of its caller's.
    assert_eq!(read["activity"]["action"], "order.paid");
    assert_ne!(relogged["uuid"], json!(old));
    let conn = app.db.connect().await;
    let stored = entity::activity::Entity::find_by_id(old)
        .one(&conn)
        .await
        .unwrap()
        .expect("the old row");
    conn.close().await.ok();
    assert_eq!(stored.idempotency_key.as_deref(), Some("order-1"));
    assert_eq!(stored.idempotency_scope.as_deref(), Some("legacy"));
    app.stop().await;
}
