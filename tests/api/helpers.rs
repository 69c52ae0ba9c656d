//! The harness: boots the real server on an ephemeral port, each test on a
//! fresh database (an SQLite file, or a PostgreSQL schema when
//! TEST_DATABASE_URL points at PostgreSQL), and talks HTTP and websocket to it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use activity_feed::config::{DatabaseConfig, ServeConfig};
use activity_feed::db::StatementCounter;
use activity_feed::startup::Application;
use chrono::{DateTime, Utc};
use entity::activity;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// The database a test runs on, removed when the test ends.
pub struct TestDb {
    /// How the server connects to it.
    pub config: DatabaseConfig,
    /// Keeps the SQLite file alive for the test.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(url) if url.starts_with("postgres") => Self::postgres_at(url).await,
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("feed.db");
                Self {
                    config: DatabaseConfig {
                        url: format!("sqlite://{}?mode=rwc", path.display()),
                        pool_size: 8,
                        ..DatabaseConfig::default()
                    },
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A fresh schema of its own on the PostgreSQL server at `url`.
    pub async fn postgres_at(url: String) -> Self {
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&url)
            .await
            .expect("connect to the test PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        admin.close().await.ok();
        Self {
            config: DatabaseConfig {
                url,
                schema: Some(schema),
                pool_size: 8,
                ..DatabaseConfig::default()
            },
            _dir: None,
        }
    }

    /// Whether the test runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.config.url.starts_with("postgres")
    }

    /// Whether a PostgreSQL-only test can run here; on SQLite, a `SKIPPED`
    /// line for it first.
    pub fn runs_postgres_only(&self) -> bool {
        self.is_postgres() || skipped("needs PostgreSQL (TEST_DATABASE_URL=postgres://…)")
    }

    /// Whether an SQLite-only test can run here; on PostgreSQL, a `SKIPPED`
    /// line for it first.
    pub fn runs_sqlite_only(&self) -> bool {
        !self.is_postgres() || skipped("needs SQLite (runs without TEST_DATABASE_URL)")
    }

    /// Drops a PostgreSQL test schema; SQLite files go with their temp dir.
    pub async fn remove(&self) {
        if let (true, Some(schema)) = (self.is_postgres(), &self.config.schema) {
            if let Ok(admin) = Database::connect(&self.config.url).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                    .await;
                admin.close().await.ok();
            }
        }
    }
}

/// A client for a server at one address: HTTP and websocket helpers.
#[derive(Clone)]
pub struct Client {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// An HTTP client.
    pub http: reqwest::Client,
}

impl Client {
    /// A client for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            http: reqwest::Client::new(),
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    /// Talks to the server.
    pub client: Client,
    /// Counts the SQL statements the server runs.
    pub statements: StatementCounter,
    /// The database it runs on.
    pub db: TestDb,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

/// A server with the default configuration on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose configuration `configure` may change first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let db = TestDb::new().await;
    spawn_app_on(db, configure).await
}

/// A server on an existing test database.
pub async fn spawn_app_on(db: TestDb, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let mut config = ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        retention_interval: Duration::ZERO,
        shutdown_timeout: Duration::from_secs(5),
        ..ServeConfig::default()
    };
    configure(&mut config);
    let app = Application::build(&db.config, config)
        .await
        .expect("server starts");
    let addr = app.local_addr();
    let statements = app.statements();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        client: Client::new(addr),
        statements,
        db,
        shutdown,
        server,
    }
}

impl std::ops::Deref for TestApp {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Client {
    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL document and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let res = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        res.json().await.expect("JSON response")
    }

    /// POSTs a GraphQL document that must succeed and returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The server's `/metrics` text, as an unauthenticated scrape gets it.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Logs an activity that must be valid and returns it with every scalar field.
    pub async fn log(&self, input: Value) -> Value {
        let data = self
            .data(
                &format!("mutation($input: LogInput!) {{ log(input: $input) {{ activity {{ {ACTIVITY_FIELDS} }} errors {{ field message code }} }} }}"),
                json!({ "input": input }),
            )
            .await;
        assert_eq!(data["log"]["errors"], json!([]), "log refused: {data}");
        data["log"]["activity"].clone()
    }

    /// Stores people.
    pub async fn upsert_users(&self, users: Value) -> Value {
        self.data(
            "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid email firstName lastName } }",
            json!({ "u": users }),
        )
        .await["upsertUsers"]
            .clone()
    }

    /// Opens a graphql-transport-ws connection, acknowledged and ready.
    pub async fn websocket(&self) -> WsClient {
        self.websocket_with("graphql-transport-ws", json!({})).await
    }

    /// Opens a websocket with `protocol` and sends `connection_init` with `payload`.
    pub async fn websocket_with(&self, protocol: &str, payload: Value) -> WsClient {
        let mut ws = self.raw_websocket(protocol).await;
        ws.send_json(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = ws.next_json().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Opens a websocket with `protocol` and sends nothing yet.
    pub async fn raw_websocket(&self, protocol: &str) -> WsClient {
        self.connect_websocket(protocol, None).await
    }

    /// An acknowledged graphql-transport-ws connection whose socket has a tiny
    /// receive buffer, so that a test can stall it by not reading.
    pub async fn small_buffer_websocket(&self) -> WsClient {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(self.addr).await.expect("connects");
        let mut request = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket connects");
        let mut ws = WsClient {
            stream,
            legacy: false,
        };
        ws.send_json(json!({ "type": "connection_init" })).await;
        let ack = ws.next_json().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Subscribes on `ws` and returns once the server is surely delivering to it.
    ///
    /// graphql-transport-ws does not acknowledge a subscribe, so this opens a
    /// second probe subscription on the same socket after it and logs probe
    /// activities (action "test.probe") until one arrives: the server handles
    /// a socket's messages in order, so the first subscription is live too.
    pub async fn subscribe_ready(
        &self,
        ws: &mut WsClient,
        id: &str,
        query: &str,
        variables: Value,
    ) {
        ws.subscribe(id, query, variables).await;
        ws.subscribe(
            PROBE,
            r#"subscription { activityAdded(filter: {action: "test.probe"}) { uuid } }"#,
            json!({}),
        )
        .await;
        for _ in 0..100 {
            self.log(json!({ "action": "test.probe" })).await;
            if ws.probe_arrived(Duration::from_millis(50)).await {
                // Late probe messages and the server's `complete` are skipped by `next_json`.
                ws.stop(PROBE).await;
                return;
            }
        }
        panic!("the probe subscription never received anything");
    }
}

impl TestApp {
    /// Shuts the server down gracefully and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server stops cleanly");
        self.db.remove().await;
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// The first column of the one row `sql` returns, read behind the server's back.
pub async fn scalar<T: sea_orm::TryGetable>(conn: &DatabaseConnection, sql: &str) -> T {
    conn.query_one_raw(sea_orm::Statement::from_string(
        conn.get_database_backend(),
        sql,
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .unwrap_or_else(|| panic!("{sql}: no row"))
    .try_get_by_index(0)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every scalar field of Activity, for tests that compare whole activities.
pub const ACTIVITY_FIELDS: &str = "uuid action module mode actorUuid resourceType resourceUuid targetUuid metadata insertedAt actionBadgeColor modeBadgeColor";

/// The id of the probe subscription of [`TestApp::subscribe_ready`].
const PROBE: &str = "probe";

/// A websocket client speaking JSON messages.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Speaks the legacy graphql-ws protocol (start/data/stop) rather than
    /// graphql-transport-ws (subscribe/next/complete).
    legacy: bool,
}

impl WsClient {
    /// Sends one JSON message.
    pub async fn send_json(&mut self, msg: Value) {
        self.stream
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("websocket send");
    }

    /// The next JSON message, skipping pings; `None` when the socket closed or
    /// nothing came within five seconds.
    pub async fn next_json(&mut self) -> Option<Value> {
        self.next_json_within(Duration::from_secs(5)).await
    }

    /// The next JSON message within `wait`.
    pub async fn next_json_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if matches!(value["type"].as_str(), Some("ping" | "ka")) || value["id"] == PROBE
                    {
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Whether a probe message arrives within `wait`; anything else is a failure.
    async fn probe_arrived(&mut self, wait: Duration) -> bool {
        let value = loop {
            let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout(wait, self.stream.next()).await
            else {
                return false;
            };
            let value: Value = serde_json::from_str(&text).expect("JSON message");
            // graphql-ws keeps the connection alive with "ka" messages.
            if !matches!(value["type"].as_str(), Some("ping" | "ka")) {
                break value;
            }
        };
        assert_eq!(
            value["id"], PROBE,
            "unexpected message while waiting for the probe: {value}"
        );
        true
    }

    /// Subscribes with operation `id` (`subscribe`, or `start` in graphql-ws).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send_json(json!({
            "id": id,
            "type": if self.legacy { "start" } else { "subscribe" },
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// Ends operation `id` (`complete`, or `stop` in graphql-ws).
    pub async fn stop(&mut self, id: &str) {
        let kind = if self.legacy { "stop" } else { "complete" };
        self.send_json(json!({ "id": id, "type": kind })).await;
    }

    /// The next `next` (graphql-ws: `data`) payload's data, or panics.
    pub async fn next_data(&mut self) -> Value {
        let msg = self.next_json().await.expect("a subscription message");
        let kind = if self.legacy { "data" } else { "next" };
        assert_eq!(msg["type"], kind, "{msg}");
        assert!(msg["payload"].get("errors").is_none(), "{msg}");
        msg["payload"]["data"].clone()
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Some(msg) = self.next_json_within(wait).await {
            panic!("expected no message, got {msg}");
        }
    }
}

/// Arranging and inspecting the test database directly, beside the server.
impl TestDb {
    /// A connection of the test's own to this database, for rows the API
    /// cannot make (old ones, equal times) and for looking at what is stored.
    pub async fn connect(&self) -> DatabaseConnection {
        activity_feed::db::connect(&self.config, &StatementCounter::default())
            .await
            .expect("a test connection to the test database")
    }

    /// Creates the tables, as the server does when it starts.
    pub async fn migrate(&self) {
        let db = self.connect().await;
        activity_feed::db::migrate(&db, &self.config)
            .await
            .expect("migrations");
        db.close().await.ok();
    }

    /// Writes activities as they are, bypassing the API and its clock.
    pub async fn insert(&self, rows: &[activity::Model]) {
        let db = self.connect().await;
        for chunk in rows.chunks(1000) {
            let models = chunk.iter().cloned().map(|row| {
                // The database assigns positions, as for the service's writes.
                let mut model = activity::ActiveModel::from(row);
                model.txid = sea_orm::ActiveValue::NotSet;
                model.seq = sea_orm::ActiveValue::NotSet;
                model
            });
            activity::Entity::insert_many(models)
                .exec_without_returning(&db)
                .await
                .expect("insert test rows");
        }
        db.close().await.ok();
    }

    /// Runs SQL of the test's own: `sqlite` or `postgres`, by the database.
    pub async fn execute(&self, sqlite: &str, postgres: &str) {
        let db = self.connect().await;
        let sql = if self.is_postgres() { postgres } else { sqlite };
        db.execute_unprepared(sql).await.expect(sql);
        db.close().await.ok();
    }

    /// Makes the database itself refuse to insert an activity with `action`
    /// (a trigger): a database failure in the middle of a write.
    pub async fn fail_inserts_of(&self, action: &str) {
        let sqlite = format!(
            "CREATE TRIGGER refuse_insert BEFORE INSERT ON activities WHEN NEW.action = '{action}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        );
        let postgres = format!(
            "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.action = '{action}' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER refuse_insert BEFORE INSERT ON activities \
               FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
        );
        self.execute(&sqlite, &postgres).await;
    }
}

/// Requests whose answer a test looks at as a whole.
impl Client {
    /// POSTs a GraphQL document and returns the HTTP status and the body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let res = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON response"))
    }

    /// POSTs a GraphQL document that must fail as a whole, over a 200
    /// response, with exactly one error, and returns that error.
    pub async fn error(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], Value::Null, "{body}");
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{body}");
        errors[0].clone()
    }

    /// How many activities match `filter`.
    pub async fn count(&self, filter: Value) -> u64 {
        self.data(
            "query($f: ActivityFilter) { activityCount(filter: $f) }",
            json!({ "f": filter }),
        )
        .await["activityCount"]
            .as_u64()
            .expect("a count")
    }
}

/// An activity row at `at` with nothing but its action set.
pub fn row(action: &str, at: DateTime<Utc>) -> activity::Model {
    activity::Model {
        uuid: uuid::Uuid::now_v7(),
        action: action.into(),
        module: None,
        mode: None,
        actor_uuid: None,
        resource_type: None,
        resource_uuid: None,
        target_uuid: None,
        metadata: json!({}),
        inserted_at: at,
        idempotency_key: None,
        correlation_id: None,
        client_ip: None,
        user_agent: None,
        // Left to the database, as for every write.
        txid: 0,
        seq: 0,
        idempotency_scope: None,
    }
}

/// An instant from RFC 3339 text.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// The `field` of every element of a JSON list.
pub fn pluck(list: &Value, field: &str) -> Vec<Value> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item[field].clone())
        .collect()
}

/// What a request with a given `Authorization` header got back.
pub struct Answer {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The body: its JSON, or its text as a JSON string when it is not JSON.
    pub body: Value,
    /// The `WWW-Authenticate` header, when there is one.
    pub challenge: Option<String>,
}

impl Client {
    /// POSTs a GraphQL document with `Authorization: authorization` (no header
    /// for `None`) and returns the status and body, whatever they are.
    pub async fn graphql_authorized(
        &self,
        authorization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Answer {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let res = request.send().await.expect("request sent");
        let status = res.status();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("an ASCII challenge").to_owned());
        let text = res.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            challenge,
        }
    }

    /// POSTs a GraphQL document with `Authorization: Bearer token`.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Answer {
        self.graphql_authorized(Some(&format!("Bearer {token}")), query, variables)
            .await
    }

    /// Opens a websocket with `protocol` whose upgrade request carries
    /// `Authorization: authorization`, and sends nothing yet.
    pub async fn raw_websocket_authorized(&self, protocol: &str, authorization: &str) -> WsClient {
        self.connect_websocket(protocol, Some(authorization)).await
    }

    /// Opens a websocket with `protocol`, and `Authorization` on the upgrade when given.
    async fn connect_websocket(&self, protocol: &str, authorization: Option<&str>) -> WsClient {
        let mut request = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
        if let Some(authorization) = authorization {
            headers.insert(
                "Authorization",
                HeaderValue::from_str(authorization).unwrap(),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        WsClient {
            stream,
            legacy: protocol == "graphql-ws",
        }
    }
}

impl WsClient {
    /// The next JSON message, skipping pings, or `Err` with the close frame's
    /// code when the server closed the socket first (`Err(None)`: closed
    /// without a code, or nothing at all within `wait`).
    pub async fn next_json_or_close(&mut self, wait: Duration) -> Result<Value, Option<u16>> {
        loop {
            let msg = match tokio::time::timeout(wait, self.stream.next()).await {
                Ok(Some(Ok(msg))) => msg,
                _ => return Err(None),
            };
            match msg {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if !matches!(value["type"].as_str(), Some("ping" | "ka")) {
                        return Ok(value);
                    }
                }
                Message::Close(frame) => return Err(frame.map(|f| u16::from(f.code))),
                _ => {}
            }
        }
    }

    /// The next JSON message (pings skipped) within `wait`: `Ok(None)` when
    /// nothing came, `Err` with the close code when the socket ended.
    pub async fn next_or_end(&mut self, wait: Duration) -> Result<Option<Value>, Option<u16>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(msg))) => msg,
                Ok(_) => return Err(None),
            };
            match msg {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if !matches!(value["type"].as_str(), Some("ping" | "ka")) {
                        return Ok(Some(value));
                    }
                }
                Message::Close(frame) => return Err(frame.map(|f| u16::from(f.code))),
                _ => {}
            }
        }
    }

    /// Skips messages until the server closes the socket and returns the close
    /// frame's code; `None` when the socket ended without a close frame or
    /// nothing closed it within `wait`.
    pub async fn close_code_within(&mut self, wait: Duration) -> Option<u16> {
        tokio::time::timeout(wait, async {
            loop {
                match self.next_json_or_close(wait).await {
                    Ok(_) => continue,
                    Err(code) => return code,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Sends one text frame as it is, valid JSON or not.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("websocket send");
    }
}

impl WsClient {
    /// Starts the closing handshake with a 1000 Close frame and returns the
    /// code of the server's Close frame in reply; `None` when the socket ended
    /// without one.
    pub async fn close_handshake(&mut self) -> Option<u16> {
        use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        self.stream
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await
            .expect("close frame sent");
        self.close_code_within(Duration::from_secs(5)).await
    }
}

/// Terminates the listening connections of the instances with `pids` on
/// `db`, as a network cut or a database failover would; returns how many.
pub async fn kill_listeners(conn: &DatabaseConnection, db: &TestDb, pids: &[u32]) -> u64 {
    let channel = format!("activity_feed_{}", db.config.schema.as_deref().unwrap());
    let names: Vec<String> = pids
        .iter()
        .map(|&pid| {
            let name = activity_feed::bus::postgres::listener_application_name(pid, &channel);
            format!("'{name}'")
        })
        .collect();
    conn.execute_unprepared(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ({})",
        names.join(", ")
    ))
    .await
    .expect("terminate listeners")
    .rows_affected()
}

/// Says `SKIPPED <test>: <why>` for the running test, and returns `false`.
///
/// libtest keeps a passing test's `println!` to itself; this line goes to
/// the process's stderr directly, so a plain `cargo test` shows every test
/// that passed without running, and `.ci/run` counts them per database.
/// libtest names each test's thread after the test.
pub fn skipped(why: &str) -> bool {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    let line = format!("SKIPPED {test}: {why}\n");
    // One write, so that lines from tests running side by side stay whole.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}
