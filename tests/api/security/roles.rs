//! The role table: every role against every operation of schema.graphql,
//! written once below as data and asserted row by row.
//!
//! An operation a role may not perform is refused with `extensions.code`
//! FORBIDDEN (authenticated, but the role may not) or UNAUTHENTICATED (no
//! token); over the websocket, where the refusal happens at
//! `connection_init`, UNAUTHENTICATED is the protocol's close code 4403.
//! No refused operation may change a row, which is checked against the
//! database after each one and after all of them.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{assert_no_leak, assert_refused, data_as, log_as, secured_app, Callers, Db, Rows};
use crate::helpers::{Answer, TestApp};

/// What a role gets when it tries an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done: no error, and the field has a value.
    Allowed,
    /// Refused with FORBIDDEN.
    Forbidden,
    /// Refused with UNAUTHENTICATED (over a websocket: closed with 4403).
    Unauthenticated,
}
use Outcome::{Allowed, Forbidden, Unauthenticated};

/// The callers of each row, in the order of [`Op::outcomes`].
const CALLERS: [&str; 4] = ["admin", "service", "user", "no token"];

/// One row of the table.
struct Op {
    /// The root field, as in schema.graphql.
    field: &'static str,
    /// A document that performs it; its variables are those of [`variables`].
    document: &'static str,
    /// How many rows of (activities, users) it adds when allowed.
    writes: (i64, i64),
    /// What admin, service, user and a caller without a token get.
    outcomes: [Outcome; 4],
}

/// Every query, mutation and subscription of schema.graphql.
#[rustfmt::skip]
const TABLE: &[Op] = &[
    // Queries: everyone with a token reads (a user only their own activities).
    Op { field: "activities", document: "query { activities { total } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "activitiesForUser", document: "query($alice: UUID!) { activitiesForUser(userUuid: $alice) { total } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "activityFeed", document: "query { activityFeed(first: 5) { nodes { uuid } } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "groupedActivities", document: "query { groupedActivities(first: 5) { edges { node { action count } } } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "recentActivities", document: "query { recentActivities { uuid } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "activity", document: "query($mine: UUID!) { activity(uuid: $mine) { uuid } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "activityCount", document: "query { activityCount }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "activityCounts", document: "query { activityCounts(groupBy: ACTION) { key count } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "actionTypes", document: "query { actionTypes }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "modes", document: "query { modes }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "modules", document: "query { modules }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "resourceTypes", document: "query { resourceTypes }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "retentionDays", document: "query { retentionDays }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "actionBadgeColor", document: "query { actionBadgeColor(action: \"post.created\") }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "modeBadgeColor", document: "query { modeBadgeColor(mode: \"manual\") }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "actionTone", document: "query { actionTone(action: \"post.created\") }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "modeTone", document: "query { modeTone(mode: \"manual\") }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "viewer", document: "query { viewer { role } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "node", document: "query($mineId: ID!) { node(id: $mineId) { id } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "nodes", document: "query($mineId: ID!) { nodes(ids: [$mineId]) { id } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "user", document: "query($alice: UUID!) { user(uuid: $alice) { uuid } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "users", document: "query { users(search: \"example\") { nodes { uuid } } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    Op { field: "logHead", document: "query { logHead { position hash } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
    // Only an admin verifies the log or erases a person.
    Op { field: "verifyLog", document: "query { verifyLog { valid } }", writes: (0, 0), outcomes: [Allowed, Forbidden, Forbidden, Unauthenticated] },
    // Mutations: producers write, only an admin prunes, a user writes nothing.
    Op { field: "log", document: "mutation { log(input: {action: \"rbac.log\"}) { activity { uuid } errors { field } } }", writes: (1, 0), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "logBatch", document: "mutation { logBatch(inputs: [{action: \"rbac.batch\"}, {action: \"rbac.batch\"}]) { activity { uuid } errors { field } } }", writes: (2, 0), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "logActivities", document: "mutation { logActivities(inputs: [{action: \"rbac.batch\"}]) { activities { uuid } userErrors { field } } }", writes: (1, 0), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "logUserChange", document: "mutation($fresh: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $fresh, changes: {email: \"new@example.com\"}}) { changed activity { uuid } errors { field } } }", writes: (1, 0), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "upsertUsers", document: "mutation($fresh: UUID!) { upsertUsers(inputs: [{uuid: $fresh, email: \"someone@example.com\"}]) { uuid } }", writes: (0, 1), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "saveUsers", document: "mutation($fresh: UUID!) { saveUsers(inputs: [{uuid: $fresh}]) { users { uuid } userErrors { field } } }", writes: (0, 1), outcomes: [Allowed, Allowed, Forbidden, Unauthenticated] },
    Op { field: "prune", document: "mutation { prune(days: 25) { deleted } }", writes: (-1, 0), outcomes: [Allowed, Forbidden, Forbidden, Unauthenticated] },
    Op { field: "pruneActivities", document: "mutation { pruneActivities(days: 7) { deleted userErrors { field } } }", writes: (-1, 0), outcomes: [Allowed, Forbidden, Forbidden, Unauthenticated] },
    Op { field: "forgetPerson", document: "mutation($fresh: UUID!) { forgetPerson(uuid: $fresh, reason: \"rbac\") { found userErrors { field } } }", writes: (0, 0), outcomes: [Allowed, Forbidden, Forbidden, Unauthenticated] },
    // The subscription, over graphql-transport-ws.
    Op { field: "activityAdded", document: "subscription($after: String!) { activityAdded(after: $after, filter: {action: \"rbac.seen\"}) { uuid } }", writes: (0, 0), outcomes: [Allowed, Allowed, Allowed, Unauthenticated] },
];

/// What the table's documents refer to.
struct Fixture {
    /// Alice's first activity: subscriptions replay what came after it.
    first: Value,
    /// Alice's second activity ("rbac.seen"), visible to every role with a token.
    second: Value,
}

/// The variables every document gets; `fresh` is a new uuid each time.
fn variables(who: &Callers, fixture: &Fixture) -> Value {
    json!({
        "alice": who.alice,
        "mine": fixture.second["uuid"],
        "mineId": fixture.second["id"],
        "fresh": Uuid::now_v7(),
        "after": fixture.first["cursor"],
    })
}

/// Runs `op` as `token` (no token for `None`) over its transport.
async fn perform(
    app: &TestApp,
    op: &Op,
    token: Option<&str>,
    variables: Value,
) -> Result<Answer, Option<u16>> {
    if !op.document.starts_with("subscription") {
        let authorization = token.map(|t| format!("Bearer {t}"));
        return Ok(app
            .graphql_authorized(authorization.as_deref(), op.document, variables)
            .await);
    }
    // A websocket: refused at connection_init (Err(close code)) or the first message.
    let mut ws = app.raw_websocket("graphql-transport-ws").await;
    let payload = token.map_or(
        json!({}),
        |t| json!({ "Authorization": format!("Bearer {t}") }),
    );
    ws.send_json(json!({ "type": "connection_init", "payload": payload }))
        .await;
    match ws.next_json_or_close(Duration::from_secs(5)).await {
        Ok(ack) if ack["type"] == "connection_ack" => {}
        Ok(other) => panic!("expected connection_ack or a close, got {other}"),
        Err(close) => return Err(close),
    }
    ws.subscribe("1", op.document, variables).await;
    let msg = ws.next_json().await.expect("a subscription message");
    Ok(Answer {
        status: reqwest::StatusCode::OK,
        body: msg["payload"].clone(),
        challenge: None,
    })
}

fn delta(before: Rows, writes: (i64, i64)) -> Rows {
    Rows {
        activities: before.activities.checked_add_signed(writes.0).unwrap(),
        users: before.users.checked_add_signed(writes.1).unwrap(),
    }
}

#[tokio::test]
async fn every_role_against_every_operation_matches_the_table() {
    // Arrange: Alice exists and performed two activities; one activity is
    // old enough for prune(days: 7) to delete it.
    let app = secured_app().await;
    let who = Callers::new();
    let db = Db::open(&app).await;
    data_as(
        &app,
        &who.service,
        "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }",
        json!({ "u": [{ "uuid": who.alice, "email": "alice@example.com" }] }),
    )
    .await;
    let first = log_as(
        &app,
        &who.service,
        json!({ "action": "rbac.first", "actorUuid": who.alice }),
    )
    .await;
    let second = log_as(
        &app,
        &who.service,
        json!({ "action": "rbac.seen", "actorUuid": who.alice }),
    )
    .await;
    let fixture = Fixture { first, second };
    // One old activity for prune(days: 25), one for pruneActivities(days: 7).
    db.plant_old_activity("rbac.old", 30).await;
    db.plant_old_activity("rbac.older", 20).await;
    let tokens = [
        Some(who.admin.as_str()),
        Some(who.service.as_str()),
        Some(who.user.as_str()),
        None,
    ];
    let before_denied = db.rows().await;

    // Act and assert, denied cells first, so that no allowed write (prune
    // above all) can hide a denied one.
    for op in TABLE {
        for (caller, (&outcome, token)) in CALLERS.iter().zip(op.outcomes.iter().zip(tokens)) {
            let code = match outcome {
                Allowed => continue,
                Forbidden => "FORBIDDEN",
                Unauthenticated => "UNAUTHENTICATED",
            };
            let cell = format!("{} as {caller}", op.field);
            let before = db.rows().await;
            match perform(&app, op, token, variables(&who, &fixture)).await {
                Ok(answer) => {
                    assert_eq!(
                        super::error_codes(&answer.body),
                        [code],
                        "{cell}: {}",
                        answer.body
                    );
                    assert_refused(&answer, code);
                }
                Err(close) => {
                    assert_eq!(
                        outcome, Unauthenticated,
                        "{cell} was refused at connection_init"
                    );
                    assert_eq!(close, Some(4403), "{cell}");
                }
            }
            assert_eq!(db.rows().await, before, "{cell} changed rows");
        }
    }
    assert_eq!(
        db.rows().await,
        before_denied,
        "a denied operation wrote a row"
    );

    for op in TABLE {
        for (caller, (&outcome, token)) in CALLERS.iter().zip(op.outcomes.iter().zip(tokens)) {
            if outcome != Allowed {
                continue;
            }
            let cell = format!("{} as {caller}", op.field);
            let before = db.rows().await;
            let answer = perform(&app, op, token, variables(&who, &fixture))
                .await
                .unwrap_or_else(|close| {
                    panic!("{cell}: refused at connection_init with {close:?}")
                });
            assert_eq!(answer.status, 200, "{cell}: {}", answer.body);
            assert!(
                answer.body.get("errors").is_none(),
                "{cell}: {}",
                answer.body
            );
            let value = &answer.body["data"][op.field];
            assert!(!value.is_null(), "{cell}: no value in {}", answer.body);
            assert_no_leak(&answer.body.to_string());
            if op.field == "activityAdded" {
                assert_eq!(value["uuid"], fixture.second["uuid"], "{cell}");
            }
            assert_eq!(db.rows().await, delta(before, op.writes), "{cell}");
        }
    }
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_table_covers_every_operation_of_the_schema() {
    // Arrange
    let app = secured_app().await;
    let names = |root: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = root["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };

    // Act: introspection needs no token.
    let schema = app
        .graphql(
            "{ __schema { queryType { ...Names } mutationType { ...Names } subscriptionType { ...Names } } }
             fragment Names on __Type { fields(includeDeprecated: true) { name } }",
            json!({}),
        )
        .await;

    // Assert
    let schema = &schema["data"]["__schema"];
    let mut in_schema: Vec<String> = ["queryType", "mutationType", "subscriptionType"]
        .iter()
        .flat_map(|root| names(&schema[root]))
        .collect();
    in_schema.sort();
    let mut in_table: Vec<String> = TABLE.iter().map(|op| op.field.to_owned()).collect();
    in_table.sort();
    assert_eq!(
        in_table, in_schema,
        "add a row to TABLE for every new operation"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_may_not_write_even_on_their_own_behalf() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let db = Db::open(&app).await;
    let before = db.rows().await;

    // Act: a user logs an activity they performed, and changes their own name.
    let log = app
        .graphql_as(
            &who.user,
            "mutation($me: UUID!) { log(input: {action: \"self.logged\", actorUuid: $me}) { activity { uuid } } }",
            json!({ "me": who.alice }),
        )
        .await;
    let upsert = app
        .graphql_as(
            &who.user,
            "mutation($me: UUID!) { upsertUsers(inputs: [{uuid: $me, firstName: \"Mallory\"}]) { uuid } }",
            json!({ "me": who.alice }),
        )
        .await;

    // Assert
    assert_refused(&log, "FORBIDDEN");
    assert_refused(&upsert, "FORBIDDEN");
    assert_eq!(db.rows().await, before);
    db.close().await;
    app.stop().await;
}
