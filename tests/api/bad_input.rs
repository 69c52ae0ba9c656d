//! Bad input of every kind gets a clear error — `extensions.code`
//! BAD_USER_INPUT, or `errors` in a payload — never a 5xx, and nothing is written.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;

const LOG: &str =
    "mutation($i: LogInput!) { log(input: $i) { activity { uuid } errors { field message code } } }";

fn refused(errors: &[(&str, &str)]) -> Value {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(field, message)| json!({ "field": field, "message": message, "code": "BAD_USER_INPUT" }))
        .collect();
    json!({ "activity": null, "errors": errors })
}

#[tokio::test]
async fn invalid_log_input_comes_back_in_errors_and_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let empty = "must not be empty";
    let object = "must be a JSON object";
    let big_metadata = json!({ "blob": "x".repeat(64 * 1024) });
    let cases = [
        (json!({ "action": "" }), refused(&[("action", empty)])),
        (json!({ "action": "   " }), refused(&[("action", empty)])),
        (
            json!({ "action": "a".repeat(101) }),
            refused(&[("action", "must be at most 100 characters")]),
        ),
        (
            json!({ "action": "é".repeat(101) }),
            refused(&[("action", "must be at most 100 characters")]),
        ),
        (
            json!({ "action": "a.b", "module": "m".repeat(51) }),
            refused(&[("module", "must be at most 50 characters")]),
        ),
        (
            json!({ "action": "a.b", "mode": "m".repeat(21) }),
            refused(&[("mode", "must be at most 20 characters")]),
        ),
        (
            json!({ "action": "a.b", "resourceType": "r".repeat(51) }),
            refused(&[("resourceType", "must be at most 50 characters")]),
        ),
        (
            json!({ "action": "a.b", "metadata": [1, 2] }),
            refused(&[("metadata", object)]),
        ),
        (
            json!({ "action": "a.b", "metadata": "text" }),
            refused(&[("metadata", object)]),
        ),
        (
            json!({ "action": "a.b", "metadata": 42 }),
            refused(&[("metadata", object)]),
        ),
        (
            json!({ "action": "a.b", "metadata": true }),
            refused(&[("metadata", object)]),
        ),
        (
            json!({ "action": "a.b", "metadata": big_metadata }),
            refused(&[("metadata", "must be at most 65536 bytes as JSON")]),
        ),
        (
            json!({
                "action": "", "module": "m".repeat(51), "mode": "m".repeat(21),
                "resourceType": "r".repeat(51), "metadata": [],
            }),
            refused(&[
                ("action", empty),
                ("module", "must be at most 50 characters"),
                ("mode", "must be at most 20 characters"),
                ("resourceType", "must be at most 50 characters"),
                ("metadata", object),
            ]),
        ),
    ];

    for (input, expected) in cases {
        // Act
        let (status, body) = app.post(LOG, json!({ "i": input })).await;

        // Assert
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({ "data": { "log": expected } }), "{input}");
    }
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn invalid_arguments_are_bad_user_input_errors() {
    // Arrange
    let app = spawn_app().await;
    let page = "query($p: Int!, $n: Int!) { activities(page: $p, perPage: $n) { total } }";
    let for_user = "query($u: UUID!, $p: Int!, $n: Int!) { activitiesForUser(userUuid: $u, page: $p, perPage: $n) { total } }";
    let recent = "query($n: Int!) { recentActivities(limit: $n) { uuid } }";
    let user = Uuid::now_v7();
    let cases = [
        (page, json!({ "p": 0, "n": 10 }), "page: must be at least 1"),
        (
            page,
            json!({ "p": -1, "n": 10 }),
            "page: must be at least 1",
        ),
        (
            page,
            json!({ "p": 1, "n": 0 }),
            "perPage: must be between 1 and 500",
        ),
        (
            page,
            json!({ "p": 1, "n": -1 }),
            "perPage: must be between 1 and 500",
        ),
        (
            page,
            json!({ "p": 1, "n": 501 }),
            "perPage: must be between 1 and 500",
        ),
        (
            for_user,
            json!({ "u": user, "p": 0, "n": 10 }),
            "page: must be at least 1",
        ),
        (
            for_user,
            json!({ "u": user, "p": 1, "n": 501 }),
            "perPage: must be between 1 and 500",
        ),
        (
            recent,
            json!({ "n": 0 }),
            "limit: must be between 1 and 500",
        ),
        (
            recent,
            json!({ "n": -5 }),
            "limit: must be between 1 and 500",
        ),
        (
            recent,
            json!({ "n": 501 }),
            "limit: must be between 1 and 500",
        ),
    ];

    for (query, variables, message) in cases {
        // Act
        let error = app.error(query, variables.clone()).await;

        // Assert
        assert_eq!(error["message"], message, "{variables}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{variables}");
    }
    app.stop().await;
}

#[tokio::test]
async fn values_that_do_not_fit_their_type_are_bad_user_input_errors() {
    // Arrange
    let app = spawn_app().await;
    let activity = "query($u: UUID!) { activity(uuid: $u) { uuid } }";
    let filtered = "query($f: ActivityFilter) { activities(filter: $f) { total } }";
    let counts = "query($g: ActivityGroupBy!) { activityCounts(groupBy: $g) { key } }";
    let cases = [
        (activity, json!({ "u": "not-a-uuid" })),
        (activity, json!({ "u": "0190a000-0000-7000-8000-00000000000" })),
        (activity, json!({ "u": 42 })),
        (
            "{ activity(uuid: \"not-a-uuid\") { uuid } }",
            json!({}),
        ),
        (filtered, json!({ "f": { "actorUuid": "xyz" } })),
        (filtered, json!({ "f": { "targetUuid": "" } })),
        (filtered, json!({ "f": { "since": "yesterday" } })),
        (filtered, json!({ "f": { "until": "2026-13-01T00:00:00Z" } })),
        (filtered, json!({ "f": { "since": "2026-01-01" } })),
        (filtered, json!({ "f": { "color": "red" } })),
        (counts, json!({ "g": "WEEK" })),
        (counts, json!({ "g": "day" })),
        ("{ activityCounts(groupBy: WEEK) { key } }", json!({})),
        ("{ activities(page: \"one\") { total } }", json!({})),
        (LOG, json!({ "i": { "action": "a.b", "actorUuid": "nope" } })),
        (LOG, json!({ "i": { "module": "posts" } })),
        (LOG, json!({ "i": { "action": null } })),
        (
            "mutation { logUserChange(input: {action: \"a\", userUuid: \"nope\", changes: {}}) { changed } }",
            json!({}),
        ),
    ];

    for (query, variables) in cases {
        // Act
        let error = app.error(query, variables.clone()).await;

        // Assert
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{query} {variables}: {error}"
        );
        assert!(
            !error["message"].as_str().unwrap().is_empty(),
            "{query} {variables}: {error}"
        );
    }
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn type_errors_name_what_is_wrong() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let bad_uuid = app
        .error(
            "query($u: UUID!) { activity(uuid: $u) { uuid } }",
            json!({ "u": "not-a-uuid" }),
        )
        .await;
    let bad_time = app
        .error(
            "query($f: ActivityFilter) { activities(filter: $f) { total } }",
            json!({ "f": { "since": "yesterday" } }),
        )
        .await;
    let bad_enum = app
        .error("{ activityCounts(groupBy: WEEK) { key } }", json!({}))
        .await;

    // Assert
    assert_eq!(
        bad_uuid["message"],
        "Failed to parse \"UUID\": invalid character: found `n` at 0"
    );
    assert_eq!(
        bad_time["message"],
        "Failed to parse \"DateTime\": expected an RFC 3339 date-time (occurred while parsing \"ActivityFilter\")"
    );
    assert_eq!(
        bad_enum["message"],
        "Invalid value for argument \"groupBy\", enumeration type \"ActivityGroupBy\" does not contain the value \"WEEK\""
    );
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_graphql_is_a_400_and_a_missing_query_a_parse_error() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let garbage = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("garbage")
        .send()
        .await
        .unwrap();
    let no_query = app.error("", json!({})).await;
    let unparsable = app.error("{ activities { total ", json!({})).await;

    // Assert
    assert_eq!(garbage.status(), 400);
    for error in [&no_query, &unparsable] {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_subscription_with_a_bad_filter_gets_a_bad_user_input_error() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = app.websocket().await;

    // Act
    ws.subscribe(
        "1",
        "subscription($f: ActivityFilter) { activityAdded(filter: $f) { uuid } }",
        json!({ "f": { "actorUuid": "nope" } }),
    )
    .await;
    let msg = ws.next_json().await.expect("an error message");

    // Assert
    assert_eq!(
        msg,
        json!({ "id": "1", "type": "next", "payload": { "data": null, "errors": [{
            "message": "Failed to parse \"UUID\": invalid character: found `n` at 0 (occurred while parsing \"ActivityFilter\")",
            "locations": [{ "line": 1, "column": 58 }],
            "path": ["activityAdded"],
            "extensions": { "code": "BAD_USER_INPUT" },
        }]}})
    );
    app.stop().await;
}
