//! `groupedActivities`: runs of one action on one resource within a window,
//! collapsed, newest group first, paged by cursor, scoped like every read.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{data_as, log, log_with, post, service_token, spawn_secured, token};
use crate::helpers::{at, row, spawn_app, Client};

const GROUP: &str = "action resourceType resourceUuid count actorCount actorUuids
    actors { uuid firstName } firstAt lastAt latest { uuid insertedAt }";

/// The groups of `groupedActivities` with these arguments.
async fn groups(app: &Client, args: &str) -> Value {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({args})")
    };
    let data = app
        .data(
            &format!("{{ groupedActivities{args} {{ edges {{ cursor node {{ {GROUP} }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"),
            json!({}),
        )
        .await;
    data["groupedActivities"].clone()
}

fn nodes(conn: &Value) -> Vec<Value> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn runs_of_one_action_on_one_resource_collapse_into_groups() {
    let app = spawn_app().await;
    let (u1, u2, u3, u4) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    app.upsert_users(json!([
        {"uuid": u1, "firstName": "Alice"},
        {"uuid": u2, "firstName": "Bob"},
        {"uuid": u4, "firstName": "Dana"},
    ]))
    .await;
    let (post, other) = (Uuid::now_v7(), Uuid::now_v7());
    let like = |actor: Uuid, resource: Uuid| json!({"action": "post.liked", "actorUuid": actor, "resourceType": "post", "resourceUuid": resource});
    let first = log(&app, like(u1, post)).await;
    log(&app, like(u2, post)).await;
    log(&app, like(u1, post)).await;
    log(&app, json!({"action": "post.commented", "actorUuid": u3, "resourceType": "post", "resourceUuid": post})).await;
    let last_like = log(&app, like(u4, post)).await;
    log(&app, json!({"action": "post.liked", "actorUuid": u3, "resourceType": "photo", "resourceUuid": post})).await;
    let newest = log(&app, like(u2, other)).await;

    let conn = groups(&app, "").await;
    let got = nodes(&conn);
    let summary: Vec<_> = got
        .iter()
        .map(|g| {
            (
                g["action"].clone(),
                g["resourceType"].clone(),
                g["count"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("post.liked"), json!("post"), json!(1)),
            (json!("post.liked"), json!("photo"), json!(1)),
            (json!("post.liked"), json!("post"), json!(4)),
            (json!("post.commented"), json!("post"), json!(1)),
        ]
    );
    assert_eq!(got[0]["latest"]["uuid"], newest["uuid"]);
    assert_eq!(got[0]["resourceUuid"], json!(other));
    let likes = &got[2];
    assert_eq!(likes["resourceUuid"], json!(post));
    assert_eq!(likes["actorCount"], 3);
    assert_eq!(likes["actorUuids"], json!([u1, u2, u4]));
    assert_eq!(
        likes["actors"],
        json!([{"uuid": u1, "firstName": "Alice"}, {"uuid": u2, "firstName": "Bob"}, {"uuid": u4, "firstName": "Dana"}])
    );
    assert_eq!(likes["firstAt"], first["insertedAt"]);
    assert_eq!(likes["lastAt"], last_like["insertedAt"]);
    assert_eq!(likes["latest"]["uuid"], last_like["uuid"]);
    // An actor the people table does not know is counted but not resolved.
    assert_eq!(got[3]["actorUuids"], json!([u3]));
    assert_eq!(got[3]["actors"], json!([]));
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_gap_wider_than_the_window_starts_a_new_group() {
    let app = spawn_app().await;
    let post = Uuid::now_v7();
    let like = json!({"action": "post.liked", "resourceType": "post", "resourceUuid": post});
    log(&app, like.clone()).await;
    log(&app, like.clone()).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = log(&app, like.clone()).await;

    let counts =
        |conn: &Value| -> Vec<Value> { nodes(conn).iter().map(|g| g["count"].clone()).collect() };
    assert_eq!(
        counts(&groups(&app, "window: 1").await),
        [json!(1), json!(2)]
    );
    assert_eq!(counts(&groups(&app, "window: 3600").await), [json!(3)]);
    assert_eq!(
        counts(&groups(&app, "").await),
        [json!(3)],
        "the default window is an hour"
    );
    let split = groups(&app, "window: 1").await;
    assert_eq!(nodes(&split)[0]["latest"]["uuid"], late["uuid"]);
    assert_eq!(nodes(&split)[0]["firstAt"], late["insertedAt"]);
    app.stop().await;
}

#[tokio::test]
async fn the_window_is_inclusive_to_the_microsecond() {
    let app = spawn_app().await;
    let resource = Uuid::now_v7();
    let rows: Vec<_> = [
        "2026-01-01T00:00:00Z",
        // Exactly an hour after the one before: the same group.
        "2026-01-01T01:00:00Z",
        // An hour and a microsecond: a new group.
        "2026-01-01T02:00:00.000001Z",
        "2026-01-01T02:00:00.5Z",
        // An hour and half a second after the one before, with a fraction on both sides.
        "2026-01-01T03:00:01Z",
    ]
    .iter()
    .map(|t| {
        let mut r = row("report.run", at(t));
        r.resource_type = Some("report".into());
        r.resource_uuid = Some(resource);
        r
    })
    .collect();
    app.db.insert(&rows).await;

    let time = |v: &Value| at(v.as_str().unwrap());
    let spans = |conn: &Value| -> Vec<_> {
        nodes(conn)
            .iter()
            .map(|g| (g["count"].clone(), time(&g["firstAt"]), time(&g["lastAt"])))
            .collect()
    };
    assert_eq!(
        spans(&groups(&app, "window: 3600").await),
        [
            (
                json!(1),
                at("2026-01-01T03:00:01Z"),
                at("2026-01-01T03:00:01Z")
            ),
            (
                json!(2),
                at("2026-01-01T02:00:00.000001Z"),
                at("2026-01-01T02:00:00.5Z")
            ),
            (
                json!(2),
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T01:00:00Z")
            ),
        ]
    );
    assert_eq!(nodes(&groups(&app, "window: 3601").await).len(), 1);
    assert_eq!(nodes(&groups(&app, "window: 0").await).len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn activities_without_a_resource_group_by_action() {
    let app = spawn_app().await;
    for _ in 0..3 {
        log(&app, json!({"action": "cache.flushed"})).await;
    }
    log(&app, json!({"action": "cache.warmed"})).await;
    let got = nodes(&groups(&app, "").await);
    assert_eq!(
        got.iter()
            .map(|g| (
                g["action"].clone(),
                g["count"].clone(),
                g["resourceUuid"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (json!("cache.warmed"), json!(1), Value::Null),
            (json!("cache.flushed"), json!(3), Value::Null),
        ]
    );
    assert_eq!(got[1]["actorCount"], 0);
    assert_eq!(got[1]["actorUuids"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn groups_page_by_cursor_newest_first() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let resource = Uuid::now_v7();
        for _ in 0..2 {
            log(
                &app,
                json!({"action": "doc.viewed", "resourceType": "doc", "resourceUuid": resource}),
            )
            .await;
        }
    }
    let everything = nodes(&groups(&app, "first: 10").await);
    assert_eq!(everything.len(), 5);

    let mut paged = Vec::new();
    let mut after = String::new();
    for expect_more in [true, true, false] {
        let conn = groups(&app, &format!("first: 2 {after}")).await;
        assert_eq!(conn["pageInfo"]["hasNextPage"], expect_more, "{conn}");
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], !after.is_empty());
        paged.extend(nodes(&conn));
        after = format!("after: {}", conn["pageInfo"]["endCursor"]);
    }
    assert_eq!(paged, everything);
    let last: Vec<_> = paged
        .iter()
        .map(|g| g["lastAt"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = last.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(last, sorted, "newest group first");
    app.stop().await;
}

#[tokio::test]
async fn the_filter_applies_before_grouping() {
    let app = spawn_app().await;
    let post = Uuid::now_v7();
    let like = |lang: &str| json!({"action": "post.liked", "resourceType": "post", "resourceUuid": post, "metadata": {"lang": lang}});
    log(&app, like("en")).await;
    log(&app, like("de")).await;
    log(&app, like("en")).await;
    log(
        &app,
        json!({"action": "post.shared", "resourceType": "post", "resourceUuid": post}),
    )
    .await;
    let got = nodes(
        &groups(
            &app,
            r#"filter: {action: "post.liked", metadata: {lang: "en"}}"#,
        )
        .await,
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["count"], 2);
    let got = nodes(&groups(&app, r#"filter: {metadataText: "de"}"#).await);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["count"], 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input() {
    let app = spawn_app().await;
    for args in [
        "window: -1",
        "window: 31622401",
        "first: 0",
        "first: 501",
        "after: \"nope\"",
    ] {
        let body = app
            .graphql(
                &format!("{{ groupedActivities{args} {{ edges {{ cursor }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{args}: {body}"
        );
    }
    let ok = app
        .graphql(
            "{ groupedActivities(window: 0, first: 500) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert!(ok.get("errors").is_none(), "{ok}");
    app.stop().await;
}

#[tokio::test]
async fn a_user_sees_groups_of_their_own_activities_only() {
    let app = spawn_secured().await;
    let service = service_token();
    let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
    let post = Uuid::now_v7();
    for actor in [me, other, other, me, other] {
        log_with(
            &app,
            Some(&service),
            &[],
            json!({"action": "post.liked", "actorUuid": actor, "resourceType": "post", "resourceUuid": post}),
        )
        .await;
    }
    let query = "{ groupedActivities { edges { node { count actorCount actorUuids latest { actorUuid } } } } }";
    let mine = data_as(&app, &token("user", me), query, Value::Null).await;
    assert_eq!(
        mine["groupedActivities"]["edges"],
        json!([{"node": {"count": 2, "actorCount": 1, "actorUuids": [me], "latest": {"actorUuid": me}}}])
    );
    let all = data_as(&app, &service, query, Value::Null).await;
    assert_eq!(all["groupedActivities"]["edges"][0]["node"]["count"], 5);
    assert_eq!(
        all["groupedActivities"]["edges"][0]["node"]["actorCount"],
        2
    );
    let anonymous = post_anonymously(&app, query).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    app.stop().await;
}

async fn post_anonymously(app: &Client, query: &str) -> Value {
    post(app, None, &[], query, json!({})).await
}
