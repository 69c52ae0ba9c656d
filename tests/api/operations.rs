//! What operators use: /metrics counters that move with the traffic, and
//! /export streaming the filtered feed with the API's permissions.

use activity_feed::auth::{mint, Claims, SigningKey};
use serde_json::{json, Value};

use crate::helpers::spawn_app_with;

const SECRET: &str = "operations-test-secret-of-32-bytes";

fn token(role: &str, sub: uuid::Uuid) -> String {
    let claims = Claims {
        sub: sub.to_string(),
        role: role.into(),
        exp: chrono::Utc::now().timestamp() + 600,
    };
    mint(&claims, SigningKey::Secret(SECRET)).unwrap()
}

/// The value of the sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn running_totals_are_counters_and_levels_gauges() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;
    app.graphql("{ activities { total } }", json!({})).await;

    // Act
    let (first, second) = (app.metrics().await, app.metrics().await);

    // Assert
    let types: Vec<(&str, &str)> = second
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let totals: Vec<&str> = types
        .iter()
        .filter(|(name, _)| name.ends_with("_total"))
        .map(|(name, _)| *name)
        .collect();
    for name in [
        "activity_feed_events_published_total",
        "activity_feed_db_statements_total",
        "activity_feed_activities_pruned_total",
        "activity_feed_notify_dropped_total",
    ] {
        assert!(totals.contains(&name), "{name} missing from {second}");
    }
    for (name, kind) in &types {
        let expected = if name.ends_with("_total") {
            "counter"
        } else {
            kind
        };
        assert_eq!(*kind, expected, "{name}");
    }
    assert!(types.contains(&("activity_feed_websockets_open", "gauge")));
    // A counter read at scrape time keeps its source's total, however often scraped.
    let statements = "activity_feed_db_statements_total ";
    assert!(sample(&second, statements) >= sample(&first, statements));
    assert!(sample(&first, statements) >= 1.0);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_operations_errors_and_live_traffic() {
    let app = spawn_app_with(|_| {}).await;
    let scrape = || app.metrics();
    let before = scrape().await;

    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        "subscription { activityAdded(filter: {action: \"m.*\"}) { uuid } }",
        json!({}),
    )
    .await;
    app.graphql(
        "mutation Track { log(input: {action: \"m.one\"}) { activity { uuid } } }",
        json!({}),
    )
    .await;
    ws.next_data().await;
    app.graphql("query Broken { activities(page: 0) { total } }", json!({}))
        .await;
    let after = scrape().await;

    let delta = |prefix: &str| sample(&after, prefix) - sample(&before, prefix);
    assert_eq!(
        delta("activity_feed_graphql_requests_total{operation=\"Track\",type=\"mutation\"}"),
        1.0
    );
    assert_eq!(
        delta("activity_feed_graphql_requests_total{operation=\"Broken\",type=\"query\"}"),
        1.0
    );
    assert_eq!(
        delta("activity_feed_graphql_errors_total{operation=\"Broken\",type=\"query\"}"),
        1.0
    );
    assert_eq!(
        delta("activity_feed_graphql_errors_total{operation=\"Track\",type=\"mutation\"}"),
        0.0
    );
    assert_eq!(sample(&after, "activity_feed_websockets_open"), 1.0);
    assert_eq!(sample(&after, "activity_feed_subscriptions_active"), 1.0);
    assert!(
        delta("activity_feed_events_published_total") >= 2.0,
        "the probe and the mutation"
    );
    assert!(delta("activity_feed_events_delivered_total") >= 1.0);
    assert!(delta("activity_feed_db_statements_total") >= 2.0);
    assert!(sample(&after, "activity_feed_db_pool_connections") >= 1.0);
    assert!(
        after.contains("activity_feed_graphql_request_duration_seconds_bucket{type=\"mutation\"")
    );

    drop(ws);
    app.stop().await;
}

#[tokio::test]
async fn metrics_need_an_admin_token_when_authentication_is_on() {
    let app = spawn_app_with(|c| c.auth.jwt_secret = Some(SECRET.into())).await;
    let status = |t: Option<String>| {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(t) = t {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(
        status(Some(token("service", uuid::Uuid::now_v7()))).await,
        403
    );
    assert_eq!(
        status(Some(token("admin", uuid::Uuid::now_v7()))).await,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn export_streams_the_filtered_feed_as_ndjson_and_csv() {
    let app = spawn_app_with(|_| {}).await;
    let mut logged = Vec::new();
    for (i, action) in ["post.created", "comment.liked", "post.updated"]
        .iter()
        .enumerate()
    {
        logged.push(
            app.log(json!({ "action": action, "module": "m", "metadata": { "n": i, "quote": "a,\"b\"" } }))
                .await,
        );
    }

    let ndjson = app
        .http
        .get(app.url("/export"))
        .query(&[("format", "ndjson"), ("filter", r#"{"action":"post.*"}"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let rows: Vec<Value> = ndjson
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let uuids: Vec<&Value> = rows.iter().map(|r| &r["uuid"]).collect();
    assert_eq!(
        uuids,
        vec![&logged[2]["uuid"], &logged[0]["uuid"]],
        "newest first, posts only"
    );
    assert_eq!(rows[0]["metadata"], json!({ "n": 2, "quote": "a,\"b\"" }));
    assert_eq!(rows[0]["insertedAt"], logged[2]["insertedAt"]);

    let csv = app
        .http
        .get(app.url("/export"))
        .query(&[("format", "csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "uuid,action,module,mode,actor_uuid,resource_type,resource_uuid,target_uuid,metadata,inserted_at,correlation_id,client_ip,user_agent"
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!(
            "{},post.updated,m,,,,,,",
            logged[2]["uuid"].as_str().unwrap()
        )),
        "{first}"
    );
    assert!(
        first.contains(r#""{""n"":2,""quote"":""a,\""b\""""}""#),
        "metadata quoted as CSV: {first}"
    );
    assert_eq!(lines.count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn export_applies_permissions_and_refuses_bad_filters() {
    let app = spawn_app_with(|c| c.auth.jwt_secret = Some(SECRET.into())).await;
    let (me, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let service = token("service", uuid::Uuid::now_v7());
    for actor in [me, other, me] {
        let res: Value = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&service)
            .json(&json!({ "query": "mutation($a: UUID) { log(input: {action: \"x.y\", actorUuid: $a}) { activity { uuid } } }", "variables": { "a": actor } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(res["data"]["log"]["activity"]["uuid"].is_string(), "{res}");
    }
    let export = |token: Option<String>, filter: &str| {
        let mut req = app
            .http
            .get(app.url("/export"))
            .query(&[("filter", filter)]);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };

    let (status, _) = export(None, "{}").await;
    assert_eq!(status, 401);
    let (status, body) = export(Some(token("user", me)), "{}").await;
    assert_eq!(status, 200);
    assert_eq!(
        body.lines().count(),
        2,
        "a user exports only their own activities"
    );
    assert!(!body.contains(&other.to_string()));
    let (status, body) = export(Some(service.clone()), "{}").await;
    assert_eq!((status, body.lines().count()), (200, 3));
    let (status, body) = export(Some(service.clone()), r#"{"actorUuid":"not-a-uuid"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("BAD_USER_INPUT"));
    let (status, _) = export(Some(service), r#"{"nope":1}"#).await;
    assert_eq!(status, 400);
    app.stop().await;
}
