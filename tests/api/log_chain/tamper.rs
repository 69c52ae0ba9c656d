//! Tampering behind the server's back, and the first bad position verification names.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{json, Value};

use super::{
    at, cursor, edit_packed_seals, failed_at, log, log_many, packed_seals, position,
    prune_and_verify, repack_seals, sealed_through, sealed_within, signing_app, sql, unpack_seals,
    verify,
};
use crate::helpers::{row, scalar, spawn_app, Client};

/// Asserts `report` failed first at `at` for `reason`.
#[tokio::test]
async fn every_row_is_sealed_in_position_order_and_the_untouched_log_verifies() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 6).await;
    sealed_through(&app, &rows[5]["cursor"]).await;

    // Act
    let report = verify(&app, json!({})).await;
    let middle = verify(
        &app,
        json!({ "from": rows[2]["cursor"], "to": rows[4]["cursor"] }),
    )
    .await;

    // Assert
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 6);
    assert_eq!(report["unsealed"], 0);
    assert_eq!(report["lastVerified"], rows[5]["cursor"]);
    assert_eq!(report["failure"], Value::Null);
    assert_eq!(middle["valid"], true, "{middle}");
    assert_eq!(middle["checked"], 3);
    assert_eq!(middle["start"], rows[1]["cursor"]);
    assert_eq!(middle["lastVerified"], rows[4]["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn a_changed_metadata_value_fails_at_its_row() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    sealed_through(&app, &rows[4]["cursor"]).await;

    // Act
    sql(
        &app,
        &format!(
            "UPDATE activities SET metadata = '{{\"title\": \"Forged\", \"n\": 2}}' WHERE {}",
            at(&rows[2]["cursor"])
        ),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[2]["cursor"], "CHANGED_FIELD");
    assert_eq!(report["lastVerified"], rows[1]["cursor"]);
    assert_eq!(report["checked"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_changed_clear_field_or_a_value_where_none_was_sealed_fails_and_is_named() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 4).await;
    sealed_through(&app, &rows[3]["cursor"]).await;

    // Act: a person appears as the target of row 1, which had none.
    sql(
        &app,
        &format!(
            "UPDATE activities SET target_uuid = actor_uuid WHERE {}",
            at(&rows[1]["cursor"])
        ),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[1]["cursor"], "CHANGED_FIELD");
    assert_eq!(report["failure"]["field"], "target_uuid", "{report}");

    // Act: undo it, then change the action of row 3.
    sql(
        &app,
        &format!(
            "UPDATE activities SET target_uuid = NULL WHERE {}",
            at(&rows[1]["cursor"])
        ),
    )
    .await;
    sql(
        &app,
        &format!(
            "UPDATE activities SET action = 'chain.forged' WHERE {}",
            at(&rows[3]["cursor"])
        ),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[3]["cursor"], "CHANGED_FIELD");
    app.stop().await;
}

#[tokio::test]
async fn metadata_turned_from_an_object_into_any_other_json_value_fails_and_is_named() {
    // Arrange: a row with empty metadata, whose form commits to no key.
    let app = spawn_app().await;
    let bare = log(&app, json!({ "action": "chain.bare" })).await;
    let last = log(&app, json!({ "action": "chain.last" })).await;
    sealed_through(&app, &last["cursor"]).await;

    // Four forgeries in turn, then the sealed `{}` again.
    for stored in ["[]", "\"x\"", "5", "null", "{}"] {
        // Act
        sql(
            &app,
            &format!(
                "UPDATE activities SET metadata = '{stored}' WHERE {}",
                at(&bare["cursor"])
            ),
        )
        .await;
        let report = verify(&app, json!({})).await;

        // Assert
        if stored == "{}" {
            assert_eq!(report["valid"], true, "{report}");
        } else {
            failed_at(&report, &bare["cursor"], "CHANGED_FIELD");
            assert_eq!(report["failure"]["field"], "metadata", "{stored}: {report}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_row_deleted_in_the_middle_fails_as_missing_at_its_position() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    sealed_through(&app, &rows[4]["cursor"]).await;

    // Act
    sql(
        &app,
        &format!("DELETE FROM activities WHERE {}", at(&rows[2]["cursor"])),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[2]["cursor"], "MISSING_ROW");
    assert_eq!(report["lastVerified"], rows[1]["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn a_row_deleted_with_its_seal_and_salts_still_fails_as_missing_at_its_position() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    sealed_through(&app, &rows[4]["cursor"]).await;

    // Act: an intruder who knows the chain's tables removes every trace:
    // the row, and its seal from the packed batch.
    let gone = position(&rows[2]["cursor"]);
    sql(
        &app,
        &format!("DELETE FROM activities WHERE {}", at(&rows[2]["cursor"])),
    )
    .await;
    edit_packed_seals(&app, |seals| seals.retain(|(e, _)| (e.txid, e.seq) != gone)).await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[2]["cursor"], "MISSING_ROW");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_row_among_sealed_ones_fails_as_inserted() {
    // Arrange: a free position between two rows (on SQLite, positions are
    // consecutive; the counter skips a few as a test arrangement).
    let app = signing_app().await;
    let first = log_many(&app, 2).await;
    if !app.db.is_postgres() {
        sql(&app, "UPDATE activity_positions SET last = last + 5").await;
    }
    let later = log_many(&app, 2).await;
    sealed_through(&app, &later[1]["cursor"]).await;
    let (txid, seq) = position(&first[1]["cursor"]);
    let forged = cursor(txid, seq + 1);

    // Act: a copy of a row, with a new uuid, at the free position.
    let new_uuid = if app.db.is_postgres() {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    };
    sql(
        &app,
        &format!(
            "INSERT INTO activities (uuid, action, module, mode, actor_uuid, resource_type, \
             resource_uuid, target_uuid, metadata, inserted_at, correlation_id, client_ip, \
             user_agent, txid, seq, search_text) \
             SELECT {new_uuid}, 'chain.forged', module, mode, actor_uuid, resource_type, \
             resource_uuid, target_uuid, metadata, inserted_at, correlation_id, client_ip, \
             user_agent, txid, seq + 1, search_text FROM activities WHERE {}",
            at(&first[1]["cursor"])
        ),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &forged, "INSERTED_ROW");
    assert_eq!(report["lastVerified"], first[1]["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn two_rows_whose_positions_are_swapped_fail_as_reordered() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    sealed_through(&app, &rows[4]["cursor"]).await;
    let ((t1, s1), (t3, s3)) = (position(&rows[1]["cursor"]), position(&rows[3]["cursor"]));

    // Act: through a free position, as the unique index requires.
    for (from, to) in [
        ((t1, s1), (-1, -1)),
        ((t3, s3), (t1, s1)),
        ((-1, -1), (t3, s3)),
    ] {
        sql(
            &app,
            &format!(
                "UPDATE activities SET txid = {}, seq = {} WHERE txid = {} AND seq = {}",
                to.0, to.1, from.0, from.1
            ),
        )
        .await;
    }
    let report = verify(&app, json!({})).await;

    // Assert
    failed_at(&report, &rows[1]["cursor"], "REORDERED_ROW");
    assert_eq!(report["lastVerified"], rows[0]["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_newest_rows_is_caught_only_against_a_head_kept_earlier() {
    // Arrange: a head saved when row 4 was the newest.
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    let head = sealed_through(&app, &rows[4]["cursor"]).await;
    assert_eq!(
        head["signature"].as_str().map(str::len),
        Some(128),
        "{head}"
    );

    // Act: the two newest rows go, with their seals and salts.
    for row in &rows[3..] {
        sql(
            &app,
            &format!("DELETE FROM activities WHERE {}", at(&row["cursor"])),
        )
        .await;
    }
    let kept = position(&rows[2]["cursor"]);
    edit_packed_seals(&app, |seals| seals.retain(|(e, _)| (e.txid, e.seq) <= kept)).await;
    let alone = verify(&app, json!({})).await;
    let against_head = verify(&app, json!({ "head": head })).await;

    // Assert: consistent on its own, which is why heads must be kept elsewhere.
    assert_eq!(alone["valid"], true, "{alone}");
    failed_at(&against_head, &rows[4]["cursor"], "MISSING_ROW");
    assert_eq!(against_head["lastVerified"], rows[2]["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn a_head_verifies_and_one_altered_anywhere_fails_as_bad_signature() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 3).await;
    let head = sealed_through(&app, &rows[2]["cursor"]).await;
    let more = log_many(&app, 2).await;
    sealed_through(&app, &more[1]["cursor"]).await;

    // Act
    let good = verify(&app, json!({ "head": head })).await;
    let mut altered = Vec::new();
    for (field, value) in [
        ("hash", json!("0".repeat(64))),
        ("position", rows[1]["cursor"].clone()),
        ("signedAt", json!("2020-01-01T00:00:00.000000Z")),
        ("signature", json!("00".repeat(64))),
    ] {
        let mut bad = head.clone();
        bad[field] = value;
        altered.push((field, verify(&app, json!({ "head": bad })).await));
    }

    // Assert
    assert_eq!(good["valid"], true, "{good}");
    assert_eq!(good["headChecked"], true, "{good}");
    for (field, report) in altered {
        assert_eq!(
            report["failure"]["reason"], "BAD_SIGNATURE",
            "{field}: {report}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_chain_rewritten_from_a_changed_row_on_fails_against_a_head() {
    // Arrange
    let app = signing_app().await;
    let rows = log_many(&app, 3).await;
    let head = sealed_through(&app, &rows[2]["cursor"]).await;

    // Act: the intruder changes row 1 and stores matching seals for it and
    // after it: the server recomputes them, as an intruder with our code could
    // (the change raised the chain's epoch, so the server's sealer reads the
    // rows again rather than sealing its publisher's copies).
    sql(
        &app,
        &format!(
            "UPDATE activities SET action = 'chain.forged' WHERE {}",
            at(&rows[1]["cursor"])
        ),
    )
    .await;
    let kept = position(&rows[0]["cursor"]);
    edit_packed_seals(&app, |seals| seals.retain(|(e, _)| (e.txid, e.seq) <= kept)).await;
    sealed_through(&app, &rows[2]["cursor"]).await;
    let alone = verify(&app, json!({})).await;
    let against_head = verify(&app, json!({ "head": head })).await;

    // Assert
    assert_eq!(alone["valid"], true, "{alone}");
    failed_at(&against_head, &rows[2]["cursor"], "CHANGED_FIELD");
    app.stop().await;
}

#[tokio::test]
async fn pruning_keeps_the_chain_verifiable_from_the_oldest_kept_row() {
    // Arrange: two old rows, new ones, then one more old row after them.
    let app = signing_app().await;
    let now = Utc::now();
    app.db
        .insert(&[
            row("old.1", now - TimeDelta::days(40)),
            row("old.2", now - TimeDelta::days(35)),
        ])
        .await;
    let kept = log_many(&app, 3).await;
    app.db
        .insert(&[row("old.3", now - TimeDelta::days(31))])
        .await;
    let last = log(&app, json!({ "action": "chain.last" })).await;
    sealed_through(&app, &last["cursor"]).await;
    // One batch, so that the anchor falls inside it, whatever rounds the
    // sealer took.
    repack_seals(&app, usize::MAX).await;
    let packed = packed_seals(&app).await.len();

    // Act
    let (pruned, report) = prune_and_verify(&app, 30).await;

    // Assert: the prefix is the anchor; the later old row is carried by its seal.
    assert_eq!(pruned, 3);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 4);
    assert_eq!(report["pruned"], 1);
    let (kt, ks) = position(&kept[0]["cursor"]);
    let (st, ss) = position(&report["start"]);
    assert!(
        (st, ss) < (kt, ks),
        "the anchor {} is before the oldest kept row",
        report["start"]
    );
    // The prefix's packed entries went with it; the carried row's seal
    // moved out of its batch into a row marked pruned.
    let left = packed_seals(&app).await;
    assert_eq!(left.len(), packed - 2, "{left:?}");
    assert!(
        left.iter().all(|(e, _)| (e.txid, e.seq) > (st, ss)),
        "{left:?}"
    );
    let conn = app.db.connect().await;
    let carried: i64 = scalar(&conn, "SELECT count(*) FROM seals WHERE pruned = true").await;
    assert_eq!(carried, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_prune_of_several_batches_that_carries_rows_across_a_kept_one_verifies() {
    // Arrange: more old rows than one batch holds, logged in the opposite
    // order of their times (so that batches, oldest first, are not a prefix
    // of the chain), a new row, then old rows after it, which its seal must
    // carry once they are gone.
    let app = signing_app().await;
    let now = Utc::now();
    let before: Vec<_> = (0..5_500i64)
        .map(|i| {
            row(
                "old.before",
                now - TimeDelta::days(40) + TimeDelta::seconds(-i),
            )
        })
        .collect();
    app.db.insert(&before).await;
    let kept = log(&app, json!({ "action": "chain.kept" })).await;
    let after: Vec<_> = (0..10i64)
        .map(|i| {
            row(
                "old.after",
                now - TimeDelta::days(35) + TimeDelta::seconds(i),
            )
        })
        .collect();
    app.db.insert(&after).await;
    let last = log(&app, json!({ "action": "chain.last" })).await;
    sealed_within(&app, &last["cursor"], Duration::from_secs(60)).await;

    // Act
    let (pruned, report) = prune_and_verify(&app, 30).await;

    // Assert: the rows before the kept one went into the anchor, the ten
    // after it are carried by their pruned seals, and everything verifies.
    assert_eq!(pruned, 5_510);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["pruned"], 10, "{report}");
    assert_eq!(report["checked"], 2, "{report}");
    let (kt, ks) = position(&kept["cursor"]);
    let (st, ss) = position(&report["start"]);
    assert!((st, ss) < (kt, ks), "{report}");
    app.stop().await;
}

#[tokio::test]
async fn a_seal_keeps_salts_for_committed_fields_and_null_for_a_row_without_any() {
    // Arrange: a row with no field that may hold personal data, and one with
    // an actor and metadata.
    let app = signing_app().await;
    let bare = log(&app, json!({ "action": "chain.bare" })).await;
    let personal = log_many(&app, 1).await.remove(0);
    sealed_through(&app, &personal["cursor"]).await;

    // Act: each packed seal's salts line, and each seal's salts once moved
    // out of its batch into a row of `seals`.
    let lines = packed_seals(&app).await;
    let line = |row: &Value| {
        let at = position(&row["cursor"]);
        lines
            .iter()
            .find(|(e, _)| (e.txid, e.seq) == at)
            .map(|(_, l)| l.clone())
            .unwrap()
    };
    let (bare_line, personal_line) = (line(&bare), line(&personal));
    unpack_seals(&app).await;
    let conn = app.db.connect().await;
    let salts = |row: &Value| {
        let (txid, seq) = position(&row["cursor"]);
        format!("SELECT salts FROM seals WHERE txid = {txid} AND seq = {seq}")
    };
    let bare_salts: Option<String> = scalar(&conn, &salts(&bare)).await;
    let personal_salts: Option<String> = scalar(&conn, &salts(&personal)).await;

    // Assert: an empty line and NULL for the row without any.
    assert_eq!(bare_line, "");
    assert_eq!(bare_salts, None);
    assert_eq!(personal_salts.as_deref(), Some(personal_line.as_str()));
    let personal_salts: Value = serde_json::from_str(&personal_salts.unwrap()).unwrap();
    assert!(personal_salts["actor_uuid"].is_string(), "{personal_salts}");
    assert!(
        personal_salts["metadata"]["title"].is_string(),
        "{personal_salts}"
    );
    assert_eq!(verify(&app, json!({})).await["valid"], true);
    app.stop().await;
}

#[tokio::test]
async fn sealing_keeps_up_with_concurrent_writers_and_seals_each_row_once() {
    // Arrange
    let app = spawn_app().await;
    let writers = (0..8).map(|w| {
        let client = app.client.clone();
        tokio::spawn(async move {
            let mut last = Value::Null;
            for b in 0..5 {
                let inputs: Vec<Value> = (0..20)
                    .map(|i| json!({ "action": format!("load.{w}.{b}.{i}") }))
                    .collect();
                let data = client
                    .data(
                        "mutation($i: [LogInput!]!) { logActivities(inputs: $i) { activities { cursor } } }",
                        json!({ "i": inputs }),
                    )
                    .await;
                last = data["logActivities"]["activities"][19]["cursor"].clone();
            }
            last
        })
    });

    // Act
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let mut report = Value::Null;
    for _ in 0..200 {
        report = super::verify(&app, json!({})).await;
        if report["unsealed"] == 0 && report["checked"] == 800 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Assert
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 800, "{report}");
    app.stop().await;
}

#[tokio::test]
async fn a_sealer_stuck_mid_batch_keeps_no_writer_or_subscriber_waiting() {
    // Arrange: the server's own sealer stopped inside its batch, after its
    // INSERT took a transaction id. The test keeps it out with the chain's
    // lock until a row is logged, seals that row itself without committing,
    // and lets go: the sealer's INSERT then waits on that seal.
    let app = spawn_app().await;
    if !app.db.runs_postgres_only() {
        app.stop().await;
        return;
    }
    let before = log(&app, json!({ "action": "chain.before" })).await;
    sealed_through(&app, &before["cursor"]).await;
    let conn = app.db.connect().await;
    let blocker = conn.begin().await.unwrap();
    let lock = "hashtext('activity-feed seal ' || current_schema())";
    // Declared bookkeeping, so that this transaction holds back no delivery.
    blocker
        .execute_unprepared(activity_feed::service::position::BOOKKEEPING_SQL)
        .await
        .unwrap();
    blocker
        .execute_unprepared(&format!("SELECT pg_advisory_lock({lock})"))
        .await
        .unwrap();
    let next = log(&app, json!({ "action": "chain.next" })).await;
    let (txid, seq) = position(&next["cursor"]);
    blocker
        .execute_unprepared(&format!(
            "INSERT INTO seal_batches (last_txid, last_seq, first_txid, first_seq, entries, salts) \
             VALUES ({txid}, {seq}, {txid}, {seq}, '\\x', '')"
        ))
        .await
        .unwrap();
    blocker
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({lock})"))
        .await
        .unwrap();
    let blocker_pid: i32 = blocker
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE {blocker_pid} = ANY(pg_blocking_pids(pid)) \
         AND query LIKE 'INSERT INTO seal%'"
    );
    let mut stuck = 0i64;
    for _ in 0..200 {
        stuck = scalar(&conn, &waiting).await;
        if stuck == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(stuck, 1, "the sealer never reached its INSERT");
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        r#"subscription { activityAdded(filter: {action: "chain.during"}) { uuid } }"#,
        json!({}),
    )
    .await;

    // Act: a write, and its live delivery, while the sealer is stuck.
    let during = log(&app, json!({ "action": "chain.during" })).await;
    let delivered = ws.next_data().await;
    let still_stuck: i64 = scalar(&conn, &waiting).await;
    blocker.rollback().await.unwrap();

    // Assert
    assert_eq!(delivered["activityAdded"]["uuid"], during["uuid"]);
    assert_eq!(still_stuck, 1);
    sealed_through(&app, &during["cursor"]).await;
    let report = verify(&app, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    app.stop().await;
}

#[tokio::test]
async fn the_signed_head_is_logged_as_a_checkpoint_that_verifies() {
    // Arrange
    let app = super::signing_app_with(|config| {
        config.checkpoint_interval = Duration::from_secs(3600);
    })
    .await;
    let rows = log_many(&app, 2).await;

    // Act: the sealer logs the first checkpoint once it sealed something.
    let mut checkpoint = Value::Null;
    for _ in 0..200 {
        let found = app
            .data(
                "{ activities(filter: {action: \"log.checkpoint\"}) { entries { metadata module } } }",
                json!({}),
            )
            .await["activities"]["entries"]
            .clone();
        if let Some(first) = found.as_array().and_then(|a| a.first()) {
            checkpoint = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let head = checkpoint["metadata"].clone();
    let report = verify(&app, json!({ "head": head })).await;
    let count = app.count(json!({ "action": "log.checkpoint" })).await;

    // Assert: one checkpoint within the interval, its head reached by the chain.
    assert_eq!(checkpoint["module"], "log", "{checkpoint}");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["headChecked"], true, "{report}");
    let (ht, hs) = position(&head["position"]);
    assert!((ht, hs) >= position(&rows[0]["cursor"]), "{head}");
    assert_eq!(count, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_row_deleted_with_its_seal_marked_pruned_fails_as_missing_unless_older_than_every_kept_row(
) {
    use activity_feed::service::seal::form::{canonical_form, commitments, FieldMap};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    // Arrange: a sealed log, and the form of its middle row as an intruder
    // who reads the tables computes it.
    let app = signing_app().await;
    let rows = log_many(&app, 5).await;
    sealed_through(&app, &rows[4]["cursor"]).await;
    unpack_seals(&app).await;
    let conn = app.db.connect().await;
    let (txid, seq) = position(&rows[2]["cursor"]);
    let row = entity::activity::Entity::find()
        .filter(entity::activity::Column::Txid.eq(txid))
        .filter(entity::activity::Column::Seq.eq(seq))
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    let salts: Option<String> = scalar(
        &conn,
        &format!("SELECT salts FROM seals WHERE txid = {txid} AND seq = {seq}"),
    )
    .await;
    let salts = FieldMap::from_json(salts.as_deref().unwrap()).unwrap();
    let form = canonical_form(
        &row,
        &commitments(&row, &salts, &FieldMap::default()).object,
    );
    let mark = |form: Option<&str>| {
        format!(
            "UPDATE seals SET pruned = true, salts = NULL, form = {} WHERE txid = {txid} AND seq = {seq}",
            form.map_or("NULL".to_owned(), |f| format!("'{}'", f.replace('\'', "''")))
        )
    };

    // Act: the row goes and its seal is marked pruned, first bare, then
    // with the exact form, then with a form that says it was logged long ago.
    sql(
        &app,
        &format!("DELETE FROM activities WHERE {}", at(&rows[2]["cursor"])),
    )
    .await;
    sql(&app, &mark(None)).await;
    let bare = verify(&app, json!({})).await;
    sql(&app, &mark(Some(&form))).await;
    let exact = verify(&app, json!({})).await;
    let old = row.inserted_at.timestamp_micros().to_string();
    let backdated = form.replacen(
        &old,
        &(row.inserted_at.timestamp_micros() - 86_400_000_000 * 40).to_string(),
        1,
    );
    assert_ne!(backdated, form);
    sql(&app, &mark(Some(&backdated))).await;
    let forged = verify(&app, json!({})).await;

    // Assert
    for (report, says) in [
        (&bare, "without the form"),
        (&exact, "rows logged before it are kept"),
        (&forged, "does not give the seal's hash"),
    ] {
        failed_at(report, &rows[2]["cursor"], "MISSING_ROW");
        let message = report["failure"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{report}");
    }
    conn.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn a_verification_running_while_prunes_commit_never_reports_tampering() {
    // Arrange: eight cohorts of old rows, each a day older than the next,
    // and enough rows that a verification reads several pages.
    let app = signing_app().await;
    let now = Utc::now();
    for cohort in 0..8i64 {
        let rows: Vec<_> = (0..400i64)
            .map(|i| {
                row(
                    "old.cohort",
                    now - TimeDelta::days(40 - cohort) - TimeDelta::seconds(i),
                )
            })
            .collect();
        app.db.insert(&rows).await;
    }
    let last = log(&app, json!({ "action": "chain.last" })).await;
    sealed_within(&app, &last["cursor"], Duration::from_secs(60)).await;

    // Act: the cohorts are pruned one by one, oldest first, while
    // verifications run back to back.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let verifier = {
        let (app, done) = (Client::new(app.client.addr), done.clone());
        tokio::spawn(async move {
            let mut reports = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                reports.push(app.data(super::VERIFY, json!({})).await["verifyLog"].clone());
            }
            reports
        })
    };
    for days in (33..=40).rev() {
        app.data(
            "mutation($d: Int!) { pruneActivities(days: $d) { deleted } }",
            json!({ "d": days }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reports = verifier.await.unwrap();

    // Assert
    assert!(reports.len() >= 2, "{} verifications ran", reports.len());
    for report in &reports {
        assert_eq!(report["valid"], true, "{report}");
    }
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}
