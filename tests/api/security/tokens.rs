//! Bearer tokens the server must refuse: forged, expired, of an algorithm
//! it was not configured for, unsigned, of an unknown role, a user without a
//! uuid, garbage, other schemes. And RS256 with a test-only key pair.
//!
//! One file because every case shares the same few token builders and the
//! same secured server.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use uuid::Uuid;

use super::{
    assert_refused, data_as, hs256, hs256_with, rs256_with, secured_app, Db, RSA_OTHER_PRIVATE_PEM,
    RSA_PRIVATE_PEM, RSA_PUBLIC_PEM, SECRET,
};
use crate::helpers::{spawn_app_with, TestApp};

/// A read and a write that a valid admin token may do.
const READ: &str = "{ activityCount }";
const WRITE: &str = "mutation { log(input: {action: \"token.test\"}) { activity { uuid } } }";

/// `header.payload.` with no signature, as an "alg": "none" token is.
fn unsigned(role: &str, sub: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(
        json!({ "sub": sub, "role": role, "exp": chrono::Utc::now().timestamp() + 3600 })
            .to_string(),
    );
    format!("{header}.{payload}.")
}

/// `token` with its payload replaced by `claims` and the original signature kept.
fn with_payload(token: &str, claims: serde_json::Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// A token signed with HS256 where the "secret" is the server's RSA public
/// key: the classic algorithm-confusion forgery.
fn hs256_keyed_with_the_public_key(role: &str) -> String {
    let public = std::fs::read_to_string(RSA_PUBLIC_PEM).unwrap();
    hs256_with(&public, role, &Uuid::now_v7().to_string(), 3600)
}

/// `claims` as they are, signed with [`SECRET`] (HS256).
fn signed(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("HS256 token")
}

/// Asserts that `authorization` neither reads nor writes, and writes no row.
async fn assert_unauthenticated(app: &TestApp, db: &Db, label: &str, authorization: Option<&str>) {
    let before = db.rows().await;
    for document in [READ, WRITE] {
        let answer = app
            .graphql_authorized(authorization, document, json!({}))
            .await;
        assert_eq!(
            super::error_codes(&answer.body),
            ["UNAUTHENTICATED"],
            "{label}: {}",
            answer.body
        );
        assert_refused(&answer, "UNAUTHENTICATED");
    }
    assert_eq!(db.rows().await, before, "{label} wrote a row");
}

#[tokio::test]
async fn hs256_server_refuses_every_bad_token() {
    // Arrange
    let app = secured_app().await;
    let db = Db::open(&app).await;
    let sub = Uuid::now_v7().to_string();
    let valid = hs256("admin", &sub, 3600);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("empty header", Some(String::new())),
        (
            "forged signature",
            Some(format!(
                "Bearer {}",
                hs256_with("not-the-secret", "admin", &sub, 3600)
            )),
        ),
        (
            "expired",
            Some(format!("Bearer {}", hs256("admin", &sub, -3600))),
        ),
        (
            "RS256 when only HS256 is configured",
            Some(format!(
                "Bearer {}",
                rs256_with(RSA_PRIVATE_PEM, "admin", &sub, 3600)
            )),
        ),
        (
            "alg none",
            Some(format!("Bearer {}", unsigned("admin", &sub))),
        ),
        (
            "alg none without the trailing dot",
            Some(format!(
                "Bearer {}",
                unsigned("admin", &sub).trim_end_matches('.')
            )),
        ),
        (
            "payload swapped under a user's signature",
            Some(format!(
                "Bearer {}",
                with_payload(
                    &hs256("user", &sub, 3600),
                    json!({ "sub": sub, "role": "admin", "exp": chrono::Utc::now().timestamp() + 3600 }),
                )
            )),
        ),
        (
            "unknown role",
            Some(format!("Bearer {}", hs256("root", &sub, 3600))),
        ),
        (
            "empty role",
            Some(format!("Bearer {}", hs256("", &sub, 3600))),
        ),
        (
            "role in another case",
            Some(format!("Bearer {}", hs256("Admin", &sub, 3600))),
        ),
        (
            "user without a uuid sub",
            Some(format!("Bearer {}", hs256("user", "alice", 3600))),
        ),
        (
            "user with an empty sub",
            Some(format!("Bearer {}", hs256("user", "", 3600))),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                with_payload(&valid, json!({ "sub": sub, "role": "admin" }))
            )),
        ),
        ("garbage", Some("Bearer garbage".into())),
        ("three dots of garbage", Some("Bearer a.b.c".into())),
        ("bearer without a token", Some("Bearer ".into())),
        ("token without a scheme", Some(valid.clone())),
        ("Basic credentials", Some("Basic YWRtaW46YWRtaW4=".into())),
        ("the secret itself", Some(format!("Bearer {SECRET}"))),
        (
            "signed with the empty key",
            Some(format!("Bearer {}", hs256_with("", "admin", &sub, 3600))),
        ),
        (
            "not valid before a time still ahead (nbf)",
            Some(format!(
                "Bearer {}",
                signed(
                    json!({ "sub": sub, "role": "admin", "exp": chrono::Utc::now().timestamp() + 3600, "nbf": chrono::Utc::now().timestamp() + 600 })
                )
            )),
        ),
    ];

    // Act and assert
    for (label, authorization) in &cases {
        assert_unauthenticated(&app, &db, label, authorization.as_deref()).await;
    }
    // The valid token works, so the refusals above are the tokens' fault.
    let data = data_as(&app, &valid, READ, json!({})).await;
    assert_eq!(data, json!({ "activityCount": 0 }));
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn rs256_server_accepts_its_key_and_refuses_everything_else() {
    // Arrange: only an RS256 public key is configured.
    let app = spawn_app_with(|config| {
        config.auth.jwt_public_key_file = Some(RSA_PUBLIC_PEM.into());
    })
    .await;
    let db = Db::open(&app).await;
    let sub = Uuid::now_v7().to_string();
    let valid = rs256_with(RSA_PRIVATE_PEM, "service", &sub, 3600);
    let cases: Vec<(&str, String)> = vec![
        (
            "HS256 when only RS256 is configured",
            hs256("admin", &sub, 3600),
        ),
        (
            "HS256 keyed with the RSA public key",
            hs256_keyed_with_the_public_key("admin"),
        ),
        (
            "RS256 signed with another key",
            rs256_with(RSA_OTHER_PRIVATE_PEM, "admin", &sub, 3600),
        ),
        (
            "RS256 expired",
            rs256_with(RSA_PRIVATE_PEM, "admin", &sub, -3600),
        ),
        (
            "RS256 of an unknown role",
            rs256_with(RSA_PRIVATE_PEM, "superuser", &sub, 3600),
        ),
        ("alg none", unsigned("admin", &sub)),
        (
            "payload swapped under a service's signature",
            with_payload(
                &valid,
                json!({ "sub": sub, "role": "admin", "exp": chrono::Utc::now().timestamp() + 3600 }),
            ),
        ),
    ];

    // Act and assert
    for (label, token) in &cases {
        assert_unauthenticated(&app, &db, label, Some(&format!("Bearer {token}"))).await;
    }
    let logged = data_as(&app, &valid, WRITE, json!({})).await;
    assert!(logged["log"]["activity"]["uuid"].is_string(), "{logged}");
    let prune = app
        .graphql_as(&valid, "mutation { prune(days: 1) { deleted } }", json!({}))
        .await;
    assert_refused(&prune, "FORBIDDEN");
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_server_with_both_keys_accepts_both_algorithms() {
    // Arrange
    let app = spawn_app_with(|config| {
        config.auth.jwt_secret = Some(SECRET.into());
        config.auth.jwt_public_key_file = Some(RSA_PUBLIC_PEM.into());
    })
    .await;
    let db = Db::open(&app).await;
    let sub = Uuid::now_v7().to_string();

    // Act
    let by_secret = data_as(&app, &hs256("user", &sub, 3600), READ, json!({})).await;
    let by_key = data_as(
        &app,
        &rs256_with(RSA_PRIVATE_PEM, "user", &sub, 3600),
        READ,
        json!({}),
    )
    .await;

    // Assert: both read; forgeries of either kind still fail.
    assert_eq!(by_secret, json!({ "activityCount": 0 }));
    assert_eq!(by_key, json!({ "activityCount": 0 }));
    let forged_hs = hs256_with("other", "admin", &sub, 3600);
    let forged_rs = rs256_with(RSA_OTHER_PRIVATE_PEM, "admin", &sub, 3600);
    assert_unauthenticated(
        &app,
        &db,
        "forged HS256",
        Some(&format!("Bearer {forged_hs}")),
    )
    .await;
    assert_unauthenticated(
        &app,
        &db,
        "forged RS256",
        Some(&format!("Bearer {forged_rs}")),
    )
    .await;
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_public_key_file_stops_startup() {
    // Arrange: the key is read before the database is opened.
    let database = activity_feed::config::DatabaseConfig {
        url: "sqlite::memory:".into(),
        ..activity_feed::config::DatabaseConfig::default()
    };
    let config = activity_feed::config::ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        auth: activity_feed::config::AuthConfig {
            jwt_secret: None,
            jwt_public_key_file: Some("/nonexistent/jwt.pem".into()),
            ..activity_feed::config::AuthConfig::default()
        },
        ..activity_feed::config::ServeConfig::default()
    };

    // Act
    let result = activity_feed::startup::Application::build(&database, config).await;

    // Assert
    match result {
        Err(activity_feed::startup::StartupError::Auth(message)) => {
            assert!(message.contains("/nonexistent/jwt.pem"), "{message}")
        }
        Err(other) => panic!("expected an auth error, got {other}"),
        Ok(_) => panic!("the server started without its public key"),
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_ignoring_case() {
    // Arrange
    let app = secured_app().await;
    let token = hs256("admin", &Uuid::now_v7().to_string(), 3600);

    // Act and assert: RFC 7235 makes the scheme name case-insensitive, over
    // HTTP, on the websocket upgrade and in `connection_init`.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {token}");
        let data = app
            .graphql_authorized(Some(&authorization), READ, json!({}))
            .await;
        assert_eq!(
            data.body,
            json!({ "data": { "activityCount": 0 } }),
            "{scheme}"
        );
        let mut upgraded = app
            .raw_websocket_authorized("graphql-transport-ws", &authorization)
            .await;
        upgraded
            .send_json(json!({ "type": "connection_init" }))
            .await;
        let ack = upgraded.next_json().await;
        assert_eq!(ack, Some(json!({ "type": "connection_ack" })), "{scheme}");
        let init = app
            .websocket_with(
                "graphql-transport-ws",
                json!({ "Authorization": authorization }),
            )
            .await;
        drop(init);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_empty_or_short_jwt_secret_stops_startup() {
    for secret in ["", "s", &"s".repeat(31)] {
        // Arrange: the secret is checked before the database is opened.
        let database = activity_feed::config::DatabaseConfig {
            url: "sqlite::memory:".into(),
            ..activity_feed::config::DatabaseConfig::default()
        };
        let config = activity_feed::config::ServeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            auth: activity_feed::config::AuthConfig {
                jwt_secret: Some(secret.to_owned()),
                ..activity_feed::config::AuthConfig::default()
            },
            ..activity_feed::config::ServeConfig::default()
        };

        // Act
        let result = activity_feed::startup::Application::build(&database, config).await;

        // Assert
        match result {
            Err(activity_feed::startup::StartupError::Auth(message)) => {
                assert!(
                    message.contains("JWT_SECRET must be at least 32 bytes"),
                    "{secret:?}: {message}"
                );
                assert!(
                    message.contains(&format!("(it is {})", secret.len())),
                    "{message}"
                );
            }
            Err(other) => panic!("{secret:?}: expected an auth error, got {other}"),
            Ok(_) => panic!("{secret:?}: the server started with a weak secret"),
        }
    }
}

#[tokio::test]
async fn an_authorization_header_that_is_not_text_is_a_bad_request_on_every_route() {
    // Arrange: a header no token can be read from (a byte outside ASCII).
    let app = secured_app().await;
    let unreadable = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff").unwrap();

    for (method, path) in [
        (reqwest::Method::POST, "/graphql"),
        (
            reqwest::Method::GET,
            "/graphql?query=%7B%20activityCount%20%7D",
        ),
        (reqwest::Method::GET, "/export"),
        (reqwest::Method::GET, "/metrics"),
    ] {
        // Act
        let res = app
            .client
            .http
            .request(method, app.url(path))
            .header("Authorization", unreadable.clone())
            .json(&json!({ "query": READ }))
            .send()
            .await
            .unwrap();

        // Assert: refused as such, not run as a caller without a token.
        assert_eq!(res.status(), 400, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{path}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Authorization"),
            "{path}: {body}"
        );
    }

    // The websocket upgrade is refused the same way, before any protocol
    // (written by hand: websocket clients will not send such a header).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut upgrade = format!(
        "GET /graphql HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\nAuthorization: ",
        app.addr
    )
    .into_bytes();
    upgrade.extend_from_slice(b"Bearer \xff\r\n\r\n");
    tcp.write_all(&upgrade).await.unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 400", "{}", String::from_utf8_lossy(&head));
    app.stop().await;
}

#[tokio::test]
async fn export_and_metrics_refuse_a_token_with_a_bearer_challenge() {
    // Arrange
    let app = secured_app().await;
    let sub = Uuid::now_v7().to_string();
    let expired = hs256("admin", &sub, -3600);

    for path in ["/export", "/metrics"] {
        // Act
        let missing = app.http.get(app.url(path)).send().await.unwrap();
        let refused = app
            .http
            .get(app.url(path))
            .bearer_auth(&expired)
            .send()
            .await
            .unwrap();

        // Assert: 401 with the challenge RFC 7235 requires, as on /graphql.
        assert_eq!(missing.status(), 401, "{path}");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer", "{path}");
        assert_eq!(refused.status(), 401, "{path}");
        assert_eq!(
            refused.headers()["www-authenticate"],
            r#"Bearer error="invalid_token", error_description="the token has expired""#,
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_a_401_whose_challenge_says_why() {
    // Arrange
    let app = secured_app().await;
    let sub = Uuid::now_v7().to_string();
    let expired = format!("Bearer {}", hs256("admin", &sub, -3600));
    let forged = format!(
        "Bearer {}",
        hs256_with("not-the-secret", "admin", &sub, 3600)
    );

    // Act
    let missing = app.graphql_authorized(None, READ, json!({})).await;
    let expired = app
        .graphql_authorized(Some(&expired), READ, json!({}))
        .await;
    let forged = app
        .graphql_authorized(Some(&forged), WRITE, json!({}))
        .await;
    let by_get = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", READ)])
        .header("accept", "application/graphql-response+json")
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();

    // Assert: 401, the challenge of RFC 6750, and the GraphQL error that
    // gives the same reason.
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(missing.challenge.as_deref(), Some("Bearer"));
    assert_eq!(expired.status, 401, "{}", expired.body);
    assert_eq!(
        expired.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the token has expired""#)
    );
    assert_eq!(
        expired.body["errors"][0]["message"],
        "the token has expired"
    );
    assert_eq!(forged.status, 401, "{}", forged.body);
    let challenge = forged.challenge.unwrap_or_default();
    let message = forged.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token", error_description="invalid token"#),
        "{challenge}"
    );
    assert!(challenge.contains(message), "{challenge} / {message}");
    assert_eq!(by_get.status(), 401);
    assert!(by_get.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with(r#"Bearer error="invalid_token""#));
    let body: serde_json::Value = by_get.json().await.unwrap();
    assert_eq!(super::error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    app.stop().await;
}
