//! Every limit on what one request may ask for, each configured small and
//! each refused with a clear error.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use super::{assert_no_leak, Db};
use crate::helpers::{spawn_app_with, TestApp};

/// Long enough for any answer the server owes us; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// The one error of a refused request, exactly.
fn refusal(message: &str) -> Value {
    refusal_with("BAD_USER_INPUT", message)
}

/// The one error, with `code`, of a refused request, exactly.
fn refusal_with(code: &str, message: &str) -> Value {
    json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// A resolver's BAD_USER_INPUT error on `field`, with the path and position async-graphql adds.
fn field_refusal(path: &str, field: &str, message: &str, column: u64) -> Value {
    json!({ "data": null, "errors": [{
        "message": format!("{field}: {message}"),
        "extensions": { "code": "BAD_USER_INPUT", "field": field },
        "locations": [{ "line": 1, "column": column }],
        "path": [path],
    }] })
}

/// `{ a1: retentionDays a2: retentionDays … }` with `n` aliases.
fn aliases(n: usize) -> String {
    let fields: Vec<String> = (1..=n).map(|i| format!("a{i}: retentionDays")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn queries_nested_deeper_than_the_limit_are_refused() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_depth = 3).await;

    // Act
    let at_limit = app
        .graphql("{ activities { entries { uuid } } }", json!({}))
        .await;
    let too_deep = app
        .graphql("{ activities { entries { actor { email } } } }", json!({}))
        .await;
    let too_deep_by_fragment = app
        .graphql(
            "query { ...F } fragment F on Query { activities { entries { target { email } } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        at_limit,
        json!({ "data": { "activities": { "entries": [] } } })
    );
    assert_eq!(
        too_deep,
        refusal_with("QUERY_TOO_LARGE", "Query is nested too deep.")
    );
    assert_eq!(
        too_deep_by_fragment,
        refusal_with("QUERY_TOO_LARGE", "Query is nested too deep.")
    );
    app.stop().await;
}

#[tokio::test]
async fn queries_more_complex_than_the_limit_are_refused_however_they_get_there() {
    // Arrange: 45 is one statement (25) and 20 rows of one field; the
    // document limits are out of the way, so complexity alone decides.
    let app = spawn_app_with(|config| {
        config.limits.max_complexity = 45;
        config.limits.max_root_fields = 10_000;
        config.limits.max_aliases = 10_000;
        config.limits.max_query_tokens = 100_000;
        config.limits.max_query_bytes = 1024 * 1024;
    })
    .await;

    // Act: a wide query of aliases, a long list, and aliases of lists.
    let at_limit_aliases = app.graphql(&aliases(45), json!({})).await;
    let wide = app.graphql(&aliases(46), json!({})).await;
    let very_wide = app.graphql(&aliases(5000), json!({})).await;
    let list_at_limit = app
        .graphql("{ recentActivities(limit: 20) { uuid } }", json!({}))
        .await;
    let long_list = app
        .graphql("{ recentActivities(limit: 21) { uuid } }", json!({}))
        .await;
    let aliased_lists = app
        .graphql(
            "{ a: recentActivities(limit: 10) { uuid } b: recentActivities(limit: 10) { uuid } c: recentActivities(limit: 10) { uuid } }",
            json!({}),
        )
        .await;
    let big_page = app
        .graphql(
            "{ activities(perPage: 20) { entries { uuid action } } }",
            json!({}),
        )
        .await;

    // Assert
    let expected: serde_json::Map<String, Value> =
        (1..=45).map(|i| (format!("a{i}"), json!(90))).collect();
    assert_eq!(at_limit_aliases, json!({ "data": expected }));
    assert_eq!(
        wide,
        refusal_with("QUERY_TOO_LARGE", "Query is too complex.")
    );
    assert_eq!(
        very_wide,
        refusal_with("QUERY_TOO_LARGE", "Query is too complex.")
    );
    assert_eq!(list_at_limit, json!({ "data": { "recentActivities": [] } }));
    assert_eq!(
        long_list,
        refusal_with("QUERY_TOO_LARGE", "Query is too complex.")
    );
    assert_eq!(
        aliased_lists,
        refusal_with("QUERY_TOO_LARGE", "Query is too complex.")
    );
    assert_eq!(
        big_page,
        refusal_with("QUERY_TOO_LARGE", "Query is too complex.")
    );
    app.stop().await;
}

#[tokio::test]
async fn page_sizes_above_the_cap_are_refused_and_the_cap_is_served() {
    // Arrange: a cap of 5, and 7 activities.
    let app = spawn_app_with(|config| config.limits.max_page_size = 5).await;
    let actor = Uuid::now_v7();
    for i in 0..7 {
        app.log(json!({ "action": format!("cap.{i}"), "actorUuid": actor }))
            .await;
    }
    let vars = json!({ "actor": actor });

    // Act
    let per_page = app
        .graphql("{ activities(perPage: 6) { total } }", json!({}))
        .await;
    let zero = app
        .graphql("{ activities(perPage: 0) { total } }", json!({}))
        .await;
    let for_user = app
        .graphql(
            "query($actor: UUID!) { activitiesForUser(userUuid: $actor, perPage: 6) { total } }",
            vars.clone(),
        )
        .await;
    let first = app
        .graphql("{ activityFeed(first: 6) { nodes { uuid } } }", json!({}))
        .await;
    let last = app
        .graphql("{ activityFeed(last: 6) { nodes { uuid } } }", json!({}))
        .await;
    let limit = app
        .graphql("{ recentActivities(limit: 6) { uuid } }", json!({}))
        .await;
    let negative = app
        .graphql("{ recentActivities(limit: -1) { uuid } }", json!({}))
        .await;
    let served = app
        .data(
            "query($actor: UUID!) {
                page: activities(perPage: 5) { total totalPages entries { uuid } }
                user: activitiesForUser(userUuid: $actor, perPage: 5) { entries { uuid } }
                first: activityFeed(first: 5) { nodes { uuid } }
                default: activityFeed { nodes { uuid } }
                recent: recentActivities(limit: 5) { uuid }
            }",
            vars,
        )
        .await;

    // Assert
    let between = "must be between 1 and 5";
    assert_eq!(per_page, field_refusal("activities", "perPage", between, 3));
    assert_eq!(zero, field_refusal("activities", "perPage", between, 3));
    assert_eq!(
        for_user,
        field_refusal("activitiesForUser", "perPage", between, 24)
    );
    let slice = "must be between 0 and 5";
    assert_eq!(first, field_refusal("activityFeed", "first", slice, 3));
    assert_eq!(last, field_refusal("activityFeed", "last", slice, 3));
    assert_eq!(
        limit,
        field_refusal("recentActivities", "limit", between, 3)
    );
    assert_eq!(
        negative,
        field_refusal("recentActivities", "limit", between, 3)
    );
    assert_eq!(served["page"]["total"], 7);
    assert_eq!(served["page"]["totalPages"], 2);
    for (key, list) in [
        ("page", "entries"),
        ("user", "entries"),
        ("first", "nodes"),
        ("default", "nodes"),
    ] {
        assert_eq!(served[key][list].as_array().unwrap().len(), 5, "{key}");
    }
    assert_eq!(served["recent"].as_array().unwrap().len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn batches_above_the_limit_are_refused_whole() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_batch_size = 3).await;
    let db = Db::open(&app).await;
    let entries = |n: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({ "action": format!("batch.{i}") }))
                .collect(),
        )
    };
    let people = |n: usize| -> Value {
        Value::Array((0..n).map(|_| json!({ "uuid": Uuid::now_v7() })).collect())
    };
    let log_batch = "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid } errors { field } } }";
    let upsert = "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }";
    let before = db.rows().await;

    // Act
    let too_many_logs = app.graphql(log_batch, json!({ "i": entries(4) })).await;
    let too_many_people = app.graphql(upsert, json!({ "u": people(4) })).await;
    let after_refusals = db.rows().await;
    let three_logs = app.data(log_batch, json!({ "i": entries(3) })).await;
    let three_people = app.data(upsert, json!({ "u": people(3) })).await;

    // Assert
    let refused = |path: &str| {
        json!({ "data": null, "errors": [{
            "message": "inputs: at most 3 entries per batch",
            "extensions": { "code": "BAD_USER_INPUT", "field": "inputs" },
            "locations": [{ "line": 1, "column": if path == "logBatch" { 30 } else { 31 } }],
            "path": [path],
        }] })
    };
    assert_eq!(too_many_logs, refused("logBatch"));
    assert_eq!(too_many_people, refused("upsertUsers"));
    assert_eq!(after_refusals, before, "a refused batch wrote rows");
    assert_eq!(three_logs["logBatch"].as_array().unwrap().len(), 3);
    assert_eq!(three_people["upsertUsers"].as_array().unwrap().len(), 3);
    let after = db.rows().await;
    assert_eq!(
        (after.activities, after.users),
        (before.activities + 3, before.users + 3)
    );
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn bodies_above_the_limit_get_413_and_are_not_executed() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_body_bytes = 2048).await;
    let db = Db::open(&app).await;
    let body = |size: usize| -> String {
        let head = r#"{"query":"mutation { log(input: {action: \"body.limit\"}) { activity { uuid } } }","pad":""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()))
    };
    let post = |text: String| {
        app.http
            .post(app.url("/graphql"))
            .header("Content-Type", "application/json")
            .body(text)
            .send()
    };

    // Act
    let too_big = post(body(4096)).await.unwrap();
    let too_big_status = too_big.status();
    let too_big_text = too_big.text().await.unwrap();
    let huge = post(body(8 * 1024 * 1024)).await.unwrap().status();
    let chunked = raw_request(
        &app,
        &format!(
            "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            4096,
            body(4096)
        ),
    )
    .await;
    let rows_after_refusals = db.rows().await;
    let at_limit = post(body(2048)).await.unwrap().status();

    // Assert
    assert_eq!(too_big_status, 413);
    assert_no_leak(&too_big_text);
    assert_eq!(huge, 413);
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert_eq!(
        rows_after_refusals.activities, 0,
        "an oversized body was executed"
    );
    assert_eq!(at_limit, 200);
    assert_eq!(db.rows().await.activities, 1);
    db.close().await;
    app.stop().await;
}

/// Sends `request` as it is and returns what the server answers, up to the
/// end of its headers.
async fn raw_request(app: &TestApp, request: &str) -> String {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    read_head(&mut stream).await
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(PATIENCE, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the server answers");
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn metadata_above_the_limit_is_refused() {
    // Arrange: 100 bytes. {"k":"…"} is 8 bytes around the value.
    let app = spawn_app_with(|config| config.limits.max_metadata_bytes = 100).await;
    let db = Db::open(&app).await;
    let log = "mutation($m: JSON) { log(input: {action: \"meta\", metadata: $m}) { activity { metadata } errors { field message code } } }";
    let batch = "mutation($m: JSON) { logBatch(inputs: [{action: \"ok\"}, {action: \"meta\", metadata: $m}]) { activity { uuid } errors { field message code } } }";
    let change = "mutation($u: UUID!, $m: JSON) { logUserChange(input: {action: \"user.updated\", userUuid: $u, changes: {a: \"b\"}, extraMetadata: $m}) { changed errors { field message code } } }";
    let exactly = json!({ "k": "x".repeat(92) });
    let one_more = json!({ "k": "x".repeat(93) });
    let multibyte = json!({ "k": "é".repeat(47) }); // 94 bytes of value: 102 in all

    // Act
    let at_limit = app.data(log, json!({ "m": exactly })).await;
    let rows_before = db.rows().await;
    let over = app.data(log, json!({ "m": one_more })).await;
    let over_multibyte = app.data(log, json!({ "m": multibyte })).await;
    let over_in_batch = app.data(batch, json!({ "m": one_more })).await;
    let over_in_change = app
        .data(
            change,
            json!({ "u": Uuid::now_v7(), "m": { "k": "x".repeat(100) } }),
        )
        .await;

    // Assert
    let error = json!([{ "field": "metadata", "message": "must be at most 100 bytes as JSON", "code": "BAD_USER_INPUT" }]);
    assert_eq!(at_limit["log"]["activity"]["metadata"], exactly);
    assert_eq!(over["log"], json!({ "activity": null, "errors": error }));
    assert_eq!(
        over_multibyte["log"],
        json!({ "activity": null, "errors": error })
    );
    assert_eq!(
        over_in_batch["logBatch"][1],
        json!({ "activity": null, "errors": error })
    );
    assert_eq!(over_in_batch["logBatch"][0]["activity"], Value::Null);
    assert_eq!(
        over_in_change["logUserChange"],
        json!({ "changed": false, "errors": error })
    );
    assert_eq!(db.rows().await, rows_before, "refused metadata was written");
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_gets_408() {
    // Arrange: 1ms, and a request whose body never comes, so it cannot finish in time.
    let app =
        spawn_app_with(|config| config.limits.request_timeout = Duration::from_millis(1)).await;

    // Act
    let head = raw_request(
        &app,
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n",
    )
    .await;

    // Assert
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    app.stop().await;
}

#[tokio::test]
async fn with_introspection_off_the_schema_is_not_revealed() {
    // Arrange
    let closed = spawn_app_with(|config| config.limits.introspection = false).await;
    let open = spawn_app_with(|_| {}).await;
    let schema = "{ __schema { queryType { name } } }";
    let a_type = "{ __type(name: \"Activity\") { name } }";

    // Act
    let refused_schema = closed.graphql(schema, json!({})).await;
    let refused_type = closed.graphql(a_type, json!({})).await;
    let hidden_in_fragment = closed
        .graphql(
            "{ ...F } fragment F on Query { __schema { types { name } } }",
            json!({}),
        )
        .await;
    let typename = closed.graphql("{ __typename }", json!({})).await;
    let allowed = open.graphql(schema, json!({})).await;

    // Assert
    let refused = refusal("introspection is disabled on this server");
    assert_eq!(refused_schema, refused);
    assert_eq!(refused_type, refused);
    assert_eq!(hidden_in_fragment, refused);
    assert_eq!(typename, json!({ "data": { "__typename": "Query" } }));
    assert_eq!(
        allowed,
        json!({ "data": { "__schema": { "queryType": { "name": "Query" } } } })
    );
    closed.stop().await;
    open.stop().await;
}

#[tokio::test]
async fn with_graphiql_off_a_browser_gets_no_page() {
    // Arrange
    let closed = spawn_app_with(|config| config.limits.graphiql = false).await;
    let open = spawn_app_with(|_| {}).await;
    let get = |app: &TestApp| {
        app.http
            .get(app.url("/graphql"))
            .header("Accept", "text/html,application/xhtml+xml")
            .send()
    };

    // Act
    let refused = get(&closed).await.unwrap();
    let refused_status = refused.status();
    let refused_type = refused.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let refused_body: Value = refused.json().await.unwrap();
    let page = get(&open).await.unwrap();
    let page_status = page.status();
    let page_type = page.headers()["content-type"].to_str().unwrap().to_owned();
    let page_body = page.text().await.unwrap();

    // Assert: not the page: HTML is not a type the API answers in.
    assert_eq!(refused_status, 406);
    assert_eq!(refused_type, "application/json; charset=utf-8");
    assert_eq!(
        refused_body["errors"][0]["extensions"]["code"],
        "BAD_REQUEST"
    );
    assert!(
        !refused_body.to_string().contains("graphiql"),
        "{refused_body}"
    );
    assert_eq!(page_status, 200);
    assert!(page_type.starts_with("text/html"), "{page_type}");
    assert!(page_body.contains("graphiql"));
    closed.stop().await;
    open.stop().await;
}

#[tokio::test]
async fn websockets_beyond_the_cap_get_503_until_one_closes() {
    let app = spawn_app_with(|c| c.limits.max_websockets = 1).await;
    let first = app.websocket().await;

    let refused = tokio_tungstenite::connect_async(format!("ws://{}/graphql", app.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 503),
        other => panic!("expected a 503 refusal, got {other:?}"),
    }

    // The slot is freed when the socket goes away; wait for the server to see it.
    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok((ws, _)) =
            tokio_tungstenite::connect_async(format!("ws://{}/graphql", app.addr)).await
        {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "a closed socket frees its slot");
    app.stop().await;
}

/// The value of the `/metrics` sample named exactly `sample`, if there is one.
fn sample(metrics: &str, sample: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == sample).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn operation_names_that_are_not_short_graphql_names_are_counted_as_other() {
    // Arrange: open mode, so /metrics answers without a token.
    let app = spawn_app_with(|_| {}).await;
    let long = "N".repeat(200_000);
    let names = [
        long.as_str(),
        "drop table activities; --",
        "0leadingDigit",
        "Kept_1",
    ];

    // Act: each name sent (twice) as the operationName of a document that has it.
    for name in names {
        for _ in 0..2 {
            let res = app
                .http
                .post(app.url("/graphql"))
                .json(&json!({ "query": "query Kept_1 { retentionDays }", "operationName": name }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
    }
    let metrics = app.metrics().await;

    // Assert: the GraphQL name is a label; the other three are one fixed label.
    assert_eq!(
        sample(
            &metrics,
            r#"activity_feed_graphql_requests_total{operation="Kept_1",type="query"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"activity_feed_graphql_requests_total{operation="other",type="invalid"}"#
        ),
        Some(6.0),
        "{metrics}"
    );
    assert!(
        !metrics.contains("NNNN")
            && !metrics.contains("drop table")
            && !metrics.contains("0leading")
    );
    assert!(
        metrics.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        metrics.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn text_searches_of_more_words_than_the_limit_are_refused() {
    // Arrange
    let app = spawn_app_with(|config| config.limits.max_search_words = 3).await;
    app.log(json!({ "action": "search.cap", "metadata": { "title": "one two three" } }))
        .await;
    let count = "query($t: String) { activityCount(filter: {metadataText: $t}) }";
    let page =
        "query($t: String) { activities(filter: {metadataText: $t}) { entries { action } } }";

    // Act
    let at_limit = app.data(count, json!({ "t": "one, two; three" })).await;
    let over = app
        .graphql(count, json!({ "t": "one two three four" }))
        .await;
    let over_in_page = app.graphql(page, json!({ "t": "a b c d e" })).await;
    let mut ws = app.websocket().await;
    ws.subscribe(
        "s",
        "subscription($t: String) { activityAdded(filter: {metadataText: $t}) { uuid } }",
        json!({ "t": "a b c d" }),
    )
    .await;
    let live = ws.next_json().await.expect("an answer to the subscription");

    // Assert
    assert_eq!(at_limit, json!({ "activityCount": 1 }));
    let message = |n: usize| format!("metadataText: must hold at most 3 words; it holds {n}");
    assert_eq!(over["errors"][0]["message"], message(4), "{over}");
    assert_eq!(over["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(over["errors"][0]["extensions"]["field"], "metadataText");
    assert_eq!(
        over_in_page["errors"][0]["message"],
        message(5),
        "{over_in_page}"
    );
    assert_eq!(
        live["payload"]["errors"][0]["message"],
        message(4),
        "{live}"
    );
    app.stop().await;
}
