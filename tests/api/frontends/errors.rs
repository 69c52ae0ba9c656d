//! One error shape: every mutation answers bad input in `userErrors`, with
//! `field` as a path from its arguments and `code` from one enum.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn bad_input_of_every_mutation_comes_back_as_user_errors_with_paths() {
    // Arrange
    let app = spawn_app().await;
    let mut batch: Vec<Value> = (0..5).map(|_| json!({ "action": "ok.logged" })).collect();
    batch[3] = json!({ "action": "" });

    // Act
    let data = app
        .data(
            "mutation($batch: [LogInput!]!, $user: UUID!, $long: String!) {
                log(input: {action: \"\"}) { activity { uuid } userErrors { field message code } }
                logActivities(inputs: $batch) { activities { uuid } userErrors { field code } }
                emptyCorrelation: logActivities(inputs: $batch, correlationId: \"\") { userErrors { field code } }
                saveUsers(inputs: [{uuid: $user}, {uuid: $user, firstName: $long}]) { users { uuid } userErrors { field message code } }
                pruneActivities(days: 0) { deleted cutoff userErrors { field code } }
                logUserChange(input: {action: \"user.updated\", userUuid: $user, changes: 3}) { changed userErrors { field code } }
            }",
            json!({ "batch": batch, "user": Uuid::now_v7(), "long": "x".repeat(101) }),
        )
        .await;

    // Assert
    let bad = |field: &[&str]| json!({ "field": field, "code": "BAD_USER_INPUT" });
    assert_eq!(data["log"]["activity"], Value::Null);
    assert_eq!(
        data["log"]["userErrors"][0]["field"],
        json!(["input", "action"])
    );
    assert_eq!(data["log"]["userErrors"][0]["code"], "BAD_USER_INPUT");
    assert_eq!(
        data["logActivities"],
        json!({ "activities": [], "userErrors": [bad(&["inputs", "3", "action"])] })
    );
    assert_eq!(
        data["emptyCorrelation"]["userErrors"],
        json!([bad(&["correlationId"])])
    );
    assert_eq!(data["saveUsers"]["users"], json!([]));
    assert_eq!(
        data["saveUsers"]["userErrors"],
        json!([{
            "field": ["inputs", "1", "firstName"],
            "message": "must be at most 100 characters",
            "code": "BAD_USER_INPUT",
        }])
    );
    assert_eq!(
        data["pruneActivities"],
        json!({ "deleted": null, "cutoff": null, "userErrors": [bad(&["days"])] })
    );
    assert_eq!(
        data["logUserChange"],
        json!({ "changed": false, "userErrors": [bad(&["input", "changes"])] })
    );
    assert_eq!(app.count(json!({})).await, 0, "nothing was written");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_key_says_so_and_other_input_is_an_idempotency_conflict() {
    // Arrange
    let app = spawn_app().await;
    let log = "mutation($input: LogInput!) { log(input: $input) { replayed activity { uuid } userErrors { field code } } }";
    let input = json!({ "action": "order.paid", "idempotencyKey": "order-7" });

    // Act
    let first = app.data(log, json!({ "input": input })).await["log"].clone();
    let again = app.data(log, json!({ "input": input })).await["log"].clone();
    let other = app
        .data(
            log,
            json!({ "input": { "action": "order.refunded", "idempotencyKey": "order-7" } }),
        )
        .await["log"]
        .clone();

    // Assert
    assert_eq!(first["replayed"], false);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["activity"], first["activity"]);
    assert_eq!(
        other,
        json!({
            "replayed": false, "activity": null,
            "userErrors": [{ "field": ["input", "idempotencyKey"], "code": "IDEMPOTENCY_CONFLICT" }],
        })
    );
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn successful_new_mutations_return_what_they_stored() {
    // Arrange
    let app = spawn_app().await;
    let alice = Uuid::now_v7();

    // Act
    let data = app
        .data(
            "mutation($alice: UUID!) {
                saveUsers(inputs: [{uuid: $alice, firstName: \"Alice\"}]) { users { uuid firstName } userErrors { field } }
                logActivities(inputs: [{action: \"a.one\"}, {action: \"a.two\"}], correlationId: \"job-1\") {
                    activities { action correlationId } userErrors { field }
                }
                pruneActivities(days: 30) { deleted userErrors { field } }
            }",
            json!({ "alice": alice }),
        )
        .await;

    // Assert
    assert_eq!(
        data,
        json!({
            "saveUsers": { "users": [{ "uuid": alice, "firstName": "Alice" }], "userErrors": [] },
            "logActivities": {
                "activities": [
                    { "action": "a.one", "correlationId": "job-1" },
                    { "action": "a.two", "correlationId": "job-1" },
                ],
                "userErrors": [],
            },
            "pruneActivities": { "deleted": 0, "userErrors": [] },
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn log_user_change_reads_camel_case_keys_as_the_stored_fields() {
    // Arrange: Alice is stored with her first name.
    let app = spawn_app().await;
    let alice = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": alice, "firstName": "Alice" }]))
        .await;
    let change = "mutation($input: LogUserChangeInput!) { logUserChange(input: $input) { changed activity { metadata } userErrors { field message } } }";
    let input = |changes: Value| json!({ "input": { "action": "user.updated", "userUuid": alice, "changes": changes } });

    // Act
    let same = app
        .data(change, input(json!({ "firstName": "Alice" })))
        .await;
    let renamed = app
        .data(change, input(json!({ "firstName": "Alicia" })))
        .await;
    let both = app
        .data(
            change,
            input(json!({ "firstName": "A", "first_name": "B" })),
        )
        .await;

    // Assert
    assert_eq!(same["logUserChange"]["changed"], false);
    assert_eq!(
        renamed["logUserChange"]["activity"]["metadata"],
        json!({ "first_name_from": "Alice", "first_name_to": "Alicia", "actor_role": "user" })
    );
    assert_eq!(
        both["logUserChange"]["userErrors"],
        json!([{
            "field": ["input", "changes"],
            "message": "names first_name twice, in snake_case and in camelCase",
        }])
    );
    app.stop().await;
}
