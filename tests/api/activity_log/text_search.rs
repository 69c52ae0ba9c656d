//! `ActivityFilter.metadataText`: every word of the query among the words of
//! the metadata's values — full text on PostgreSQL, FTS5 on SQLite, the same
//! rule for live subscribers.

use std::collections::{BTreeSet, HashMap};

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use super::{collect_events, log, subscribe_filters, uuids_matching};
use crate::helpers::{spawn_app, spawn_app_on, TestDb};

const ACTION: &str = "text.tested";

fn rows() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"title": "Quarterly report", "body": "Revenue grew in Q3"}),
        ),
        (
            "b",
            json!({"title": "Weekly Report", "author": {"name": "Ada Lovelace"}}),
        ),
        (
            "c",
            json!({"comments": ["Great work!", "needs review"], "count": 42}),
        ),
        (
            "d",
            json!({"title": "REPORT-2026 final_draft", "price": 9.75}),
        ),
        (
            "e",
            json!({"report": "keys are not searched", "flag": true}),
        ),
        ("f", json!({})),
        ("g", json!({"deep": [[{"x": {"y": "Zürich café"}}]]})),
    ]
}

fn cases() -> Vec<(&'static str, &'static str)> {
    vec![
        ("report", "abd"),
        ("Report QUARTERLY", "a"),
        ("quarterly weekly", ""),
        ("ada", "b"),
        ("lovelace, ada!", "b"),
        ("review", "c"),
        ("42", "c"),
        ("9", "d"),
        ("75", "d"),
        ("2026", "d"),
        ("final draft", "d"),
        ("grew q3", "a"),
        ("repo", ""),
        ("true", ""),
        ("searched keys", "e"),
        ("zürich", "g"),
        ("café", "g"),
        ("nothing", ""),
    ]
}

#[tokio::test]
async fn text_search_matches_the_same_rows_stored_and_live() {
    let app = spawn_app().await;
    let cases = cases();
    let filters: Vec<Value> = cases
        .iter()
        .map(|(q, _)| json!({"action": ACTION, "metadataText": q}))
        .collect();
    let mut ws = app.websocket().await;
    subscribe_filters(&app, &mut ws, &filters).await;

    let mut uuid_of = HashMap::new();
    for (name, metadata) in rows() {
        let row = log(&app, json!({"action": ACTION, "metadata": metadata})).await;
        uuid_of.insert(
            name.chars().next().unwrap(),
            row["uuid"].as_str().unwrap().to_owned(),
        );
    }
    let expected: Vec<BTreeSet<String>> = cases
        .iter()
        .map(|(_, names)| names.chars().map(|c| uuid_of[&c].clone()).collect())
        .collect();
    for (i, filter) in filters.iter().enumerate() {
        let stored = uuids_matching(&app, None, filter.clone()).await;
        assert_eq!(stored, expected[i], "stored rows for {:?}", cases[i].0);
    }
    let total = expected.iter().map(BTreeSet::len).sum();
    let live = collect_events(&mut ws, total, cases.len()).await;
    for (i, (query, _)) in cases.iter().enumerate() {
        assert_eq!(live[i], expected[i], "live rows for {query:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_query_without_words_sets_no_condition() {
    let app = spawn_app().await;
    log(&app, json!({"action": "a", "metadata": {"t": "x"}})).await;
    log(&app, json!({"action": "b"})).await;
    for query in ["", "   ", "!?,;"] {
        assert_eq!(
            uuids_matching(&app, None, json!({"metadataText": query}))
                .await
                .len(),
            2,
            "{query:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn text_search_combines_with_other_filters_and_follows_deletes() {
    let app = spawn_app().await;
    log(
        &app,
        json!({"action": "ticket.opened", "metadata": {"subject": "Printer on fire"}}),
    )
    .await;
    let fixed = log(
        &app,
        json!({"action": "ticket.closed", "metadata": {"subject": "Printer fixed"}}),
    )
    .await;
    let data = app
        .data(
            r#"{ all: activityCount(filter: {metadataText: "printer"})
                 opened: activityCount(filter: {metadataText: "printer", action: "ticket.opened"})
                 both: activityCount(filter: {metadataText: "fire", metadata: {subject: "Printer on fire"}}) }"#,
            json!({}),
        )
        .await;
    assert_eq!(data, json!({"all": 2, "opened": 1, "both": 1}));

    // A row deleted behind the service's back (as a prune deletes) leaves the
    // index too, and the index goes on taking new rows.
    let db = activity_feed::db::connect(&app.db.config, &Default::default())
        .await
        .expect("connect");
    let uuid = uuid::Uuid::parse_str(fixed["uuid"].as_str().unwrap()).unwrap();
    entity::activity::Entity::delete_by_id(uuid)
        .exec(&db)
        .await
        .expect("delete");
    db.close().await.ok();
    log(
        &app,
        json!({"action": "ticket.opened", "metadata": {"subject": "printer again"}}),
    )
    .await;
    let data = app
        .data(
            r#"{ printer: activityCount(filter: {metadataText: "printer"}) fixed: activityCount(filter: {metadataText: "fixed"}) }"#,
            json!({}),
        )
        .await;
    assert_eq!(data, json!({"printer": 2, "fixed": 0}));
    app.stop().await;
}

/// What `m20261128_000004` used to write for older rows, in SQL: on
/// PostgreSQL split at `[^[:alnum:]]`, which follows the database's locale;
/// on SQLite whole values, lower-cased in ASCII only.
const OLD_BACKFILL_SQLITE: &str = "UPDATE activities SET search_text = coalesce((\
    SELECT group_concat(lower(value), ' ') FROM json_tree(activities.metadata) \
    WHERE type IN ('text', 'integer', 'real')), '')";
const OLD_BACKFILL_POSTGRES: &str = "UPDATE activities SET search_text = coalesce((\
    SELECT string_agg(lower(regexp_replace(v #>> '{}', '[^[:alnum:]]+', ' ', 'g')), ' ') \
    FROM jsonb_path_query(activities.metadata, 'strict $.**') AS v \
    WHERE jsonb_typeof(v) IN ('string', 'number')), '')";

#[tokio::test]
async fn rows_older_than_text_search_get_the_services_words_whatever_the_locale() {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;

    // Arrange: a database from before text search with a row of non-ASCII
    // words, then indexed by the SQL backfill earlier versions ran.
    let db = TestDb::new().await;
    let conn = db.connect().await;
    migration::Migrator::up(&conn, Some(3))
        .await
        .expect("the first three migrations");
    let old = uuid::Uuid::now_v7();
    let metadata = json!({"title": "Café-au-lait x² İstanbul", "tags": ["ÜBER straße", 1.5]});
    db.execute(
        &format!(
            "INSERT INTO activities (uuid, action, metadata, inserted_at) \
             VALUES (X'{}', '{ACTION}', '{metadata}', '2026-11-30T00:00:00+00:00')",
            old.simple()
        ),
        &format!(
            "INSERT INTO activities (uuid, action, metadata, inserted_at) \
             VALUES ('{old}', '{ACTION}', '{metadata}', '2026-11-30T00:00:00Z')"
        ),
    )
    .await;
    // One more: m20261128_000004, text search.
    migration::Migrator::up(&conn, Some(1))
        .await
        .expect("text search");
    conn.close().await.ok();
    db.execute(OLD_BACKFILL_SQLITE, OLD_BACKFILL_POSTGRES).await;

    // Act: the server migrates the rest at start.
    let app = spawn_app_on(db, |c| c.retention_days = 3650).await;
    let fresh = log(&app, json!({"action": ACTION, "metadata": metadata})).await;

    // Assert: the old row holds exactly the words the service writes, and
    // the same searches find it as find a row written today.
    let conn = app.db.connect().await;
    let stored: Vec<String> = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT search_text FROM activities ORDER BY uuid",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "search_text").unwrap())
        .collect();
    conn.close().await.ok();
    let words = activity_feed::service::search::search_text(&metadata);
    assert_eq!(stored, [words.clone(), words]);
    for query in ["x²", "café", "straße", "über", "1"] {
        let found = uuids_matching(&app, None, json!({"metadataText": query})).await;
        let expected: BTreeSet<String> =
            [old.to_string(), fresh["uuid"].as_str().unwrap().to_owned()]
                .into_iter()
                .collect();
        assert_eq!(found, expected, "{query}");
    }
    app.stop().await;
}
