//! Positions attacked: rows that commit after later ones, a batch racing
//! singles, a transaction that stays open, a listener killed before it heard
//! anything, subscribers that resume from every cursor they were given.
//! What a subscriber receives is checked against the table's own position
//! order, `ORDER BY txid, seq`.

use std::time::Duration;

use base64::Engine;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{kill_listeners, spawn_app, spawn_app_on, Client, TestDb, WsClient};
use crate::instances::Instance;
use crate::private_pg::Private;

/// Every `race.*` activity, with what resuming needs.
pub const RACE: &str = r#"subscription($after: String) {
    activityAdded(filter: {action: "race.*"}, after: $after) { uuid action cursor }
}"#;

/// A live `race.*` subscriber on `client`, delivering once this returns.
pub async fn racer(client: &Client) -> WsClient {
    let mut ws = client.websocket().await;
    client
        .subscribe_ready(&mut ws, "1", RACE, json!({ "after": null }))
        .await;
    ws
}

/// The next `n` activities of a subscription.
pub async fn receive(ws: &mut WsClient, n: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.push(ws.next_data().await["activityAdded"].clone());
    }
    got
}

/// The uuids of activities, in order.
pub fn uuids(activities: &[Value]) -> Vec<String> {
    activities
        .iter()
        .map(|a| a["uuid"].as_str().expect("a uuid").to_owned())
        .collect()
}

/// The uuids of the stored activities whose action is LIKE `pattern`, in
/// position order: what live delivery must follow.
pub async fn table_order(conn: &DatabaseConnection, pattern: &str) -> Vec<String> {
    let sql =
        format!("SELECT uuid FROM activities WHERE action LIKE '{pattern}' ORDER BY txid, seq");
    conn.query_all_raw(sea_orm::Statement::from_string(
        conn.get_database_backend(),
        sql,
    ))
    .await
    .expect("read positions")
    .iter()
    .map(|r| r.try_get_by_index::<Uuid>(0).expect("a uuid").to_string())
    .collect()
}

/// Asserts that resuming after `got[k]`'s cursor gives exactly `got[k + 1..]`,
/// for each `k` of `at`.
async fn assert_resumes_exactly(client: &Client, got: &[Value], at: &[usize]) {
    for &k in at {
        let mut ws = client.websocket().await;
        ws.subscribe("r", RACE, json!({ "after": got[k]["cursor"] }))
            .await;
        let rest = receive(&mut ws, got.len() - k - 1).await;
        assert_eq!(uuids(&rest), uuids(&got[k + 1..]), "resumed after #{k}");
        ws.assert_silent(Duration::from_millis(300)).await;
    }
}

const LOG: &str =
    "mutation($i: LogInput!) { log(input: $i) { activity { uuid action cursor } errors { message } } }";

/// Logs `action` through `client` and returns the activity with its cursor.
async fn log(client: &Client, action: &str) -> Value {
    let data = client.data(LOG, json!({ "i": { "action": action } })).await;
    assert_eq!(data["log"]["errors"], json!([]), "{data}");
    data["log"]["activity"].clone()
}
const LOG_BATCH: &str =
    "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid } errors { message } } }";

#[tokio::test]
async fn a_batch_racing_singles_is_delivered_in_position_order_and_every_cursor_resumes_exactly() {
    // Arrange: the reported race. A batch of 1,000 entries with 3 KB of
    // metadata each; 5 ms later a second client logs singles for as long.
    let app = spawn_app().await;
    let mut ws = racer(&app).await;
    let filler = "x".repeat(3000);
    let inputs: Vec<Value> = (0..1000)
        .map(|i| json!({ "action": "race.batch", "metadata": { "i": i, "filler": filler } }))
        .collect();
    let client = app.client.clone();
    let batch =
        tokio::spawn(async move { client.graphql(LOG_BATCH, json!({ "i": inputs })).await });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut singles = 0;
    while !batch.is_finished() && singles < 300 {
        app.graphql(LOG, json!({ "i": { "action": "race.single" } }))
            .await;
        singles += 1;
    }
    let batch = batch.await.unwrap();
    assert!(batch["errors"].is_null(), "{batch}");

    // Act: everything arrives.
    let conn = app.db.connect().await;
    let expected = table_order(&conn, "race.%").await;
    assert_eq!(expected.len(), 1000 + singles);
    let got = receive(&mut ws, expected.len()).await;

    // Assert: in position order, once each; and resuming from the last
    // single before the first batch row, from the batch's middle and from
    // the end gives exactly what followed.
    assert_eq!(uuids(&got), expected);
    ws.assert_silent(Duration::from_millis(300)).await;
    let first_batch = got
        .iter()
        .position(|a| a["action"] == "race.batch")
        .unwrap();
    let mut at = vec![first_batch.saturating_sub(1), first_batch + 500];
    if let Some(last_single) = got.iter().rposition(|a| a["action"] == "race.single") {
        at.push(last_single.min(got.len() - 1));
    }
    at.push(got.len() - 1);
    assert_resumes_exactly(&app, &got, &at).await;
    app.stop().await;
}

/// A connection with an open transaction that inserted one `race.slow` row:
/// stamped (and positioned) now, committed when the test says.
async fn open_slow_write(conn: &DatabaseConnection) -> (sea_orm::DatabaseTransaction, String) {
    let txn = conn.begin().await.expect("begin");
    let uuid = Uuid::now_v7();
    txn.execute_unprepared(&format!(
        "INSERT INTO activities (uuid, action, metadata, inserted_at) \
         VALUES ('{uuid}', 'race.slow', '{{}}', now())"
    ))
    .await
    .expect("insert the slow row");
    (txn, uuid.to_string())
}

/// The held-open race on `reader` (subscribers, lists) and `writer` (logs).
async fn a_write_held_open(db: &TestDb, reader: &Client, writer: &Client) {
    // Arrange: a subscriber, then a transaction that takes its position and
    // stays open while three later writes commit.
    let mut ws = racer(reader).await;
    let conn = db.connect().await;
    let (slow, slow_uuid) = open_slow_write(&conn).await;
    let mut singles = Vec::new();
    for i in 0..3 {
        singles.push(log(writer, &format!("race.s{i}")).await);
    }
    let listed = reader
        .data(
            r#"{ activityFeed(filter: {action: "race.*"}, first: 10) { edges { node { uuid cursor } } } }"#,
            json!({}),
        )
        .await;
    let newest = listed["activityFeed"]["edges"][0]["node"].clone();
    assert_eq!(newest["uuid"], singles[2]["uuid"], "{listed}");

    // Act: the later rows wait for the open transaction; then it commits.
    ws.assert_silent(Duration::from_millis(500)).await;
    slow.commit().await.expect("commit the slow row");
    let got = receive(&mut ws, 4).await;

    // Assert: position order (the slow row first), once each, and every
    // cursor resumes exactly; the list's cursor never skips the slow row.
    let expected = table_order(&conn, "race.%").await;
    assert_eq!(expected[0], slow_uuid);
    assert_eq!(uuids(&got), expected);
    ws.assert_silent(Duration::from_millis(300)).await;
    assert_resumes_exactly(reader, &got, &[0, 1, 2, 3]).await;
    let mut resumed = reader.websocket().await;
    resumed
        .subscribe("r", RACE, json!({ "after": newest["cursor"] }))
        .await;
    let mut after_list = Vec::new();
    while let Some(msg) = resumed.next_json_within(Duration::from_millis(700)).await {
        after_list.push(msg["payload"]["data"]["activityAdded"]["uuid"].clone());
    }
    assert!(
        after_list.contains(&json!(slow_uuid)),
        "resuming from a listed cursor skipped the row committed later: {after_list:?}"
    );
    let mut distinct = after_list.clone();
    distinct.dedup();
    assert_eq!(distinct, after_list, "a resume delivered a row twice");
    conn.close().await.ok();
}

#[tokio::test]
async fn a_row_that_commits_after_later_ones_is_delivered_first_and_never_skipped_on_one_instance()
{
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        // SQLite has one writer at a time: a write cannot be held open while
        // later ones commit, so there is nothing to race.
        return;
    }
    let app = spawn_app_on(db, |_| {}).await;
    a_write_held_open(&app.db, &app, &app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_row_that_commits_after_later_ones_is_delivered_first_and_never_skipped_across_instances()
{
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    let reader = Instance::start(&db, &[]).await;
    let writer = Instance::start(&db, &[]).await;
    a_write_held_open(&db, &reader, &writer).await;
    reader.terminate().await;
    writer.terminate().await;
    db.remove().await;
}

/// `url` with its database replaced by `database`.
fn in_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[tokio::test]
async fn a_transaction_open_in_another_database_of_the_cluster_holds_no_row_back() {
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    let elsewhere = sea_orm::Database::connect(in_database(&db.config.url, "postgres"))
        .await
        .expect("connect to the cluster's postgres database");
    let app = spawn_app_on(db, |_| {}).await;
    let mut ws = racer(&app).await;

    // Arrange: a transaction with an id, older than the next write's, open
    // in another database: transaction ids and snapshots span the cluster.
    let open = elsewhere.begin().await.expect("begin");
    open.execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .expect("take a transaction id");

    // Act
    let logged = log(&app, "race.elsewhere").await;

    // Assert: delivered while that transaction is still open; it could not
    // have written to this database, so nothing waits for it.
    let got = ws.next_json_within(Duration::from_secs(10)).await;
    open.rollback().await.expect("rollback");
    let got = got.expect("the row waited for another database's transaction");
    assert_eq!(
        got["payload"]["data"]["activityAdded"]["uuid"],
        logged["uuid"]
    );
    elsewhere.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn a_bookkeeping_transaction_held_open_holds_no_row_back_and_an_undeclared_one_does() {
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    let app = spawn_app_on(db, |_| {}).await;
    let mut ws = racer(&app).await;
    let conn = app.db.connect().await;

    // Arrange: a transaction of this database with an id older than the
    // next write's, declared bookkeeping (it will insert no activity).
    let bookkeeping = conn.begin().await.expect("begin");
    bookkeeping
        .execute_unprepared(activity_feed::service::position::BOOKKEEPING_SQL)
        .await
        .expect("declare it");
    bookkeeping
        .execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .expect("take a transaction id");

    // Act
    let logged = log(&app, "race.bookkept").await;

    // Assert: delivered while it is open.
    let got = ws.next_json_within(Duration::from_secs(10)).await;
    bookkeeping.rollback().await.expect("rollback");
    let got = got.expect("the row waited for a bookkeeping transaction");
    assert_eq!(
        got["payload"]["data"]["activityAdded"]["uuid"],
        logged["uuid"]
    );

    // The same without the declaration holds the next row back until it ends.
    let undeclared = conn.begin().await.expect("begin");
    undeclared
        .execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .expect("take a transaction id");
    let held = log(&app, "race.held").await;
    ws.assert_silent(Duration::from_millis(500)).await;
    undeclared.rollback().await.expect("rollback");
    let got = ws.next_json().await.expect("delivered once it ended");
    assert_eq!(
        got["payload"]["data"]["activityAdded"]["uuid"],
        held["uuid"]
    );
    conn.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn a_transaction_that_commits_30_s_after_its_row_was_stamped_is_delivered_live_and_on_resume()
{
    // On a cluster of its own: the open transaction holds back live
    // delivery server-wide for 30 s, which would stall every other test.
    let Some(private) = Private::take("positions::thirty_seconds").await else {
        return;
    };
    let db = &private.db;
    // Arrange: two instances; the reader's listener is cut while the slow
    // transaction is open, so its rows also cross a reconnect.
    let reader = Instance::start(db, &[("LISTENER_MAX_RECONNECT_DELAY", "200ms")]).await;
    let writer = Instance::start(db, &[]).await;
    let mut ws = racer(&reader).await;
    let before = log(&writer, "race.before").await;
    assert_eq!(
        ws.next_data().await["activityAdded"]["uuid"],
        before["uuid"]
    );
    let conn = db.connect().await;
    let (slow, slow_uuid) = open_slow_write(&conn).await;
    let later = log(&writer, "race.later").await;

    // Act: 30 s pass, the reader's listener is killed meanwhile, then commit.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(kill_listeners(&conn, db, &[reader.pid()]).await, 1);
    tokio::time::sleep(Duration::from_secs(15)).await;
    ws.assert_silent(Duration::from_millis(100)).await;
    slow.commit().await.unwrap();

    // Assert: live, the slow row then the later one; resumed from before
    // them, the same.
    let got = receive(&mut ws, 2).await;
    assert_eq!(
        uuids(&got),
        [
            slow_uuid.clone(),
            later["uuid"].as_str().unwrap().to_owned()
        ]
    );
    let mut resumed = reader.websocket().await;
    resumed
        .subscribe("r", RACE, json!({ "after": before["cursor"] }))
        .await;
    assert_eq!(uuids(&receive(&mut resumed, 2).await), uuids(&got));
    resumed.assert_silent(Duration::from_millis(300)).await;
    conn.close().await.ok();
    reader.terminate().await;
    writer.terminate().await;
    db.remove().await;
}

#[tokio::test]
async fn a_listener_killed_before_any_notification_loses_nothing_committed_meanwhile() {
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    for run in 0..3 {
        // Arrange: fresh instances; the reader's subscriber is live before
        // anything is logged anywhere (no probe rows), then its listener dies.
        let reader = Instance::start(&db, &[("LISTENER_MAX_RECONNECT_DELAY", "200ms")]).await;
        let writer = Instance::start(&db, &[]).await;
        let mut ws = reader.websocket().await;
        let action = format!("first{run}.*");
        ws.subscribe(
            "1",
            "subscription($f: ActivityFilter) { activityAdded(filter: $f) { uuid } }",
            json!({ "f": { "action": action } }),
        )
        .await;
        wait_for_subscription(&reader).await;
        let conn = db.connect().await;
        assert_eq!(kill_listeners(&conn, &db, &[reader.pid()]).await, 1);

        // Act: 30 activities through the other instance, at once.
        let logs = (0..30).map(|i| {
            let writer = writer.client.clone();
            let action = format!("first{run}.n{i}");
            async move { log(&writer, &action).await }
        });
        futures_util::future::join_all(logs).await;

        // Assert: all 30, in position order.
        let expected = table_order(&conn, &format!("first{run}.%")).await;
        assert_eq!(expected.len(), 30);
        let mut got = Vec::new();
        for _ in 0..30 {
            got.push(ws.next_data().await["activityAdded"].clone());
        }
        assert_eq!(uuids(&got), expected, "run {run}");
        ws.assert_silent(Duration::from_millis(300)).await;
        conn.close().await.ok();
        reader.terminate().await;
        writer.terminate().await;
    }
    db.remove().await;
}

/// Waits until `client`'s server counts one active subscription.
async fn wait_for_subscription(client: &Client) {
    for _ in 0..200 {
        let metrics = client.metrics().await;
        if metrics
            .lines()
            .any(|l| l == "activity_feed_subscriptions_active 1")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the subscription never became active");
}

#[tokio::test]
async fn a_cursor_from_before_positions_resumes_while_its_activity_exists_and_is_refused_clearly_after(
) {
    // Arrange: three activities, and the old `micros:uuid` form of the
    // first one's cursor (what `Activity.cursor` gave before positions).
    let app = spawn_app().await;
    let logged: Vec<Value> = futures_util::future::join_all((0..3).map(|i| {
        let client = app.client.clone();
        async move {
            client
                .log(json!({ "action": format!("race.old{i}") }))
                .await
        }
    }))
    .await;
    let conn = app.db.connect().await;
    let order = table_order(&conn, "race.%").await;
    let first = logged
        .iter()
        .find(|a| a["uuid"] == json!(order[0]))
        .unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(first["insertedAt"].as_str().unwrap()).unwrap();
    let uuid = Uuid::parse_str(first["uuid"].as_str().unwrap()).unwrap();
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        at.timestamp_micros(),
        uuid.simple()
    ));

    // Act and assert: it resumes after that activity.
    let mut ws = app.websocket().await;
    ws.subscribe("r", RACE, json!({ "after": old })).await;
    assert_eq!(uuids(&receive(&mut ws, 2).await), order[1..]);
    ws.assert_silent(Duration::from_millis(300)).await;

    // Once its activity is gone, it cannot be placed: a clear refusal.
    app.db
        .execute(
            &format!(
                "DELETE FROM activities WHERE action = '{}'",
                first["action"].as_str().unwrap()
            ),
            &format!(
                "DELETE FROM activities WHERE action = '{}'",
                first["action"].as_str().unwrap()
            ),
        )
        .await;
    let mut ws = app.websocket().await;
    ws.subscribe("r", RACE, json!({ "after": old })).await;
    let refused = ws.next_json().await.expect("an answer");
    let error = &refused["payload"]["errors"][0];
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("without `after`"),
        "{refused}"
    );
    conn.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn the_migration_gives_existing_rows_positions_in_their_old_cursor_order_and_new_rows_come_after(
) {
    // Arrange: the schema as it was before positions, and rows written then,
    // out of time order, two of them at the same instant.
    let db = TestDb::new().await;
    let conn = db.connect().await;
    Migrator::up(&conn, Some(4))
        .await
        .expect("migrations before positions");
    let rows = [
        (
            "00000000-0000-7000-8000-000000000003",
            "2026-03-01T10:00:00.000002Z",
        ),
        (
            "00000000-0000-7000-8000-000000000001",
            "2026-03-01T10:00:00.000003Z",
        ),
        (
            "00000000-0000-7000-8000-000000000009",
            "2026-03-01T10:00:00.000001Z",
        ),
        (
            "00000000-0000-7000-8000-000000000002",
            "2026-03-01T10:00:00.000003Z",
        ),
    ];
    for (uuid, at) in rows {
        let sql = |uuid_sql: &str, at_sql: &str| {
            format!(
                "INSERT INTO activities (uuid, action, metadata, inserted_at) \
                 VALUES ({uuid_sql}, 'race.old', '{{}}', {at_sql})"
            )
        };
        let hex = uuid.replace('-', "");
        db.execute(
            &sql(
                &format!("X'{hex}'"),
                &format!("'{}'", at.replace('T', " ").replace('Z', "+00:00")),
            ),
            &sql(&format!("'{uuid}'"), &format!("'{at}'")),
        )
        .await;
    }

    // Act: the rest of the migrations, then a write through the server.
    Migrator::up(&conn, None)
        .await
        .expect("the positions migration");
    let app = spawn_app_on(db, |_| {}).await;
    let new = log(&app, "race.new").await;

    // Assert: the old rows in (inserted_at, uuid) order, then the new one.
    assert_eq!(
        table_order(&conn, "race.%").await,
        [
            "00000000-0000-7000-8000-000000000009",
            "00000000-0000-7000-8000-000000000003",
            "00000000-0000-7000-8000-000000000001",
            "00000000-0000-7000-8000-000000000002",
            new["uuid"].as_str().unwrap(),
        ]
    );
    conn.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn a_forged_notification_delivers_nothing_that_was_not_committed() {
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    // Arrange: a subscriber, and a database role that may NOTIFY.
    let app = spawn_app_on(db, |_| {}).await;
    let mut ws = racer(&app).await;
    let conn = app.db.connect().await;
    let channel = format!("activity_feed_{}", app.db.config.schema.as_deref().unwrap());
    let forged = json!({
        "uuid": Uuid::now_v7(), "action": "race.forged", "module": null, "mode": null,
        "actor_uuid": null, "resource_type": null, "resource_uuid": null, "target_uuid": null,
        "metadata": { "password": "not redacted" }, "inserted_at": "2026-12-05T00:00:00Z",
        "idempotency_key": null, "correlation_id": null, "client_ip": null, "user_agent": null,
        "txid": 1, "seq": 1, "idempotency_scope": null
    });

    // Act: forged payloads on the channel, a row as the old payload had it
    // and an id, then one real activity.
    for payload in [
        forged.to_string(),
        json!({ "uuid": forged["uuid"] }).to_string(),
    ] {
        conn.execute_unprepared(&format!(
            "SELECT pg_notify('{channel}', '{}')",
            payload.replace('\'', "''")
        ))
        .await
        .unwrap();
    }
    let real = log(&app, "race.real").await;

    // Assert: only the real one.
    assert_eq!(ws.next_data().await["activityAdded"]["uuid"], real["uuid"]);
    ws.assert_silent(Duration::from_millis(500)).await;
    conn.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn a_log_returns_only_once_its_row_is_handed_to_this_instances_subscribers() {
    // Arrange: a server with no write yet. On PostgreSQL, on the private
    // cluster: any transaction open in the shared test database (another
    // test's prune or erasure) holds release back for every schema in it,
    // and this test counts exactly what was released.
    let mut db = TestDb::new().await;
    // Held to the end: the cluster's turn, one private test at a time.
    let mut _turn = None;
    if db.is_postgres() {
        db.remove().await;
        let Some(taken) = Private::take("positions::log_returns_once_published").await else {
            return;
        };
        db = TestDb::postgres_at(taken.db.config.url.clone()).await;
        _turn = Some(taken);
    }
    let app = spawn_app_on(db, |_| {}).await;
    let published = |metrics: String| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with("activity_feed_events_published_total "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("the published counter")
    };

    // Act and assert: after each log returns, its row has been published,
    // with no waiting on the test's side.
    for n in 1..=20 {
        log(&app, &format!("race.w{n}")).await;
        assert_eq!(
            published(app.metrics().await),
            f64::from(n),
            "after log {n}"
        );
    }
    app.stop().await;
}
