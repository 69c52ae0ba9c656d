//! Correlation ids: set on `log`, stamped by `logBatch`, filterable, live too.

use serde_json::json;
use uuid::Uuid;

use super::{
    data_as, log, log_with, post, service_token, spawn_secured, subscribe_filters, token,
    uuids_matching, FIELDS,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn log_records_the_correlation_id_and_the_filter_finds_it() {
    let app = spawn_app().await;
    let a = log(
        &app,
        json!({"action": "order.placed", "correlationId": "req-1"}),
    )
    .await;
    let b = log(
        &app,
        json!({"action": "stock.reserved", "correlationId": "req-1"}),
    )
    .await;
    log(
        &app,
        json!({"action": "order.placed", "correlationId": "req-2"}),
    )
    .await;
    log(&app, json!({"action": "order.placed"})).await;

    assert_eq!(a["correlationId"], "req-1");
    let found = uuids_matching(&app, None, json!({"correlationId": "req-1"})).await;
    assert_eq!(
        found,
        [&a, &b]
            .iter()
            .map(|x| x["uuid"].as_str().unwrap().to_owned())
            .collect()
    );
    let data = app
        .data(
            r#"{ n: activityCount(filter: {correlationId: "req-2"}) none: activityCount(filter: {correlationId: "req-3"})
                 both: activityCount(filter: {correlationId: "req-1", action: "order.placed"}) }"#,
            json!({}),
        )
        .await;
    assert_eq!(data, json!({"n": 1, "none": 0, "both": 1}));
    app.stop().await;
}

#[tokio::test]
async fn log_batch_stamps_its_correlation_id_on_every_entry() {
    let app = spawn_app().await;
    let data = app
        .data(
            &format!(
                "mutation($i: [LogInput!]!) {{ logBatch(inputs: $i, correlationId: \"import-7\") {{ activity {{ {FIELDS} }} errors {{ field }} }} }}"
            ),
            json!({"i": [
                {"action": "row.imported"},
                {"action": "row.imported", "correlationId": "import-7"},
                {"action": "row.imported"},
            ]}),
        )
        .await;
    let ids: Vec<_> = data["logBatch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["activity"]["correlationId"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("import-7"), json!("import-7"), json!("import-7")]
    );
    let count = app
        .data(
            r#"{ activityCount(filter: {correlationId: "import-7"}) }"#,
            json!({}),
        )
        .await;
    assert_eq!(count["activityCount"], 3);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_entry_naming_another_correlation_id_refuses_the_batch() {
    let app = spawn_app().await;
    let data = app
        .data(
            "mutation($i: [LogInput!]!) { logBatch(inputs: $i, correlationId: \"job-1\") { activity { uuid } errors { field code } } }",
            json!({"i": [{"action": "a"}, {"action": "b", "correlationId": "job-2"}]}),
        )
        .await;
    assert_eq!(
        data["logBatch"],
        json!([
            {"activity": null, "errors": [{"field": "inputs", "code": "BATCH_REJECTED"}]},
            {"activity": null, "errors": [{"field": "correlationId", "code": "BAD_USER_INPUT"}]},
        ])
    );
    let count = app.data("{ activityCount }", json!({})).await;
    assert_eq!(count["activityCount"], 0);
    app.stop().await;
}

#[tokio::test]
async fn correlation_ids_are_one_to_100_characters() {
    let app = spawn_app().await;
    let ok = log(
        &app,
        json!({"action": "a", "correlationId": "c".repeat(100)}),
    )
    .await;
    assert_eq!(ok["correlationId"].as_str().unwrap().len(), 100);
    for bad in ["c".repeat(101), String::new()] {
        let data = app
            .data(
                "mutation($c: String) { log(input: {action: \"a\", correlationId: $c}) { activity { uuid } errors { field code } } }",
                json!({"c": bad}),
            )
            .await;
        assert_eq!(
            data["log"],
            json!({"activity": null, "errors": [{"field": "correlationId", "code": "BAD_USER_INPUT"}]})
        );
    }
    let body = app
        .graphql(
            "mutation($c: String) { logBatch(inputs: [{action: \"a\"}], correlationId: $c) { activity { uuid } } }",
            json!({"c": "c".repeat(101)}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "correlationId",
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn log_user_change_carries_a_correlation_id() {
    let app = spawn_app().await;
    let data = app
        .data(
            "mutation($u: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $u, changes: {email: \"a@x\"}, correlationId: \"signup-9\"}) { activity { correlationId } } }",
            json!({"u": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        data["logUserChange"]["activity"]["correlationId"],
        "signup-9"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_subscription_filters_by_correlation_id() {
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    subscribe_filters(&app, &mut ws, &[json!({"correlationId": "job-1"})]).await;

    log(
        &app,
        json!({"action": "step.done", "correlationId": "job-2"}),
    )
    .await;
    let wanted = log(
        &app,
        json!({"action": "step.done", "correlationId": "job-1"}),
    )
    .await;

    let msg = ws.next_json().await.expect("an event");
    assert_eq!(
        msg["payload"]["data"]["activityAdded"]["uuid"], wanted["uuid"],
        "{msg}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_finds_only_their_own_activities_by_correlation_id() {
    let app = spawn_secured().await;
    let service = service_token();
    let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
    for actor in [me, other] {
        log_with(
            &app,
            Some(&service),
            &[],
            json!({"action": "cart.checked_out", "actorUuid": actor, "correlationId": "checkout-1"}),
        )
        .await;
    }
    let mine = token("user", me);
    let data = data_as(
        &app,
        &mine,
        r#"{ activityCount(filter: {correlationId: "checkout-1"}) activities(filter: {correlationId: "checkout-1"}) { entries { actorUuid } } }"#,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(data["activityCount"], 1);
    assert_eq!(data["activities"]["entries"], json!([{"actorUuid": me}]));
    // A user may not log, correlation id or not.
    let body = post(
        &app,
        Some(&mine),
        &[],
        r#"mutation { logBatch(inputs: [{action: "a"}], correlationId: "x") { activity { uuid } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    app.stop().await;
}
