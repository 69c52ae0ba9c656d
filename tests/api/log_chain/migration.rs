//! The moves of each seal's salts, from `seal_salts` into `seals` and from
//! `seals` into packed batches: a sealed, partly erased log verifies the
//! same before, after the steps down and up again.

use migration::MigratorTrait;
use serde_json::json;
use uuid::Uuid;

use super::{log, sealed_through, signing_app, verify};
use crate::helpers::scalar;

const FORGET: &str = "mutation($u: UUID!, $r: String!) { forgetPerson(uuid: $u, reason: $r) { \
    activity { cursor } } }";

#[tokio::test]
async fn salts_and_erased_commitments_survive_the_move_out_of_seals_and_back() {
    // Arrange: a sealed log with one person erased and a row of someone else.
    let app = signing_app().await;
    let ann = Uuid::now_v7();
    app.upsert_users(json!([
        { "uuid": ann, "email": "ann.migrated@example.com", "firstName": "Ann", "lastName": "Moved" },
    ]))
    .await;
    log(
        &app,
        json!({ "action": "post.created", "actorUuid": ann, "metadata": { "title": "Mine", "by": "ann.migrated@example.com" } }),
    )
    .await;
    let other = log(
        &app,
        json!({ "action": "post.created", "targetUuid": Uuid::now_v7(), "metadata": { "title": "Other" } }),
    )
    .await;
    sealed_through(&app, &other["cursor"]).await;
    let entry = app
        .data(FORGET, json!({ "u": ann, "r": "request 7" }))
        .await["forgetPerson"]["activity"]
        .clone();
    sealed_through(&app, &entry["cursor"]).await;
    let before = verify(&app, json!({})).await;
    assert_eq!(before["valid"], true, "{before}");
    assert_eq!(before["erasedCount"], 2, "{before}");
    let conn = app.db.connect().await;
    let count = |sql: &'static str| scalar::<i64>(&conn, sql);
    let in_rows = (
        count("SELECT count(*) FROM seals").await,
        count("SELECT count(*) FROM seal_batches").await,
    );

    // Act: the steps down (the batches, the chain's epoch, then the salts'
    // move) unpack the batches into rows and put the salts back in
    // `seal_salts`; the steps up move them into `seals` again. Nothing is
    // written meanwhile, so the idle sealer reads no salt.
    migration::Migrator::down(&conn, Some(1)).await.unwrap();
    let unpacked = (
        count("SELECT count(*) FROM seals WHERE salts IS NOT NULL").await,
        count("SELECT count(*) FROM seals WHERE erased IS NOT NULL").await,
    );
    migration::Migrator::down(&conn, Some(2)).await.unwrap();
    let moved_out = (
        scalar::<i64>(&conn, "SELECT count(*) FROM seal_salts").await,
        scalar::<i64>(
            &conn,
            "SELECT count(*) FROM seal_salts WHERE erased IS NOT NULL",
        )
        .await,
    );
    migration::Migrator::up(&conn, None).await.unwrap();
    let after = verify(&app, json!({})).await;

    // Assert: the erased row was moved out of its batch; the other two
    // seals and the entry's stayed packed until the step down.
    assert_eq!(in_rows.0, 1, "the erased row's seal alone is a row");
    assert!(in_rows.1 >= 1, "{in_rows:?}");
    assert_eq!(unpacked, (3, 1), "two rows and the entry; one erased");
    assert_eq!(moved_out, (3, 1));
    assert_eq!(after, before);
    conn.close().await.ok();
    app.stop().await;
}
