//! Shared subscriptions: identical websocket subscriptions share one stream,
//! yet each subscriber receives exactly what a stream of its own would give
//! it: every event committed after it subscribed, once, and nothing that
//! another caller or other variables would see.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, WsClient};
use crate::security::{hs256, log_as, secured_app, Callers};

const SHARED: &str = r#"subscription { activityAdded(filter: {action: "fan.*"}) { action } }"#;

/// A value of the server's `/metrics` (0 when absent).
async fn metric(app: &TestApp, name: &str) -> f64 {
    app.metrics()
        .await
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (up to 10 s) for the metric `name` to read `value`.
async fn metric_reaches(app: &TestApp, name: &str, value: f64) {
    for _ in 0..200 {
        if metric(app, name).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {value}: {}", metric(app, name).await);
}

const STREAMS: &str = "activity_feed_shared_subscription_streams";
const ACTIVE: &str = "activity_feed_subscriptions_active";

async fn member(app: &TestApp) -> WsClient {
    let mut ws = app.websocket().await;
    app.subscribe_ready(&mut ws, "s", SHARED, json!({})).await;
    ws
}

fn action(data: Value) -> Value {
    data["activityAdded"]["action"].clone()
}

#[tokio::test]
async fn identical_subscriptions_share_one_stream_and_each_gets_every_event_once() {
    // Arrange
    let app = spawn_app().await;
    let mut first = member(&app).await;
    let mut second = member(&app).await;
    metric_reaches(&app, STREAMS, 1.0).await;

    // Act
    for n in 1..=3 {
        app.log(json!({ "action": format!("fan.{n}") })).await;
    }

    // Assert
    for ws in [&mut first, &mut second] {
        for n in 1..=3 {
            assert_eq!(action(ws.next_data().await), json!(format!("fan.{n}")));
        }
        ws.assert_silent(Duration::from_millis(300)).await;
    }
    assert_eq!(metric(&app, ACTIVE).await, 2.0, "each subscriber counts");
    app.stop().await;
}

#[tokio::test]
async fn a_late_member_gets_only_what_follows_and_members_leave_alone() {
    // Arrange: one member that has received an event already.
    let app = spawn_app().await;
    let mut early = member(&app).await;
    app.log(json!({ "action": "fan.before" })).await;
    assert_eq!(action(early.next_data().await), "fan.before");

    // Act: a second member joins, then an event.
    let mut late = member(&app).await;
    app.log(json!({ "action": "fan.after" })).await;

    // Assert: the late one gets nothing from before it joined.
    assert_eq!(action(late.next_data().await), "fan.after");
    assert_eq!(action(early.next_data().await), "fan.after");

    // Act: the early one completes; the late one goes on alone.
    early.stop("s").await;
    // `complete` has no reply: the server has taken it once its member left.
    metric_reaches(&app, ACTIVE, 1.0).await;
    app.log(json!({ "action": "fan.alone" })).await;

    // Assert
    assert_eq!(action(late.next_data().await), "fan.alone");
    early.assert_silent(Duration::from_millis(300)).await;
    metric_reaches(&app, STREAMS, 1.0).await;

    // Act: the last member disconnects.
    drop(late);

    // Assert: the shared stream stops with it.
    metric_reaches(&app, STREAMS, 0.0).await;
    metric_reaches(&app, ACTIVE, 0.0).await;
    app.stop().await;
}

/// Subscribes on a socket of `token`'s and returns once it is live: a probe
/// subscription after it (the socket's messages are handled in order) gets
/// "fan.ready" activities logged until one arrives; then it is stopped.
async fn live_as(
    app: &TestApp,
    token: &str,
    service: &str,
    query: &str,
    variables: Value,
    actor: Option<Uuid>,
) -> WsClient {
    let mut ws = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {token}") }),
        )
        .await;
    ws.subscribe("s", query, variables).await;
    ws.subscribe(
        "ready",
        r#"subscription { activityAdded(filter: {action: "fan.ready"}) { action } }"#,
        json!({}),
    )
    .await;
    for _ in 0..200 {
        log_as(
            app,
            service,
            json!({ "action": "fan.ready", "actorUuid": actor }),
        )
        .await;
        while let Some(msg) = ws.next_json_within(Duration::from_millis(50)).await {
            assert_eq!(msg["type"], "next", "{msg}");
            if msg["id"] == "ready" {
                ws.stop("ready").await;
                return ws;
            }
        }
    }
    panic!("the subscription never went live");
}

/// The actions `ws` receives up to and including `fence`, readiness probes left out.
async fn actions_until(ws: &mut WsClient, fence: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let data = ws.next_data().await;
        let action = data["activityAdded"]["action"].as_str().unwrap().to_owned();
        if action == "fan.ready" {
            continue;
        }
        got.push(action.clone());
        if action == fence {
            return got;
        }
    }
}

#[tokio::test]
async fn callers_and_variables_that_differ_never_share_what_they_see() {
    // Arrange: an admin and a user with the same document; two admins with
    // the same document and different variables.
    let app = secured_app().await;
    let who = Callers::new();
    let everything = "subscription { activityAdded { action } }";
    let filtered = "subscription($f: ActivityFilter) { activityAdded(filter: $f) { action } }";
    let mut admin = live_as(&app, &who.admin, &who.service, everything, json!({}), None).await;
    let mut alice = live_as(
        &app,
        &who.user,
        &who.service,
        everything,
        json!({}),
        Some(who.alice),
    )
    .await;
    let mut only_a = live_as(
        &app,
        &who.admin,
        &who.service,
        filtered,
        json!({ "f": { "action": "fan.a.*" } }),
        None,
    )
    .await;
    let mut only_b = live_as(
        &app,
        &who.admin,
        &who.service,
        filtered,
        json!({ "f": { "action": "fan.b.*" } }),
        None,
    )
    .await;

    // Act
    for (action, actor) in [
        ("fan.a.bob", who.bob),
        ("fan.b.bob", who.bob),
        ("fan.a.alice", who.alice),
        ("fan.b.fence", who.alice),
    ] {
        log_as(
            &app,
            &who.service,
            json!({ "action": action, "actorUuid": actor }),
        )
        .await;
    }
    log_as(&app, &who.service, json!({ "action": "fan.a.fence" })).await;

    // Assert: the user sees only her own; the admin everything; each filter its own.
    assert_eq!(
        actions_until(&mut alice, "fan.b.fence").await,
        ["fan.a.alice", "fan.b.fence"]
    );
    assert_eq!(
        actions_until(&mut admin, "fan.a.fence").await,
        [
            "fan.a.bob",
            "fan.b.bob",
            "fan.a.alice",
            "fan.b.fence",
            "fan.a.fence"
        ]
    );
    assert_eq!(
        actions_until(&mut only_a, "fan.a.fence").await,
        ["fan.a.bob", "fan.a.alice", "fan.a.fence"]
    );
    assert_eq!(
        actions_until(&mut only_b, "fan.b.fence").await,
        ["fan.b.bob", "fan.b.fence"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_shared_subscription_ends_on_its_token_exactly_as_its_own_stream_would() {
    // Arrange: one socket with a token valid for three more seconds, and the
    // same document twice: live only (shared), and resuming after a cursor
    // (a stream of its own).
    let app = secured_app().await;
    let who = Callers::new();
    let logged = log_as(
        &app,
        &who.service,
        json!({ "action": "fan.seen", "actorUuid": who.alice }),
    )
    .await;
    let short = hs256("user", &who.alice.to_string(), 3);
    let mut ws = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {short}") }),
        )
        .await;
    let query = "subscription($after: String) {\n  activityAdded(after: $after) { action }\n}";
    let cursor = logged["cursor"].clone();
    assert!(cursor.is_string(), "{logged}");
    ws.subscribe("shared", query, json!({ "after": null }))
        .await;
    ws.subscribe("own", query, json!({ "after": cursor })).await;

    // Act: wait for the server to end both and close the socket.
    let mut messages = Vec::new();
    let code = loop {
        match ws.next_json_or_close(Duration::from_secs(20)).await {
            Ok(msg) => messages.push(msg),
            Err(code) => break code,
        }
    };

    // Assert: the same error for both, nothing else, then 4403.
    assert_eq!(code, Some(4403));
    let payload = |id: &str| {
        let found: Vec<&Value> = messages.iter().filter(|m| m["id"] == id).collect();
        assert_eq!(found.len(), 1, "{id}: {messages:?}");
        assert_eq!(found[0]["type"], "next", "{messages:?}");
        found[0]["payload"].clone()
    };
    let shared = payload("shared");
    assert_eq!(
        shared["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{shared}"
    );
    assert_eq!(shared, payload("own"));
    assert_eq!(messages.len(), 2, "{messages:?}");
    app.stop().await;
}

#[tokio::test]
async fn per_actor_subscriptions_are_handed_only_their_own_actors_rows() {
    // Arrange: 40 subscriptions, each on its own actor, one socket each.
    let app = spawn_app().await;
    let actors: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    let mut sockets = Vec::new();
    for (i, actor) in actors.iter().enumerate() {
        let mut ws = app.websocket().await;
        ws.subscribe(
            "own",
            "subscription($a: UUID) { activityAdded(filter: {actorUuid: $a}) { actorUuid } }",
            json!({ "a": actor }),
        )
        .await;
        sockets.push(ws);
        metric_reaches(&app, ACTIVE, (i + 1) as f64).await;
    }
    let before = metric(&app, "activity_feed_events_delivered_total").await;

    // Act: one activity per actor.
    for actor in &actors {
        app.log(json!({ "action": "route.per_actor", "actorUuid": actor }))
            .await;
    }

    // Assert: each subscription got its own row and nothing else, and the
    // router handed out 40 rows, not 40 × 40 for every filter to look at.
    for (ws, actor) in sockets.iter_mut().zip(&actors) {
        assert_eq!(
            ws.next_data().await["activityAdded"]["actorUuid"],
            json!(actor)
        );
        ws.assert_silent(Duration::from_millis(50)).await;
    }
    let delivered = metric(&app, "activity_feed_events_delivered_total").await - before;
    assert_eq!(delivered, 40.0);
    app.stop().await;
}
