//! What one GraphQL document may cost before anything runs: its size and
//! token count (checked before it is parsed, persisted or not), the bytes the
//! persisted-query store keeps, the cost of fields that reach the database,
//! and the number of root fields and aliases.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{error_codes, secured_app_with, short};
use crate::helpers::{spawn_app_with, TestApp};

/// The SHA-256 of `query`, as Apollo's persisted queries name it.
fn sha256(query: &str) -> String {
    format!("{:x}", Sha256::digest(query.as_bytes()))
}

/// POSTs `body` as JSON without a token and returns the response body.
async fn post(app: &TestApp, body: Value) -> Value {
    app.http
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("a JSON body")
}

/// A persisted-query request for `query`'s hash, with the query when `with_query`.
fn persisted(query: &str, with_query: bool) -> Value {
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256(query) } });
    match with_query {
        true => json!({ "query": query, "extensions": extensions }),
        false => json!({ "extensions": extensions }),
    }
}

/// Asserts `body` is refused with `code` alone, and no data.
fn assert_refused_with(body: &Value, code: &str) {
    assert_eq!(error_codes(body), [code], "{}", short(body));
    assert_eq!(body["data"], Value::Null, "{}", short(body));
}

#[tokio::test]
async fn documents_over_the_size_or_token_limit_are_refused_before_they_are_parsed_or_kept() {
    // Arrange: a secured server, and callers without a token.
    let app = secured_app_with(|config| {
        config.limits.max_query_tokens = 100;
        config.limits.max_query_bytes = 2048;
    })
    .await;
    // Valid GraphQL (repeated fields merge), 1 + 120 + 1 tokens.
    let many_tokens = format!("{{ {}}}", "__typename ".repeat(120));
    // Exactly 100 tokens, on one root field that needs a token.
    let at_token_limit = format!(
        "{{ activities(filter: {{action: \"a\"}}) {{ entries {{ {}}} }} }}",
        "uuid ".repeat(83)
    );
    let many_bytes = format!("{{ __typename # {}\n}}", "x".repeat(3000));

    // Act
    let tokens = post(&app, json!({ "query": many_tokens })).await;
    let bytes = post(&app, json!({ "query": many_bytes })).await;
    let persisted_tokens = post(&app, persisted(&many_tokens, true)).await;
    let persisted_bytes = post(&app, persisted(&many_bytes, true)).await;
    let hash_alone = post(&app, persisted(&many_tokens, false)).await;
    let by_get = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", many_tokens.as_str())])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let within = post(&app, json!({ "query": at_token_limit })).await;

    // Assert: refused with QUERY_TOO_LARGE, and the refused documents were not kept.
    for refused in [
        &tokens,
        &bytes,
        &persisted_tokens,
        &persisted_bytes,
        &by_get,
    ] {
        assert_refused_with(refused, "QUERY_TOO_LARGE");
    }
    assert!(
        tokens["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("more than 100 tokens"),
        "{tokens}"
    );
    assert_eq!(hash_alone["errors"][0]["message"], "PersistedQueryNotFound");
    // Within the limits, the same caller gets as far as authentication.
    assert_refused_with(&within, "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn the_persisted_query_store_keeps_its_byte_budget_least_recently_used_out() {
    // Arrange: 300 bytes hold three of these documents with their 64-byte hashes.
    let app = spawn_app_with(|config| config.limits.persisted_queries_cache_bytes = 300).await;
    let doc = |n: usize| format!("query Q{n} {{ retentionDays }}");
    let expected = json!({ "data": { "retentionDays": 90 } });
    for n in 1..=3 {
        assert_eq!(post(&app, persisted(&doc(n), true)).await, expected);
    }
    // Using Q1 makes Q2 the least recently used.
    assert_eq!(post(&app, persisted(&doc(1), false)).await, expected);

    // Act: a fourth document, then one larger than the whole budget.
    let fourth = post(&app, persisted(&doc(4), true)).await;
    let large = format!("{} # {}", doc(5), "x".repeat(400));
    let large_run = post(&app, persisted(&large, true)).await;
    let found: Vec<Value> = [doc(1), doc(2), doc(3), doc(4), large.clone()]
        .iter()
        .map(|d| persisted(d, false))
        .collect();
    let mut answers = Vec::new();
    for body in found {
        answers.push(post(&app, body).await);
    }

    // Assert: Q2 went to make room; the large one ran but was not kept, and evicted nothing.
    assert_eq!(fourth, expected);
    assert_eq!(large_run, expected);
    for (n, answer) in answers.iter().enumerate() {
        let kept = matches!(n, 0 | 2 | 3);
        if kept {
            assert_eq!(answer, &expected, "Q{}", n + 1);
        } else {
            assert_eq!(
                answer["errors"][0]["message"],
                "PersistedQueryNotFound",
                "Q{}: {answer}",
                n + 1
            );
        }
    }
    app.stop().await;
}

/// `{ a1: field a2: field … }` with `n` aliases of `field`.
fn aliased(field: &str, n: usize) -> String {
    let fields: Vec<String> = (1..=n).map(|i| format!("a{i}: {field}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn fields_that_scan_cost_like_scans_and_are_refused_before_any_statement() {
    // Arrange: the default budget (20,000), where a scan costs 1,000.
    let app = spawn_app_with(|_| {}).await;
    app.log(json!({ "action": "cost.probe" })).await;
    let scans = [
        "activityCount",
        "activityCounts(groupBy: ACTION) { key count }",
        "actionTypes",
        "modes",
        "activities(perPage: 1) { total }",
        "groupedActivities(first: 1) { edges { cursor } }",
    ];

    for field in scans {
        // Act
        let before = app.statements.get();
        let refused = app.graphql(&aliased(field, 21), json!({})).await;
        let statements = app.statements.get() - before;
        let twenty = app.graphql(&aliased("activityCount", 20), json!({})).await;

        // Assert
        assert_eq!(
            refused,
            json!({ "data": null, "errors": [{ "message": "Query is too complex.", "extensions": { "code": "QUERY_TOO_LARGE" } }] }),
            "{field}"
        );
        assert_eq!(statements, 0, "{field}: statements ran before the refusal");
        assert_eq!(twenty["data"]["a20"], 1, "{}", short(&twenty));
    }
    app.stop().await;
}

#[tokio::test]
async fn root_fields_and_aliases_beyond_their_caps_are_refused_before_any_statement() {
    // Arrange
    let app = spawn_app_with(|config| {
        config.limits.max_root_fields = 4;
        config.limits.max_aliases = 6;
    })
    .await;
    let activity = app.log(json!({ "action": "alias.probe" })).await;
    let uuid = activity["uuid"].as_str().unwrap();
    let nested = |n: usize| {
        let fields: Vec<String> = (1..=n).map(|i| format!("u{i}: uuid")).collect();
        format!(
            "{{ activity(uuid: \"{uuid}\") {{ {} }} }}",
            fields.join(" ")
        )
    };
    let by_fragment = "{ ...A ...B } fragment A on QueryRoot { r1: recentActivities(limit: 1) { uuid } r2: recentActivities(limit: 1) { uuid } } fragment B on QueryRoot { r3: recentActivities(limit: 1) { uuid } ... on QueryRoot { r4: recentActivities(limit: 1) { uuid } r5: recentActivities(limit: 1) { uuid } } }";

    // Act
    let before = app.statements.get();
    let roots = app
        .graphql(
            &aliased("recentActivities(limit: 1) { uuid }", 5),
            json!({}),
        )
        .await;
    let fragments = app.graphql(by_fragment, json!({})).await;
    let aliases = app.graphql(&nested(7), json!({})).await;
    let mutations = app
        .graphql(
            &format!(
                "mutation {}",
                aliased(
                    "log(input: {action: \"alias.write\"}) { activity { uuid } }",
                    5
                )
            ),
            json!({}),
        )
        .await;
    let statements = app.statements.get() - before;
    let at_caps = app
        .graphql(
            &aliased("recentActivities(limit: 1) { uuid }", 4),
            json!({}),
        )
        .await;
    let six_aliases = app.graphql(&nested(6), json!({})).await;

    // Assert
    for (refused, says) in [
        (&roots, "at most 4 root fields; this one selects 5"),
        (&fragments, "at most 4 root fields; this one selects 5"),
        (&aliases, "at most 6 aliases; this one holds 7"),
        (&mutations, "at most 4 root fields; this one selects 5"),
    ] {
        assert_refused_with(refused, "QUERY_TOO_LARGE");
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(statements, 0, "statements ran before the refusals");
    assert_eq!(app.count(json!({ "action": "alias.write" })).await, 0);
    assert_eq!(
        at_caps["data"]["a4"][0]["uuid"],
        uuid,
        "{}",
        short(&at_caps)
    );
    assert_eq!(six_aliases["data"]["activity"]["u6"], uuid);
    app.stop().await;
}
