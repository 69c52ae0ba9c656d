//! The write side: `log`, `logBatch` (all or nothing) and `upsertUsers`,
//! and what a write costs in statements.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{pluck, spawn_app, spawn_app_with, TestApp, ACTIVITY_FIELDS};

const LOG_BATCH: &str = "mutation($inputs: [LogInput!]!) { logBatch(inputs: $inputs) { activity { uuid action insertedAt } errors { field message code } } }";

#[tokio::test]
async fn log_stores_every_field_and_returns_the_stored_row() {
    // Arrange
    let app = spawn_app().await;
    let (actor, resource, target) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let metadata = json!({ "title": "Hi", "tags": ["a", "b"], "n": 1.5, "nested": { "ok": true } });

    // Act
    let logged = app
        .log(json!({
            "action": "post.created", "module": "posts", "mode": "manual",
            "actorUuid": actor, "resourceType": "post", "resourceUuid": resource,
            "targetUuid": target, "metadata": metadata,
        }))
        .await;

    // Assert
    let uuid = Uuid::parse_str(logged["uuid"].as_str().unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are UUIDv7");
    let expected = json!({
        "uuid": uuid, "action": "post.created", "module": "posts", "mode": "manual",
        "actorUuid": actor, "resourceType": "post", "resourceUuid": resource,
        "targetUuid": target, "metadata": metadata, "insertedAt": logged["insertedAt"],
        "actionBadgeColor": "badge-success", "modeBadgeColor": "badge-warning",
    });
    assert_eq!(logged, expected);
    let listed = app
        .data(
            &format!("{{ activities {{ total entries {{ {ACTIVITY_FIELDS} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(listed["activities"]["total"], 1);
    assert_eq!(listed["activities"]["entries"], json!([expected]));
    app.stop().await;
}

#[tokio::test]
async fn log_with_only_an_action_stores_nulls_and_empty_metadata() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let bare = app.log(json!({ "action": "user.registered" })).await;
    let null_meta = app
        .log(json!({ "action": "user.registered", "metadata": null }))
        .await;

    // Assert
    for logged in [&bare, &null_meta] {
        assert_eq!(logged["action"], "user.registered");
        for field in [
            "module",
            "mode",
            "actorUuid",
            "resourceType",
            "resourceUuid",
            "targetUuid",
        ] {
            assert_eq!(logged[field], Value::Null, "{field}");
        }
        assert_eq!(logged["metadata"], json!({}));
        assert_eq!(logged["actionBadgeColor"], "badge-ghost");
        assert_eq!(logged["modeBadgeColor"], "badge-ghost");
    }
    assert_eq!(app.count(json!({})).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn log_accepts_values_at_their_maximum_lengths() {
    // Arrange
    let app = spawn_app().await;
    let input = json!({
        "action": "a".repeat(100), "module": "m".repeat(50), "mode": "d".repeat(20),
        "resourceType": "r".repeat(50),
    });

    // Act
    let logged = app.log(input.clone()).await;

    // Assert
    for field in ["action", "module", "mode", "resourceType"] {
        assert_eq!(logged[field], input[field], "{field}");
    }
    app.stop().await;
}

#[tokio::test]
async fn log_batch_writes_every_entry_in_order_with_one_time() {
    // Arrange
    let app = spawn_app().await;
    let inputs = json!([
        { "action": "post.created" },
        { "action": "comment.liked", "metadata": { "n": 1 } },
        { "action": "user.followed" },
    ]);

    // Act
    let payloads = app.data(LOG_BATCH, json!({ "inputs": inputs })).await["logBatch"].clone();

    // Assert
    let payloads = payloads.as_array().unwrap();
    assert_eq!(payloads.len(), 3);
    let activities: Vec<Value> = payloads.iter().map(|p| p["activity"].clone()).collect();
    for p in payloads {
        assert_eq!(p["errors"], json!([]));
    }
    assert_eq!(
        pluck(&json!(activities), "action"),
        [
            json!("post.created"),
            json!("comment.liked"),
            json!("user.followed")
        ]
    );
    let time = &activities[0]["insertedAt"];
    assert!(activities.iter().all(|a| &a["insertedAt"] == time));
    let ids: std::collections::BTreeSet<String> = pluck(&json!(activities), "uuid")
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "every entry gets its own uuid");
    assert_eq!(app.count(json!({})).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn log_batch_with_an_invalid_entry_writes_nothing_and_says_why_for_each() {
    // Arrange
    let app = spawn_app().await;
    let inputs = json!([
        { "action": "post.created" },
        { "action": "", "module": "m".repeat(51) },
        { "action": "post.updated" },
        { "action": "post.deleted", "metadata": [1, 2] },
    ]);

    // Act
    let payloads = app.data(LOG_BATCH, json!({ "inputs": inputs })).await["logBatch"].clone();

    // Assert
    let rejected = json!({ "activity": null, "errors": [{
        "field": "inputs", "message": "not written: entry 1 of this batch is invalid",
        "code": "BATCH_REJECTED",
    }]});
    assert_eq!(
        payloads,
        json!([
            rejected,
            { "activity": null, "errors": [
                { "field": "action", "message": "must not be empty", "code": "BAD_USER_INPUT" },
                { "field": "module", "message": "must be at most 50 characters", "code": "BAD_USER_INPUT" },
            ]},
            rejected,
            { "activity": null, "errors": [
                { "field": "metadata", "message": "must be a JSON object", "code": "BAD_USER_INPUT" },
            ]},
        ])
    );
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn log_batch_of_nothing_writes_nothing() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let payloads = app.data(LOG_BATCH, json!({ "inputs": [] })).await;

    // Assert
    assert_eq!(payloads["logBatch"], json!([]));
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn log_batch_over_the_batch_limit_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let inputs: Vec<Value> = (0..1001).map(|_| json!({ "action": "a.b" })).collect();

    // Act
    let error = app.error(LOG_BATCH, json!({ "inputs": inputs })).await;

    // Assert
    assert_eq!(error["message"], "inputs: at most 1000 entries per batch");
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn upsert_users_inserts_then_updates_and_returns_rows_as_stored() {
    // Arrange
    let app = spawn_app().await;
    let (ada, alan) = (Uuid::now_v7(), Uuid::now_v7());
    app.upsert_users(json!([
        { "uuid": ada, "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace" },
    ]))
    .await;

    // Act
    let stored = app
        .upsert_users(json!([
            { "uuid": alan, "email": "alan@example.com", "firstName": "Alan", "lastName": "Turing" },
            { "uuid": ada, "email": "ada@analytical.engine", "firstName": "Ada" },
        ]))
        .await;

    // Assert
    let alan_row = json!({ "uuid": alan, "email": "alan@example.com", "firstName": "Alan", "lastName": "Turing" });
    let ada_row = json!({ "uuid": ada, "email": "ada@analytical.engine", "firstName": "Ada", "lastName": null });
    assert_eq!(stored, json!([alan_row, ada_row]));
    let read = app
        .data(
            "query($a: UUID!, $b: UUID!) { a: user(uuid: $a) { uuid email firstName lastName } b: user(uuid: $b) { uuid email firstName lastName } }",
            json!({ "a": ada, "b": alan }),
        )
        .await;
    assert_eq!(read, json!({ "a": ada_row, "b": alan_row }));
    app.stop().await;
}

#[tokio::test]
async fn upsert_users_with_one_uuid_twice_keeps_the_last_entry() {
    // Arrange
    let app = spawn_app().await;
    let id = Uuid::now_v7();

    // Act
    let stored = app
        .upsert_users(json!([
            { "uuid": id, "email": "first@example.com" },
            { "uuid": id, "email": "second@example.com", "firstName": "Sec" },
        ]))
        .await;

    // Assert
    let row =
        json!({ "uuid": id, "email": "second@example.com", "firstName": "Sec", "lastName": null });
    assert_eq!(stored, json!([row]));
    let read = app
        .data(
            "query($u: UUID!) { user(uuid: $u) { uuid email firstName lastName } }",
            json!({ "u": id }),
        )
        .await;
    assert_eq!(read["user"], row);
    app.stop().await;
}

#[tokio::test]
async fn upsert_users_of_nothing_is_empty() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let stored = app.upsert_users(json!([])).await;

    // Assert
    assert_eq!(stored, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn upsert_users_reports_every_bad_field_of_every_entry() {
    // Arrange
    let app = spawn_app().await;
    let long = "x".repeat(101);

    // Act
    let error = app
        .error(
            "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }",
            json!({ "u": [
                { "uuid": Uuid::now_v7(), "firstName": long, "lastName": long },
                { "uuid": Uuid::now_v7(), "email": "ok@example.com" },
                { "uuid": Uuid::now_v7(), "lastName": long },
            ]}),
        )
        .await;

    // Assert
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "inputs[0].firstName");
    let fields: Vec<&str> = error["extensions"]["fieldErrors"]
        .as_array()
        .expect("fieldErrors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect();
    assert_eq!(
        fields,
        [
            "inputs[0].firstName",
            "inputs[0].lastName",
            "inputs[2].lastName"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn upsert_users_with_an_invalid_entry_writes_none() {
    // Arrange
    let app = spawn_app().await;
    let (ok, bad) = (Uuid::now_v7(), Uuid::now_v7());

    // Act
    let error = app
        .error(
            "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }",
            json!({ "u": [
                { "uuid": ok, "email": "ok@example.com" },
                { "uuid": bad, "firstName": "x".repeat(101) },
            ]}),
        )
        .await;

    // Assert
    assert_eq!(
        error["message"],
        "inputs[1].firstName: must be at most 100 characters"
    );
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "inputs[1].firstName");
    let read = app
        .data(
            "query($u: UUID!) { user(uuid: $u) { uuid } }",
            json!({ "u": ok }),
        )
        .await;
    assert_eq!(read["user"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_database_failure_is_a_masked_internal_error_and_the_server_goes_on() {
    // Arrange
    let app = spawn_app().await;
    app.db.fail_inserts_of("db.fail").await;

    // Act
    let (status, body) = app
        .post(
            "mutation { log(input: {action: \"db.fail\"}) { activity { uuid } errors { field } } }",
            json!({}),
        )
        .await;
    let after = app.log(json!({ "action": "db.ok" })).await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "data": null,
            "errors": [{
                "message": "internal error",
                "locations": [{ "line": 1, "column": 12 }],
                "path": ["log"],
                "extensions": { "code": "INTERNAL" },
            }],
        })
    );
    assert_eq!(after["action"], "db.ok");
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}

/// How many SQL statements the server runs for `query`.
async fn statements_of(app: &TestApp, query: &str, variables: Value) -> u64 {
    let before = app.statements.get();
    let body = app.graphql(query, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    app.statements.get() - before
}

#[tokio::test]
async fn a_log_and_a_batch_of_up_to_a_thousand_are_one_statement_each() {
    // Arrange
    let app = spawn_app_with(|c| c.limits.max_batch_size = 1500).await;
    const LOG: &str = "mutation($i: LogInput!) { log(input: $i) { activity { uuid } } }";
    let batch = |n: usize| -> Value {
        json!({ "inputs": (0..n).map(|i| json!({ "action": format!("cost.b{i}") })).collect::<Vec<_>>() })
    };
    let keyed = json!({ "i": { "action": "cost.keyed", "idempotencyKey": "cost-1" } });

    // Act
    let log = statements_of(&app, LOG, json!({ "i": { "action": "cost.one" } })).await;
    let first_keyed = statements_of(&app, LOG, keyed.clone()).await;
    let retried_keyed = statements_of(&app, LOG, keyed).await;
    let three = statements_of(&app, LOG_BATCH, batch(3)).await;
    let thousand = statements_of(&app, LOG_BATCH, batch(1000)).await;
    let over = statements_of(&app, LOG_BATCH, batch(1001)).await;

    // Assert: the INSERT … RETURNING alone, no notify statement; a retried key
    // reads its first row back; past 1000 rows, one INSERT per 1000.
    assert_eq!(log, 1, "log");
    assert_eq!(first_keyed, 1, "log with a new idempotency key");
    assert_eq!(retried_keyed, 2, "log with a used idempotency key");
    assert_eq!(three, 1, "logBatch of 3");
    assert_eq!(thousand, 1, "logBatch of 1000");
    assert_eq!(over, 2, "logBatch of 1001");
    assert_eq!(
        app.count(json!({ "action": "cost.*" })).await,
        2 + 3 + 1000 + 1001
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_of_several_inserts_is_still_all_or_nothing() {
    // Arrange: a batch of two INSERTs, the second of which the database fails.
    let app = spawn_app_with(|c| c.limits.max_batch_size = 1500).await;
    app.db.fail_inserts_of("big.fail").await;
    let mut inputs: Vec<Value> = (0..1200)
        .map(|i| json!({ "action": format!("big.n{i}") }))
        .collect();
    inputs[1100] = json!({ "action": "big.fail" });

    // Act
    let error = app.error(LOG_BATCH, json!({ "inputs": inputs })).await;

    // Assert
    assert_eq!(error["extensions"]["code"], "INTERNAL");
    assert_eq!(app.count(json!({ "action": "big.*" })).await, 0);
    app.stop().await;
}
