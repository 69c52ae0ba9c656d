//! Several instances sealing one PostgreSQL database: they share one chain,
//! every row is sealed once, and when one dies while rows are written the
//! other seals the rest.

use std::time::Duration;

use serde_json::{json, Value};

use super::{log_batch, verified};
use crate::helpers::{Client, TestDb};
use crate::instances::Instance;

/// Rows each writer logs: batches of 20.
const BATCHES: usize = 5;

/// Four writers on each client at once, each logging [`BATCHES`] batches of
/// 20; returns how many rows they logged.
async fn write(clients: &[&Client], tag: &str) -> u64 {
    let mut writers = tokio::task::JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        for w in 0..4 {
            let client = (*client).clone();
            let tag = format!("{tag}.{c}.{w}");
            writers.spawn(async move {
                for b in 0..BATCHES {
                    let inputs: Vec<Value> = (0..20)
                        .map(|i| json!({ "action": format!("{tag}.{b}.{i}") }))
                        .collect();
                    log_batch(&client, inputs).await;
                }
            });
        }
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    (clients.len() * 4 * BATCHES * 20) as u64
}

#[tokio::test]
async fn two_sealing_instances_keep_one_chain_and_one_seals_the_rest_when_the_other_is_killed() {
    // Arrange: two instances, both sealing (the default).
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return;
    }
    let a = Instance::start(&db, &[]).await;
    let b = Instance::start(&db, &[]).await;

    // Act: writers on both at once, then on `b` alone while `a` is killed.
    let first = write(&[&a.client, &b.client], "both").await;
    let together = verified(&b.client, first).await;
    let more = tokio::spawn({
        let b = b.client.clone();
        async move { write(&[&b], "after").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.kill().await;
    let second = more.await.unwrap();
    let after = verified(&b.client, first + second).await;

    // Assert: one chain over every row, each sealed once, nothing unsealed.
    assert_eq!(together["valid"], true, "{together}");
    assert_eq!(together["checked"], first, "{together}");
    assert_eq!(after["valid"], true, "{after}");
    assert_eq!(after["checked"], first + second, "{after}");
    assert_eq!(after["unsealed"], 0, "{after}");
    b.terminate().await;
    db.remove().await;
}
