//! The binary: `schema`, `migrate`, `seed`, `prune`, and `serve` (the
//! default) with its configuration, retention job and SIGTERM shutdown.
//! Each runs against the test database (SQLite, or PostgreSQL when
//! TEST_DATABASE_URL says so).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use entity::{activity, user};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::{row, TestDb};

/// The binary, configured for `db` through the environment.
fn binary(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_activity-feed"));
    cmd.env("DATABASE_URL", &db.config.url)
        .env("LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("BIND")
        .env_remove("RETENTION_DAYS")
        .env_remove("RETENTION_INTERVAL");
    match &db.config.schema {
        Some(schema) => cmd.env("DATABASE_SCHEMA", schema),
        None => cmd.env_remove("DATABASE_SCHEMA"),
    };
    cmd
}

/// Runs the binary with `args` to completion; it must succeed.
fn run(db: &TestDb, args: &[&str]) -> Output {
    let out = binary(db).args(args).output().expect("the binary runs");
    assert!(
        out.status.success(),
        "activity-feed {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn schema_prints_the_sdl() {
    // Arrange
    let db = TestDb::new().await;

    // Act
    let out = run(&db, &["schema"]);

    // Assert
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed == activity_feed::graphql::sdl(),
        "`activity-feed schema` does not print the live SDL"
    );
    db.remove().await;
}

#[tokio::test]
async fn migrate_creates_the_tables_and_can_run_again() {
    // Arrange
    let db = TestDb::new().await;

    // Act
    run(&db, &["migrate"]);
    run(&db, &["migrate"]);

    // Assert
    let conn = db.connect().await;
    assert_eq!(activity::Entity::find().count(&conn).await.unwrap(), 0);
    assert_eq!(user::Entity::find().count(&conn).await.unwrap(), 0);
    conn.close().await.ok();
    db.remove().await;
}

#[tokio::test]
async fn without_database_url_the_default_is_an_sqlite_file_in_the_working_directory() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let out = Command::new(env!("CARGO_BIN_EXE_activity-feed"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_SCHEMA")
        .output()
        .unwrap();

    // Assert
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("activity-feed.db").is_file());
}

/// Everything about a seeded database that does not depend on when it was
/// seeded: the people, and each activity with its time relative to the first.
async fn seeded(db: &TestDb) -> (Vec<Value>, Vec<Value>) {
    let conn = db.connect().await;
    let users: Vec<Value> = user::Entity::find()
        .order_by_asc(user::Column::Uuid)
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|u| json!([u.uuid, u.email, u.first_name, u.last_name]))
        .collect();
    let rows = activity::Entity::find()
        .order_by_asc(activity::Column::InsertedAt)
        .order_by_asc(activity::Column::Uuid)
        .all(&conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let start = rows.first().map(|r| r.inserted_at).unwrap_or_default();
    let activities = rows
        .into_iter()
        .map(|r| {
            json!([
                (r.inserted_at - start).num_microseconds(),
                r.action,
                r.module,
                r.mode,
                r.actor_uuid,
                r.resource_type,
                r.resource_uuid,
                r.target_uuid,
                r.metadata,
            ])
        })
        .collect();
    (users, activities)
}

#[tokio::test]
async fn seed_writes_realistic_rows_the_same_for_the_same_seed() {
    // Arrange
    let (one, two, other) = (
        TestDb::new().await,
        TestDb::new().await,
        TestDb::new().await,
    );
    let started = Utc::now();

    // Act
    for (db, seed) in [(&one, "7"), (&two, "7"), (&other, "8")] {
        run(
            db,
            &["seed", "--count", "2000", "--users", "20", "--seed", seed],
        );
    }

    // Assert
    let (users, activities) = seeded(&one).await;
    assert_eq!(users.len(), 20);
    assert_eq!(activities.len(), 2000);
    assert_eq!(seeded(&two).await, (users.clone(), activities.clone()));
    let (other_users, other_activities) = seeded(&other).await;
    assert_ne!(other_users, users);
    assert_ne!(other_activities, activities);

    let conn = one.connect().await;
    let rows = activity::Entity::find().all(&conn).await.unwrap();
    conn.close().await.ok();
    let people: BTreeSet<String> = users.iter().map(|u| u[0].to_string()).collect();
    assert!(rows
        .iter()
        .all(|r| people.contains(&json!(r.actor_uuid.unwrap()).to_string())));
    let actions: BTreeSet<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.len() >= 30, "about 40 actions, got {actions:?}");
    let modes: BTreeSet<&str> = rows.iter().filter_map(|r| r.mode.as_deref()).collect();
    assert_eq!(modes, BTreeSet::from(["auto", "cron", "manual", "script"]));
    assert!(rows.iter().all(|r| r.metadata.is_object()));
    let oldest = rows.iter().map(|r| r.inserted_at).min().unwrap();
    let newest = rows.iter().map(|r| r.inserted_at).max().unwrap();
    assert!(
        oldest >= started - TimeDelta::days(60),
        "default span is 60 days"
    );
    assert!(newest - oldest > TimeDelta::days(30), "spread over months");
    for db in [one, two, other] {
        db.remove().await;
    }
}

#[tokio::test]
async fn prune_deletes_activities_older_than_days() {
    // Arrange
    let db = TestDb::new().await;
    db.migrate().await;
    let now = Utc::now();
    db.insert(&[
        row("old", now - TimeDelta::days(31)),
        row("kept", now - TimeDelta::days(29)),
    ])
    .await;

    // Act
    run(&db, &["prune", "--days", "30"]);

    // Assert
    let conn = db.connect().await;
    let left: Vec<String> = activity::Entity::find()
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    conn.close().await.ok();
    assert_eq!(left, ["kept"]);
    db.remove().await;
}

#[tokio::test]
async fn prune_refuses_zero_days() {
    // Arrange
    let db = TestDb::new().await;

    // Act
    let out = binary(&db).args(["prune", "--days", "0"]).output().unwrap();

    // Assert
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("days: must be at least 1"));
    db.remove().await;
}

/// A running `activity-feed` process and its log, one JSON object a line.
struct Server {
    child: Child,
    log: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Server {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(json!({ "raw": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            log,
            seen: Vec::new(),
        }
    }

    /// Waits for the log line whose message is `message` and returns its
    /// fields, or panics if the process ends (or says nothing for a minute).
    fn wait_for(&mut self, message: &str) -> Value {
        let is = |line: &Value| line["fields"]["message"] == message;
        if let Some(line) = self.seen.iter().find(|l| is(l)) {
            return line["fields"].clone();
        }
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("the server never logged {message:?}: {:?}", self.seen));
            self.seen.push(line.clone());
            if is(&line) {
                return line["fields"].clone();
            }
        }
    }

    /// The URL of `path` on the address the server logged.
    fn url(&mut self, path: &str) -> String {
        let addr = self.wait_for("listening")["addr"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("http://{addr}{path}")
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

async fn post(url: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_takes_its_configuration_from_flags_and_stops_on_sigterm() {
    // Arrange
    let db = TestDb::new().await;
    let mut cmd = binary(&db);
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--retention-days",
        "12",
        "--retention-interval",
        "0s",
    ]);
    let mut server = Server::start(cmd);
    let graphql = server.url("/graphql");

    // Act
    let logged = post(
        &graphql,
        "mutation { log(input: {action: \"cli.served\"}) { activity { action } errors { field } } }",
    )
    .await;
    let read = post(&graphql, "{ retentionDays activityCount }").await;
    let status = server.terminate();

    // Assert
    assert_eq!(
        logged,
        json!({ "data": { "log": { "activity": { "action": "cli.served" }, "errors": [] } } })
    );
    assert_eq!(
        read,
        json!({ "data": { "retentionDays": 12, "activityCount": 1 } })
    );
    assert!(status.success(), "{status}");
    db.remove().await;
}

#[tokio::test]
async fn serve_is_the_default_and_reads_the_environment() {
    // Arrange
    let db = TestDb::new().await;
    let mut cmd = binary(&db);
    cmd.env("BIND", "127.0.0.1:0")
        .env("RETENTION_DAYS", "45")
        .env("RETENTION_INTERVAL", "0s");
    let mut server = Server::start(cmd);
    let off = server.wait_for("retention job is off");
    let base = server.url("");

    // Act
    let read = post(&format!("{base}/graphql"), "{ retentionDays }").await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let status = server.terminate();

    // Assert
    assert_eq!(off["message"], "retention job is off");
    assert_eq!(read, json!({ "data": { "retentionDays": 45 } }));
    assert_eq!(health.status(), 200);
    assert!(status.success(), "{status}");
    db.remove().await;
}

#[tokio::test]
async fn the_retention_job_prunes_to_the_configured_days_at_start() {
    // Arrange
    let db = TestDb::new().await;
    db.migrate().await;
    let now = Utc::now();
    db.insert(&[
        row("old", now - TimeDelta::days(11)),
        row("older", now - TimeDelta::days(400)),
        row("kept", now - TimeDelta::days(9)),
    ])
    .await;
    let mut cmd = binary(&db);
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--retention-days",
        "10",
        "--retention-interval",
        "1h",
    ]);

    // Act
    let mut server = Server::start(cmd);
    let pruned = server.wait_for("pruned activities");
    let graphql = server.url("/graphql");
    let left = post(&graphql, "{ activities { entries { action } } }").await;
    let status = server.terminate();

    // Assert
    assert_eq!(pruned["deleted"], 2);
    assert_eq!(
        left,
        json!({ "data": { "activities": { "entries": [{ "action": "kept" }] } } })
    );
    assert!(status.success(), "{status}");
    db.remove().await;
}

#[tokio::test]
async fn an_empty_jwt_secret_is_refused_not_taken_for_an_empty_key() {
    // Arrange: `JWT_SECRET=` is set, and empty.
    let db = TestDb::new().await;

    // Act
    let serve = binary(&db)
        .env("BIND", "127.0.0.1:0")
        .env("JWT_SECRET", "")
        .output()
        .expect("the binary runs");
    let token = binary(&db)
        .env("JWT_SECRET", "short")
        .args([
            "token",
            "--role",
            "admin",
            "--sub",
            "0190c2a0-0000-7000-8000-000000000001",
        ])
        .output()
        .expect("the binary runs");

    // Assert: neither serves nor signs, and both say why.
    for (what, out) in [("serve", &serve), ("token", &token)] {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{what} succeeded: {said}");
        assert!(
            said.contains("JWT_SECRET must be at least 32 bytes"),
            "{what}: {said}"
        );
    }
    assert!(!String::from_utf8_lossy(&token.stdout).contains("eyJ"));
    db.remove().await;
}

#[tokio::test]
async fn a_wildcard_or_malformed_cors_origin_is_refused_at_start_without_a_panic() {
    // Arrange
    let db = TestDb::new().await;

    for (origins, expected) in [
        ("*", "\"*\" is not supported"),
        ("https://app.example,*", "\"*\" is not supported"),
        ("app.example", "is not an origin"),
        ("https://app.example/path", "is not an origin"),
    ] {
        // Act
        let out = binary(&db)
            .env("BIND", "127.0.0.1:0")
            .env("CORS_ORIGINS", origins)
            .output()
            .expect("the binary runs");

        // Assert: a usage error that names the setting, not a panic.
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{origins}: {said}");
        assert!(said.contains("CORS_ORIGINS"), "{origins}: {said}");
        assert!(said.contains(expected), "{origins}: {said}");
        assert!(!said.contains("panicked"), "{origins}: {said}");
    }
    db.remove().await;
}
