//! Tokens from an identity provider: keys from a JWKS served by a local
//! HTTP server in the test, rotated mid-run; `iss` and `aud` refused unless
//! they are the configured ones; roles and subjects read from claim paths
//! (Keycloak's `realm_access.roles`, a namespaced claim with a role map).
//! Each is checked over HTTP and over the websocket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{error_codes, RSA_OTHER_PRIVATE_PEM, RSA_PRIVATE_PEM, SECRET};
use crate::helpers::{spawn_app_with, TestApp};

/// Long enough for anything the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);
const ISSUER: &str = "https://idp.example.test/realms/feed";
const AUDIENCE: &str = "activity-feed";
const READ: &str = "{ activityCount }";
const WRITE: &str = "mutation { log(input: {action: \"idp.test\"}) { activity { uuid } } }";

/// A JWKS endpoint whose document the test can swap, counting its fetches.
struct KeyServer {
    addr: SocketAddr,
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(document: Value) -> Self {
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (doc, count) = (doc.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    axum::Json(doc.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            document,
            fetches,
        }
    }

    fn url(&self) -> reqwest::Url {
        format!("http://{}/jwks.json", self.addr).parse().unwrap()
    }

    fn publish(&self, document: Value) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The public JWK of the test RSA private key in `pem_path`, named `kid`.
fn jwk(pem_path: &str, kid: &str) -> Value {
    let pem = std::fs::read_to_string(pem_path).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("test RSA key");
    json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

/// `claims` signed RS256 with the key in `pem_path`, its header naming `kid`.
fn signed_rs256(pem_path: &str, kid: &str, claims: Value) -> String {
    let pem = std::fs::read(pem_path).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// `claims` signed HS256 with the suite's secret.
fn signed_hs256(claims: Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// Claims as a provider issues them, with `extra` merged over them.
fn provider_claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": Uuid::now_v7().to_string(),
        "role": "admin",
        "exp": chrono::Utc::now().timestamp() + 3600,
        "iat": chrono::Utc::now().timestamp(),
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A server that takes its keys from `keys`.
async fn app_on(
    keys: &KeyServer,
    configure: impl FnOnce(&mut activity_feed::config::ServeConfig),
) -> TestApp {
    let url = keys.url();
    spawn_app_with(move |config| {
        config.auth.jwt_jwks_url = Some(url);
        config.auth.jwt_issuer = vec![ISSUER.into()];
        config.auth.jwt_audience = vec![AUDIENCE.into()];
        configure(config);
    })
    .await
}

/// Sends `connection_init` with `token` on a fresh socket: `Ok` when
/// acknowledged, else the close code and reason.
async fn ws_init(app: &TestApp, token: &str) -> Result<(), (u16, String)> {
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("the server answered connection_init in time")
            .expect("a frame");
        match frame.expect("a valid frame") {
            Message::Text(text) => {
                let msg: Value = serde_json::from_str(&text).unwrap();
                if msg["type"] == "connection_ack" {
                    return Ok(());
                }
            }
            Message::Close(Some(frame)) => {
                return Err((u16::from(frame.code), frame.reason.to_string()))
            }
            Message::Close(None) => return Err((0, String::new())),
            _ => {}
        }
    }
}

/// The one error message of a refused request.
fn refusal(answer: &crate::helpers::Answer) -> String {
    assert_eq!(
        error_codes(&answer.body),
        ["UNAUTHENTICATED"],
        "{}",
        answer.body
    );
    answer.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn keys_rotate_without_a_restart_on_http_and_websocket() {
    // Arrange: the provider publishes key "2026-a"; unknown kids may load the
    // set again after 300 ms; a loaded set is trusted for 3 s.
    let keys = KeyServer::start(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "2026-a")] })).await;
    let app = app_on(&keys, |config| {
        config.auth.jwt_jwks_refetch_interval = Duration::from_millis(300);
        config.auth.jwt_jwks_max_age = Duration::from_secs(3);
    })
    .await;
    let old = signed_rs256(RSA_PRIVATE_PEM, "2026-a", provider_claims(json!({})));
    let new = signed_rs256(RSA_OTHER_PRIVATE_PEM, "2026-b", provider_claims(json!({})));
    let new_under_old_kid =
        signed_rs256(RSA_OTHER_PRIVATE_PEM, "2026-a", provider_claims(json!({})));
    let first = app.graphql_as(&old, READ, json!({})).await;
    assert!(first.body.get("errors").is_none(), "{}", first.body);
    let before_new = refusal(&app.graphql_as(&new, READ, json!({})).await);
    assert!(before_new.contains("2026-b"), "{before_new}");

    // Act: the provider rotates to key "2026-b" and keeps "2026-a" for now.
    keys.publish(
        json!({ "keys": [jwk(RSA_PRIVATE_PEM, "2026-a"), jwk(RSA_OTHER_PRIVATE_PEM, "2026-b")] }),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Assert: the new key verifies without a restart, on HTTP and websocket;
    // a token signed by the new key under the old kid does not.
    let rotated = app.graphql_as(&new, WRITE, json!({})).await;
    assert!(rotated.body.get("errors").is_none(), "{}", rotated.body);
    assert_eq!(ws_init(&app, &new).await, Ok(()));
    assert!(
        refusal(&app.graphql_as(&new_under_old_kid, READ, json!({})).await)
            .contains("InvalidSignature")
    );

    // Act: the provider retires the old key; once the set is older than its
    // max age, it is loaded again.
    keys.publish(json!({ "keys": [jwk(RSA_OTHER_PRIVATE_PEM, "2026-b")] }));
    tokio::time::sleep(Duration::from_millis(3200)).await;

    // Assert
    let retired = refusal(&app.graphql_as(&old, READ, json!({})).await);
    assert!(retired.contains("\"2026-a\""), "{retired}");
    let (code, reason) = ws_init(&app, &old).await.unwrap_err();
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("2026-a"), "{reason}");
    assert_eq!(ws_init(&app, &new).await, Ok(()));
    app.stop().await;
}

#[tokio::test]
async fn forged_kids_do_not_make_the_server_hammer_the_provider() {
    // Arrange: loads on unknown kids at most once a minute.
    let keys = KeyServer::start(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "k1")] })).await;
    let app = app_on(&keys, |config| {
        config.auth.jwt_jwks_refetch_interval = Duration::from_secs(60);
    })
    .await;
    let at_start = keys.fetches();
    assert_eq!(at_start, 1, "the set is loaded once at start");

    // Act: fifty requests at once, each naming a kid of its own.
    let requests = (0..50).map(|i| {
        let token = signed_rs256(
            RSA_PRIVATE_PEM,
            &format!("forged-{i}"),
            provider_claims(json!({})),
        );
        let client = app.client.clone();
        async move { client.graphql_as(&token, READ, json!({})).await }
    });
    let answers = futures_util::future::join_all(requests).await;

    // Assert: all refused, and the provider was not asked again.
    for answer in &answers {
        assert!(refusal(answer).contains("is not one of the identity provider's keys"));
    }
    assert_eq!(keys.fetches(), at_start);
    let good = signed_rs256(RSA_PRIVATE_PEM, "k1", provider_claims(json!({})));
    assert!(app
        .graphql_as(&good, READ, json!({}))
        .await
        .body
        .get("errors")
        .is_none());
    app.stop().await;
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_on_http_and_websocket() {
    // Arrange: the issue's own case, an HS256 token with `aud`, on a server
    // told its audience and issuer.
    let app = spawn_app_with(|config| {
        config.auth.jwt_secret = Some(SECRET.into());
        config.auth.jwt_issuer = vec![ISSUER.into()];
        config.auth.jwt_audience = vec![AUDIENCE.into(), "https://feed.example.test".into()];
    })
    .await;
    let accepted = [
        ("its audience", json!({})),
        (
            "its second audience",
            json!({ "aud": "https://feed.example.test" }),
        ),
        (
            "a list holding its audience",
            json!({ "aud": ["account", AUDIENCE] }),
        ),
    ];
    let refused = [
        (
            "another audience",
            json!({ "aud": "billing" }),
            "not for this server",
        ),
        (
            "a list without it",
            json!({ "aud": ["account", "billing"] }),
            "not for this server",
        ),
        ("no audience", json!({ "aud": null }), "no audience"),
        (
            "a number as audience",
            json!({ "aud": 7 }),
            "must be a string",
        ),
        (
            "another issuer",
            json!({ "iss": "https://evil.example.test" }),
            "https://evil.example.test",
        ),
        ("no issuer", json!({ "iss": null }), "no issuer"),
        (
            "an issuer differing in case",
            json!({ "iss": ISSUER.to_uppercase() }),
            "issued by",
        ),
    ];

    for (label, extra) in accepted {
        // Act
        let token = signed_hs256(provider_claims(extra));
        let answer = app.graphql_as(&token, WRITE, json!({})).await;

        // Assert
        assert!(
            answer.body.get("errors").is_none(),
            "{label}: {}",
            answer.body
        );
        assert_eq!(ws_init(&app, &token).await, Ok(()), "{label}");
    }
    for (label, extra, says) in refused {
        // Act
        let token = signed_hs256(provider_claims(extra));
        let http = refusal(&app.graphql_as(&token, WRITE, json!({})).await);
        let (code, reason) = ws_init(&app, &token).await.expect_err(label);

        // Assert
        assert!(http.contains(says), "{label}: {http}");
        assert_eq!(code, 4403, "{label}");
        assert!(reason.contains(says), "{label}: {reason}");
    }
    let admin = signed_hs256(provider_claims(json!({})));
    let count = super::data_as(
        &app,
        &admin,
        "query($f: ActivityFilter) { activityCount(filter: $f) }",
        json!({ "f": { "action": "idp.test" } }),
    )
    .await;
    assert_eq!(count["activityCount"], 3, "only the accepted tokens wrote");
    app.stop().await;
}

#[tokio::test]
async fn without_an_audience_setting_only_tokens_without_aud_are_accepted() {
    // Arrange
    let app = super::secured_app().await;
    let plain = signed_hs256(provider_claims(json!({ "aud": null, "iss": null })));
    let for_someone = signed_hs256(provider_claims(json!({ "aud": AUDIENCE })));

    // Act
    let accepted = app.graphql_as(&plain, READ, json!({})).await;
    let refused = refusal(&app.graphql_as(&for_someone, READ, json!({})).await);

    // Assert: RFC 7519 4.1.3, and the message says what to set.
    assert!(accepted.body.get("errors").is_none(), "{}", accepted.body);
    assert!(refused.contains("JWT_AUDIENCE"), "{refused}");
    app.stop().await;
}

#[tokio::test]
async fn keycloak_realm_roles_grant_the_strongest_known_role() {
    // Arrange: Keycloak puts realm roles in `realm_access.roles`, next to
    // roles of its own; its `sub` is a uuid.
    let keys = KeyServer::start(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "kc")] })).await;
    let app = app_on(&keys, |config| {
        config.auth.jwt_role_claim = "realm_access.roles".parse().unwrap();
    })
    .await;
    let token = |roles: Value| {
        signed_rs256(
            RSA_PRIVATE_PEM,
            "kc",
            provider_claims(json!({ "role": null, "realm_access": { "roles": roles } })),
        )
    };
    let service = token(json!([
        "offline_access",
        "uma_authorization",
        "user",
        "service"
    ]));
    let user = token(json!(["offline_access", "user"]));
    let nothing_known = token(json!(["offline_access", "uma_authorization"]));
    let top_level_only = signed_rs256(RSA_PRIVATE_PEM, "kc", provider_claims(json!({})));

    // Act + Assert: the service may write; the user may read but not write.
    let wrote = app.graphql_as(&service, WRITE, json!({})).await;
    assert!(wrote.body.get("errors").is_none(), "{}", wrote.body);
    assert_eq!(ws_init(&app, &service).await, Ok(()));
    let user_write = app.graphql_as(&user, WRITE, json!({})).await;
    assert_eq!(
        error_codes(&user_write.body),
        ["FORBIDDEN"],
        "{}",
        user_write.body
    );
    assert!(app
        .graphql_as(&user, READ, json!({}))
        .await
        .body
        .get("errors")
        .is_none());
    for (label, bad, says) in [
        ("no known role", &nothing_known, "none of the roles"),
        (
            "a top-level role only",
            &top_level_only,
            "no role claim `realm_access.roles`",
        ),
    ] {
        assert!(
            refusal(&app.graphql_as(bad, READ, json!({})).await).contains(says),
            "{label}"
        );
        let (code, reason) = ws_init(&app, bad).await.expect_err(label);
        assert_eq!(code, 4403, "{label}");
        assert!(reason.contains(says), "{label}: {reason}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_namespaced_claim_and_a_role_map_name_the_caller() {
    // Arrange: Auth0-style namespaced claims, with provider role names mapped
    // to this server's, and the subject in a claim of its own.
    let keys = KeyServer::start(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "auth0")] })).await;
    let app = app_on(&keys, |config| {
        config.auth.jwt_role_claim = "https://feed.example.test/roles".parse().unwrap();
        config.auth.jwt_subject_claim = "https://feed.example.test/uid".parse().unwrap();
        config.auth.jwt_role_map = vec![
            "feed-admins=admin".parse().unwrap(),
            "feed-readers=user".parse().unwrap(),
        ];
    })
    .await;
    let alice = Uuid::now_v7();
    let token = |roles: Value| {
        signed_rs256(
            RSA_PRIVATE_PEM,
            "auth0",
            provider_claims(json!({
                "sub": "auth0|65f0c0ffee",
                "https://feed.example.test/roles": roles,
                "https://feed.example.test/uid": alice.to_string(),
            })),
        )
    };
    let admin = token(json!(["feed-readers", "feed-admins"]));
    let reader = token(json!(["feed-readers"]));
    // "admin" is this server's own name, but not a mapped one.
    let unmapped = token(json!(["admin"]));

    // Act
    let metrics = |token: String| {
        let client = app.client.clone();
        async move {
            client
                .http
                .get(client.url("/metrics"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // Assert: only the admin reads metrics; the reader is alice, by the mapped claim.
    assert_eq!(metrics(admin.clone()).await, 200);
    assert_eq!(metrics(reader.clone()).await, 403);
    assert_eq!(metrics(unmapped.clone()).await, 401);
    let who = app
        .graphql_as(&reader, "{ viewer { role uuid } }", json!({}))
        .await;
    assert_eq!(
        who.body["data"]["viewer"]["uuid"],
        json!(alice.to_string()),
        "{}",
        who.body
    );
    assert!(
        refusal(&app.graphql_as(&unmapped, READ, json!({})).await).contains("none of the roles")
    );
    let (code, _) = ws_init(&app, &unmapped).await.unwrap_err();
    assert_eq!(code, 4403);
    assert_eq!(ws_init(&app, &reader).await, Ok(()));
    app.stop().await;
}

#[tokio::test]
async fn a_key_set_that_cannot_be_loaded_stops_startup() {
    // Arrange: nothing listens there; and a plain-HTTP URL off this machine.
    let database = activity_feed::config::DatabaseConfig {
        url: "sqlite::memory:".into(),
        ..activity_feed::config::DatabaseConfig::default()
    };
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    for (url, says) in [
        (dead.clone(), dead.as_str()),
        ("http://idp.example.test/jwks.json".into(), "must be https"),
    ] {
        let mut config = activity_feed::config::ServeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..activity_feed::config::ServeConfig::default()
        };
        config.auth.jwt_jwks_url = Some(url.parse().unwrap());

        // Act
        let result = activity_feed::startup::Application::build(&database, config).await;

        // Assert
        match result {
            Err(activity_feed::startup::StartupError::Auth(message)) => {
                assert!(message.contains(says), "{message}")
            }
            Err(other) => panic!("expected an auth error, got {other}"),
            Ok(_) => panic!("the server started without its keys from {url}"),
        }
    }
}

#[tokio::test]
async fn a_key_set_file_is_read_again_when_a_new_kid_arrives() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let write = |doc: Value| std::fs::write(&path, doc.to_string()).unwrap();
    write(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "f1")] }));
    let file = path.clone();
    let app = spawn_app_with(move |config| {
        config.auth.jwt_jwks_file = Some(file);
        config.auth.jwt_audience = vec![AUDIENCE.into()];
        config.auth.jwt_jwks_refetch_interval = Duration::from_millis(200);
    })
    .await;
    let f1 = signed_rs256(RSA_PRIVATE_PEM, "f1", provider_claims(json!({})));
    let f2 = signed_rs256(RSA_OTHER_PRIVATE_PEM, "f2", provider_claims(json!({})));
    // An HS256 token keyed with the public key's JWK text must not pass as f1.
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("f1".into());
        let secret = jwk(RSA_PRIVATE_PEM, "f1")["n"].as_str().unwrap().to_owned();
        let key = EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&header, &provider_claims(json!({})), &key).unwrap()
    };
    assert!(app
        .graphql_as(&f1, READ, json!({}))
        .await
        .body
        .get("errors")
        .is_none());
    assert!(refusal(&app.graphql_as(&confused, READ, json!({})).await).contains("HS256"));

    // Act
    write(json!({ "keys": [jwk(RSA_PRIVATE_PEM, "f1"), jwk(RSA_OTHER_PRIVATE_PEM, "f2")] }));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Assert
    assert!(app
        .graphql_as(&f2, READ, json!({}))
        .await
        .body
        .get("errors")
        .is_none());
    assert_eq!(ws_init(&app, &f2).await, Ok(()));
    app.stop().await;
}
