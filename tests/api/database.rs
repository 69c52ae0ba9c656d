//! The data model as the migrations leave it, on either database: columns,
//! the metadata default, and the indexes the feed's queries need.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn activities_have_the_indexes_the_queries_need() {
    // Arrange
    let app = spawn_app().await;
    let db = app.db.connect().await;
    let sql = if app.db.is_postgres() {
        "SELECT i.relname::text AS idx, a.attname::text AS col
         FROM pg_index x
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_namespace ns ON ns.oid = t.relnamespace
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE t.relname = 'activities' AND ns.nspname = current_schema()
         ORDER BY i.relname, k.n"
    } else {
        "SELECT il.name AS idx, ii.name AS col
         FROM pragma_index_list('activities') il, pragma_index_info(il.name) ii
         ORDER BY il.name, ii.seqno"
    };

    // Act
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();

    // Assert
    let mut indexes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rows {
        let idx: String = r.try_get("", "idx").unwrap();
        let col: String = r.try_get("", "col").unwrap();
        indexes.entry(idx).or_default().push(col);
    }
    let column_lists: BTreeSet<Vec<String>> = indexes.into_values().collect();
    for wanted in [
        vec!["uuid"],
        vec!["inserted_at", "uuid"],
        vec!["action", "inserted_at"],
        vec!["actor_uuid", "inserted_at"],
        vec!["resource_type"],
        vec!["target_uuid"],
    ] {
        let wanted: Vec<String> = wanted.into_iter().map(String::from).collect();
        assert!(
            column_lists.contains(&wanted),
            "no index on {wanted:?}: {column_lists:?}"
        );
    }
    db.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn columns_have_their_types_lengths_and_nullability() {
    // Arrange
    let app = spawn_app().await;
    let db = app.db.connect().await;
    let backend = db.get_database_backend();

    // Act
    let columns: Vec<(String, String, String)> = if app.db.is_postgres() {
        db.query_all_raw(Statement::from_string(
            backend,
            "SELECT table_name::text AS t, column_name::text AS c,
                    data_type || coalesce('(' || character_maximum_length || ')', '') || ' ' || is_nullable AS d
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name IN ('activities', 'users')
             ORDER BY table_name, ordinal_position",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get("", "t").unwrap(),
                r.try_get("", "c").unwrap(),
                r.try_get("", "d").unwrap(),
            )
        })
        .collect()
    } else {
        let mut out = Vec::new();
        for table in ["activities", "users"] {
            let rows = db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT name, \"notnull\" AS nn FROM pragma_table_info('{table}') ORDER BY cid"),
                ))
                .await
                .unwrap();
            for r in rows {
                let nn: i32 = r.try_get("", "nn").unwrap();
                out.push((
                    table.to_owned(),
                    r.try_get("", "name").unwrap(),
                    if nn == 1 { "NO" } else { "YES" }.to_owned(),
                ));
            }
        }
        out
    };

    // Assert
    let expected_pg = [
        ("activities", "uuid", "uuid NO"),
        ("activities", "action", "character varying(100) NO"),
        ("activities", "module", "character varying(50) YES"),
        ("activities", "mode", "character varying(20) YES"),
        ("activities", "actor_uuid", "uuid YES"),
        ("activities", "resource_type", "character varying(50) YES"),
        ("activities", "resource_uuid", "uuid YES"),
        ("activities", "target_uuid", "uuid YES"),
        ("activities", "metadata", "jsonb NO"),
        ("activities", "inserted_at", "timestamp with time zone NO"),
        ("users", "uuid", "uuid NO"),
        ("users", "email", "character varying(320) YES"),
        ("users", "first_name", "character varying(100) YES"),
        ("users", "last_name", "character varying(100) YES"),
        ("users", "inserted_at", "timestamp with time zone NO"),
    ];
    let expected: Vec<(String, String, String)> = expected_pg
        .iter()
        .map(|(t, c, d)| {
            let d = if app.db.is_postgres() {
                d.to_string()
            } else {
                // SQLite keeps no lengths or types worth checking; nullability it does.
                d.rsplit(' ').next().unwrap().to_owned()
            };
            (t.to_string(), c.to_string(), d)
        })
        .collect();
    // Columns that later features add may follow; these must all be there.
    let missing: Vec<_> = expected.iter().filter(|c| !columns.contains(c)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {columns:?}");
    db.close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn metadata_defaults_to_an_empty_object_in_the_database() {
    // Arrange
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    app.db
        .execute(
            &format!(
                "INSERT INTO activities (uuid, action, inserted_at) VALUES (X'{}', 'raw.insert', '2026-01-01T00:00:00+00:00')",
                id.simple()
            ),
            &format!(
                "INSERT INTO activities (uuid, action, inserted_at) VALUES ('{id}', 'raw.insert', '2026-01-01T00:00:00Z')"
            ),
        )
        .await;

    // Act
    let read = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { action metadata insertedAt } }",
            json!({ "u": id }),
        )
        .await;

    // Assert
    assert_eq!(read["activity"]["action"], "raw.insert");
    assert_eq!(read["activity"]["metadata"], json!({}));
    app.stop().await;
}

#[tokio::test]
async fn postgres_connections_plan_for_the_actual_values_within_the_statement_timeout() {
    let db = crate::helpers::TestDb::new().await;
    if !db.runs_postgres_only() {
        return; // Both settings are PostgreSQL's; SQLite has neither.
    }
    let pool = activity_feed::db::connect(&db.config, &Default::default())
        .await
        .unwrap();

    let show = |setting: &'static str| {
        let pool = pool.clone();
        async move {
            let row = pool
                .query_one_raw(Statement::from_string(
                    pool.get_database_backend(),
                    format!("SHOW {setting}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0).unwrap()
        }
    };
    assert_eq!(show("plan_cache_mode").await, "force_custom_plan");
    assert_eq!(show("statement_timeout").await, "30s");
    pool.close().await.ok();
    db.remove().await;
}

#[tokio::test]
async fn postgres_connections_send_without_waiting_for_acknowledgements() {
    let db = crate::helpers::TestDb::new().await;
    if !db.runs_postgres_only() {
        return; // SQLite has no socket.
    }
    let pool = activity_feed::db::connect(&db.config, &Default::default())
        .await
        .unwrap();
    let sqlx_pool = pool.get_postgres_connection_pool();

    // Two connections at once, so that both are real pool connections.
    let mut a = sqlx_pool.acquire().await.unwrap();
    let mut b = sqlx_pool.acquire().await.unwrap();
    for conn in [&mut a, &mut b] {
        let (local, peer, search_path): (i32, i32, String) = sea_orm::sqlx::query_as(
            "SELECT inet_client_port(), inet_server_port(), current_setting('search_path')",
        )
        .fetch_one(&mut **conn)
        .await
        .unwrap();
        let nodelay = crate::sockets::nodelay_of(local as u16, peer as u16);
        assert_eq!(nodelay, Some(true), "TCP_NODELAY on {local} -> {peer}");
        // The hook that sets it also keeps the configured schema.
        let schema = db.config.schema.clone().unwrap();
        assert_eq!(search_path, schema);
    }
    drop((a, b));
    pool.close().await.ok();
    db.remove().await;
}

#[tokio::test]
async fn list_reads_decode_every_column_as_written() {
    use activity_feed::db::StatementCounter;
    use activity_feed::service::{ActivityFilter, Caller, FeedArgs, Limits, PageArgs};
    use activity_feed::startup::open_feed;
    use entity::{activity, user};
    use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};

    use crate::helpers::{at, row, TestDb};

    // Arrange: a person with every field, an activity with every column set
    // and that person as actor, one whose actor is unknown, one with none.
    let db = TestDb::new().await;
    let feed = open_feed(&db.config, Limits::default(), &StatementCounter::default())
        .await
        .unwrap();
    let conn = db.connect().await;
    let person = user::Model {
        uuid: Uuid::now_v7(),
        email: Some("ada@example.com".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        inserted_at: at("2026-01-02T03:04:05.123456Z"),
    };
    user::ActiveModel {
        uuid: Set(person.uuid),
        email: Set(person.email.clone()),
        first_name: Set(person.first_name.clone()),
        last_name: Set(person.last_name.clone()),
        inserted_at: Set(person.inserted_at),
    }
    .insert(&conn)
    .await
    .unwrap();
    let full = activity::Model {
        module: Some("billing".into()),
        mode: Some("manual".into()),
        actor_uuid: Some(person.uuid),
        resource_type: Some("invoice".into()),
        resource_uuid: Some(Uuid::now_v7()),
        target_uuid: Some(Uuid::now_v7()),
        metadata: json!({ "nested": { "list": [1, "two", null, 2.5] }, "ünï": "cödé" }),
        idempotency_key: Some("key-1".into()),
        correlation_id: Some("corr-1".into()),
        client_ip: Some("192.0.2.7".into()),
        user_agent: Some("agent/1.0".into()),
        idempotency_scope: None,
        ..row("every.column", at("2026-03-04T05:06:07.654321Z"))
    };
    let stranger = activity::Model {
        actor_uuid: Some(Uuid::now_v7()),
        ..row("unknown.actor", at("2026-03-04T05:06:06Z"))
    };
    let bare = row("no.actor", at("2026-03-04T05:06:05Z"));
    db.insert(&[full.clone(), stranger.clone(), bare.clone()])
        .await;
    let newest_first = vec![full, stranger, bare];

    // Act
    let slice = feed
        .feed(
            &Caller::SYSTEM,
            &ActivityFilter::default(),
            FeedArgs {
                first: Some(10),
                actors: true,
                ..FeedArgs::default()
            },
        )
        .await
        .unwrap();
    let page = feed
        .page(
            &Caller::SYSTEM,
            &ActivityFilter::default(),
            PageArgs {
                page: 1,
                per_page: 10,
                total: true,
                actors: false,
            },
        )
        .await
        .unwrap();
    let derived = activity::Entity::find()
        .order_by_desc(activity::Column::InsertedAt)
        .all(&conn)
        .await
        .unwrap();

    // Assert: what was written, as sea-orm's own decoding also reads it,
    // with the positions the database gave the rows in the order written.
    let unpositioned: Vec<activity::Model> = derived
        .iter()
        .map(|r| activity::Model {
            txid: 0,
            seq: 0,
            ..r.clone()
        })
        .collect();
    assert_eq!(unpositioned, newest_first);
    // Written in one statement as full, stranger, bare: the newest-first order here.
    let positions: Vec<(i64, i64)> = derived.iter().map(|r| (r.txid, r.seq)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(positions.iter().all(|&(_, seq)| seq > 0));
    assert_eq!(slice.entries, derived);
    assert_eq!(slice.actors, Some(vec![person]));
    assert_eq!(page.entries, derived);
    assert_eq!((page.total, page.actors), (Some(3), None));
    db.remove().await;
}

#[tokio::test]
async fn the_notifier_connection_sends_without_waiting_for_acknowledgements() {
    use activity_feed::bus::postgres::notifier_application_name;
    use sea_orm::Database;

    let app = spawn_app().await;
    if !app.db.runs_postgres_only() {
        app.stop().await;
        return; // SQLite has no notifier.
    }
    let admin = Database::connect(&app.db.config.url).await.unwrap();
    let channel = format!("activity_feed_{}", app.db.config.schema.as_deref().unwrap());
    // The server runs in this process, so its notifier is this process's.
    let name = notifier_application_name(std::process::id(), &channel);
    let sql = format!(
        "SELECT client_port, inet_server_port() FROM pg_stat_activity WHERE application_name = '{name}'"
    );
    let row = admin
        .query_one_raw(Statement::from_string(admin.get_database_backend(), sql))
        .await
        .unwrap()
        .expect("the notifier's connection");
    let local: i32 = row.try_get_by_index(0).unwrap();
    let peer: i32 = row.try_get_by_index(1).unwrap();

    let nodelay = crate::sockets::nodelay_of(local as u16, peer as u16);
    assert_eq!(nodelay, Some(true));
    admin.close().await.ok();
    app.stop().await;
}

/// A statement that never ends on its own: an endless count on SQLite, a
/// long sleep on PostgreSQL.
fn endless(db: &crate::helpers::TestDb) -> &'static str {
    if db.is_postgres() {
        "SELECT pg_sleep(3600)"
    } else {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    }
}

/// Long enough for anything the database owes us; never a measure of speed.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn a_statement_past_the_statement_timeout_is_stopped_and_its_connection_serves_the_next() {
    // Arrange: one connection, so the second statement needs the one the first held.
    let mut db = crate::helpers::TestDb::new().await;
    db.config.pool_size = 1;
    db.config.statement_timeout = std::time::Duration::from_millis(500);
    let pool = activity_feed::db::connect(&db.config, &Default::default())
        .await
        .unwrap();
    let backend = pool.get_database_backend();

    // Act
    let first = tokio::time::timeout(
        PATIENCE,
        pool.query_one_raw(Statement::from_string(backend, endless(&db))),
    )
    .await;
    let second = tokio::time::timeout(
        PATIENCE,
        pool.query_one_raw(Statement::from_string(backend, "SELECT 1")),
    )
    .await;

    // Assert
    let first = first.expect("the endless statement was never stopped");
    assert!(first.is_err(), "the endless statement returned {first:?}");
    let second = second.expect("the next statement never got the connection");
    assert!(second.is_ok(), "{second:?}");
    pool.close().await.ok();
    db.remove().await;
}

#[tokio::test]
async fn a_sqlite_statement_whose_request_ended_is_interrupted_at_once() {
    let mut db = crate::helpers::TestDb::new().await;
    if !db.runs_sqlite_only() {
        return; // PostgreSQL runs on to its statement timeout; the watchdog is SQLite's.
    }
    // Arrange: one connection, and a timeout far beyond the patience below.
    db.config.pool_size = 1;
    db.config.statement_timeout = std::time::Duration::from_secs(3600);
    let pool = activity_feed::db::connect(&db.config, &Default::default())
        .await
        .unwrap();
    let backend = pool.get_database_backend();

    // Act: a request that gives up on its statement, as a 408 does.
    let request = activity_feed::db::watchdog::request_scope(
        pool.query_one_raw(Statement::from_string(backend, endless(&db))),
    );
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(200), request).await;
    let next = tokio::time::timeout(
        PATIENCE,
        pool.query_one_raw(Statement::from_string(backend, "SELECT 1")),
    )
    .await;

    // Assert
    assert!(gave_up.is_err(), "the endless statement ended: {gave_up:?}");
    let next = next.expect("the statement of the ended request still holds the connection");
    assert!(next.is_ok(), "{next:?}");
    pool.close().await.ok();
    db.remove().await;
}
