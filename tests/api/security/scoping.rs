//! Per-user scoping: a user sees only the activities they performed
//! (actorUuid = their `sub`) in every query, count, distinct list and
//! subscription; someone else's activity is `null`, like a missing one.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{data_as, log_as, secured_app, Callers};
use crate::helpers::{TestApp, WsClient};

/// The activities of the scoping tests, logged by a service.
struct World {
    /// Alice's activities, oldest first.
    alice: Vec<Value>,
    /// Bob's, one of them aimed at Alice.
    bob: Vec<Value>,
    /// One nobody performed.
    nobody: Value,
}

async fn populate(app: &TestApp, who: &Callers) -> World {
    data_as(
        app,
        &who.service,
        "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }",
        json!({ "u": [
            { "uuid": who.alice, "email": "alice@example.com" },
            { "uuid": who.bob, "email": "bob@example.com" },
        ] }),
    )
    .await;
    let a1 = log_as(
        app,
        &who.service,
        json!({
            "action": "post.created", "module": "posts", "mode": "manual",
            "resourceType": "post", "actorUuid": who.alice,
        }),
    )
    .await;
    let b1 = log_as(
        app,
        &who.service,
        json!({
            "action": "secret.kept", "module": "vault", "mode": "script",
            "resourceType": "safe", "actorUuid": who.bob,
        }),
    )
    .await;
    let a2 = log_as(
        app,
        &who.service,
        json!({
            "action": "comment.added", "module": "comments", "mode": "auto",
            "resourceType": "comment", "actorUuid": who.alice, "targetUuid": who.bob,
        }),
    )
    .await;
    let b2 = log_as(
        app,
        &who.service,
        json!({
            "action": "user.blocked", "module": "users", "mode": "manual",
            "resourceType": "user", "resourceUuid": who.alice, "actorUuid": who.bob,
            "targetUuid": who.alice,
        }),
    )
    .await;
    let nobody = log_as(
        app,
        &who.service,
        json!({
            "action": "system.tick", "module": "system", "mode": "cron", "resourceType": "job",
        }),
    )
    .await;
    World {
        alice: vec![a1, a2],
        bob: vec![b1, b2],
        nobody,
    }
}

fn uuids(values: &[&Value]) -> Value {
    Value::Array(values.iter().map(|v| v["uuid"].clone()).collect())
}

#[tokio::test]
async fn a_user_lists_and_pages_only_their_own_activities() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let w = populate(&app, &who).await;
    let newest_first = uuids(&[&w.alice[1], &w.alice[0]]);

    // Act
    let data = data_as(
        &app,
        &who.user,
        "query($bob: UUID!, $alice: UUID!) {
            all: activities { total entries { uuid } }
            asBob: activities(filter: {actorUuid: $bob}) { total entries { uuid } }
            aimedAtMe: activities(filter: {targetUuid: $alice}) { total entries { uuid } }
            bobs: activitiesForUser(userUuid: $bob) { total entries { uuid } }
            mine: activitiesForUser(userUuid: $alice) { total entries { uuid } }
            feed: activityFeed(first: 10) { nodes { uuid } }
            feedAsBob: activityFeed(first: 10, filter: {actorUuid: $bob}) { nodes { uuid } }
            feedBackwards: activityFeed(last: 10) { nodes { uuid } }
            recent: recentActivities(limit: 10) { uuid }
            groups: groupedActivities(first: 10) { edges { node { action count actorUuids } } }
        }",
        json!({ "bob": who.bob, "alice": who.alice }),
    )
    .await;
    let control = data_as(&app, &who.service, "{ activityCount }", json!({})).await;

    // Assert
    assert_eq!(control["activityCount"], 5, "the others' activities exist");
    assert_eq!(
        data["all"],
        json!({ "total": 2, "entries": newest_first.as_array().unwrap().iter().map(|u| json!({"uuid": u})).collect::<Vec<_>>() })
    );
    assert_eq!(data["asBob"], json!({ "total": 0, "entries": [] }));
    assert_eq!(data["aimedAtMe"], json!({ "total": 0, "entries": [] }));
    assert_eq!(data["bobs"], json!({ "total": 0, "entries": [] }));
    assert_eq!(data["mine"], data["all"]);
    let nodes = |key: &str| -> Value {
        Value::Array(
            data[key]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["uuid"].clone())
                .collect(),
        )
    };
    assert_eq!(nodes("feed"), newest_first);
    assert_eq!(nodes("feedAsBob"), json!([]));
    assert_eq!(nodes("feedBackwards"), newest_first);
    let recent: Vec<Value> = data["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["uuid"].clone())
        .collect();
    assert_eq!(Value::Array(recent), newest_first);
    assert_eq!(
        data["groups"]["edges"],
        json!([
            { "node": { "action": "comment.added", "count": 1, "actorUuids": [who.alice] } },
            { "node": { "action": "post.created", "count": 1, "actorUuids": [who.alice] } },
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn someone_elses_activity_is_null_exactly_like_a_missing_one() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let w = populate(&app, &who).await;
    let query = "query($u: UUID!) { activity(uuid: $u) { uuid action } }";

    // Act
    let bobs = app
        .graphql_as(&who.user, query, json!({ "u": w.bob[1]["uuid"] }))
        .await;
    let nobodys = app
        .graphql_as(&who.user, query, json!({ "u": w.nobody["uuid"] }))
        .await;
    let missing = app
        .graphql_as(&who.user, query, json!({ "u": Uuid::now_v7() }))
        .await;
    let mine = app
        .graphql_as(&who.user, query, json!({ "u": w.alice[0]["uuid"] }))
        .await;
    let as_service = app
        .graphql_as(&who.service, query, json!({ "u": w.bob[1]["uuid"] }))
        .await;

    // Assert
    assert_eq!(missing.body, json!({ "data": { "activity": null } }));
    assert_eq!(bobs.body, missing.body);
    assert_eq!(nobodys.body, missing.body);
    assert_eq!(
        mine.body,
        json!({ "data": { "activity": { "uuid": w.alice[0]["uuid"], "action": "post.created" } } })
    );
    assert_eq!(
        as_service.body,
        json!({ "data": { "activity": { "uuid": w.bob[1]["uuid"], "action": "user.blocked" } } })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_counts_and_lists_distinct_values_of_their_own_activities_only() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    let w = populate(&app, &who).await;
    let query = "{
        activityCount
        bobsCount: activityCount(filter: {action: \"secret.kept\"})
        action: activityCounts(groupBy: ACTION) { key count }
        module: activityCounts(groupBy: MODULE) { key count }
        mode: activityCounts(groupBy: MODE) { key count }
        resourceType: activityCounts(groupBy: RESOURCE_TYPE) { key count }
        actor: activityCounts(groupBy: ACTOR) { key count }
        day: activityCounts(groupBy: DAY) { key count }
        hour: activityCounts(groupBy: HOUR) { key count }
        actionTypes modes modules resourceTypes
    }";
    // The day and hour keys of Alice's two activities, from their stored times.
    let keys = |len: usize, suffix: &str| -> Value {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for a in &w.alice {
            let key = format!("{}{suffix}", &a["insertedAt"].as_str().unwrap()[..len]);
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        counts.sort();
        Value::Array(
            counts
                .into_iter()
                .map(|(key, count)| json!({ "key": key, "count": count }))
                .collect(),
        )
    };

    // Act
    let data = data_as(&app, &who.user, query, json!({})).await;
    let control = data_as(&app, &who.service, "{ actionTypes }", json!({})).await;

    // Assert
    assert_eq!(
        control["actionTypes"],
        json!([
            "comment.added",
            "post.created",
            "secret.kept",
            "system.tick",
            "user.blocked"
        ])
    );
    assert_eq!(data["activityCount"], 2);
    assert_eq!(data["bobsCount"], 0);
    assert_eq!(
        data["action"],
        json!([{ "key": "comment.added", "count": 1 }, { "key": "post.created", "count": 1 }])
    );
    assert_eq!(
        data["module"],
        json!([{ "key": "comments", "count": 1 }, { "key": "posts", "count": 1 }])
    );
    assert_eq!(
        data["mode"],
        json!([{ "key": "auto", "count": 1 }, { "key": "manual", "count": 1 }])
    );
    assert_eq!(
        data["resourceType"],
        json!([{ "key": "comment", "count": 1 }, { "key": "post", "count": 1 }])
    );
    assert_eq!(
        data["actor"],
        json!([{ "key": who.alice.to_string(), "count": 2 }])
    );
    assert_eq!(data["day"], keys(10, ""));
    assert_eq!(data["hour"], keys(13, ":00:00Z"));
    assert_eq!(
        data["actionTypes"],
        json!(["comment.added", "post.created"])
    );
    assert_eq!(data["modes"], json!(["auto", "manual"]));
    assert_eq!(data["modules"], json!(["comments", "posts"]));
    assert_eq!(data["resourceTypes"], json!(["comment", "post"]));
    app.stop().await;
}

#[tokio::test]
async fn a_user_looks_up_only_themselves() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    populate(&app, &who).await;
    let query = "query($me: UUID!, $bob: UUID!) {
        me: user(uuid: $me) { uuid email }
        bob: user(uuid: $bob) { uuid email }
    }";
    let vars = json!({ "me": who.alice, "bob": who.bob });

    // Act
    let as_user = data_as(&app, &who.user, query, vars.clone()).await;
    let as_service = data_as(&app, &who.service, query, vars).await;

    // Assert
    assert_eq!(
        as_user,
        json!({ "me": { "uuid": who.alice, "email": "alice@example.com" }, "bob": null })
    );
    assert_eq!(
        as_service["bob"],
        json!({ "uuid": who.bob, "email": "bob@example.com" })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_finds_only_themselves_in_users_search() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    populate(&app, &who).await;
    let query = "query($s: String!) { users(search: $s) { nodes { uuid email } } }";

    // Act
    let everyone = data_as(&app, &who.user, query, json!({ "s": "example.com" })).await;
    let bob = data_as(&app, &who.user, query, json!({ "s": "bob" })).await;
    let bob_by_uuid = data_as(&app, &who.user, query, json!({ "s": who.bob })).await;
    let as_service = data_as(&app, &who.service, query, json!({ "s": "example.com" })).await;

    // Assert
    assert_eq!(
        everyone["users"]["nodes"],
        json!([{ "uuid": who.alice, "email": "alice@example.com" }])
    );
    assert_eq!(bob["users"]["nodes"], json!([]));
    assert_eq!(bob_by_uuid["users"]["nodes"], json!([]));
    let mut emails: Vec<String> = as_service["users"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    assert_eq!(emails, ["alice@example.com", "bob@example.com"]);
    app.stop().await;
}

/// The subscription the live tests hold: everything the caller may see.
const EVERYTHING: &str = "subscription { activityAdded { uuid action actorUuid } }";

/// Opens a websocket as `token` and subscribes to [`EVERYTHING`] as `id`.
async fn subscribe_as(app: &TestApp, token: &str, id: &str) -> WsClient {
    let mut ws = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {token}") }),
        )
        .await;
    ws.subscribe(id, EVERYTHING, json!({})).await;
    ws
}

/// Returns once `ws` is surely receiving: logs "test.ready" activities
/// performed by `actor` until one arrives (the socket may receive more later).
async fn wait_until_live(app: &TestApp, service: &str, ws: &mut WsClient, actor: Option<Uuid>) {
    for _ in 0..200 {
        log_as(
            app,
            service,
            json!({ "action": "test.ready", "actorUuid": actor }),
        )
        .await;
        match ws.next_json_or_close(Duration::from_millis(50)).await {
            Ok(msg) => {
                assert_eq!(msg["type"], "next", "{msg}");
                assert_eq!(
                    msg["payload"]["data"]["activityAdded"]["action"], "test.ready",
                    "{msg}"
                );
                return;
            }
            Err(None) => continue,
            Err(Some(code)) => panic!("the socket closed with {code}"),
        }
    }
    panic!("the subscription never went live");
}

/// Every activity `ws` receives up to and including the one with `fence_uuid`,
/// leaving out the readiness probes.
async fn received_until(ws: &mut WsClient, fence_uuid: &Value) -> Vec<Value> {
    let mut received = Vec::new();
    loop {
        let msg = ws.next_json().await.expect("the fence arrives");
        assert_eq!(msg["type"], "next", "{msg}");
        let activity = msg["payload"]["data"]["activityAdded"].clone();
        let done = activity["uuid"] == *fence_uuid;
        if activity["action"] != "test.ready" {
            received.push(activity);
        }
        if done {
            return received;
        }
    }
}

fn seen(a: &Value) -> Value {
    json!({ "uuid": a["uuid"], "action": a["action"], "actorUuid": a["actorUuid"] })
}

#[tokio::test]
async fn a_users_socket_never_receives_another_users_activity() {
    // Arrange: Alice, Bob and a service each hold a live subscription to everything.
    let app = secured_app().await;
    let who = Callers::new();
    let mut alice = subscribe_as(&app, &who.user, "alice").await;
    let mut bob = subscribe_as(&app, &who.bob_token, "bob").await;
    let mut service = subscribe_as(&app, &who.service, "service").await;
    wait_until_live(&app, &who.service, &mut alice, Some(who.alice)).await;
    wait_until_live(&app, &who.service, &mut bob, Some(who.bob)).await;
    wait_until_live(&app, &who.service, &mut service, None).await;

    // Act: Bob acts (once on Alice), nobody acts, then each person logs a
    // fence: in commit order, anything of Bob's would reach Alice before hers.
    let bob_alone = log_as(
        &app,
        &who.service,
        json!({ "action": "secret.kept", "actorUuid": who.bob }),
    )
    .await;
    let bob_on_alice = log_as(
        &app,
        &who.service,
        json!({
            "action": "user.blocked", "actorUuid": who.bob, "targetUuid": who.alice,
            "resourceType": "user", "resourceUuid": who.alice,
        }),
    )
    .await;
    let nobody = log_as(&app, &who.service, json!({ "action": "system.tick" })).await;
    let alice_fence = log_as(
        &app,
        &who.service,
        json!({ "action": "test.fence", "actorUuid": who.alice }),
    )
    .await;
    let bob_fence = log_as(
        &app,
        &who.service,
        json!({ "action": "test.fence", "actorUuid": who.bob }),
    )
    .await;

    // Assert
    assert_eq!(
        received_until(&mut alice, &alice_fence["uuid"]).await,
        [seen(&alice_fence)]
    );
    assert_eq!(
        received_until(&mut bob, &bob_fence["uuid"]).await,
        [seen(&bob_alone), seen(&bob_on_alice), seen(&bob_fence)]
    );
    assert_eq!(
        received_until(&mut service, &bob_fence["uuid"]).await,
        [
            seen(&bob_alone),
            seen(&bob_on_alice),
            seen(&nobody),
            seen(&alice_fence),
            seen(&bob_fence)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_resumed_user_subscription_replays_only_their_own_activities() {
    // Arrange: Alice's first activity is where she resumes from.
    let app = secured_app().await;
    let who = Callers::new();
    let w = populate(&app, &who).await;
    let mut ws = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {}", who.user) }),
        )
        .await;

    // Act: resume after her first activity; Bob's, nobody's and her second followed it.
    ws.subscribe(
        "resume",
        "subscription($after: String!) { activityAdded(after: $after) { uuid action actorUuid } }",
        json!({ "after": w.alice[0]["cursor"] }),
    )
    .await;
    let replayed = ws.next_data().await;
    let fence = log_as(
        &app,
        &who.service,
        json!({ "action": "test.fence", "actorUuid": who.alice }),
    )
    .await;
    let live = ws.next_data().await;

    // Assert: her second activity, then (live) the fence; nothing of Bob's or nobody's.
    assert_eq!(replayed["activityAdded"], seen(&w.alice[1]));
    assert_eq!(live["activityAdded"], seen(&fence));
    app.stop().await;
}
