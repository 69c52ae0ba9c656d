//! The tamper-evident log: every activity sealed into a hash chain, heads
//! signed, and verification that names the first position that fails and why.
//! Tampering happens through SQL behind the server's back.

mod cli;
mod copies;
mod erasure;
mod instances;
mod migration;
mod packed;
mod python;
mod tamper;

use std::path::PathBuf;
use std::time::Duration;

use ::migration::MigratorTrait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use entity::seal_batch::{self, Entry};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Client, TestApp};

/// A fresh Ed25519 key in a PKCS#8 PEM file, as `openssl genpkey -algorithm ed25519` writes one.
pub fn key_file() -> PathBuf {
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let path = std::env::temp_dir().join(format!("af-signing-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&path, pem.as_bytes()).unwrap();
    path
}

/// A server that signs heads with a fresh key and logs no checkpoints.
pub async fn signing_app() -> TestApp {
    signing_app_with(|_| {}).await
}

/// [`signing_app`], with more configuration.
pub async fn signing_app_with(
    configure: impl FnOnce(&mut activity_feed::config::ServeConfig),
) -> TestApp {
    let key = key_file();
    spawn_app_with(move |config| {
        config.signing.signing_key_file = Some(key);
        config.checkpoint_interval = Duration::ZERO;
        configure(config);
    })
    .await
}

/// The fields of a head.
pub const HEAD: &str = "{ logHead { position hash signedAt signature } }";

/// Everything `verifyLog` reports.
pub const VERIFY: &str = "query($from: String, $to: String, $head: LogHeadInput) { \
    verifyLog(from: $from, to: $to, head: $head) { valid checked start lastVerified unsealed \
    pruned erasedCount erased { position activityUuid field } headChecked \
    failure { position reason field message } } }";

/// Logs `input` and returns the activity with its exact cursor.
pub async fn log(app: &TestApp, input: Value) -> Value {
    let data = app
        .data(
            "mutation($i: LogInput!) { log(input: $i) { activity { uuid cursor actorUuid } errors { field } } }",
            json!({ "i": input }),
        )
        .await;
    assert_eq!(data["log"]["errors"], json!([]), "{data}");
    data["log"]["activity"].clone()
}

/// Logs `input(i)` for each `i` below `n`, one at a time, and returns the activities.
pub async fn log_each(app: &TestApp, n: usize, input: impl Fn(usize) -> Value) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(log(app, input(i)).await);
    }
    out
}

/// Logs `n` activities "chain.<i>" with some personal fields set.
pub async fn log_many(app: &TestApp, n: usize) -> Vec<Value> {
    log_each(app, n, |i| {
        json!({
            "action": format!("chain.{i}"),
            "actorUuid": uuid::Uuid::now_v7(),
            "metadata": { "title": format!("Post {i}"), "n": i },
        })
    })
    .await
}

/// Logs `inputs` with one `logActivities` through `client`.
pub async fn log_batch(client: &Client, inputs: Vec<Value>) {
    client
        .data(
            "mutation($i: [LogInput!]!) { logActivities(inputs: $i) { activities { uuid } } }",
            json!({ "i": inputs }),
        )
        .await;
}

/// The verification report once `rows` rows are checked and none is left
/// unsealed, or the last one seen after 10 s.
pub async fn verified(client: &Client, rows: u64) -> Value {
    let mut report = Value::Null;
    for _ in 0..400 {
        report = client.data(VERIFY, json!({})).await["verifyLog"].clone();
        if report["unsealed"] == 0 && report["checked"] == rows {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    report
}

/// Waits until the newest sealed position is `cursor`, and returns the head.
pub async fn sealed_through(app: &TestApp, cursor: &Value) -> Value {
    sealed_within(app, cursor, Duration::from_secs(5)).await
}

/// [`sealed_through`], for a backlog that may take up to `within`.
pub async fn sealed_within(app: &TestApp, cursor: &Value, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let head = app.data(HEAD, json!({})).await["logHead"].clone();
        if head["position"] == *cursor {
            return head;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the sealer never reached {cursor}");
}

/// Prunes what is older than `days` and verifies the whole log: how many
/// rows went, and the report.
pub async fn prune_and_verify(app: &TestApp, days: u32) -> (Value, Value) {
    let pruned = app
        .data(
            "mutation($d: Int!) { pruneActivities(days: $d) { deleted } }",
            json!({ "d": days }),
        )
        .await["pruneActivities"]["deleted"]
        .clone();
    (pruned, verify(app, json!({})).await)
}

/// `verifyLog` with `variables`.
pub async fn verify(app: &TestApp, variables: Value) -> Value {
    app.data(VERIFY, variables).await["verifyLog"].clone()
}

/// The (txid, seq) of a position cursor.
pub fn position(cursor: &Value) -> (i64, i64) {
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.as_str().unwrap()).unwrap()).unwrap();
    let mut parts = text.strip_prefix("p1:").unwrap().split(':');
    (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    )
}

/// A position cursor for (txid, seq).
pub fn cursor(txid: i64, seq: i64) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(format!("p1:{txid}:{seq}")))
}

/// The SQL condition naming the row at `cursor`.
pub fn at(cursor: &Value) -> String {
    let (txid, seq) = position(cursor);
    format!("txid = {txid} AND seq = {seq}")
}

/// Asserts that verification failed first at `at`, for `reason`.
pub fn failed_at(report: &Value, at: &Value, reason: &str) {
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["failure"]["reason"], reason, "{report}");
    assert_eq!(report["failure"]["position"], *at, "{report}");
}

/// Runs the same SQL on either database.
pub async fn sql(app: &TestApp, sql: &str) {
    app.db.execute(sql, sql).await;
}

/// Moves every seal out of the sealer's packed batches into a row of
/// `seals` (the newest migration's step down, then up again), so that a
/// test can tamper with one seal in SQL as with any row.
pub async fn unpack_seals(app: &TestApp) {
    let conn = app.db.connect().await;
    ::migration::Migrator::down(&conn, Some(1)).await.unwrap();
    ::migration::Migrator::up(&conn, None).await.unwrap();
    conn.close().await.ok();
}

/// Every packed seal with its salts line, in position order, as an
/// intruder who knows the format reads them.
pub async fn packed_seals(app: &TestApp) -> Vec<(Entry, String)> {
    let conn = app.db.connect().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT entries, salts FROM seal_batches ORDER BY last_txid, last_seq",
        ))
        .await
        .unwrap();
    conn.close().await.ok();
    let mut all = Vec::new();
    for row in rows {
        let bytes: Vec<u8> = row.try_get_by_index(0).unwrap();
        let salts: String = row.try_get_by_index(1).unwrap();
        let mut lines = salts.split('\n');
        for entry in seal_batch::unpack(&bytes).unwrap() {
            all.push((entry, lines.next().unwrap_or_default().to_owned()));
        }
    }
    all
}

/// Rewrites the packed seals as an intruder who knows the format could:
/// all of them, changed by `edit`, stored back as one batch.
pub async fn edit_packed_seals(app: &TestApp, edit: impl FnOnce(&mut Vec<(Entry, String)>)) {
    let mut all = packed_seals(app).await;
    edit(&mut all);
    store_packed_seals(app, all, usize::MAX).await;
}

/// Stores the packed seals again in batches of `per_batch`, as a sealer
/// that found that many rows each round would have.
pub async fn repack_seals(app: &TestApp, per_batch: usize) {
    let all = packed_seals(app).await;
    store_packed_seals(app, all, per_batch).await;
}

/// Replaces every row of `seal_batches` with `all`, `per_batch` a row, in
/// one transaction: the running server's sealer must never find the chain
/// empty, or it would seal every row again.
async fn store_packed_seals(app: &TestApp, all: Vec<(Entry, String)>, per_batch: usize) {
    let db = app.db.connect().await;
    let conn = db.begin().await.unwrap();
    let backend = conn.get_database_backend();
    conn.execute_unprepared("DELETE FROM seal_batches")
        .await
        .unwrap();
    for all in all.chunks(per_batch) {
        let (Some((first, _)), Some((last, _))) = (all.first(), all.last()) else {
            continue;
        };
        let entries: Vec<Entry> = all.iter().map(|(e, _)| *e).collect();
        let lines: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
        let sql = if backend == DbBackend::Postgres {
            "INSERT INTO seal_batches (last_txid, last_seq, first_txid, first_seq, entries, salts) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        } else {
            "INSERT INTO seal_batches (last_txid, last_seq, first_txid, first_seq, entries, salts) \
             VALUES (?, ?, ?, ?, ?, ?)"
        };
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                last.txid.into(),
                last.seq.into(),
                first.txid.into(),
                first.seq.into(),
                seal_batch::pack(&entries).into(),
                lines.join("\n").into(),
            ],
        ))
        .await
        .unwrap();
    }
    conn.commit().await.unwrap();
    db.close().await.ok();
}
