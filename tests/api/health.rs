//! `/healthz` (the process is up) and `/readyz` (it can serve: its database
//! answers and live events flow).

use std::time::Duration;

use activity_feed::config::ServeConfig;
use activity_feed::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestDb};

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let res = http.get(url).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn healthz_and_readyz_are_ok_when_the_database_answers() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let health = get(&app.http, app.url("/healthz")).await;
    let ready = get(&app.http, app.url("/readyz")).await;

    // Assert
    assert_eq!(health, (200, json!({ "status": "ok" })));
    assert_eq!(
        ready,
        (
            200,
            json!({ "status": "ok", "database": "ok", "listener": "ok" })
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_unavailable_when_the_database_is_not_but_healthz_stays_up() {
    // Arrange: a server whose connection pool the test can close.
    let db = TestDb::new().await;
    let app = Application::build(
        &db.config,
        ServeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            retention_interval: Duration::ZERO,
            ..ServeConfig::default()
        },
    )
    .await
    .expect("server starts");
    let base = format!("http://{}", app.local_addr());
    let pool = app.feed().db().clone();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    pool.close_by_ref().await.unwrap();

    // Act
    let ready = get(&http, format!("{base}/readyz")).await;
    let health = get(&http, format!("{base}/healthz")).await;

    // Assert
    assert_eq!(
        ready,
        (
            503,
            json!({ "status": "unavailable", "database": "unreachable", "listener": "ok" })
        )
    );
    assert_eq!(health, (200, json!({ "status": "ok" })));
    shutdown.cancel();
    server.await.unwrap().unwrap();
    db.remove().await;
}

#[tokio::test]
async fn readyz_says_the_listener_is_unavailable_without_the_reason() {
    // Arrange: PostgreSQL's listener is the part that can fail; SQLite has none.
    let db = TestDb::new().await;
    if !db.runs_postgres_only() {
        return; // The listener exists on PostgreSQL only.
    }
    let app = crate::helpers::spawn_app_on(db, |c| {
        c.listener_max_reconnect_delay = Duration::from_millis(200);
    })
    .await;
    let schema = app.db.config.schema.clone().unwrap();
    let name = activity_feed::bus::postgres::listener_application_name(
        std::process::id(),
        &format!("activity_feed_{schema}"),
    );
    // After a reconnect the listener reads what it missed from the table;
    // with the table renamed that fails, with an error naming it.
    app.db
        .execute(
            "",
            &format!(
                "ALTER TABLE {schema}.activities RENAME TO activities_gone; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"
            ),
        )
        .await;

    // Act: poll until the listener is seen down.
    let mut ready = (0, Value::Null);
    for _ in 0..200 {
        ready = get(&app.http, app.url("/readyz")).await;
        if ready.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.db
        .execute(
            "",
            &format!("ALTER TABLE {schema}.activities_gone RENAME TO activities"),
        )
        .await;

    // Assert: a state, and nothing of the database's error text.
    assert_eq!(
        ready,
        (
            503,
            json!({ "status": "unavailable", "database": "ok", "listener": "unavailable" })
        )
    );
    app.stop().await;
}
