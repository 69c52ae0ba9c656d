//! `users(search:, first:, after:)`: finding people by name or email, as the
//! dashboard's actor filter does, paged as a Relay connection.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{pluck, spawn_app, TestApp};

const SEARCH: &str = "query($s: String!, $first: Int, $after: String) {
    users(search: $s, first: $first, after: $after) {
        edges { cursor node { uuid email firstName lastName } }
        nodes { uuid }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

/// The emails of the people `search` finds, in the order returned.
async fn emails(app: &TestApp, search: &str) -> Vec<Value> {
    let data = app.data(SEARCH, json!({ "s": search, "first": 50 })).await;
    let nodes: Vec<Value> = data["users"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let mut found = pluck(&Value::Array(nodes), "email");
    found.sort_by_key(|v| v.as_str().unwrap_or_default().to_owned());
    found
}

async fn people(app: &TestApp) -> [Uuid; 4] {
    let ids = [
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    ];
    app.upsert_users(json!([
        { "uuid": ids[0], "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace" },
        { "uuid": ids[1], "email": "grace@navy.example", "firstName": "Grace", "lastName": "Hopper" },
        { "uuid": ids[2], "email": "adam_smith@example.org", "firstName": "Adam", "lastName": "Smith" },
        { "uuid": ids[3], "email": "100%real@example.net" },
    ]))
    .await;
    ids
}

#[tokio::test]
async fn users_finds_people_by_every_word_in_name_or_email_ignoring_case() {
    // Arrange
    let app = spawn_app().await;
    let ids = people(&app).await;

    // Act + Assert
    assert_eq!(
        emails(&app, "ADA").await,
        json!(["ada@example.com", "adam_smith@example.org"])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(
        emails(&app, "ada love").await,
        vec![json!("ada@example.com")]
    );
    assert_eq!(
        emails(&app, "hopper").await,
        vec![json!("grace@navy.example")]
    );
    assert_eq!(
        emails(&app, "navy.example").await,
        vec![json!("grace@navy.example")]
    );
    assert_eq!(
        emails(&app, "  smith  ").await,
        vec![json!("adam_smith@example.org")]
    );
    assert!(
        emails(&app, "ada hopper").await.is_empty(),
        "every word must match"
    );
    assert!(emails(&app, "nobody").await.is_empty());
    assert_eq!(
        emails(&app, "").await.len(),
        4,
        "an empty search lists everyone"
    );
    // A uuid finds its person, whatever their name.
    assert_eq!(
        emails(&app, &ids[1].to_string()).await,
        vec![json!("grace@navy.example")]
    );
    app.stop().await;
}

#[tokio::test]
async fn users_search_takes_like_wildcards_literally() {
    // Arrange
    let app = spawn_app().await;
    people(&app).await;

    // Act + Assert: `_` and `%` are characters to find, not patterns.
    assert_eq!(
        emails(&app, "_").await,
        vec![json!("adam_smith@example.org")]
    );
    assert_eq!(emails(&app, "%").await, vec![json!("100%real@example.net")]);
    assert_eq!(
        emails(&app, "0%r").await,
        vec![json!("100%real@example.net")]
    );
    assert!(emails(&app, "a%e").await.is_empty());
    assert!(emails(&app, "\\").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn users_pages_in_uuid_order_without_gap_or_duplicate() {
    // Arrange
    let app = spawn_app().await;
    let mut ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    let people: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({ "uuid": id, "email": format!("pager{i}@example.com") }))
        .collect();
    app.upsert_users(Value::Array(people)).await;
    ids.sort();

    // Act
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app
            .data(SEARCH, json!({ "s": "pager", "first": 3, "after": after }))
            .await;
        let connection = &data["users"];
        assert_eq!(
            connection["pageInfo"]["hasPreviousPage"],
            json!(after.is_some())
        );
        assert_eq!(
            pluck(&connection["nodes"], "uuid"),
            connection["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["uuid"].clone())
                .collect::<Vec<_>>()
        );
        seen.extend(pluck(&connection["nodes"], "uuid"));
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
        assert!(pages < 10, "paging must end");
    }

    // Assert
    assert_eq!(pages, 3);
    let expected: Vec<Value> = ids.iter().map(|id| json!(id)).collect();
    assert_eq!(seen, expected);
    // first: 0 reads nobody and still says whether anyone matches.
    let none = app.data(SEARCH, json!({ "s": "pager", "first": 0 })).await;
    assert_eq!(none["users"]["edges"], json!([]));
    assert_eq!(none["users"]["pageInfo"]["hasNextPage"], json!(true));
    app.stop().await;
}

#[tokio::test]
async fn users_refuses_bad_arguments_with_a_coded_error() {
    // Arrange
    let app = spawn_app().await;
    let activity_cursor = {
        app.log(json!({ "action": "post.created" })).await;
        let data = app
            .data(
                "{ activityFeed(first: 1) { pageInfo { endCursor } } }",
                json!({}),
            )
            .await;
        data["activityFeed"]["pageInfo"]["endCursor"].clone()
    };
    let cases = [
        (
            json!({ "s": "x".repeat(101) }),
            "search: must be at most 100 characters",
        ),
        (
            json!({ "s": "a b c d e f g h i" }),
            "search: must hold at most 8 words",
        ),
        (
            json!({ "s": "a\u{0}b" }),
            "search: must not contain NUL characters",
        ),
        (
            json!({ "s": "a", "first": 51 }),
            "first: must be between 0 and 50",
        ),
        (
            json!({ "s": "a", "first": -1 }),
            "first: must not be negative",
        ),
        (
            json!({ "s": "a", "after": "not a cursor" }),
            "after: invalid cursor",
        ),
        (
            json!({ "s": "a", "after": activity_cursor }),
            "after: invalid cursor",
        ),
    ];

    for (variables, message) in cases {
        // Act
        let error = app.error(SEARCH, variables.clone()).await;

        // Assert
        assert_eq!(
            error["extensions"]["code"],
            json!("BAD_USER_INPUT"),
            "{variables}: {error}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{variables}: {error} should say {message}"
        );
    }
    app.stop().await;
}
