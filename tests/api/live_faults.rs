//! Live delivery under faults: PostgreSQL restarting under load, and a chaos
//! loop of killed listener connections and subscribers that drop and resume.
//! Each subscriber's whole stream, across its resumes, must be the table's
//! matching rows in position order: nothing missing, nothing twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{kill_listeners, Client, TestDb, WsClient};
use crate::instances::Instance;
use crate::positions::table_order;
use crate::private_pg::Private;

const FOLLOW: &str = r#"subscription($f: ActivityFilter, $after: String) {
    activityAdded(filter: $f, after: $after) { uuid cursor }
}"#;

const LOG: &str =
    "mutation($i: LogInput!) { log(input: $i) { activity { uuid } errors { message } } }";

/// A subscriber that keeps what it received and resumes after the last of it.
struct Follower {
    filter: Value,
    ws: Option<WsClient>,
    received: Vec<String>,
    cursor: Option<Value>,
    resumes: usize,
}

impl Follower {
    /// Subscribes on `client` to what follows `fence` (the cursor of an
    /// activity logged before anything the test checks), so that even a
    /// resume before the first delivery has a cursor to resume from.
    async fn start(client: &Client, filter: Value, fence: &Value) -> Self {
        let mut ws = client.websocket().await;
        ws.subscribe("f", FOLLOW, json!({ "f": filter, "after": fence }))
            .await;
        Self {
            filter,
            ws: Some(ws),
            received: Vec::new(),
            cursor: Some(fence.clone()),
            resumes: 0,
        }
    }

    /// Reads what arrives within `wait`; false when nothing did. An error
    /// or a closed socket drops the socket, to be resumed.
    async fn read(&mut self, wait: Duration) -> bool {
        let Some(ws) = &mut self.ws else {
            return false;
        };
        match ws.next_or_end(wait).await {
            Ok(None) => false,
            Ok(Some(msg)) if msg["type"] == "next" && msg["payload"].get("errors").is_none() => {
                let added = &msg["payload"]["data"]["activityAdded"];
                self.received
                    .push(added["uuid"].as_str().expect("a uuid").to_owned());
                self.cursor = Some(added["cursor"].clone());
                true
            }
            Ok(Some(msg)) => {
                // An error (the database was away): resume from the cursor.
                eprintln!("follower resumes after: {msg}");
                self.ws = None;
                true
            }
            Err(code) => {
                eprintln!("follower's socket closed ({code:?}); resuming");
                self.ws = None;
                true
            }
        }
    }

    /// Drops the socket (as a client whose network cut would) and resumes
    /// on `client` after the last activity received.
    async fn resume(&mut self, client: &Client) {
        self.ws = None;
        let mut ws = client.websocket().await;
        ws.subscribe(
            "f",
            FOLLOW,
            json!({ "f": self.filter, "after": self.cursor }),
        )
        .await;
        self.ws = Some(ws);
        self.resumes += 1;
    }

    /// Reads until nothing more arrives for `quiet`, resuming on `client`
    /// whenever the socket ends.
    async fn drain(&mut self, client: &Client, quiet: Duration) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ws.is_none() {
                self.resume(client).await;
            }
            if !self.read(quiet).await {
                return;
            }
        }
        panic!("a follower never went quiet");
    }

    /// Asserts the whole stream is `expected`: in order, once each.
    fn assert_received(&self, expected: &[String], name: &str) {
        let distinct: HashSet<&String> = self.received.iter().collect();
        assert_eq!(
            distinct.len(),
            self.received.len(),
            "{name}: a row arrived twice"
        );
        assert_eq!(
            self.received.len(),
            expected.len(),
            "{name}: {} received, {} expected",
            self.received.len(),
            expected.len()
        );
        assert_eq!(self.received, expected, "{name}: out of position order");
    }
}

/// Logs an activity no follower's filter matches and returns its cursor:
/// where every follower starts.
async fn fence(client: &Client) -> Value {
    let data = client
        .data(
            "mutation { log(input: {action: \"fence.start\"}) { activity { cursor } } }",
            json!({}),
        )
        .await;
    data["log"]["activity"]["cursor"].clone()
}

/// Logs `action` with `actor` every `every` until `stop` is cancelled;
/// returns the uuids the server acknowledged (writes that failed are not),
/// each with when its answer arrived.
fn writer(
    client: Client,
    prefix: String,
    actor: &'static str,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<Vec<(String, Instant)>> {
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut n = 0;
        while !stop.is_cancelled() {
            let input = json!({ "action": format!("{prefix}.n{n}"), "actorUuid": actor });
            n += 1;
            let Ok(response) = client
                .http
                .post(client.url("/graphql"))
                .json(&json!({ "query": LOG, "variables": { "i": input } }))
                .timeout(Duration::from_secs(10))
                .send()
                .await
            else {
                continue;
            };
            let Ok(body) = response.json::<Value>().await else {
                continue;
            };
            if let Some(uuid) = body["data"]["log"]["activity"]["uuid"].as_str() {
                acknowledged.push((uuid.to_owned(), Instant::now()));
            }
            tokio::time::sleep(every).await;
        }
        acknowledged
    })
}

#[tokio::test]
async fn postgresql_restarting_under_load_loses_no_acknowledged_activity() {
    let Some(private) = Private::take("live_faults::postgresql_restart").await else {
        return;
    };
    // Arrange: two instances, a subscriber on each, four writers at 20/s.
    let env = [("LISTENER_MAX_RECONNECT_DELAY", "200ms")];
    let a = Instance::start(&private.db, &env).await;
    let b = Instance::start(&private.db, &env).await;
    let all = json!({ "action": "restart.*" });
    let fence = fence(&a).await;
    let mut followers = [
        Follower::start(&a, all.clone(), &fence).await,
        Follower::start(&b, all.clone(), &fence).await,
    ];
    let stop = CancellationToken::new();
    let writers: Vec<_> = [
        (&a, "restart.a1", ACTORS[0]),
        (&a, "restart.a2", ACTORS[1]),
        (&b, "restart.b1", ACTORS[0]),
        (&b, "restart.b2", ACTORS[1]),
    ]
    .into_iter()
    .map(|(via, prefix, actor)| {
        writer(
            via.client.clone(),
            prefix.into(),
            actor,
            Duration::from_millis(50),
            stop.clone(),
        )
    })
    .collect();

    // Act: restart PostgreSQL while they write and the subscribers read,
    // and let them write on until the pools have reconnected. A fixed time
    // would let a slow machine end the writes before the restart is over,
    // and the test would pass without writes on both sides of it.
    let conn = private.db.connect().await;
    let reading = Instant::now() + Duration::from_millis(1500);
    let enough = Instant::now() + Duration::from_secs(30);
    while Instant::now() < reading
        || (Instant::now() < enough && table_order(&conn, "restart.%").await.len() < 40)
    {
        for f in &mut followers {
            f.read(Duration::from_millis(20)).await;
        }
    }
    conn.close().await.ok();
    let restart_began = Instant::now();
    private.restart().await;
    let restarted = Instant::now();
    let conn = private.db.connect().await;
    let written_then = table_order(&conn, "restart.%").await.len();
    let after_restart = Instant::now() + Duration::from_secs(30);
    while Instant::now() < after_restart
        && table_order(&conn, "restart.%").await.len() < written_then + 40
    {
        for f in &mut followers {
            f.read(Duration::from_millis(20)).await;
        }
    }
    stop.cancel();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    for (f, via) in followers.iter_mut().zip([&a, &b]) {
        f.drain(via, Duration::from_secs(3)).await;
    }

    // Assert: every acknowledged activity reached both subscribers, in
    // position order, once each.
    let expected = table_order(&conn, "restart.%").await;
    let before = acknowledged
        .iter()
        .filter(|(_, at)| *at < restart_began)
        .count();
    let after = acknowledged
        .iter()
        .filter(|(_, at)| *at > restarted)
        .count();
    assert!(
        before >= 10 && after >= 10,
        "{before} writes acknowledged before the restart and {after} after it"
    );
    for (uuid, _) in &acknowledged {
        assert!(
            expected.contains(uuid),
            "acknowledged {uuid} is not in the table"
        );
    }
    for (i, f) in followers.iter().enumerate() {
        f.assert_received(&expected, &format!("subscriber {i}"));
    }
    conn.close().await.ok();
    a.terminate().await;
    b.terminate().await;
    private.db.remove().await;
}

/// The actors the writers take turns with, so a filter can pick one.
const ACTORS: [&str; 2] = [
    "0190c2a0-0000-7000-8000-00000000000a",
    "0190c2a0-0000-7000-8000-00000000000b",
];

#[tokio::test]
async fn a_chaos_loop_of_killed_listeners_and_resuming_subscribers_delivers_exactly_once_in_order()
{
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        // Several instances need PostgreSQL.
        return;
    }
    // Arrange: two instances, six subscribers with different filters split
    // between them, and four writers, two per instance.
    let env = [("LISTENER_MAX_RECONNECT_DELAY", "100ms")];
    let instances = [
        Instance::start(&db, &env).await,
        Instance::start(&db, &env).await,
    ];
    let filters = [
        json!({ "action": "chaos.*" }),
        json!({ "action": "chaos.a.*" }),
        json!({ "action": "chaos.b.*" }),
        json!({ "action": "chaos.*", "actorUuid": ACTORS[0] }),
        json!({ "action": "chaos.*", "actorUuid": ACTORS[1] }),
        json!({ "action": "chaos.a.*", "actorUuid": ACTORS[1] }),
    ];
    let fence = fence(&instances[0]).await;
    let mut followers = Vec::new();
    for (i, filter) in filters.iter().enumerate() {
        followers.push(Follower::start(&instances[i % 2], filter.clone(), &fence).await);
    }
    let until = Instant::now() + Duration::from_secs(4);
    let stop = CancellationToken::new();
    let mut writers = Vec::new();
    for (i, instance) in instances.iter().enumerate() {
        for (j, side) in ["a", "b"].iter().enumerate() {
            writers.push(writer(
                instance.client.clone(),
                format!("chaos.{side}.w{i}"),
                ACTORS[(i + j) % 2],
                Duration::from_millis(10),
                stop.clone(),
            ));
        }
    }
    let admin = db.connect().await;
    let pids: Vec<u32> = instances.iter().map(Instance::pid).collect();

    // Act: while they write, kill the listeners every 150 ms and make
    // subscribers drop their sockets and resume, on either instance, at random.
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261205);
    let mut kills = 0;
    let mut next_resume: Vec<Instant> = followers
        .iter()
        .map(|_| Instant::now() + Duration::from_millis(rng.random_range(100..400)))
        .collect();
    let mut next_kill = Instant::now();
    while Instant::now() < until {
        if Instant::now() >= next_kill {
            kills += kill_listeners(&admin, &db, &pids).await;
            next_kill = Instant::now() + Duration::from_millis(150);
        }
        for (f, at) in followers.iter_mut().zip(next_resume.iter_mut()) {
            if Instant::now() >= *at {
                f.resume(&instances[rng.random_range(0..2)]).await;
                *at = Instant::now() + Duration::from_millis(rng.random_range(150..600));
            } else {
                f.read(Duration::from_millis(5)).await;
            }
        }
    }
    stop.cancel();
    for w in writers {
        w.await.unwrap();
    }
    for (i, f) in followers.iter_mut().enumerate() {
        f.drain(&instances[i % 2], Duration::from_secs(2)).await;
    }

    // Assert: each subscriber's stream is its filter's rows, in position order, once each.
    assert!(kills >= 10, "only {kills} listener connections were killed");
    let expected_for = |filter: &Value| {
        let mut sql = "SELECT uuid FROM activities WHERE action LIKE ".to_owned();
        let action = filter["action"].as_str().unwrap().trim_end_matches('*');
        sql.push_str(&format!("'{action}%'"));
        if let Some(actor) = filter["actorUuid"].as_str() {
            sql.push_str(&format!(" AND actor_uuid = '{actor}'"));
        }
        sql + " ORDER BY txid, seq"
    };
    for (i, f) in followers.iter().enumerate() {
        let rows = admin
            .query_all_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                expected_for(&f.filter),
            ))
            .await
            .unwrap();
        let expected: Vec<String> = rows
            .iter()
            .map(|r| r.try_get_by_index::<uuid::Uuid>(0).unwrap().to_string())
            .collect();
        assert!(!expected.is_empty());
        assert!(f.resumes > 0, "subscriber {i} never resumed");
        f.assert_received(&expected, &format!("subscriber {i} ({})", f.filter));
    }
    admin.close().await.ok();
    for instance in instances {
        instance.terminate().await;
    }
    db.remove().await;
}
