//! Seals packed one row per batch (`seal_batches`): verification pages
//! through batches and the rows moved out of them, and names a changed
//! entry's position. (Retention's trimming: `tamper.rs`, pruning.)

use serde_json::json;
use uuid::Uuid;

use entity::seal_batch::Entry;

use super::{
    edit_packed_seals, failed_at, log_batch, log_many, packed_seals, position, repack_seals,
    sealed_through, signing_app, verified, verify,
};
use crate::helpers::scalar;

const FORGET: &str = "mutation($u: UUID!, $r: String!) { forgetPerson(uuid: $u, reason: $r) { \
    activity { cursor } } }";

#[tokio::test]
async fn verification_pages_through_batches_and_the_rows_erasure_moved_out_of_them() {
    // Arrange: 2,500 rows, more than one page of verification (1,000) and
    // than one sealing batch (2,000), a person the actor of every 100th.
    let app = signing_app().await;
    let person = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": person, "email": "paged.person@example.com" }]))
        .await;
    for chunk in 0..5 {
        let inputs = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                if n % 100 == 0 {
                    json!({ "action": "packed.row", "actorUuid": person, "metadata": { "n": n } })
                } else {
                    json!({ "action": "packed.row", "metadata": { "n": n } })
                }
            })
            .collect();
        log_batch(&app.client, inputs).await;
    }
    let before = verified(&app.client, 2_500).await;
    assert_eq!(before["valid"], true, "{before}");
    assert!(
        packed_seals(&app).await.len() >= 2_500,
        "the sealer packed its seals"
    );
    // Small batches, as a quiet sealer's: a page of verification spans many.
    repack_seals(&app, 7).await;
    let repacked = verify(&app, json!({})).await;
    assert_eq!(repacked["valid"], true, "{repacked}");
    assert_eq!(repacked["checked"], 2_500, "{repacked}");

    // Act: the erasure moves the person's 25 seals out of their batches.
    let entry = app
        .data(FORGET, json!({ "u": person, "r": "request 9" }))
        .await["forgetPerson"]["activity"]
        .clone();
    sealed_through(&app, &entry["cursor"]).await;
    let after = verify(&app, json!({})).await;

    // Assert
    assert_eq!(after["valid"], true, "{after}");
    assert_eq!(after["checked"], 2_501, "{after}");
    assert_eq!(after["erasedCount"], 25, "{after}");
    let conn = app.db.connect().await;
    let moved: i64 = scalar(&conn, "SELECT count(*) FROM seals").await;
    assert_eq!(moved, 25, "one row per seal erasure changed");
    let blanked = packed_seals(&app)
        .await
        .into_iter()
        .filter(|(_, line)| line.is_empty())
        .count();
    assert_eq!(blanked, 25, "the moved seals' salts lines are blank");
    let batches: i64 = scalar(&conn, "SELECT count(*) FROM seal_batches").await;
    assert!(batches > 300, "{batches} batches");
    app.stop().await;
}

/// Where the entry at `position` is among `seals`.
fn index_of(seals: &[(Entry, String)], position: (i64, i64)) -> usize {
    seals
        .iter()
        .position(|(e, _)| (e.txid, e.seq) == position)
        .unwrap()
}

#[tokio::test]
async fn a_changed_hash_in_a_packed_entry_fails_as_changed_at_its_position() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 4).await;
    sealed_through(&app, &rows[3]["cursor"]).await;

    // Act: one bit of row 2's hash flipped in its batch.
    let target = position(&rows[2]["cursor"]);
    edit_packed_seals(&app, |seals| {
        let i = index_of(seals, target);
        seals[i].0.hash[0] ^= 1;
    })
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[2]["cursor"], "CHANGED_FIELD");
    app.stop().await;
}

#[tokio::test]
async fn two_packed_entries_swapped_fail_as_reordered() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 4).await;
    sealed_through(&app, &rows[3]["cursor"]).await;
    let (one, two) = (position(&rows[1]["cursor"]), position(&rows[2]["cursor"]));

    // Act: the entries of rows 1 and 2 trade places in their batch, each
    // keeping its own position, uuid and hash.
    edit_packed_seals(&app, |seals| {
        let (a, b) = (index_of(seals, one), index_of(seals, two));
        seals.swap(a, b);
    })
    .await;
    let report = verify(&app, json!({})).await;

    // Assert: read in position order, the entries are where they were.
    assert_eq!(report["valid"], true, "{report}");

    // Act: now the uuids trade places, as if the rows had been swapped.
    edit_packed_seals(&app, |seals| {
        let (a, b) = (index_of(seals, one), index_of(seals, two));
        let (ua, ub) = (seals[a].0.uuid, seals[b].0.uuid);
        seals[a].0.uuid = ub;
        seals[b].0.uuid = ua;
    })
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[1]["cursor"], "REORDERED_ROW");
    app.stop().await;
}
