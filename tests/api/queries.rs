//! The single-purpose queries: `activitiesForUser`, `recentActivities`,
//! `activity`, `user`, `retentionDays`, the badge colours, and `insertedAt`
//! reading back exactly wherever an activity is read.

use chrono::{DateTime, TimeDelta, Utc};
use entity::activity;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{at, pluck, row, spawn_app, spawn_app_with, TestApp, ACTIVITY_FIELDS};

async fn for_user(app: &TestApp, user: Uuid, filter: Value, page: i64, per_page: i64) -> Value {
    let query = "query($u: UUID!, $f: ActivityFilter, $p: Int!, $n: Int!) {
        activitiesForUser(userUuid: $u, filter: $f, page: $p, perPage: $n) {
            entries { action } total page perPage totalPages
        }
    }";
    app.data(
        query,
        json!({ "u": user, "f": filter, "p": page, "n": per_page }),
    )
    .await["activitiesForUser"]
        .clone()
}

#[tokio::test]
async fn activities_for_user_are_those_the_user_performed() {
    // Arrange
    let app = spawn_app().await;
    let (ada, alan) = (Uuid::now_v7(), Uuid::now_v7());
    let start = at("2026-02-01T00:00:00Z");
    let by = |action: &str, actor: Option<Uuid>, target: Option<Uuid>, module: &str, s: i64| {
        activity::Model {
            actor_uuid: actor,
            target_uuid: target,
            module: Some(module.into()),
            ..row(action, start + TimeDelta::seconds(s))
        }
    };
    app.db
        .insert(&[
            by("ada.1", Some(ada), None, "odd", 1),
            by("alan.1", Some(alan), Some(ada), "odd", 2),
            by("ada.2", Some(ada), Some(alan), "even", 3),
            by("nobody.1", None, Some(ada), "odd", 4),
            by("ada.3", Some(ada), None, "odd", 5),
        ])
        .await;

    // Act
    let all = for_user(&app, ada, json!(null), 1, 50).await;
    let second_page = for_user(&app, ada, json!(null), 2, 2).await;
    let filtered = for_user(&app, ada, json!({ "module": "odd" }), 1, 50).await;
    let other_actor = for_user(&app, ada, json!({ "actorUuid": alan }), 1, 50).await;
    let stranger = for_user(&app, Uuid::now_v7(), json!(null), 1, 50).await;

    // Assert
    let names = |v: &Value| pluck(&v["entries"], "action");
    assert_eq!(
        names(&all),
        [json!("ada.3"), json!("ada.2"), json!("ada.1")]
    );
    assert_eq!((&all["total"], &all["totalPages"]), (&json!(3), &json!(1)));
    assert_eq!(
        second_page,
        json!({ "entries": [{ "action": "ada.1" }], "total": 3, "page": 2, "perPage": 2, "totalPages": 2 })
    );
    assert_eq!(names(&filtered), [json!("ada.3"), json!("ada.1")]);
    assert_eq!(
        other_actor,
        json!({ "entries": [], "total": 0, "page": 1, "perPage": 50, "totalPages": 1 })
    );
    assert_eq!(stranger["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn recent_activities_are_the_newest_up_to_the_limit() {
    // Arrange
    let app = spawn_app().await;
    let start = at("2026-02-01T00:00:00Z");
    let rows: Vec<_> = (1..=25)
        .map(|i| row(&format!("r{i}"), start + TimeDelta::minutes(i)))
        .collect();
    app.db.insert(&rows).await;

    // Act
    let three = app
        .data("{ recentActivities(limit: 3) { action } }", json!({}))
        .await;
    let default = app.data("{ recentActivities { action } }", json!({})).await;
    let more_than_there_are = app
        .data("{ recentActivities(limit: 500) { action } }", json!({}))
        .await;

    // Assert
    assert_eq!(
        pluck(&three["recentActivities"], "action"),
        [json!("r25"), json!("r24"), json!("r23")]
    );
    let expected: Vec<Value> = (6..=25).rev().map(|i| json!(format!("r{i}"))).collect();
    assert_eq!(pluck(&default["recentActivities"], "action"), expected);
    assert_eq!(
        more_than_there_are["recentActivities"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    app.stop().await;
}

#[tokio::test]
async fn activity_and_user_are_null_when_missing() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "post.created" })).await;

    // Act
    let read = app
        .data(
            "query($a: UUID!, $u: UUID!) { activity(uuid: $a) { uuid } user(uuid: $u) { uuid } }",
            json!({ "a": Uuid::now_v7(), "u": Uuid::now_v7() }),
        )
        .await;

    // Assert
    assert_eq!(read, json!({ "activity": null, "user": null }));
    app.stop().await;
}

#[tokio::test]
async fn user_reads_a_stored_person() {
    // Arrange
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": id, "email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper" }]))
        .await;

    // Act
    let read = app
        .data(
            "query($u: UUID!) { user(uuid: $u) { uuid email firstName lastName } }",
            json!({ "u": id }),
        )
        .await;

    // Assert
    assert_eq!(
        read["user"],
        json!({ "uuid": id, "email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper" })
    );
    app.stop().await;
}

#[tokio::test]
async fn retention_days_is_the_configured_value_ninety_by_default() {
    // Arrange
    let default = spawn_app().await;
    let configured = spawn_app_with(|c| c.retention_days = 7).await;

    // Act
    let d = default.data("{ retentionDays }", json!({})).await;
    let c = configured.data("{ retentionDays }", json!({})).await;

    // Assert
    assert_eq!(d, json!({ "retentionDays": 90 }));
    assert_eq!(c, json!({ "retentionDays": 7 }));
    default.stop().await;
    configured.stop().await;
}

#[tokio::test]
async fn badge_colours_follow_the_rules_in_order() {
    // Arrange
    let app = spawn_app().await;
    let actions = [
        ("post.created", "badge-success"),
        ("post.deleted", "badge-error"),
        ("profile.updated", "badge-warning"),
        ("password.changed", "badge-warning"),
        ("comment.liked", "badge-info"),
        ("user.followed", "badge-info"),
        ("role.assigned", "badge-ghost"),
        ("", "badge-ghost"),
        ("created.then.deleted", "badge-success"),
        ("deleted.then.updated", "badge-error"),
        ("liked.then.changed", "badge-warning"),
        ("Post.Created", "badge-ghost"),
    ];
    let modes = [
        (json!("manual"), "badge-warning"),
        (json!("auto"), "badge-info"),
        (json!("cron"), "badge-secondary"),
        (json!("script"), "badge-accent"),
        (json!("Manual"), "badge-ghost"),
        (json!("other"), "badge-ghost"),
        (json!(null), "badge-ghost"),
    ];

    for (action, colour) in actions {
        // Act
        let got = app
            .data(
                "query($a: String!) { actionBadgeColor(action: $a) }",
                json!({ "a": action }),
            )
            .await;

        // Assert
        assert_eq!(got["actionBadgeColor"], colour, "{action:?}");
    }
    for (mode, colour) in modes {
        // Act
        let got = app
            .data(
                "query($m: String) { modeBadgeColor(mode: $m) }",
                json!({ "m": mode }),
            )
            .await;

        // Assert
        assert_eq!(got["modeBadgeColor"], colour, "{mode}");
    }
    let no_argument = app.data("{ modeBadgeColor }", json!({})).await;
    assert_eq!(no_argument["modeBadgeColor"], "badge-ghost");
    app.stop().await;
}

#[tokio::test]
async fn an_activity_carries_the_badge_colours_of_its_action_and_mode() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let deleted_by_cron = app
        .log(json!({ "action": "post.deleted", "mode": "cron" }))
        .await;
    let liked_by_script = app
        .log(json!({ "action": "comment.liked", "mode": "script" }))
        .await;

    // Assert
    assert_eq!(deleted_by_cron["actionBadgeColor"], "badge-error");
    assert_eq!(deleted_by_cron["modeBadgeColor"], "badge-secondary");
    assert_eq!(liked_by_script["actionBadgeColor"], "badge-info");
    assert_eq!(liked_by_script["modeBadgeColor"], "badge-accent");
    app.stop().await;
}

#[tokio::test]
async fn inserted_at_reads_back_exactly_everywhere() {
    // Arrange
    let app = spawn_app().await;
    let actor = Uuid::now_v7();

    // Act
    let logged = app
        .log(json!({ "action": "post.created", "actorUuid": actor }))
        .await;
    let reads = app
        .data(
            &format!(
                "query($u: UUID!, $a: UUID!) {{
                    activity(uuid: $u) {{ {ACTIVITY_FIELDS} }}
                    activities {{ entries {{ {ACTIVITY_FIELDS} }} }}
                    activitiesForUser(userUuid: $a) {{ entries {{ {ACTIVITY_FIELDS} }} }}
                    activityFeed(first: 1) {{ nodes {{ {ACTIVITY_FIELDS} }} }}
                    recentActivities(limit: 1) {{ {ACTIVITY_FIELDS} }}
                }}"
            ),
            json!({ "u": logged["uuid"], "a": actor }),
        )
        .await;
    let stored = {
        let db = app.db.connect().await;
        let id = Uuid::parse_str(logged["uuid"].as_str().unwrap()).unwrap();
        activity::Entity::find_by_id(id)
            .one(&db)
            .await
            .unwrap()
            .expect("the stored row")
    };

    // Assert
    assert_eq!(reads["activity"], logged);
    assert_eq!(reads["activities"]["entries"], json!([logged]));
    assert_eq!(reads["activitiesForUser"]["entries"], json!([logged]));
    assert_eq!(reads["activityFeed"]["nodes"], json!([logged]));
    assert_eq!(reads["recentActivities"], json!([logged]));
    let returned: DateTime<Utc> = at(logged["insertedAt"].as_str().unwrap());
    assert_eq!(stored.inserted_at, returned);
    assert_eq!(
        returned.timestamp_subsec_nanos() % 1000,
        0,
        "microsecond precision"
    );
    // The exact time is a valid filter bound for the row itself.
    assert_eq!(
        app.count(json!({ "since": logged["insertedAt"], "until": logged["insertedAt"] }))
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn queries_work_over_get_too() {
    // Arrange
    let app = spawn_app().await;
    app.log(json!({ "action": "post.created" })).await;

    // Act
    let res = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "{ retentionDays activityCount actionTypes }")])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "data": { "retentionDays": 90, "activityCount": 1, "actionTypes": ["post.created"] } })
    );
    app.stop().await;
}
