//! One way to page: connections with `totalCount` (counted only when
//! selected), `User.activities`, Relay's `first: 0`, and range errors
//! before the complexity limit.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

/// Runs `query` (which must succeed) and returns its data and how many statements it cost.
async fn measured(app: &TestApp, query: &str, variables: Value) -> (Value, u64) {
    let before = app.statements.get();
    let data = app.data(query, variables).await;
    (data, app.statements.get() - before)
}

#[tokio::test]
async fn total_count_is_the_filtered_total_and_costs_a_statement_only_when_selected() {
    // Arrange
    let app = spawn_app().await;
    for action in [
        "post.created",
        "post.created",
        "post.created",
        "user.followed",
    ] {
        app.log(json!({ "action": action })).await;
    }
    let with_total = "{ activityFeed(first: 2, filter: {action: \"post.created\"}) { totalCount nodes { action } } }";
    let without =
        "{ activityFeed(first: 2, filter: {action: \"post.created\"}) { nodes { action } } }";

    // Act
    let (counted, counted_cost) = measured(&app, with_total, json!({})).await;
    let (_, plain_cost) = measured(&app, without, json!({})).await;
    let (in_fragment, _) = measured(
        &app,
        "{ activityFeed(first: 1) { ...Total } } fragment Total on ActivityConnection { totalCount }",
        json!({}),
    )
    .await;

    // Assert
    assert_eq!(counted["activityFeed"]["totalCount"], 3);
    assert_eq!(
        counted["activityFeed"]["nodes"].as_array().unwrap().len(),
        2
    );
    assert_eq!(counted_cost, plain_cost + 1);
    assert_eq!(in_fragment["activityFeed"]["totalCount"], 4);
    app.stop().await;
}

#[tokio::test]
async fn a_person_pages_their_own_activities_as_a_connection() {
    // Arrange
    let app = spawn_app().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    app.upsert_users(json!([{ "uuid": alice }, { "uuid": bob }]))
        .await;
    for (action, actor) in [("a.1", alice), ("b.1", bob), ("a.2", alice), ("a.3", alice)] {
        app.log(json!({ "action": action, "actorUuid": actor }))
            .await;
    }
    let query = "query($alice: UUID!, $after: String) {
        user(uuid: $alice) { activities(first: 2, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } nodes { action }
        } }
    }";

    // Act
    let first = app.data(query, json!({ "alice": alice })).await;
    let end = first["user"]["activities"]["pageInfo"]["endCursor"].clone();
    let second = app
        .data(query, json!({ "alice": alice, "after": end }))
        .await;

    // Assert
    let page = |d: &Value| d["user"]["activities"].clone();
    assert_eq!(page(&first)["totalCount"], 3);
    assert_eq!(
        page(&first)["nodes"],
        json!([{ "action": "a.3" }, { "action": "a.2" }])
    );
    assert_eq!(page(&first)["pageInfo"]["hasNextPage"], true);
    assert_eq!(page(&second)["nodes"], json!([{ "action": "a.1" }]));
    assert_eq!(page(&second)["pageInfo"]["hasNextPage"], false);
    app.stop().await;
}

#[tokio::test]
async fn first_zero_reads_nothing_and_still_says_whether_there_is_more() {
    // Arrange
    let app = spawn_app().await;
    let query = "{ activityFeed(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } totalCount }
                  groupedActivities(first: 0) { edges { cursor } pageInfo { hasNextPage } } }";
    let empty = app.data(query, json!({})).await;
    app.log(json!({ "action": "post.created" })).await;

    // Act
    let some = app.data(query, json!({})).await;

    // Assert
    assert_eq!(
        empty["activityFeed"],
        json!({ "edges": [], "pageInfo": { "hasNextPage": false, "endCursor": null }, "totalCount": 0 })
    );
    assert_eq!(
        some["activityFeed"],
        json!({ "edges": [], "pageInfo": { "hasNextPage": true, "endCursor": null }, "totalCount": 1 })
    );
    assert_eq!(
        some["groupedActivities"],
        json!({ "edges": [], "pageInfo": { "hasNextPage": true } })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_huge_page_size_gets_the_range_error_not_too_complex() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let feed = app
        .error(
            "{ activityFeed(first: 100000) { nodes { uuid actor { uuid } } } }",
            json!({}),
        )
        .await;
    let groups = app
        .error(
            "{ groupedActivities(first: 100000) { nodes { count } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(feed["message"], "first: must be between 0 and 500");
    assert_eq!(feed["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(groups["message"], "first: must be between 0 and 500");
    app.stop().await;
}

#[tokio::test]
async fn grouped_activities_reads_its_declared_default_of_twenty() {
    // Arrange: 21 groups (each resource its own group).
    let app = spawn_app().await;
    let inputs: Vec<Value> = (0..21)
        .map(|_| json!({ "action": "post.liked", "resourceType": "post", "resourceUuid": Uuid::now_v7() }))
        .collect();
    app.data(
        "mutation($i: [LogInput!]!) { logActivities(inputs: $i) { userErrors { field } } }",
        json!({ "i": inputs }),
    )
    .await;

    // Act
    let data = app
        .data(
            "{ groupedActivities { nodes { count } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        data["groupedActivities"]["nodes"].as_array().unwrap().len(),
        20
    );
    assert_eq!(data["groupedActivities"]["pageInfo"]["hasNextPage"], true);
    app.stop().await;
}
