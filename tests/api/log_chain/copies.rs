//! A sealer seals from the rows its publisher has already read instead of
//! reading them again, and never from copies that an erasure or a prune,
//! committed after that read, has made stale.
//!
//! The server here does not seal: a second process (the test's own
//! service, with a publisher and a sealer driven by hand) does, so that the
//! erasure or prune lands exactly between its publisher's read and its
//! sealing, which a running sealer would make a matter of timing.

use std::sync::Arc;
use std::time::Duration;

use activity_feed::bus::memory::LocalBus;
use activity_feed::service::{ActivityFeed, Limits, Live};
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{at, log, log_batch, log_each, signing_app_with, sql, verified, verify};
use crate::helpers::{row, TestApp};

/// The test's sealing process over the server's database.
struct Sealer {
    feed: ActivityFeed,
    live: Live,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Sealer {
    /// Starts its publisher (from the position current now) and has it keep
    /// copies for sealing.
    async fn start(app: &TestApp) -> Self {
        let live = Live::new(16);
        let feed = ActivityFeed::new(
            app.db.connect().await,
            Arc::new(LocalBus),
            live.clone(),
            Limits::default(),
        );
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        feed.start_publisher(
            app.db.connect().await,
            stop.clone(),
            &tasks,
            Duration::from_secs(1),
        )
        .await
        .expect("the publisher starts");
        feed.seal_from_publisher();
        Self {
            feed,
            live,
            stop,
            tasks,
        }
    }

    /// [`Self::start`], then one row logged and sealed, so that the chain's
    /// end is past where the publisher started: on PostgreSQL it starts at
    /// the horizon, past genesis, and its copies cannot vouch for what lies
    /// between (that first row is read from the database). From then on
    /// the copies reach back to the chain's end.
    async fn start_past_the_chain_end(app: &TestApp) -> Self {
        let sealer = Self::start(app).await;
        log(app, json!({ "action": "chain.first" })).await;
        sealer.published(1).await;
        assert_eq!(sealer.feed.seal_pending().await.unwrap(), 1);
        sealer
    }

    /// Waits until its publisher has read `n` rows in all.
    async fn published(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.live.stats().published < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the publisher read {} of {n} rows",
                self.live.stats().published
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// A server that signs heads and leaves sealing to the test.
async fn app() -> TestApp {
    signing_app_with(|config| config.sealer = false).await
}

/// Logs `n` activities of `person` with their email in the metadata.
async fn log_about(app: &TestApp, person: Uuid, n: usize) -> Vec<Value> {
    log_each(app, n, |i| {
        json!({
            "action": "comment.posted",
            "actorUuid": person,
            "metadata": { "by": "quill.person@example.com", "n": i },
        })
    })
    .await
}

#[tokio::test]
async fn rows_the_publisher_read_are_sealed_without_reading_them_again() {
    let app = app().await;
    let sealer = Sealer::start_past_the_chain_end(&app).await;
    let before = sealer.feed.sealed_from_copies();
    // Arrange: 30 rows the sealing process's publisher read.
    log_about(&app, Uuid::now_v7(), 30).await;
    sealer.published(31).await;

    // Act
    let sealed = sealer.feed.seal_pending().await.unwrap();

    // Assert: all from the copies, and the chain they made verifies.
    assert_eq!(sealed, 30);
    assert_eq!(sealer.feed.sealed_from_copies() - before, 30);
    let report = verify(&app, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 31, "{report}");
    sealer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn an_erasure_after_the_publishers_read_has_the_sealer_read_the_rows_again() {
    let app = app().await;
    let sealer = Sealer::start_past_the_chain_end(&app).await;
    let person = Uuid::now_v7();
    // Arrange: the publisher holds copies of the person's rows as written,
    // their email among the metadata (known from the users row).
    app.upsert_users(json!([{ "uuid": person, "email": "quill.person@example.com" }]))
        .await;
    let rows = log_about(&app, person, 12).await;
    sealer.published(13).await;
    let before = sealer.feed.sealed_from_copies();

    // Act: the person is erased before the rows are sealed, then they are
    // sealed at once (most likely before the publisher's next read, which
    // would start its copies afresh anyway).
    let forgotten = app
        .data(
            "mutation($u: UUID!) { forgetPerson(uuid: $u, reason: \"request 7\") { rewritten } }",
            json!({ "u": person }),
        )
        .await;
    assert_eq!(forgotten["forgetPerson"]["rewritten"], 12, "{forgotten}");
    let sealed = sealer.feed.seal_pending().await.unwrap();
    let from_copies = sealer.feed.sealed_from_copies() - before;
    // On PostgreSQL the person.forgotten entry may not be released yet (an
    // older transaction of the server's still running): seal it once it is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut total = sealed;
    while total < 13 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        total += sealer.feed.seal_pending().await.unwrap();
    }

    // Assert: the stale copies were not sealed (sealing them would commit
    // the chain to the person's uuid and email): the first round read the
    // 12 rows as erased; then the person.forgotten entry; the chain verifies.
    assert!(sealed >= 12, "the first round sealed {sealed}");
    assert_eq!(from_copies, 0);
    assert_eq!(total, 13, "the 12 rows and the person.forgotten entry");
    let report = verify(&app, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 14, "{report}");
    let first = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { actorUuid metadata } }",
            json!({ "u": rows[0]["uuid"] }),
        )
        .await;
    assert_ne!(first["activity"]["actorUuid"], json!(person), "{first}");
    assert_eq!(first["activity"]["metadata"]["by"], "[ERASED]", "{first}");
    sealer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_change_by_hand_after_the_publishers_read_has_the_sealer_read_the_rows_again() {
    let app = app().await;
    let sealer = Sealer::start_past_the_chain_end(&app).await;
    // Arrange: copies of 5 rows, then one of them changed by SQL, as an
    // older server's erasure or an operator would, without the service.
    let rows = log_about(&app, Uuid::now_v7(), 5).await;
    sealer.published(6).await;
    let before = sealer.feed.sealed_from_copies();
    sql(
        &app,
        &format!(
            "UPDATE activities SET metadata = '{{\"by\":\"someone else\"}}' WHERE {}",
            at(&rows[2]["cursor"])
        ),
    )
    .await;

    // Act
    let sealed = sealer.feed.seal_pending().await.unwrap();

    // Assert: the change raised the chain's epoch by trigger, so the rows
    // were read again and sealed as they are now, and they verify.
    assert_eq!(sealed, 5);
    assert_eq!(sealer.feed.sealed_from_copies(), before);
    let report = verify(&app, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 6, "{report}");
    sealer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_prune_after_the_publishers_read_keeps_the_deleted_rows_out_of_the_chain() {
    let app = app().await;
    let sealer = Sealer::start_past_the_chain_end(&app).await;
    // Arrange: 5 rows older than the retention and 3 new ones, all read by
    // the sealing process's publisher.
    let old = Utc::now() - TimeDelta::days(40);
    let rows: Vec<_> = (0..5).map(|_| row("old.row", old)).collect();
    app.db.insert(&rows).await;
    for i in 0..3 {
        log(&app, json!({ "action": format!("new.{i}") })).await;
    }
    sealer.published(9).await;
    let before = sealer.feed.sealed_from_copies();

    // Act: the old rows are pruned before they are sealed, then sealing runs.
    let pruned = app
        .data(
            "mutation { pruneActivities(days: 30) { deleted } }",
            json!({}),
        )
        .await;
    assert_eq!(pruned["pruneActivities"]["deleted"], 5, "{pruned}");
    let sealed = sealer.feed.seal_pending().await.unwrap();

    // Assert: the deleted rows never entered the chain, which verifies.
    assert_eq!(sealed, 3);
    assert_eq!(sealer.feed.sealed_from_copies(), before);
    let report = verify(&app, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 4, "{report}");
    sealer.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn erasures_while_writers_log_and_the_server_seals_never_leave_a_stale_seal() {
    // The server's own sealer, sealing from its publisher's copies, while
    // four writers log rows about a person and the person is erased
    // midway: wherever the erasure falls between a read of the publisher
    // and a sealing round, the chain verifies. Three rounds, three people.
    let app = signing_app_with(|_| {}).await;
    let mut rows = 0u64;
    for round in 0..3 {
        let person = Uuid::now_v7();
        let email = format!("writer{round}@example.com");
        app.upsert_users(json!([{ "uuid": person, "email": email }]))
            .await;
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..4 {
            let client = app.client.clone();
            let email = email.clone();
            writers.spawn(async move {
                for b in 0..6 {
                    let inputs: Vec<Value> = (0..10)
                        .map(|i| {
                            json!({
                                "action": format!("copies.{w}.{b}.{i}"),
                                "actorUuid": person,
                                "metadata": { "by": email, "n": i },
                            })
                        })
                        .collect();
                    log_batch(&client, inputs).await;
                }
            });
        }
        // Midway through the writes (not waiting for the sealer).
        tokio::time::sleep(Duration::from_millis(60 + 40 * round)).await;
        let forgotten = app
            .data(
                "mutation($u: UUID!) { forgetPerson(uuid: $u, reason: \"load\") { rewritten } }",
                json!({ "u": person }),
            )
            .await;
        assert!(
            forgotten["forgetPerson"]["rewritten"].is_u64(),
            "{forgotten}"
        );
        while let Some(done) = writers.join_next().await {
            done.unwrap();
        }
        // 240 rows and the person.forgotten entry.
        rows += 4 * 6 * 10 + 1;
    }

    // Assert: once everything is sealed, the chain verifies.
    let report = verified(&app.client, rows).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], rows, "{report}");
    app.stop().await;
}
