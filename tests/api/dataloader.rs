//! `actor`, `target` and `resourceUser` are batched: a page costs one users
//! query however many activities it shows. Proven by counting the SQL
//! statements the server runs.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

const PEOPLE: usize = 20;
/// The first half of the people act; the second half are targets and resources.
const HALF: usize = PEOPLE / 2;

/// Stores PEOPLE people and 500 activities, each with an actor from the first
/// half of them, a target and a user as its resource from the second, cycling.
/// Returns the people.
async fn arrange(app: &TestApp) -> Vec<Uuid> {
    let people: Vec<Uuid> = (0..PEOPLE).map(|_| Uuid::now_v7()).collect();
    let users: Vec<Value> = people
        .iter()
        .enumerate()
        .map(|(i, id)| json!({ "uuid": id, "email": format!("p{i}@example.com") }))
        .collect();
    app.upsert_users(json!(users)).await;
    let inputs: Vec<Value> = (0..500)
        .map(|i| {
            json!({
                "action": "user.followed",
                "actorUuid": people[i % HALF],
                "targetUuid": people[HALF + (i + 1) % HALF],
                "resourceType": "user",
                "resourceUuid": people[HALF + (i + 2) % HALF],
                "metadata": { "i": i },
            })
        })
        .collect();
    app.data(
        "mutation($i: [LogInput!]!) { logBatch(inputs: $i) { errors { field } } }",
        json!({ "i": inputs }),
    )
    .await;
    people
}

/// Runs `query` and returns its data and how many statements it cost.
async fn measured(app: &TestApp, query: &str, variables: Value) -> (Value, u64) {
    let before = app.statements.get();
    let data = app.data(query, variables).await;
    (data, app.statements.get() - before)
}

const PAGE: &str = "query($n: Int!) { activities(perPage: $n) { entries { metadata actor { email } target { email } resourceUser { email } } } }";

/// Checks that every entry shows the right three people.
fn assert_people(entries: &Value) {
    for entry in entries.as_array().unwrap() {
        let i = entry["metadata"]["i"].as_u64().unwrap() as usize;
        let email = |n: usize| json!({ "email": format!("p{n}@example.com") });
        assert_eq!(entry["actor"], email(i % HALF), "actor of {i}");
        assert_eq!(
            entry["target"],
            email(HALF + (i + 1) % HALF),
            "target of {i}"
        );
        assert_eq!(
            entry["resourceUser"],
            email(HALF + (i + 2) % HALF),
            "resourceUser of {i}"
        );
    }
}

#[tokio::test]
async fn a_page_of_500_with_all_three_people_costs_one_users_query() {
    // Arrange
    let app = spawn_app().await;
    arrange(&app).await;

    // Act
    let (data, statements) = measured(&app, PAGE, json!({ "n": 500 })).await;

    // Assert: the page with its actors joined (no total was asked for), and
    // one users query for all its targets and resource users.
    assert_eq!(statements, 2);
    assert_eq!(data["activities"]["entries"].as_array().unwrap().len(), 500);
    assert_people(&data["activities"]["entries"]);
    app.stop().await;
}

/// The people lookup's cost in time, for BENCHMARKS.md: the median of 30
/// runs of a 500-row page showing all three people, and its statements.
/// Ignored by default; run it with
/// `cargo test --release --test api -- --ignored --nocapture people_page_timing`.
#[tokio::test]
#[ignore = "a measurement, not a check: run by hand"]
async fn people_page_timing() {
    // Arrange
    let app = spawn_app().await;
    arrange(&app).await;
    measured(&app, PAGE, json!({ "n": 500 })).await;

    // Act
    let mut times = Vec::new();
    let mut statements = 0;
    for _ in 0..30 {
        let started = std::time::Instant::now();
        let (data, cost) = measured(&app, PAGE, json!({ "n": 500 })).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        statements = cost;
        assert_people(&data["activities"]["entries"]);
    }

    // Assert: the page stays right while it is timed.
    times.sort_by(f64::total_cmp);
    println!(
        "people page of 500: median {:.2} ms, min {:.2} ms, {statements} statements",
        times[times.len() / 2],
        times[0]
    );
    assert_eq!(statements, 2);
    app.stop().await;
}

#[tokio::test]
async fn the_cost_does_not_grow_with_the_page_size() {
    // Arrange
    let app = spawn_app().await;
    arrange(&app).await;

    // Act
    let mut costs = Vec::new();
    for n in [1, 10, 100, 500] {
        let (data, statements) = measured(&app, PAGE, json!({ "n": n })).await;
        assert_people(&data["activities"]["entries"]);
        costs.push(statements);
    }
    let without_people = measured(
        &app,
        "{ activities(perPage: 500) { entries { uuid } } }",
        json!({}),
    )
    .await
    .1;

    // Assert
    // The page with its actors, and one users query for the other people.
    assert_eq!(costs, [2, 2, 2, 2]);
    assert_eq!(without_people, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_list_showing_only_actors_reads_them_with_its_rows() {
    // Arrange: the newest activity names an actor nobody stored.
    let app = spawn_app().await;
    let people = arrange(&app).await;
    let stranger = Uuid::now_v7();
    app.log(json!({ "action": "x.unknown", "actorUuid": stranger }))
        .await;

    // Act
    let (feed, feed_cost) = measured(
        &app,
        "{ activityFeed(first: 100) { edges { node { actorUuid actor { uuid email } } } } }",
        json!({}),
    )
    .await;
    let (page, page_cost) = measured(
        &app,
        "{ activities(perPage: 100) { entries { actorUuid actor { uuid email } } } }",
        json!({}),
    )
    .await;

    // Assert: one statement each, and every actor right.
    assert_eq!((feed_cost, page_cost), (1, 1));
    let feed_nodes: Vec<Value> = feed["activityFeed"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    for nodes in [
        &feed_nodes,
        page["activities"]["entries"].as_array().unwrap(),
    ] {
        assert_eq!(nodes.len(), 100);
        assert_eq!(nodes[0], json!({ "actorUuid": stranger, "actor": null }));
        for node in &nodes[1..] {
            let i = people
                .iter()
                .position(|p| json!(p) == node["actorUuid"])
                .unwrap();
            let email = format!("p{i}@example.com");
            assert_eq!(node["actor"], json!({ "uuid": people[i], "email": email }));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_total_is_counted_once_and_only_when_selected() {
    // Arrange
    let app = spawn_app().await;
    arrange(&app).await;

    // Act
    let (_, bare) = measured(
        &app,
        "{ activities(perPage: 5) { entries { uuid } } }",
        json!({}),
    )
    .await;
    let (both, both_cost) = measured(
        &app,
        "{ activities(perPage: 5) { total totalPages entries { uuid } } }",
        json!({}),
    )
    .await;
    let (fragment, fragment_cost) = measured(
        &app,
        "{ activities(perPage: 5) { ...T } } fragment T on ActivityPage { totalPages }",
        json!({}),
    )
    .await;

    // Assert: the count is one more statement, whichever way it is asked for.
    assert_eq!(bare, 1);
    assert_eq!(both_cost, 2);
    assert_eq!(both["activities"]["total"], 500);
    assert_eq!(both["activities"]["totalPages"], 100);
    assert_eq!(fragment_cost, 2);
    assert_eq!(fragment["activities"]["totalPages"], 100);
    app.stop().await;
}

#[tokio::test]
async fn the_feed_and_recent_activities_batch_people_too() {
    // Arrange
    let app = spawn_app().await;
    arrange(&app).await;

    // Act
    let (feed, feed_cost) = measured(
        &app,
        "{ activityFeed(first: 500) { nodes { metadata actor { email } target { email } resourceUser { email } } } }",
        json!({}),
    )
    .await;
    let (recent, recent_cost) = measured(
        &app,
        "{ recentActivities(limit: 500) { metadata actor { email } target { email } resourceUser { email } } }",
        json!({}),
    )
    .await;

    // Assert: the feed reads its actors with its rows, then the other
    // people; recentActivities reads the rows, then all the people.
    assert_eq!(feed_cost, 2);
    assert_eq!(recent_cost, 2);
    assert_people(&feed["activityFeed"]["nodes"]);
    assert_people(&recent["recentActivities"]);
    app.stop().await;
}

#[tokio::test]
async fn unknown_people_and_non_user_resources_resolve_to_null() {
    // Arrange
    let app = spawn_app().await;
    let known = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": known, "email": "k@example.com" }]))
        .await;
    let post_about_known = app
        .log(json!({
            "action": "post.created", "actorUuid": Uuid::now_v7(), "targetUuid": Uuid::now_v7(),
            "resourceType": "post", "resourceUuid": known,
        }))
        .await;
    let user_unknown = app
        .log(json!({ "action": "user.followed", "resourceType": "user", "resourceUuid": Uuid::now_v7() }))
        .await;
    let user_known = app
        .log(json!({ "action": "user.followed", "actorUuid": known, "targetUuid": known, "resourceType": "user", "resourceUuid": known }))
        .await;

    // Act
    let read = app
        .data(
            "query($a: UUID!, $b: UUID!, $c: UUID!) {
                a: activity(uuid: $a) { actor { email } target { email } resourceUser { email } }
                b: activity(uuid: $b) { actor { email } target { email } resourceUser { email } }
                c: activity(uuid: $c) { actor { uuid email firstName lastName } target { email } resourceUser { email } }
            }",
            json!({ "a": post_about_known["uuid"], "b": user_unknown["uuid"], "c": user_known["uuid"] }),
        )
        .await;

    // Assert
    let nobody = json!({ "actor": null, "target": null, "resourceUser": null });
    assert_eq!(read["a"], nobody);
    assert_eq!(read["b"], nobody);
    assert_eq!(
        read["c"],
        json!({
            "actor": { "uuid": known, "email": "k@example.com", "firstName": null, "lastName": null },
            "target": { "email": "k@example.com" },
            "resourceUser": { "email": "k@example.com" },
        })
    );
    app.stop().await;
}
