//! Several instances on one PostgreSQL: every subscriber sees every commit,
//! once, in order, across listener and notifier failures, restarts and
//! graceful shutdowns. Slow subscribers never hold up writers. These run on PostgreSQL; on SQLite (one process per
//! file) they say so and return, except the slow-subscriber test.

use std::collections::HashSet;
use std::time::Duration;

use activity_feed::bus::postgres::{listener_application_name, notifier_application_name};
use activity_feed::db::{lock_name, AdvisoryLock, StatementCounter};
use activity_feed::retention::{run_once, Outcome, RetentionLock};
use activity_feed::service::Limits;
use activity_feed::startup::open_feed;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use crate::helpers::{kill_listeners, spawn_app_with, Client, TestDb, WsClient};
use crate::instances::Instance;

const ADDED: &str = r#"subscription($after: String) {
    activityAdded(filter: {action: "scale.*"}, after: $after) { uuid action cursor }
}"#;

/// A fresh PostgreSQL test database, or `None` (with a `SKIPPED` line) on
/// SQLite: several instances need one database they all reach.
async fn postgres_db() -> Option<TestDb> {
    let db = TestDb::new().await;
    db.runs_postgres_only().then_some(db)
}

/// Subscribes to the "scale.*" activities on `client`, live once this returns.
async fn subscriber(client: &Client, after: Option<&str>) -> WsClient {
    let mut ws = client.websocket().await;
    client
        .subscribe_ready(&mut ws, "1", ADDED, json!({ "after": after }))
        .await;
    ws
}

/// The next `n` activities a subscriber receives.
async fn receive(ws: &mut WsClient, n: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.push(ws.next_data().await["activityAdded"].clone());
    }
    got
}

fn uuids(activities: &[Value]) -> Vec<String> {
    activities
        .iter()
        .map(|a| a["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn three_instances_deliver_every_activity_once_in_commit_order() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let instances = [
        Instance::start(&db, &[]).await,
        Instance::start(&db, &[]).await,
        Instance::start(&db, &[]).await,
    ];
    let mut subscribers = Vec::new();
    for instance in &instances {
        subscribers.push(subscriber(instance, None).await);
    }

    // Logged one after another, round robin: commit order is this order.
    let mut logged = Vec::new();
    for i in 0..60 {
        let via = &instances[i % 3];
        logged.push(via.log(json!({ "action": format!("scale.n{i}") })).await);
    }

    for ws in &mut subscribers {
        let got = receive(ws, 60).await;
        assert_eq!(uuids(&got), uuids(&logged));
        ws.assert_silent(Duration::from_millis(300)).await;
    }
    for instance in instances {
        instance.terminate().await;
    }
    db.remove().await;
}

#[tokio::test]
async fn listener_reconnects_and_fills_the_gap_after_its_connection_is_killed() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let reader = Instance::start(&db, &[("LISTENER_MAX_RECONNECT_DELAY", "200ms")]).await;
    let writer = Instance::start(&db, &[]).await;
    let mut ws = subscriber(&reader, None).await;
    let admin = Database::connect(&db.config.url).await.unwrap();
    let channel = format!("activity_feed_{}", db.config.schema.as_deref().unwrap());

    let mut logged = Vec::new();
    for i in 0..90 {
        if i % 30 == 15 {
            // Cut the reader's listening connection while logging goes on,
            // once it is back from the previous cut.
            let name = listener_application_name(reader.pid(), &channel);
            wait_for_listener(&admin, &name).await;
            let killed = kill_listeners(&admin, &db, &[reader.pid()]).await;
            assert_eq!(killed, 1, "exactly one listener to kill");
        }
        logged.push(writer.log(json!({ "action": format!("scale.n{i}") })).await);
    }

    let got = receive(&mut ws, 90).await;
    assert_eq!(uuids(&got), uuids(&logged));
    ws.assert_silent(Duration::from_millis(500)).await;
    admin.close().await.ok();
    reader.terminate().await;
    writer.terminate().await;
    db.remove().await;
}

#[tokio::test]
async fn restart_loses_nothing_for_retrying_writers_and_resuming_subscribers() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let mut instance = Instance::start(&db, &[]).await;
    let mut ws = subscriber(&instance, None).await;
    let mut delivered: Vec<Value> = Vec::new();
    let total = 40;

    for i in 0..total {
        let input =
            json!({ "action": format!("scale.n{i}"), "idempotencyKey": format!("key-{i}") });
        if i == total / 2 {
            // The writer's request may or may not have landed when it crashed:
            // send it, crash the instance, restart, and retry with the same key.
            let _ = instance.graphql(LOG, json!({ "input": input })).await;
            delivered.extend(drain(&mut ws).await);
            instance.kill().await;
            instance = Instance::start(&db, &[]).await;
            let last = delivered
                .last()
                .map(|a| a["cursor"].as_str().unwrap().to_owned());
            ws = subscriber(&instance, last.as_deref()).await;
        }
        instance.log(input).await;
    }
    while delivered.len() < total {
        delivered.push(ws.next_data().await["activityAdded"].clone());
    }
    ws.assert_silent(Duration::from_millis(300)).await;

    let stored = instance
        .data(
            r#"{ activityFeed(filter: {action: "scale.*"}, last: 500) { edges { node { uuid action } } } }"#,
            json!({}),
        )
        .await;
    let stored: Vec<Value> = stored["activityFeed"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .rev() // the feed is newest first; delivery is oldest first
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(stored.len(), total, "one row per idempotency key");
    assert_eq!(
        uuids(&delivered),
        uuids(&stored),
        "each delivered once, in order"
    );
    let actions: Vec<&str> = delivered
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..total).map(|i| format!("scale.n{i}")).collect();
    assert_eq!(actions, expected);
    instance.terminate().await;
    db.remove().await;
}

/// Waits (up to 30 s) until a backend with `application_name` is connected.
async fn wait_for_listener(admin: &sea_orm::DatabaseConnection, name: &str) {
    let query = format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{name}'");
    for _ in 0..600 {
        let found = admin
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                query.clone(),
            ))
            .await
            .unwrap();
        if !found.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the listener {name} never connected");
}

const LOG: &str = "mutation($input: LogInput!) { log(input: $input) { activity { uuid } } }";

/// Whatever a subscriber has received so far, until it goes quiet or closes.
async fn drain(ws: &mut WsClient) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(msg) = ws.next_json_within(Duration::from_millis(300)).await {
        if msg["type"] == "next" {
            got.push(msg["payload"]["data"]["activityAdded"].clone());
        }
    }
    got
}

#[tokio::test]
async fn a_stalled_subscriber_slows_no_writer_and_is_told_it_lagged() {
    let app = spawn_app_with(|c| {
        c.subscriber_buffer = 64;
        c.limits.max_batch_size = 64;
    })
    .await;
    let total = 500;
    let mut healthy = app.websocket().await;
    app.subscribe_ready(&mut healthy, "1", ADDED, json!({}))
        .await;
    // Asking for the metadata makes each message as large as the row.
    let mut stalled = app.small_buffer_websocket().await;
    let with_metadata =
        r#"subscription { activityAdded(filter: {action: "scale.*"}) { uuid metadata } }"#;
    app.subscribe_ready(&mut stalled, "1", with_metadata, json!({}))
        .await;
    let reader = tokio::spawn(async move { receive(&mut healthy, total).await });

    // ~12 MiB in all, far more than the stalled socket's buffers hold.
    let padding = "x".repeat(24 * 1024);
    for i in 0..total {
        app.log(json!({ "action": format!("scale.n{i}"), "metadata": { "pad": padding } }))
            .await;
    }

    let got = reader.await.unwrap();
    assert_eq!(
        got.iter().map(|a| &a["uuid"]).collect::<HashSet<_>>().len(),
        total
    );

    // The stalled one now reads: some rows, then the lag error, then complete.
    let mut rows = 0;
    let error = loop {
        let msg = stalled.next_json().await.unwrap_or_else(|| {
            panic!("the stalled subscriber hears why it stopped (after {rows} rows)")
        });
        match msg["type"].as_str() {
            Some("next") if msg["payload"].get("errors").is_some() => break msg,
            Some("next") => rows += 1,
            other => panic!("unexpected {other:?}: {msg}"),
        }
    };
    assert!(rows < total, "it cannot have received everything");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"],
        "SUBSCRIBER_LAGGED"
    );
    let complete = stalled.next_json().await.expect("complete after the error");
    assert_eq!(complete["type"], "complete");
    app.stop().await;
}

#[tokio::test]
async fn only_one_instance_prunes_at_a_time() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let feed = open_feed(&db.config, Limits::default(), &StatementCounter::default())
        .await
        .unwrap();
    let lock = RetentionLock::for_database(&db.config);
    // Another instance is pruning: it holds the schema's retention lock.
    let held = AdvisoryLock::try_acquire(&db.config.url, &lock_name("retention", &db.config))
        .await
        .unwrap()
        .expect("nobody holds it yet");

    assert_eq!(run_once(&feed, &lock, 30).await.unwrap(), Outcome::Skipped);
    held.release().await;
    assert_eq!(
        run_once(&feed, &lock, 30).await.unwrap(),
        Outcome::Pruned(0)
    );
    db.remove().await;
}

#[tokio::test]
async fn concurrent_writers_on_two_instances_reach_every_subscriber_exactly_once() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let instances = [
        Instance::start(&db, &[]).await,
        Instance::start(&db, &[]).await,
    ];
    let mut subscribers = Vec::new();
    for instance in &instances {
        subscribers.push(subscriber(instance, None).await);
    }

    // 8 writers on each instance at once, so the notifiers send batches.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let client = instances[w % 2].client.clone();
        writers.spawn(async move {
            let mut uuids = Vec::new();
            for i in 0..15 {
                let row = client
                    .log(json!({ "action": format!("scale.w{w}.n{i}") }))
                    .await;
                uuids.push(row["uuid"].as_str().unwrap().to_owned());
            }
            uuids
        });
    }
    let mut logged = HashSet::new();
    while let Some(uuids) = writers.join_next().await {
        logged.extend(uuids.unwrap());
    }

    assert_eq!(logged.len(), 16 * 15);
    for ws in &mut subscribers {
        let got = uuids(&receive(ws, logged.len()).await);
        let distinct: HashSet<String> = got.iter().cloned().collect();
        assert_eq!(distinct.len(), got.len(), "a row delivered twice");
        assert_eq!(distinct, logged);
        ws.assert_silent(Duration::from_millis(300)).await;
    }
    for instance in instances {
        instance.terminate().await;
    }
    db.remove().await;
}

#[tokio::test]
async fn a_graceful_shutdown_sends_the_rows_its_last_writes_committed() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let writer = Instance::start(&db, &[]).await;
    let reader = Instance::start(&db, &[]).await;
    let mut ws = subscriber(&reader, None).await;
    // A write that is still in its INSERT when the shutdown begins, so it
    // commits (and queues its notification) after the shutdown signal.
    db.execute(
        "",
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.action = 'scale.slow' THEN PERFORM pg_sleep(0.7); END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER slow_insert BEFORE INSERT ON activities \
           FOR EACH ROW EXECUTE FUNCTION slow_insert()",
    )
    .await;
    let client = writer.client.clone();
    let slow = tokio::spawn(async move {
        client
            .graphql(LOG, json!({ "input": { "action": "scale.slow" } }))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Logged, then the signal at once: its notification may still be queued.
    let quick = writer.log(json!({ "action": "scale.quick" })).await;
    writer.terminate().await;

    let slow = slow.await.unwrap();
    let slow_uuid = slow["data"]["log"]["activity"]["uuid"].clone();
    assert!(
        slow_uuid.is_string(),
        "the in-flight write finished: {slow}"
    );
    // In position order: the slow write took its position (its transaction
    // id) first, so it comes first although it committed last.
    let got = receive(&mut ws, 2).await;
    assert_eq!(
        got.iter().map(|a| a["uuid"].clone()).collect::<Vec<_>>(),
        [slow_uuid, quick["uuid"].clone()]
    );
    ws.assert_silent(Duration::from_millis(300)).await;
    reader.terminate().await;
    db.remove().await;
}

#[tokio::test]
async fn the_notifier_retries_after_its_connection_is_killed_and_says_so() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let writer = Instance::start(&db, &[]).await;
    let reader = Instance::start(&db, &[]).await;
    let mut ws = subscriber(&reader, None).await;
    let admin = Database::connect(&db.config.url).await.unwrap();
    let channel = format!("activity_feed_{}", db.config.schema.as_deref().unwrap());
    let name = notifier_application_name(writer.pid(), &channel);
    wait_for_listener(&admin, &name).await;

    let killed = admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE application_name = '{name}'"
        ))
        .await
        .unwrap();
    assert_eq!(killed.rows_affected(), 1, "exactly one notifier to kill");
    let mut logged = Vec::new();
    for i in 0..5 {
        logged.push(writer.log(json!({ "action": format!("scale.n{i}") })).await);
    }

    let got = receive(&mut ws, 5).await;
    assert_eq!(uuids(&got), uuids(&logged));
    ws.assert_silent(Duration::from_millis(300)).await;
    let metrics = writer.metrics().await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(value("activity_feed_notify_failures_total") >= 1.0);
    assert_eq!(value("activity_feed_notify_dropped_total"), 0.0);
    assert_eq!(value("activity_feed_events_unsent"), 0.0);
    let ready = writer.http.get(writer.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "healthy again once a send went through"
    );
    admin.close().await.ok();
    writer.terminate().await;
    reader.terminate().await;
    db.remove().await;
}
