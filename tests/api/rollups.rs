//! Rollups: totals, grouped counts and distinct lists answered from counts
//! kept per hour instead of a scan, and exact whatever happened before the
//! read — logs, batches, history, prune, the retention job, a folder that
//! has or has not caught up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use activity_feed::bus::memory::LocalBus;
use activity_feed::retention::{self, RetentionLock};
use activity_feed::service::{ActivityFeed, Limits, Live};
use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use entity::activity;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{row, scalar, spawn_app_with, TestApp};
use crate::security::{data_as, hs256, SECRET};

/// Rows after the watermark: not yet in the rollups.
async fn unfolded(db: &DatabaseConnection) -> i64 {
    scalar(
        db,
        "SELECT COUNT(*) FROM activities \
         WHERE (txid, seq) > (SELECT txid, seq FROM activity_rollup_mark)",
    )
    .await
}

/// Waits until the folder has taken in every row. Rows are released only
/// below every running transaction of the cluster, so a long transaction
/// elsewhere (another database's bulk load) holds the folder back: the wait
/// is long.
async fn until_folded(db: &DatabaseConnection) {
    for _ in 0..2400 {
        if unfolded(db).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the folder did not catch up in 120 s");
}

#[tokio::test]
async fn a_page_with_a_total_reads_the_rollups_not_the_table() {
    // Arrange: 30 rows, all folded; then 10 of them removed behind the
    // server's back, so that a scan and the rollups disagree.
    let app = spawn_app_with(|c| c.rollup_interval = Duration::from_millis(20)).await;
    let inputs: Vec<Value> = (0..30)
        .map(|i| json!({ "action": if i % 3 == 0 { "post.created" } else { "user.followed" }, "module": "m" }))
        .collect();
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": inputs }),
    )
    .await;
    let db = app.db.connect().await;
    until_folded(&db).await;
    db.execute_unprepared(
        "DELETE FROM activities WHERE uuid IN \
         (SELECT uuid FROM activities WHERE action = 'user.followed' LIMIT 10)",
    )
    .await
    .expect("delete behind the server's back");
    // A first read learns where the watermark now is (one statement more).
    app.count(json!({ "module": "m" })).await;
    let before = app.statements.get();

    // Act
    let page = app
        .data(
            "{ activities(perPage: 50) { total totalPages entries { uuid } } }",
            json!({}),
        )
        .await;
    let statements = app.statements.get() - before;
    let scanned = app.count(json!({ "metadata": {} })).await;

    // Assert: two statements, the page and the rollup sum; the total is the
    // rollups' 30 while the table holds 20 rows, which a filter the rollups
    // cannot answer (metadata) counts by scanning.
    assert_eq!(statements, 2);
    assert_eq!(page["activities"]["entries"].as_array().unwrap().len(), 20);
    assert_eq!(page["activities"]["total"], 30);
    assert_eq!(page["activities"]["totalPages"], 1);
    assert_eq!(scanned, 20);
    db.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn counts_are_exact_before_the_folder_has_run() {
    // Arrange: no folder at all; every row is after the watermark.
    let app = spawn_app_with(|c| c.rollup_interval = Duration::ZERO).await;
    for action in ["post.created", "post.liked", "user.followed"] {
        app.log(json!({ "action": action, "module": "posts" }))
            .await;
    }

    // Act
    let total = app.count(json!({})).await;
    let posts = app.count(json!({ "action": "post.*" })).await;
    let actions = app.data("{ actionTypes modules }", json!({})).await;

    // Assert
    assert_eq!((total, posts), (3, 2));
    assert_eq!(
        actions,
        json!({ "actionTypes": ["post.created", "post.liked", "user.followed"], "modules": ["posts"] })
    );
    let db = app.db.connect().await;
    assert_eq!(unfolded(&db).await, 3);
    db.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn counts_stay_exact_when_the_rollups_are_rebuilt_by_hand() {
    // Arrange: rows folded, and a read that remembered the watermark.
    let app = spawn_app_with(|c| c.rollup_interval = Duration::from_secs(2)).await;
    for action in [
        "post.created",
        "post.liked",
        "user.followed",
        "post.created",
    ] {
        app.log(json!({ "action": action, "mode": "manual" })).await;
    }
    let db = app.db.connect().await;
    until_folded(&db).await;
    assert_eq!(app.count(json!({ "action": "post.*" })).await, 3);

    // Act: the rebuild the README gives, behind the server's back: the
    // watermark goes back to the start.
    db.execute_unprepared(
        "DELETE FROM activity_rollup_hours; DELETE FROM activity_rollup_totals; \
         DELETE FROM activity_rollup_hour_totals; UPDATE activity_rollup_mark SET txid = 0, seq = 0",
    )
    .await
    .expect("empty the rollups");
    let posts = app.count(json!({ "action": "post.*" })).await;
    let by_action = app
        .data(
            "{ activityCounts(groupBy: ACTION) { key count } actionTypes }",
            json!({}),
        )
        .await;

    // Assert: the rows are counted from the table until the folder is back.
    assert_eq!(posts, 3);
    assert_eq!(
        by_action,
        json!({
            "activityCounts": [
                { "key": "post.created", "count": 2 },
                { "key": "post.liked", "count": 1 },
                { "key": "user.followed", "count": 1 },
            ],
            "actionTypes": ["post.created", "post.liked", "user.followed"],
        })
    );
    db.close().await.ok();
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The property test: random histories, every rollup-answered read compared
// with a plain count over the table's rows.

const ACTIONS: &[&str] = &[
    "post.created",
    "post.liked",
    "post.comment.added",
    "postage.paid",
    "user.registered",
];
const MODULES: &[Option<&str>] = &[Some("posts"), Some("social"), Some(""), None];
const MODES: &[Option<&str>] = &[Some("manual"), Some("auto"), None];
const TYPES: &[Option<&str>] = &[Some("post"), Some("user"), None];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, from: &[T]) -> T {
    from[rng.random_range(0..from.len())]
}

/// A filter on what the rollups hold, as GraphQL takes it and as a
/// predicate on stored rows.
#[derive(Debug, Default, Clone)]
struct Filter {
    action: Option<String>,
    module: Option<String>,
    mode: Option<String>,
    resource_type: Option<String>,
    action_in: Option<Vec<String>>,
    action_not: Option<String>,
    resource_type_in: Option<Vec<String>>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => action.starts_with(prefix),
        _ => action == pattern,
    }
}

/// How many hours back the rows of a history are: a few hours around now
/// and some days back, so that rows share hours and bounds cut them.
const HOT_HOURS: &[i64] = &[0, 1, 2, 5, 3 * 24, 5 * 24 + 7, 8 * 24, 11 * 24 + 3];

/// One of [`HOT_HOURS`] before `now`, truncated to the hour.
fn hot_hour(rng: &mut ChaCha8Rng, now: DateTime<Utc>) -> DateTime<Utc> {
    (now - TimeDelta::hours(pick(rng, HOT_HOURS)))
        .duration_trunc(TimeDelta::hours(1))
        .unwrap()
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Filter {
    fn random(rng: &mut ChaCha8Rng, anchor: DateTime<Utc>) -> Filter {
        let mut f = Filter::default();
        let some = |rng: &mut ChaCha8Rng| rng.random_bool(0.3);
        if some(rng) {
            f.action = Some(match rng.random_bool(0.5) {
                true => pick(rng, &["post.*", "post.comment.*", "user.*"]).into(),
                false => pick(rng, ACTIONS).into(),
            });
        }
        if some(rng) {
            f.module = pick(rng, MODULES).map(Into::into);
        }
        if some(rng) {
            f.mode = pick(rng, MODES).map(Into::into);
        }
        if some(rng) {
            f.resource_type = pick(rng, TYPES).map(Into::into);
        }
        if rng.random_bool(0.15) {
            f.action_in = Some(
                (0..rng.random_range(0..3))
                    .map(|_| pick(rng, ACTIONS).to_owned())
                    .collect(),
            );
        }
        if rng.random_bool(0.15) {
            f.action_not = Some(pick(rng, &["post.*", "user.registered"]).into());
        }
        if rng.random_bool(0.15) {
            f.resource_type_in = Some(vec!["post".into(), "user".into()]);
        }
        // Bounds on an hour, just before one, or inside one, in the hours
        // the rows are in; often none.
        let bound = |rng: &mut ChaCha8Rng| {
            let hour = hot_hour(rng, anchor);
            match rng.random_range(0..4) {
                0 => hour,
                1 => hour - TimeDelta::microseconds(1),
                _ => hour + TimeDelta::microseconds(rng.random_range(1..3_600_000_000)),
            }
        };
        if rng.random_bool(0.5) {
            f.since = Some(bound(rng));
        }
        if rng.random_bool(0.5) {
            f.until = Some(bound(rng));
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s > u {
                (f.since, f.until) = (Some(u), Some(s));
            }
        }
        f
    }

    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("action", self.action.clone().map(Value::from));
        put("module", self.module.clone().map(Value::from));
        put("mode", self.mode.clone().map(Value::from));
        put("resourceType", self.resource_type.clone().map(Value::from));
        put("actionIn", self.action_in.clone().map(Value::from));
        put("actionNot", self.action_not.clone().map(Value::from));
        put(
            "resourceTypeIn",
            self.resource_type_in.clone().map(Value::from),
        );
        put("since", self.since.map(|t| time(t).into()));
        put("until", self.until.map(|t| time(t).into()));
        Value::Object(m)
    }

    fn matches(&self, r: &activity::Model) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.is_none() || want.as_deref() == have.as_deref()
        };
        self.action
            .as_deref()
            .is_none_or(|a| action_matches(a, &r.action))
            && eq(&self.module, &r.module)
            && eq(&self.mode, &r.mode)
            && eq(&self.resource_type, &r.resource_type)
            && self
                .action_in
                .as_ref()
                .is_none_or(|l| l.contains(&r.action))
            && self
                .action_not
                .as_deref()
                .is_none_or(|a| !action_matches(a, &r.action))
            && self
                .resource_type_in
                .as_ref()
                .is_none_or(|l| r.resource_type.as_ref().is_some_and(|t| l.contains(t)))
            && self.since.is_none_or(|s| r.inserted_at >= s)
            && self.until.is_none_or(|u| r.inserted_at <= u)
    }
}

/// The groupings the rollups answer, with each row's key.
const GROUPINGS: &[&str] = &["ACTION", "MODULE", "MODE", "RESOURCE_TYPE", "DAY", "HOUR"];

fn key_of(group_by: &str, r: &activity::Model) -> Value {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
    match group_by {
        "ACTION" => r.action.clone().into(),
        "MODULE" => text(&r.module),
        "MODE" => text(&r.mode),
        "RESOURCE_TYPE" => text(&r.resource_type),
        "DAY" => r.inserted_at.format("%Y-%m-%d").to_string().into(),
        _ => r
            .inserted_at
            .format("%Y-%m-%dT%H:00:00Z")
            .to_string()
            .into(),
    }
}

/// `GROUP BY` over `rows`, as a set of (key, count): order is checked by the
/// grouping tests of `counts.rs`, here only what is counted.
fn grouped(rows: &[&activity::Model], group_by: &str) -> BTreeSet<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows {
        *counts.entry(key_of(group_by, r).to_string()).or_default() += 1;
    }
    counts.into_iter().collect()
}

fn answered(buckets: &Value) -> BTreeSet<(String, u64)> {
    buckets
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| (b["key"].to_string(), b["count"].as_u64().expect("count")))
        .collect()
}

struct World {
    app: TestApp,
    db: DatabaseConnection,
    feed: ActivityFeed,
    lock: RetentionLock,
    admin: String,
    alice: Uuid,
    alice_token: String,
    bob: Uuid,
    rng: ChaCha8Rng,
    seed: u64,
}

impl World {
    fn input(&mut self) -> Value {
        let rng = &mut self.rng;
        let actor = match rng.random_range(0..3) {
            0 => json!(self.alice),
            1 => json!(self.bob),
            _ => Value::Null,
        };
        json!({
            "action": pick(rng, ACTIONS),
            "module": pick(rng, MODULES),
            "mode": pick(rng, MODES),
            "resourceType": pick(rng, TYPES),
            "actorUuid": actor,
        })
    }

    async fn step(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0..=2 => {
                let input = self.input();
                let data = data_as(
                    &self.app,
                    &self.admin,
                    "mutation($i: LogInput!) { log(input: $i) { errors { field } } }",
                    json!({ "i": input }),
                )
                .await;
                assert_eq!(data["log"]["errors"], json!([]));
                "log".into()
            }
            3..=4 => {
                let n = self.rng.random_range(1..15);
                let inputs: Vec<Value> = (0..n).map(|_| self.input()).collect();
                data_as(
                    &self.app,
                    &self.admin,
                    "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
                    json!({ "i": inputs }),
                )
                .await;
                format!("logBatch({n})")
            }
            5..=6 => {
                // History the API cannot write: rows up to twelve days old, in
                // the hot hours.
                let n = self.rng.random_range(1..40);
                let now = Utc::now();
                let rows: Vec<activity::Model> = (0..n)
                    .map(|_| {
                        let rng = &mut self.rng;
                        let at = hot_hour(rng, now)
                            + TimeDelta::microseconds(rng.random_range(0..3_600_000_000));
                        let mut r = row(pick(rng, ACTIONS), at.min(now));
                        r.module = pick(rng, MODULES).map(Into::into);
                        r.mode = pick(rng, MODES).map(Into::into);
                        r.resource_type = pick(rng, TYPES).map(Into::into);
                        r.actor_uuid =
                            [Some(self.alice), Some(self.bob), None][rng.random_range(0..3)];
                        r
                    })
                    .collect();
                self.app.db.insert(&rows).await;
                format!("history({n})")
            }
            7 => {
                let days = self.rng.random_range(2..12);
                data_as(
                    &self.app,
                    &self.admin,
                    "mutation($d: Int!) { prune(days: $d) { deleted } }",
                    json!({ "d": days }),
                )
                .await;
                format!("prune({days})")
            }
            8 => {
                let days = self.rng.random_range(2..12u32);
                retention::run_once(&self.feed, &self.lock, days)
                    .await
                    .expect("the retention job runs");
                format!("retention({days})")
            }
            _ => {
                // Give the folder time, or not: reads must not care.
                let ms = self.rng.random_range(0..80);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                format!("sleep({ms})")
            }
        }
    }

    /// Every rollup-answered read, on random filters, against the table.
    async fn check(&mut self, history: &[String]) {
        let rows = activity::Entity::find()
            .all(&self.db)
            .await
            .expect("read the table");
        let context = |what: &str| format!("seed {} after {history:?}: {what}", self.seed);
        let distinct = data_as(
            &self.app,
            &self.admin,
            "{ actionTypes modules modes resourceTypes }",
            json!({}),
        )
        .await;
        let values = |f: fn(&activity::Model) -> Option<String>| -> Value {
            let set: BTreeSet<String> = rows.iter().filter_map(f).collect();
            set.into_iter().collect::<Vec<_>>().into()
        };
        let expected = json!({
            "actionTypes": values(|r| Some(r.action.clone())),
            "modules": values(|r| r.module.clone()),
            "modes": values(|r| r.mode.clone()),
            "resourceTypes": values(|r| r.resource_type.clone()),
        });
        assert_eq!(distinct, expected, "{}", context("distinct lists"));

        for _ in 0..4 {
            let filter = Filter::random(&mut self.rng, Utc::now());
            let matching: Vec<&activity::Model> =
                rows.iter().filter(|r| filter.matches(r)).collect();
            let what = format!("filter {}", filter.json());
            let mut query = String::from(
                "query($f: ActivityFilter) { activityCount(filter: $f) \
                 activities(filter: $f, perPage: 1) { total }",
            );
            for g in GROUPINGS {
                query.push_str(&format!(
                    " {g}: activityCounts(filter: $f, groupBy: {g}) {{ key count }}"
                ));
            }
            query.push_str(" }");
            let data = data_as(
                &self.app,
                &self.admin,
                &query,
                json!({ "f": filter.json() }),
            )
            .await;
            let n = matching.len() as u64;
            assert_eq!(data["activityCount"], n, "{}", context(&what));
            assert_eq!(data["activities"]["total"], n, "{}", context(&what));
            for g in GROUPINGS {
                assert_eq!(
                    answered(&data[*g]),
                    grouped(&matching, g),
                    "{}",
                    context(&format!("{g} {what}"))
                );
            }

            // The user role's own scope: the same reads, only Alice's rows.
            let own: Vec<&activity::Model> = matching
                .iter()
                .copied()
                .filter(|r| r.actor_uuid == Some(self.alice))
                .collect();
            let data = data_as(
                &self.app,
                &self.alice_token,
                "query($f: ActivityFilter) { activityCount(filter: $f) \
                 activityCounts(filter: $f, groupBy: ACTION) { key count } }",
                json!({ "f": filter.json() }),
            )
            .await;
            assert_eq!(
                data["activityCount"],
                own.len() as u64,
                "{}",
                context(&format!("user {what}"))
            );
            assert_eq!(
                answered(&data["activityCounts"]),
                grouped(&own, "ACTION"),
                "{}",
                context(&format!("user by ACTION {what}"))
            );
        }
    }
}

/// Random histories of `steps` steps, checked every few steps. Bounded in
/// count and size so that the suite stays fast; `ROLLUP_PROPERTY_SEEDS`
/// (a number) runs more seeds.
async fn property(first_seed: u64) {
    let seeds: u64 = std::env::var("ROLLUP_PROPERTY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for seed in first_seed..first_seed + seeds {
        let app = spawn_app_with(|c| {
            c.auth.jwt_secret = Some(SECRET.into());
            // Hundreds of counting reads in a burst: not what rate limits test.
            c.rate_limit.rate_limit = false;
            c.rollup_interval = Duration::from_millis(15);
        })
        .await;
        let db = app.db.connect().await;
        let feed = ActivityFeed::new(
            app.db.connect().await,
            Arc::new(LocalBus),
            Live::new(16),
            Limits::default(),
        );
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut world = World {
            lock: RetentionLock::for_database(&app.db.config),
            admin: hs256("admin", &Uuid::now_v7().to_string(), 3600),
            alice_token: hs256("user", &alice.to_string(), 3600),
            alice,
            bob,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            feed,
            db,
            app,
        };
        let mut history = Vec::new();
        for step in 0..16 {
            history.push(world.step().await);
            if step % 3 == 2 {
                world.check(&history).await;
            }
        }
        // Once the folder has caught up, the rollups alone answer.
        until_folded(&world.db).await;
        world.check(&history).await;
        world.db.close().await.ok();
        world.app.stop().await;
    }
}

#[tokio::test]
async fn rollup_answers_equal_a_plain_count_of_the_table_after_random_histories() {
    property(1).await;
}

#[tokio::test]
async fn rollup_answers_stay_exact_across_more_random_histories() {
    property(101).await;
}
