//! Per-caller rate limits: a burst from one token is refused with 429 and
//! `Retry-After` while other callers go on; expensive operations cost more
//! than cheap ones; requests without a valid token are limited by address;
//! websocket operations get `RATE_LIMITED` errors and the socket stays up;
//! open development mode is never limited; refusals are counted.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{error_codes, hs256, secured_app_with, Db};
use crate::helpers::{spawn_app_with, TestApp, WsClient};

/// Long enough for anything the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);
/// About two cost units.
const CHEAP: &str = "{ viewer { role } }";
/// A count scans: 1000 units.
const EXPENSIVE: &str = "{ activityCount }";

/// A secured server whose buckets hold `burst` units and regain `per_second`.
async fn limited_app(per_second: u32, burst: u32) -> TestApp {
    secured_app_with(|config| {
        config.rate_limit.rate_limit_cost_per_second = per_second;
        config.rate_limit.rate_limit_burst = burst;
    })
    .await
}

/// A fresh admin token: a bucket of its own.
fn fresh_admin() -> String {
    hs256("admin", &Uuid::now_v7().to_string(), 3600)
}

/// What one POST got: status, `Retry-After`, body.
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn post(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    forwarded_for: Option<&str>,
) -> Reply {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let res = request.send().await.expect("request sent");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    Reply {
        status,
        retry_after,
        body: res.json().await.expect("JSON body"),
    }
}

/// Sends `query` until it is refused; returns how many went through and the refusal.
async fn until_refused(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    forwarded_for: Option<&str>,
    most: usize,
) -> (usize, Reply) {
    for passed in 0..most {
        let reply = post(app, token, query, forwarded_for).await;
        if reply.status == 429 {
            return (passed, reply);
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    panic!("{most} requests went through without a refusal");
}

fn assert_rate_limited(reply: &Reply) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(error_codes(&reply.body), ["RATE_LIMITED"], "{}", reply.body);
    let wait = reply.retry_after.expect("a Retry-After header");
    assert!(wait >= 1, "{wait}");
    assert_eq!(
        reply.body["errors"][0]["extensions"]["retryAfter"],
        json!(wait)
    );
    assert!(reply.body["data"].is_null(), "nothing ran: {}", reply.body);
}

/// `activity_feed_rate_limited_total{bucket=…}`, read with an admin token.
async fn refusals(app: &TestApp, bucket: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(fresh_admin())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("activity_feed_rate_limited_total{{bucket=\"{bucket}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_burst_from_one_caller_is_limited_while_another_is_not() {
    // Arrange: 60 units, regained at one per second.
    let app = limited_app(1, 60).await;
    let db = Db::open(&app).await;
    let (greedy, patient) = (fresh_admin(), fresh_admin());
    let write = "mutation { log(input: {action: \"rate.test\"}) { activity { uuid } } }";

    // Act
    let (passed, refused) = until_refused(&app, Some(&greedy), CHEAP, None, 200).await;
    let rows = db.rows().await;
    let refused_write = post(&app, Some(&greedy), write, None).await;

    // Assert: the bucket held a few dozen cheap queries, then 429 with
    // RATE_LIMITED; a refused write writes nothing; another token of the
    // same role is not affected.
    assert!(
        (10..=60).contains(&passed),
        "{passed} cheap queries went through"
    );
    assert_rate_limited(&refused);
    assert_rate_limited(&refused_write);
    assert_eq!(db.rows().await, rows, "a refused write wrote a row");
    let other = post(&app, Some(&patient), write, None).await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert!(other.body.get("errors").is_none(), "{}", other.body);
    assert_eq!(refusals(&app, "token").await, 2);
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn after_retry_after_the_caller_may_go_on() {
    // Arrange: 20 units, regained at 20 per second.
    let app = limited_app(20, 20).await;
    let token = fresh_admin();
    let (_, refused) = until_refused(&app, Some(&token), CHEAP, None, 500).await;

    // Act
    let wait = refused.retry_after.unwrap();
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let again = post(&app, Some(&token), CHEAP, None).await;

    // Assert
    assert_eq!(wait, 1);
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.get("errors").is_none(), "{}", again.body);
    app.stop().await;
}

#[tokio::test]
async fn an_expensive_query_costs_more_than_a_cheap_one() {
    // Arrange: room for a few scans, regained at one unit per second.
    let app = limited_app(1, 3500).await;
    let (scanner, reader) = (fresh_admin(), fresh_admin());

    // Act: counts from one caller, cheap queries from another.
    let (counts, refused) = until_refused(&app, Some(&scanner), EXPENSIVE, None, 100).await;
    let mut cheap = 0;
    for _ in 0..200 {
        let reply = post(&app, Some(&reader), CHEAP, None).await;
        assert_eq!(reply.status, 200, "cheap query {cheap}: {}", reply.body);
        cheap += 1;
    }

    // Assert: three counts spent the bucket that two hundred cheap queries
    // did not, and the refusal asks for a wait worth a count.
    assert_eq!(counts, 3);
    assert_rate_limited(&refused);
    assert!(
        refused.retry_after.unwrap() > 100,
        "{:?}",
        refused.retry_after
    );
    assert_eq!(cheap, 200);
    app.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_limited_by_client_address() {
    // Arrange: the test client is a trusted proxy, so X-Forwarded-For names
    // the client.
    let app = secured_app_with(|config| {
        config.rate_limit.rate_limit_cost_per_second = 1;
        config.rate_limit.rate_limit_burst = 30;
        config.context.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let query = "{ __typename }";

    // Act: one address without a token, then with a forged one.
    let (passed, refused) = until_refused(&app, None, query, Some("203.0.113.7"), 100).await;
    let forged = post(&app, Some("not.a.token"), query, Some("203.0.113.7")).await;
    let other_address = post(&app, None, query, Some("198.51.100.2")).await;
    let with_a_token = post(&app, Some(&fresh_admin()), query, Some("203.0.113.7")).await;

    // Assert
    assert!((1..=30).contains(&passed), "{passed}");
    assert_rate_limited(&refused);
    assert_rate_limited(&forged);
    assert_eq!(other_address.status, 200, "{}", other_address.body);
    assert_eq!(with_a_token.status, 200, "{}", with_a_token.body);
    assert_eq!(refusals(&app, "address").await, 2);
    app.stop().await;
}

/// Sends a graphql-transport-ws `subscribe` with `id` and returns the first
/// message for it: its `next` or its `error`.
async fn first_for(ws: &mut WsClient, id: &str, query: &str) -> Value {
    ws.subscribe(id, query, json!({})).await;
    loop {
        let msg = ws
            .next_json_or_close(PATIENCE)
            .await
            .expect("the socket stays open");
        if msg["id"] == id && matches!(msg["type"].as_str(), Some("next" | "error")) {
            return msg;
        }
    }
}

#[tokio::test]
async fn websocket_operations_get_rate_limited_errors_and_the_socket_stays_open() {
    // Arrange
    let app = limited_app(1, 2500).await;
    let (token, other) = (fresh_admin(), fresh_admin());
    let mut ws = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {token}") }),
        )
        .await;

    // Act: counts as queries over the socket, until one is refused.
    let mut counts = 0;
    let refused = loop {
        let msg = first_for(&mut ws, &format!("q{counts}"), EXPENSIVE).await;
        if msg["type"] == "error" {
            break msg;
        }
        counts += 1;
        assert!(counts < 10, "never refused: {msg}");
    };
    // A live subscription (shared between subscribers) is charged too.
    let mut shared_refused = None;
    for i in 0..200 {
        let id = format!("live{i}");
        ws.subscribe(&id, "subscription { activityAdded { uuid } }", json!({}))
            .await;
        ws.stop(&id).await;
        if let Ok(msg) = ws.next_json_or_close(Duration::from_millis(20)).await {
            if msg["type"] == "error" {
                shared_refused = Some(msg);
                break;
            }
        }
    }

    // Assert: RATE_LIMITED for the operation, the socket still serves, and
    // another caller's socket is not affected.
    assert_eq!(counts, 2);
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
    assert!(
        refused["payload"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let shared_refused = shared_refused.expect("a live subscription was refused");
    assert_eq!(
        shared_refused["payload"][0]["extensions"]["code"],
        "RATE_LIMITED"
    );
    let mut fresh = app
        .websocket_with(
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {other}") }),
        )
        .await;
    let answered = first_for(&mut fresh, "ok", EXPENSIVE).await;
    assert_eq!(answered["type"], "next", "{answered}");
    // The bucket regains a cheap query's cost in a few seconds; the same
    // socket then answers again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = first_for(&mut ws, "later", CHEAP).await;
    assert_eq!(later["type"], "next", "{later}");
    app.stop().await;
}

#[tokio::test]
async fn open_development_mode_is_never_limited() {
    // Arrange: the smallest bucket, but no key: open mode.
    let app = spawn_app_with(|config| {
        config.rate_limit.rate_limit_cost_per_second = 1;
        config.rate_limit.rate_limit_burst = 1;
    })
    .await;

    // Act + Assert
    for i in 0..20 {
        let reply = post(&app, None, EXPENSIVE, None).await;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    }
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_false_turns_it_off() {
    // Arrange
    let app = secured_app_with(|config| {
        config.rate_limit.rate_limit = false;
        config.rate_limit.rate_limit_burst = 1;
    })
    .await;
    let token = fresh_admin();

    // Act + Assert
    for i in 0..20 {
        let reply = post(&app, Some(&token), EXPENSIVE, None).await;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
    }
    app.stop().await;
}
