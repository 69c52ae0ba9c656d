//! Typed shapes: one UTC form for instants, tones instead of CSS classes,
//! the viewer, ACTOR buckets with their person, and `resource` as a union.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::security::{data_as, secured_app, Callers};

#[tokio::test]
async fn instants_are_written_in_utc_with_z_and_microseconds_like_hour_keys() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "post.created" })).await;

    // Act
    let data = app
        .data(
            "{ activityFeed { nodes { insertedAt } }
               activityCounts(groupBy: HOUR) { key }
               groupedActivities { nodes { firstAt lastAt } } }",
            json!({}),
        )
        .await;
    let since = app
        .count(json!({ "since": "2000-01-01T01:00:00+01:00" }))
        .await;

    // Assert
    let at = data["activityFeed"]["nodes"][0]["insertedAt"]
        .as_str()
        .unwrap();
    assert_eq!(at.len(), "2026-11-26T14:03:07.123456Z".len(), "{at}");
    assert!(at.ends_with('Z'), "{at}");
    let hour = data["activityCounts"][0]["key"].as_str().unwrap();
    assert_eq!(&at[..13], &hour[..13]);
    assert!(hour.ends_with(":00:00Z"), "{hour}");
    assert_eq!(data["groupedActivities"]["nodes"][0]["lastAt"], at);
    assert_eq!(since, 1, "input takes any offset");
    app.stop().await;
}

#[tokio::test]
async fn tones_say_how_actions_and_modes_look_without_css() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "post.deleted", "mode": "manual" }))
        .await;

    // Act
    let data = app
        .data(
            "{ activityFeed { nodes { actionTone modeTone actionBadgeColor } }
               created: actionTone(action: \"post.created\")
               other: actionTone(action: \"role.assigned\")
               auto: modeTone(mode: \"auto\")
               none: modeTone }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        data,
        json!({
            "activityFeed": { "nodes": [{ "actionTone": "ERROR", "modeTone": "WARNING", "actionBadgeColor": "badge-error" }] },
            "created": "SUCCESS", "other": "NEUTRAL", "auto": "INFO", "none": "NEUTRAL",
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn the_viewer_is_who_the_token_says() {
    // Arrange
    let app = secured_app().await;
    let who = Callers::new();
    data_as(
        &app,
        &who.service,
        "mutation($u: [UserInput!]!) { saveUsers(inputs: $u) { userErrors { field } } }",
        json!({ "u": [{ "uuid": who.alice, "firstName": "Alice" }] }),
    )
    .await;
    let query = "{ viewer { role uuid user { firstName } expiresAt } }";

    // Act
    let user = data_as(&app, &who.user, query, json!({})).await;
    let service = data_as(&app, &who.service, query, json!({})).await;
    let anonymous = app.graphql(query, json!({})).await;

    // Assert
    assert_eq!(user["viewer"]["role"], "USER");
    assert_eq!(user["viewer"]["uuid"], json!(who.alice));
    assert_eq!(user["viewer"]["user"], json!({ "firstName": "Alice" }));
    assert!(user["viewer"]["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(service["viewer"]["role"], "SERVICE");
    assert_eq!(service["viewer"]["user"], json!(null));
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    app.stop().await;
}

#[tokio::test]
async fn actor_buckets_carry_their_person_and_resource_is_a_union() {
    // Arrange
    let app = spawn_app().await;
    let (alice, ghost) = (Uuid::now_v7(), Uuid::now_v7());
    app.upsert_users(json!([{ "uuid": alice, "firstName": "Alice" }]))
        .await;
    for actor in [alice, alice, alice, ghost, ghost] {
        app.log(json!({ "action": "user.followed", "actorUuid": actor, "resourceType": "user", "resourceUuid": alice }))
            .await;
    }
    app.log(
        json!({ "action": "post.created", "resourceType": "post", "resourceUuid": Uuid::now_v7() }),
    )
    .await;

    // Act
    let data = app
        .data(
            "{ byActor: activityCounts(groupBy: ACTOR) { key count actor { firstName } }
               byAction: activityCounts(groupBy: ACTION) { key actor { firstName } }
               activityFeed(first: 2) { nodes { resourceType resource { __typename ... on User { firstName } } } }
               groupedActivities(filter: {action: \"user.followed\"}) { nodes { resource { ... on User { firstName } } } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        data["byActor"],
        json!([
            { "key": alice, "count": 3, "actor": { "firstName": "Alice" } },
            { "key": ghost, "count": 2, "actor": null },
            // The post.created, which has no actor.
            { "key": null, "count": 1, "actor": null },
        ])
    );
    assert!(data["byAction"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["actor"].is_null()));
    assert_eq!(
        data["groupedActivities"]["nodes"],
        json!([{ "resource": { "firstName": "Alice" } }])
    );
    assert_eq!(
        data["activityFeed"]["nodes"],
        json!([
            { "resourceType": "post", "resource": null },
            { "resourceType": "user", "resource": { "__typename": "User", "firstName": "Alice" } },
        ])
    );
    app.stop().await;
}
