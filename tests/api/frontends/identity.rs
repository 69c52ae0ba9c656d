//! Global ids: every cached object has `id`, and `node`/`nodes` read it back.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::security::{data_as, log_as, secured_app, Callers};

#[tokio::test]
async fn an_activity_has_one_id_in_every_list_and_node_reads_it_back() {
    // Arrange
    let app = spawn_app().await;
    let alice = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": alice, "firstName": "Alice" }]))
        .await;
    let logged = app
        .log(json!({ "action": "post.created", "actorUuid": alice }))
        .await;

    // Act
    let data = app
        .data(
            "query($uuid: UUID!) {
                activityFeed(first: 5) { nodes { id uuid actor { id uuid } } }
                activity(uuid: $uuid) { id }
                activities { entries { id } }
            }",
            json!({ "uuid": logged["uuid"] }),
        )
        .await;
    let id = data["activity"]["id"].clone();
    let user_id = data["activityFeed"]["nodes"][0]["actor"]["id"].clone();
    let read = app
        .data(
            "query($id: ID!, $ids: [ID!]!) {
                node(id: $id) { __typename id ... on Activity { uuid } }
                nodes(ids: $ids) { __typename id ... on User { uuid firstName } }
            }",
            json!({ "id": id, "ids": [user_id, id, "QWN0aXZpdHk6MDE5MGMyYTAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw"] }),
        )
        .await;

    // Assert
    assert_eq!(data["activityFeed"]["nodes"][0]["id"], id);
    assert_eq!(data["activities"]["entries"][0]["id"], id);
    assert_ne!(id, Value::String(logged["uuid"].as_str().unwrap().into()));
    assert_ne!(id, user_id, "ids are unique across types");
    assert_eq!(
        read["node"],
        json!({ "__typename": "Activity", "id": id, "uuid": logged["uuid"] })
    );
    assert_eq!(
        read["nodes"],
        json!([
            { "__typename": "User", "id": user_id, "uuid": alice, "firstName": "Alice" },
            { "__typename": "Activity", "id": id },
            // Activity:<a uuid no row has>
            null,
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_id_or_too_many_ids_are_bad_user_input() {
    // Arrange
    let app = spawn_app().await;
    let many: Vec<String> = (0..101).map(|_| "eA".to_owned()).collect();

    // Act
    let garbage = app
        .error("{ node(id: \"not-an-id\") { id } }", json!({}))
        .await;
    let uuid_alone = app
        .error(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    let too_many = app
        .error(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": many }),
        )
        .await;

    // Assert
    assert_eq!(garbage["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(garbage["message"], "id: not-an-id is not a global id");
    assert_eq!(uuid_alone["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(too_many["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(too_many["message"], "ids: at most 100 per request");
    app.stop().await;
}

#[tokio::test]
async fn node_shows_a_user_only_what_they_may_see() {
    // Arrange: Alice and Bob each performed one activity.
    let app = secured_app().await;
    let who = Callers::new();
    let mine = log_as(
        &app,
        &who.service,
        json!({ "action": "post.created", "actorUuid": who.alice }),
    )
    .await;
    let bobs = log_as(
        &app,
        &who.service,
        json!({ "action": "post.created", "actorUuid": who.bob }),
    )
    .await;
    data_as(
        &app,
        &who.service,
        "mutation($u: [UserInput!]!) { saveUsers(inputs: $u) { userErrors { field } } }",
        json!({ "u": [{ "uuid": who.alice }, { "uuid": who.bob }] }),
    )
    .await;
    let bob_id = data_as(
        &app,
        &who.service,
        "query($b: UUID!) { user(uuid: $b) { id } }",
        json!({ "b": who.bob }),
    )
    .await["user"]["id"]
        .clone();

    // Act
    let seen = data_as(
        &app,
        &who.user,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        json!({ "ids": [mine["id"], bobs["id"], bob_id] }),
    )
    .await;

    // Assert
    assert_eq!(seen["nodes"], json!([{ "id": mine["id"] }, null, null]));
    app.stop().await;
}

#[tokio::test]
async fn a_group_keeps_its_id_while_newer_activities_join_it() {
    // Arrange
    let app = spawn_app().await;
    let post = Uuid::now_v7();
    let like = json!({ "action": "post.liked", "resourceType": "post", "resourceUuid": post });
    app.log(like.clone()).await;
    let query = "query($w: Int!) { groupedActivities(window: $w) { nodes { id count } } }";
    let before = app.data(query, json!({ "w": 3600 })).await;

    // Act
    app.log(like).await;
    let after = app.data(query, json!({ "w": 3600 })).await;
    let other_window = app.data(query, json!({ "w": 0 })).await;

    // Assert
    let group = |d: &Value| d["groupedActivities"]["nodes"][0].clone();
    assert_eq!(group(&before)["count"], 1);
    assert_eq!(group(&after)["count"], 2);
    assert_eq!(group(&after)["id"], group(&before)["id"]);
    assert_ne!(group(&other_window)["id"], group(&after)["id"]);
    app.stop().await;
}
