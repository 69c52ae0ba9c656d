//! Open development mode (no key configured): allowed on loopback only.

use activity_feed::config::{DatabaseConfig, ServeConfig};
use activity_feed::startup::{Application, StartupError};
use serde_json::json;

use super::{assert_refused, SECRET};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn open_development_mode_is_refused_on_a_non_loopback_bind() {
    for bind in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
        // Arrange: no secret, no public key. The check comes before the
        // database is opened, so an in-memory one is enough.
        let database = DatabaseConfig {
            url: "sqlite::memory:".into(),
            ..DatabaseConfig::default()
        };
        let config = ServeConfig {
            bind: bind.parse().unwrap(),
            ..ServeConfig::default()
        };

        // Act
        let result = Application::build(&database, config).await;

        // Assert
        match result {
            Err(StartupError::Auth(message)) => {
                assert!(message.contains("refusing to listen"), "{bind}: {message}");
                assert!(message.contains("JWT_SECRET"), "{bind}: {message}");
            }
            Err(other) => panic!("{bind}: expected an auth error, got {other}"),
            Ok(_) => panic!("{bind}: open development mode started on a public address"),
        }
    }
}

#[tokio::test]
async fn a_public_bind_with_a_secret_starts_and_requires_tokens() {
    // Arrange
    let app = spawn_app_with(|config| {
        config.bind = "0.0.0.0:0".parse().unwrap();
        config.auth.jwt_secret = Some(SECRET.into());
    })
    .await;

    // Act
    let answer = app
        .graphql_authorized(None, "mutation { prune(days: 1) { deleted } }", json!({}))
        .await;

    // Assert
    assert_refused(&answer, "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn open_development_mode_on_loopback_lets_everyone_in_as_admin() {
    // Arrange: the harness binds 127.0.0.1 without a key.
    let app = spawn_app().await;

    // Act
    let answer = app
        .graphql_authorized(None, "mutation { prune(days: 1) { deleted } }", json!({}))
        .await;

    // Assert
    assert_eq!(
        answer.body,
        json!({ "data": { "prune": { "deleted": 0 } } })
    );
    app.stop().await;
}
