//! The adversarial suite of issue 3: who may do what, what a user sees,
//! which tokens are refused, the limits on what one request may ask for, and
//! hostile input that must never crash the server or leak its internals.
//!
//! Every test boots the real server (see `helpers`) and talks HTTP or
//! websocket to it; row counts are read straight from the database, so a
//! refused write is proven not to have written anything.

use activity_feed::auth::{mint, Claims, SigningKey};
use chrono::Utc;
use entity::{activity, user};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, Answer, TestApp, ACTIVITY_FIELDS};

mod close_codes;
mod documents;
mod export_and_metrics;
mod hostile_input;
mod idempotency;
mod identity_provider;
mod limits;
mod open_mode;
mod rate_limits;
mod roles;
mod scoping;
mod socket_limits;
mod tokens;
mod trusted_documents;
mod websocket;

/// The HS256 secret of the secured test servers.
pub const SECRET: &str = "security-suite-secret-of-32-bytes";

/// An RSA key pair for RS256 tokens, generated with openssl for these tests
/// only (see tests/fixtures/README.md): it protects nothing.
pub const RSA_PRIVATE_PEM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jwt_rs256_private.pem"
);
/// The public half of [`RSA_PRIVATE_PEM`], for tests only.
pub const RSA_PUBLIC_PEM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jwt_rs256_public.pem"
);
/// A second test-only RSA private key, whose signatures the server must refuse.
pub const RSA_OTHER_PRIVATE_PEM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jwt_rs256_other_private.pem"
);

/// What an error must never say to a client.
pub const LEAKS: &[&str] = &[
    "SELECT",
    "INSERT",
    "DELETE",
    "sqlx",
    "sea_orm",
    "sea-orm",
    "DbErr",
    "panicked",
    "/src/",
    ".rs:",
    "RUST_BACKTRACE",
    "stack backtrace",
    "activities_",
    "syntax error",
    "PRIMARY KEY",
];

/// A token for `role` and `sub`, signed with [`SECRET`], valid for `ttl_secs`.
pub fn hs256(role: &str, sub: &str, ttl_secs: i64) -> String {
    hs256_with(SECRET, role, sub, ttl_secs)
}

/// A token signed with `secret`.
pub fn hs256_with(secret: &str, role: &str, sub: &str, ttl_secs: i64) -> String {
    mint(&claims(role, sub, ttl_secs), SigningKey::Secret(secret)).expect("HS256 token")
}

/// A token signed with the RSA private key in the PEM file `path`.
pub fn rs256_with(path: &str, role: &str, sub: &str, ttl_secs: i64) -> String {
    let pem = std::fs::read(path).expect("test RSA key");
    mint(&claims(role, sub, ttl_secs), SigningKey::RsaPem(&pem)).expect("RS256 token")
}

fn claims(role: &str, sub: &str, ttl_secs: i64) -> Claims {
    Claims {
        sub: sub.to_owned(),
        role: role.to_owned(),
        exp: Utc::now().timestamp() + ttl_secs,
    }
}

/// The callers of a secured server: one token per role, and two people.
pub struct Callers {
    /// An admin (its `sub` is a uuid of no one in particular).
    pub admin: String,
    /// A trusted producer.
    pub service: String,
    /// The person `alice`.
    pub user: String,
    /// Alice's uuid, the `sub` of [`Self::user`].
    pub alice: Uuid,
    /// Another person, with a token of their own.
    pub bob: Uuid,
    /// Bob's user token.
    pub bob_token: String,
}

impl Callers {
    /// Fresh people and tokens valid for an hour.
    pub fn new() -> Self {
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        Self {
            admin: hs256("admin", &Uuid::now_v7().to_string(), 3600),
            service: hs256("service", &Uuid::now_v7().to_string(), 3600),
            user: hs256("user", &alice.to_string(), 3600),
            alice,
            bob,
            bob_token: hs256("user", &bob.to_string(), 3600),
        }
    }
}

/// A server that verifies HS256 tokens with [`SECRET`].
pub async fn secured_app() -> TestApp {
    secured_app_with(|_| {}).await
}

/// A secured server whose configuration `configure` may change further.
pub async fn secured_app_with(
    configure: impl FnOnce(&mut activity_feed::config::ServeConfig),
) -> TestApp {
    spawn_app_with(|config| {
        config.auth.jwt_secret = Some(SECRET.into());
        configure(config);
    })
    .await
}

/// The `data` of a request that must succeed for `token`.
pub async fn data_as(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let answer = app.graphql_as(token, query, variables).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.get("errors").is_none(),
        "unexpected errors: {}",
        answer.body
    );
    answer.body["data"].clone()
}

/// Logs an activity as `token` that must be valid; returns it with every scalar field.
pub async fn log_as(app: &TestApp, token: &str, input: Value) -> Value {
    let data = data_as(
        app,
        token,
        &format!("mutation($input: LogInput!) {{ log(input: $input) {{ activity {{ {ACTIVITY_FIELDS} id cursor }} errors {{ field message code }} }} }}"),
        json!({ "input": input }),
    )
    .await;
    assert_eq!(data["log"]["errors"], json!([]), "log refused: {data}");
    data["log"]["activity"].clone()
}

/// The `extensions.code` of every error of a response, in order.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts the answer is a GraphQL response refused with `code` alone, and
/// no data; UNAUTHENTICATED is a 401 with a bearer challenge (RFC 6750).
pub fn assert_refused(answer: &Answer, code: &str) {
    if code == "UNAUTHENTICATED" {
        assert_eq!(answer.status, 401, "{}", answer.body);
        let challenge = answer.challenge.as_deref().unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    } else {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(error_codes(&answer.body), [code], "{}", answer.body);
    assert_no_data(&answer.body);
    assert_no_leak(&answer.body.to_string());
}

/// Asserts the response carries no value: `data` is null or all its fields are.
pub fn assert_no_data(body: &Value) {
    match &body["data"] {
        Value::Null => {}
        Value::Object(fields) => assert!(
            fields.values().all(Value::is_null),
            "data leaked through a refusal: {body}"
        ),
        other => panic!("unexpected data {other} in {body}"),
    }
}

/// At most the first 300 characters of `value`, for assertion messages.
pub fn short(value: &Value) -> String {
    value.to_string().chars().take(300).collect()
}

/// Asserts `text` says nothing of the server's internals.
pub fn assert_no_leak(text: &str) {
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "response leaks {leak:?}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
}

/// A direct connection to the test server's database, to count and plant rows.
pub struct Db(DatabaseConnection);

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    /// Rows of `activities`.
    pub activities: u64,
    /// Rows of `users`.
    pub users: u64,
}

impl Db {
    /// Connects to `app`'s database.
    pub async fn open(app: &TestApp) -> Self {
        Self(app.db.connect().await)
    }

    /// The row counts now.
    pub async fn rows(&self) -> Rows {
        Rows {
            activities: activity::Entity::find()
                .count(&self.0)
                .await
                .expect("count activities"),
            users: user::Entity::find()
                .count(&self.0)
                .await
                .expect("count users"),
        }
    }

    /// Writes an activity stored `days_ago` days ago, behind the API's back.
    pub async fn plant_old_activity(&self, action: &str, days_ago: i64) -> Uuid {
        let uuid = Uuid::now_v7();
        activity::ActiveModel {
            uuid: Set(uuid),
            action: Set(action.to_owned()),
            metadata: Set(json!({})),
            inserted_at: Set(Utc::now() - chrono::TimeDelta::days(days_ago)),
            ..Default::default()
        }
        .insert(&self.0)
        .await
        .expect("plant an old activity");
        uuid
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.0.close().await.ok();
    }
}
