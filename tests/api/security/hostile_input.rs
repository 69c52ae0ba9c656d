//! Hostile input: malformed arguments, SQL-looking strings, huge and deeply
//! nested values, NUL characters, non-JSON bodies and wrong content types.
//! None may get a 5xx, crash the server or hear anything of its internals;
//! malformed GraphQL is refused as BAD_USER_INPUT, and the data survives.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{assert_no_data, assert_no_leak, error_codes, short, Db};
use crate::helpers::{spawn_app, TestApp};

/// Asserts the server still serves, and `activities` still holds `rows` rows.
async fn assert_intact(app: &TestApp, rows: u64) {
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let data = app.data("{ activityCount }", json!({})).await;
    assert_eq!(data, json!({ "activityCount": rows }));
    let db = Db::open(app).await;
    assert_eq!(db.rows().await.activities, rows);
    db.close().await;
}

/// Cursors no server ever issued: garbage, and well-formed ones out of any range.
fn hostile_cursors() -> Vec<String> {
    let uuid = Uuid::now_v7().simple();
    vec![
        "garbage".into(),
        String::new(),
        "!!!".into(),
        URL_SAFE_NO_PAD.encode("1:not-a-uuid"),
        URL_SAFE_NO_PAD.encode(format!("-8000000000000000000:{uuid}")),
        URL_SAFE_NO_PAD.encode(format!("8000000000000000000:{uuid}")),
        URL_SAFE_NO_PAD.encode(format!("99999999999999999999999:{uuid}")),
        URL_SAFE_NO_PAD.encode(format!("1'; DROP TABLE activities; --:{uuid}")),
    ]
}

#[tokio::test]
async fn malformed_arguments_are_refused_as_bad_user_input() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "survivor" })).await;
    let huge = "x".repeat(200_000);
    let mut cases: Vec<(String, Value)> = vec![
        // UUIDs
        ("{ activity(uuid: \"nope\") { uuid } }".into(), json!({})),
        ("{ activity(uuid: \"\") { uuid } }".into(), json!({})),
        (
            "{ activity(uuid: \"00000000-0000-0000-0000-00000000000g\") { uuid } }".into(),
            json!({}),
        ),
        (
            "{ activity(uuid: \"'; DROP TABLE activities; --\") { uuid } }".into(),
            json!({}),
        ),
        ("{ activity(uuid: 42) { uuid } }".into(), json!({})),
        (
            "query($u: UUID!) { activity(uuid: $u) { uuid } }".into(),
            json!({ "u": "nope" }),
        ),
        (
            "query($u: UUID!) { activity(uuid: $u) { uuid } }".into(),
            json!({ "u": huge }),
        ),
        (
            "query($u: UUID!) { activity(uuid: $u) { uuid } }".into(),
            json!({ "u": null }),
        ),
        (
            "query($u: UUID!) { activity(uuid: $u) { uuid } }".into(),
            json!({ "u": { "$ne": null } }),
        ),
        (
            "query($u: UUID!) { user(uuid: $u) { uuid } }".into(),
            json!({ "u": "1 OR 1=1" }),
        ),
        (
            "{ activitiesForUser(userUuid: \"%\") { total } }".into(),
            json!({}),
        ),
        (
            "{ activityCount(filter: {actorUuid: \"_\"}) }".into(),
            json!({}),
        ),
        // Dates
        (
            "{ activityCount(filter: {since: \"yesterday\"}) }".into(),
            json!({}),
        ),
        (
            "{ activityCount(filter: {since: \"2026-13-01T00:00:00Z\"}) }".into(),
            json!({}),
        ),
        (
            "{ activityCount(filter: {until: \"2026-02-30T00:00:00Z\"}) }".into(),
            json!({}),
        ),
        (
            "{ activityCount(filter: {until: \"2026-11-26T25:00:00Z\"}) }".into(),
            json!({}),
        ),
        (
            "{ activityCount(filter: {since: \"2026-11-26\"}) }".into(),
            json!({}),
        ),
        ("{ activityCount(filter: {since: \"\"}) }".into(), json!({})),
        (
            "{ activityCount(filter: {since: 1764201600}) }".into(),
            json!({}),
        ),
        (
            "query($s: DateTime) { activityCount(filter: {since: $s}) }".into(),
            json!({ "s": "'; DROP TABLE activities; --" }),
        ),
        // Pages
        ("{ activities(page: 0) { total } }".into(), json!({})),
        ("{ activities(page: -1) { total } }".into(), json!({})),
        ("{ activities(perPage: -5) { total } }".into(), json!({})),
        (
            "{ activities(perPage: 2147483648) { total } }".into(),
            json!({}),
        ),
        ("{ activities(page: 1.5) { total } }".into(), json!({})),
        ("{ activities(page: \"1\") { total } }".into(), json!({})),
        (
            "query($p: Int!) { activities(page: $p) { total } }".into(),
            json!({ "p": "1; DROP TABLE activities" }),
        ),
        (
            "{ activityFeed(first: 2, last: 2) { nodes { uuid } } }".into(),
            json!({}),
        ),
        (
            "{ activityFeed(first: -1) { nodes { uuid } } }".into(),
            json!({}),
        ),
        ("mutation { prune(days: 0) { deleted } }".into(), json!({})),
        (
            "mutation { prune(days: -30) { deleted } }".into(),
            json!({}),
        ),
        (
            "mutation { prune(days: 9223372036854775807) { deleted } }".into(),
            json!({}),
        ),
        // Enum values
        (
            "{ activityCounts(groupBy: WEEK) { key } }".into(),
            json!({}),
        ),
        (
            "{ activityCounts(groupBy: action) { key } }".into(),
            json!({}),
        ),
        (
            "{ activityCounts(groupBy: null) { key } }".into(),
            json!({}),
        ),
        (
            "query($g: ActivityGroupBy!) { activityCounts(groupBy: $g) { key } }".into(),
            json!({ "g": "ACTION; DROP TABLE activities" }),
        ),
        // Documents that are not GraphQL, or not this schema
        ("".into(), json!({})),
        ("{".into(), json!({})),
        ("query {".into(), json!({})),
        ("'; DROP TABLE activities; --".into(), json!({})),
        ("{ nope }".into(), json!({})),
        (
            "{ activities(filter: {nope: 1}) { total } }".into(),
            json!({}),
        ),
        ("mutation { log }".into(), json!({})),
        (
            "mutation { log(input: {}) { errors { field } } }".into(),
            json!({}),
        ),
        ("subscription { activityAdded { uuid } }".into(), json!({})),
        (
            "query($u: UUID!) { activityCount }".into(),
            json!({ "u": Uuid::now_v7() }),
        ),
        ("{ activityCount } { activityCount }".into(), json!({})),
    ];
    for cursor in hostile_cursors() {
        cases.push((
            "query($c: String) { activityFeed(first: 5, after: $c) { nodes { uuid } } }".into(),
            json!({ "c": cursor }),
        ));
        cases.push((
            "query($c: String) { activityFeed(last: 5, before: $c) { nodes { uuid } } }".into(),
            json!({ "c": cursor }),
        ));
    }

    for (query, variables) in &cases {
        // Act
        let answer = app.graphql_authorized(None, query, variables.clone()).await;

        // Assert
        let label = format!(
            "{query} with {}",
            variables.to_string().chars().take(80).collect::<String>()
        );
        assert_eq!(answer.status, 200, "{label}: {}", short(&answer.body));
        assert!(
            !error_codes(&answer.body).is_empty(),
            "{label} was accepted: {}",
            short(&answer.body)
        );
        for code in error_codes(&answer.body) {
            assert_eq!(code, "BAD_USER_INPUT", "{label}: {}", short(&answer.body));
        }
        assert_no_data(&answer.body);
        assert_no_leak(&answer.body.to_string());
    }
    assert_intact(&app, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn sql_looking_filter_strings_match_literally_and_harm_nothing() {
    // Arrange: actions that look like SQL or LIKE patterns, stored literally.
    let app = spawn_app().await;
    let stored = [
        "post.created",
        "post.deleted",
        "'; DROP TABLE activities; --",
        "p%",
        "a_b",
        "axb",
        "back\\slash",
        "quote's",
    ];
    for action in stored {
        app.log(json!({ "action": action, "module": action.chars().take(50).collect::<String>(), "mode": "m", "resourceType": "r" }))
            .await;
    }
    let expected: &[(&str, u64)] = &[
        ("'; DROP TABLE activities; --", 1),
        ("' OR '1'='1", 0),
        ("\" OR \"\"=\"", 0),
        ("1; DELETE FROM activities", 0),
        ("%", 0),
        ("%%", 0),
        ("_", 0),
        ("___", 0),
        ("\\", 0),
        ("\\%", 0),
        ("p%", 1),
        ("p_", 0),
        ("a_b", 1),
        ("axb", 1),
        ("back\\slash", 1),
        ("quote's", 1),
        ("post.*", 2),
        ("post.%", 0),
        ("%.*", 0),
        ("_.*", 0),
        ("p%.*", 0),
        ("*", 0),
        (".*", 0),
        ("post*", 0),
        ("", 0),
    ];

    for (text, count) in expected {
        // Act: as action, and as every other text filter.
        let data = app
            .data(
                "query($s: String!) {
                    action: activityCount(filter: {action: $s})
                    module: activityCount(filter: {module: $s})
                    mode: activityCount(filter: {mode: $s})
                    resourceType: activityCount(filter: {resourceType: $s})
                    correlationId: activityCount(filter: {correlationId: $s})
                    clientIp: activityCount(filter: {clientIp: $s})
                    userAgent: activityCount(filter: {userAgent: $s})
                    page: activities(filter: {action: $s}) { total entries { action } }
                    counts: activityCounts(filter: {action: $s}, groupBy: ACTION) { key count }
                }",
                json!({ "s": text }),
            )
            .await;

        // Assert
        let module_count = if text.ends_with(".*") { 0 } else { *count };
        assert_eq!(data["action"], *count, "action {text:?}");
        assert_eq!(data["module"], module_count, "module {text:?}");
        assert_eq!(data["mode"], 0, "mode {text:?}");
        assert_eq!(data["resourceType"], 0, "resourceType {text:?}");
        // No request context is recorded by default: these are all null.
        for key in ["correlationId", "clientIp", "userAgent"] {
            assert_eq!(data[key], 0, "{key} {text:?}");
        }
        assert_eq!(data["page"]["total"], *count, "page {text:?}");
        for entry in data["page"]["entries"].as_array().unwrap() {
            let action = entry["action"].as_str().unwrap();
            match text.strip_suffix('*').filter(|p| p.ends_with('.')) {
                Some(prefix) => assert!(action.starts_with(prefix), "{text:?} matched {action:?}"),
                None => assert_eq!(action, *text),
            }
        }
        let counted: u64 = data["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, *count, "counts {text:?}");
    }
    assert_intact(&app, stored.len() as u64).await;
    app.stop().await;
}

#[tokio::test]
async fn huge_nul_and_exotic_text_is_refused_or_kept_exactly() {
    // Arrange
    let app = spawn_app().await;
    let log = "mutation($i: LogInput!) { log(input: $i) { activity { action module metadata } errors { field message code } } }";
    let refused = |field: &str, message: &str| json!({ "log": { "activity": null, "errors": [{ "field": field, "message": message, "code": "BAD_USER_INPUT" }] } });
    let nul = "must not contain NUL characters";

    // Act
    let huge_action = app
        .data(log, json!({ "i": { "action": "x".repeat(1_000_000) } }))
        .await;
    let nul_action = app.data(log, json!({ "i": { "action": "a\u{0}b" } })).await;
    let nul_module = app
        .data(log, json!({ "i": { "action": "a", "module": "\u{0}" } }))
        .await;
    let nul_value = app
        .data(
            log,
            json!({ "i": { "action": "a", "metadata": { "k": "x\u{0}" } } }),
        )
        .await;
    let nul_key = app
        .data(
            log,
            json!({ "i": { "action": "a", "metadata": { "k\u{0}": 1 } } }),
        )
        .await;
    let nul_deep = app
        .data(
            log,
            json!({ "i": { "action": "a", "metadata": { "k": [{ "j": ["\u{0}"] }] } } }),
        )
        .await;
    let not_object = app
        .data(log, json!({ "i": { "action": "a", "metadata": [1, 2] } }))
        .await;
    let nul_user = app
        .graphql_authorized(
            None,
            "mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid } }",
            json!({ "u": [{ "uuid": Uuid::now_v7(), "email": "a\u{0}@example.com" }] }),
        )
        .await;
    let nul_filter = app
        .data(
            "query($s: String!, $m: JSON) {
                a: activityCount(filter: {action: $s}) b: activityCount(filter: {module: $s})
                c: activities(filter: {mode: $s}) { total } d: activityFeed(filter: {resourceType: $s}) { nodes { uuid } }
                e: activityCount(filter: {correlationId: $s}) f: activityCount(filter: {clientIp: $s})
                g: activityCount(filter: {userAgent: $s}) h: activityCount(filter: {metadata: $m})
            }",
            json!({ "s": "x\u{0}y", "m": { "k": ["x\u{0}y"] } }),
        )
        .await;
    let nul_correlation = app
        .data(
            log,
            json!({ "i": { "action": "a", "correlationId": "c\u{0}" } }),
        )
        .await;
    let huge_filter = app
        .data(
            "query($s: String!) { activityCount(filter: {action: $s}) }",
            json!({ "s": "x".repeat(1_000_000) }),
        )
        .await;
    let rows_after_refusals = Db::open(&app).await.rows().await.activities;
    let emoji = app
        .data(
            log,
            json!({ "i": { "action": "🎉".repeat(100), "module": "ز\u{202e}ً" } }),
        )
        .await;
    let emoji_over = app
        .data(log, json!({ "i": { "action": "🎉".repeat(101) } }))
        .await;
    let huge_number = app
        .graphql(
            "mutation { log(input: {action: \"n\", metadata: {n: 1e400}}) { errors { field } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        huge_action,
        refused("action", "must be at most 100 characters")
    );
    assert_eq!(nul_action, refused("action", nul));
    assert_eq!(nul_module, refused("module", nul));
    assert_eq!(nul_value, refused("metadata", nul));
    assert_eq!(nul_key, refused("metadata", nul));
    assert_eq!(nul_deep, refused("metadata", nul));
    assert_eq!(nul_correlation, refused("correlationId", nul));
    assert_eq!(not_object, refused("metadata", "must be a JSON object"));
    assert_eq!(
        error_codes(&nul_user.body),
        ["BAD_USER_INPUT"],
        "{}",
        nul_user.body
    );
    assert_eq!(
        nul_user.body["errors"][0]["message"],
        "inputs[0].email: must not contain NUL characters"
    );
    assert_eq!(
        nul_filter,
        json!({ "a": 0, "b": 0, "c": { "total": 0 }, "d": { "nodes": [] }, "e": 0, "f": 0, "g": 0, "h": 0 })
    );
    assert_eq!(huge_filter, json!({ "activityCount": 0 }));
    assert_eq!(rows_after_refusals, 0);
    assert_eq!(
        emoji["log"]["activity"],
        json!({ "action": "🎉".repeat(100), "module": "ز\u{202e}ً", "metadata": {} })
    );
    assert_eq!(
        emoji_over,
        refused("action", "must be at most 100 characters")
    );
    assert_eq!(
        error_codes(&huge_number),
        ["BAD_USER_INPUT"],
        "{huge_number}"
    );
    assert_intact(&app, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn deeply_nested_metadata_is_kept_within_limits_and_refused_beyond() {
    // Arrange
    let app = spawn_app().await;
    let nested = |depth: usize| -> Value {
        let mut value = json!("leaf");
        for _ in 0..depth {
            value = json!({ "a": value });
        }
        value
    };
    let log = "mutation($m: JSON) { log(input: {action: \"deep\", metadata: $m}) { activity { uuid metadata } errors { field } } }";

    // Act: 100 levels as a variable; 200 levels (past the JSON parser's
    // limit) as a raw body; 5000 levels as a GraphQL literal.
    let kept = app.data(log, json!({ "m": nested(100) })).await;
    let read_back = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { metadata } }",
            json!({ "u": kept["log"]["activity"]["uuid"] }),
        )
        .await;
    let raw = format!(
        r#"{{"query":"mutation($m: JSON) {{ log(input: {{action: \"deep\", metadata: $m}}) {{ errors {{ field }} }} }}","variables":{{"m":{}"leaf"{}}}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    let too_deep_json = app
        .http
        .post(app.url("/graphql"))
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let too_deep_json_status = too_deep_json.status();
    let too_deep_json_body = too_deep_json.text().await.unwrap();
    let literal = format!(
        "mutation {{ log(input: {{action: \"deep\", metadata: {}1{}}}) {{ errors {{ field }} }} }}",
        "{a: ".repeat(5000),
        "}".repeat(5000)
    );
    let too_deep_literal = app.graphql(&literal, json!({})).await;
    let selections = format!(
        "{{ {}__typename{} }}",
        "... on Query { ".repeat(5000),
        " }".repeat(5000)
    );
    let too_deep_selections = app.graphql(&selections, json!({})).await;

    // Assert
    assert_eq!(kept["log"]["activity"]["metadata"], nested(100));
    assert_eq!(read_back["activity"]["metadata"], nested(100));
    assert_eq!(too_deep_json_status, 400);
    assert_no_leak(&too_deep_json_body);
    // Both are past the token limit too, which refuses them before they are parsed.
    for refused in [&too_deep_literal, &too_deep_selections] {
        assert_eq!(
            error_codes(refused),
            ["QUERY_TOO_LARGE"],
            "{}",
            short(refused)
        );
        assert_no_data(refused);
        assert_no_leak(&refused.to_string());
    }
    assert_intact(&app, 1).await;
    app.stop().await;
}

/// What a request that is not well-formed GraphQL over HTTP gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// This HTTP status, with a plain-text reason.
    Status(u16),
    /// 200 with a GraphQL error coded BAD_USER_INPUT (the body was a request,
    /// its document was not GraphQL).
    Graphql,
}

#[tokio::test]
async fn non_json_bodies_and_wrong_content_types_are_refused() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "survivor" })).await;
    let log =
        r#"{"query":"mutation { log(input: {action: \"sneaked.in\"}) { activity { uuid } } }"}"#;
    let multipart =
        b"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\nnot json\r\n--x--\r\n";
    let cases: Vec<(&str, &str, Vec<u8>, Refusal)> = vec![
        (
            "POST",
            "application/json",
            b"not json".to_vec(),
            Refusal::Status(400),
        ),
        ("POST", "application/json", Vec::new(), Refusal::Status(400)),
        (
            "POST",
            "application/json",
            b"null".to_vec(),
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            b"{\"query\": 42}".to_vec(),
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            b"{\"variables\": {}}".to_vec(),
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            format!("[{log}, {log}]").into_bytes(),
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            b"{\"query\":\"{ activityCount }\",\"variables\":\"x\"}".to_vec(),
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            vec![0xff, 0xfe, 0x00, 0x7b],
            Refusal::Status(400),
        ),
        (
            "POST",
            "application/json",
            b"{\"query\":\"{\"}".to_vec(),
            Refusal::Graphql,
        ),
        (
            "POST",
            "application/xml",
            b"<query>{ activityCount }</query>".to_vec(),
            Refusal::Status(415),
        ),
        (
            "POST",
            "text/plain",
            log.as_bytes().to_vec(),
            Refusal::Status(415),
        ),
        (
            "POST",
            "multipart/form-data",
            log.as_bytes().to_vec(),
            Refusal::Status(415),
        ),
        (
            "POST",
            "multipart/form-data; boundary=x",
            multipart.to_vec(),
            Refusal::Status(415),
        ),
        (
            "POST",
            "application/x-www-form-urlencoded",
            b"query=%7B%20activityCount%20%7D".to_vec(),
            Refusal::Status(415),
        ),
        (
            "POST",
            "application/graphql",
            b"mutation { prune(days: 1) { deleted } }".to_vec(),
            Refusal::Status(415),
        ),
        (
            "PUT",
            "application/json",
            log.as_bytes().to_vec(),
            Refusal::Status(405),
        ),
        (
            "DELETE",
            "application/json",
            Vec::new(),
            Refusal::Status(405),
        ),
        (
            "PATCH",
            "application/json",
            log.as_bytes().to_vec(),
            Refusal::Status(405),
        ),
        ("GET", "application/json", Vec::new(), Refusal::Status(400)),
    ];
    let queries = [
        ("query=%7B", Refusal::Graphql),
        ("query=%7B%20nope%20%7D", Refusal::Graphql),
        ("nothing=here", Refusal::Status(400)),
        (
            "query=%7B%20activityCount%20%7D&variables=notjson",
            Refusal::Status(400),
        ),
        (
            "query=%7B%20activityCount%20%7D&variables=%5B1%5D",
            Refusal::Status(400),
        ),
        (
            "query=mutation%20%7B%20prune(days%3A%201)%20%7B%20deleted%20%7D%20%7D",
            Refusal::Status(405),
        ),
    ];
    let requests = cases
        .into_iter()
        .map(|(method, content_type, body, refusal)| {
            (method, "/graphql".to_owned(), content_type, body, refusal)
        })
        .chain(queries.into_iter().map(|(query, refusal)| {
            (
                "GET",
                format!("/graphql?{query}"),
                "application/json",
                Vec::new(),
                refusal,
            )
        }));

    for (method, path, content_type, body, refusal) in requests {
        // Act
        let res = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();

        // Assert
        let label = format!(
            "{method} {path} {content_type} {}",
            String::from_utf8_lossy(&body)
        );
        match refusal {
            Refusal::Status(expected) => {
                assert_eq!(status, expected, "{label}: {text}");
                assert!(
                    !text.contains("Io(") && !text.contains("Custom {"),
                    "{label}: debug output {text}"
                );
            }
            Refusal::Graphql => {
                assert_eq!(status, 200, "{label}: {text}");
                let body: Value = serde_json::from_str(&text).expect("a GraphQL response");
                assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{label}: {text}");
                assert_no_data(&body);
            }
        }
        assert_no_leak(&text);
    }
    assert_intact(&app, 1).await;
    app.stop().await;
}
