//! `logUserChange`: one activity holding only the fields that really changed.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

const LOG_USER_CHANGE: &str = "mutation($input: LogUserChangeInput!) { logUserChange(input: $input) { changed errors { field message code } activity { uuid action module mode actorUuid resourceType resourceUuid targetUuid metadata resourceUser { email } } } }";

async fn log_user_change(app: &TestApp, input: Value) -> Value {
    app.data(LOG_USER_CHANGE, json!({ "input": input })).await["logUserChange"].clone()
}

#[tokio::test]
async fn logs_only_the_fields_that_changed_with_the_defaults() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();

    // Act
    let payload = log_user_change(
        &app,
        json!({
            "action": "user.updated", "userUuid": user,
            "changes": { "email": "new@example.com", "first_name": "Ada", "age": 37, "admin": true, "nickname": null },
            "before": { "email": "old@example.com", "first_name": "Ada", "age": "36", "admin": true, "nickname": "" },
        }),
    )
    .await;

    // Assert
    assert_eq!(
        payload,
        json!({
            "changed": true, "errors": [],
            "activity": {
                "uuid": payload["activity"]["uuid"], "action": "user.updated",
                "module": "users", "mode": "auto", "actorUuid": user,
                "resourceType": "user", "resourceUuid": user, "targetUuid": null,
                "metadata": {
                    "email_from": "old@example.com", "email_to": "new@example.com",
                    "age_from": "36", "age_to": "37", "actor_role": "user",
                },
                "resourceUser": null,
            },
        })
    );
    assert_eq!(app.count(json!({})).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn nothing_changed_logs_nothing() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();

    // Act
    let payload = log_user_change(
        &app,
        json!({
            "action": "user.updated", "userUuid": user,
            "changes": { "email": "same@example.com", "age": 5, "gone": null },
            "before": { "email": "same@example.com", "age": "5" },
        }),
    )
    .await;

    // Assert
    assert_eq!(
        payload,
        json!({ "changed": false, "errors": [], "activity": null })
    );
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn without_before_the_stored_user_row_is_the_old_value() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": user, "email": "ada@example.com", "firstName": "Ada", "lastName": "Byron" }]))
        .await;

    // Act
    let payload = log_user_change(
        &app,
        json!({
            "action": "user.updated", "userUuid": user,
            "changes": { "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace" },
        }),
    )
    .await;

    // Assert
    assert_eq!(payload["changed"], true);
    assert_eq!(
        payload["activity"]["metadata"],
        json!({ "last_name_from": "Byron", "last_name_to": "Lovelace", "actor_role": "user" })
    );
    assert_eq!(
        payload["activity"]["resourceUser"],
        json!({ "email": "ada@example.com" })
    );
    app.stop().await;
}

#[tokio::test]
async fn without_before_an_unknown_user_had_empty_fields() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();

    // Act
    let payload = log_user_change(
        &app,
        json!({ "action": "user.registered", "userUuid": user, "changes": { "email": "new@example.com" } }),
    )
    .await;

    // Assert
    assert_eq!(
        payload["activity"]["metadata"],
        json!({ "email_from": "", "email_to": "new@example.com", "actor_role": "user" })
    );
    app.stop().await;
}

#[tokio::test]
async fn without_before_a_stored_row_unchanged_logs_nothing() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": user, "email": "ada@example.com", "firstName": "Ada" }]))
        .await;

    // Act
    let payload = log_user_change(
        &app,
        json!({ "action": "user.updated", "userUuid": user, "changes": { "email": "ada@example.com", "first_name": "Ada", "last_name": null } }),
    )
    .await;

    // Assert
    assert_eq!(
        payload,
        json!({ "changed": false, "errors": [], "activity": null })
    );
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn custom_fields_are_skipped_by_default() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();

    // Act
    let only_custom = log_user_change(
        &app,
        json!({ "action": "user.updated", "userUuid": user,
                "changes": { "custom_fields": { "team": "b" } }, "before": { "custom_fields": { "team": "a" } } }),
    )
    .await;
    let with_email = log_user_change(
        &app,
        json!({ "action": "user.updated", "userUuid": user,
                "changes": { "custom_fields": { "team": "b" }, "email": "b@example.com" }, "before": {} }),
    )
    .await;

    // Assert
    assert_eq!(
        only_custom,
        json!({ "changed": false, "errors": [], "activity": null })
    );
    assert_eq!(
        with_email["activity"]["metadata"],
        json!({ "email_from": "", "email_to": "b@example.com", "actor_role": "user" })
    );
    app.stop().await;
}

#[tokio::test]
async fn skip_fields_replaces_the_default() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();

    // Act
    let payload = log_user_change(
        &app,
        json!({
            "action": "user.updated", "userUuid": user, "skipFields": ["email", "password"],
            "changes": { "email": "b@example.com", "password": "hunter2", "custom_fields": { "team": "b" } },
            "before": { "email": "a@example.com", "password": "secret", "custom_fields": { "team": "a" } },
        }),
    )
    .await;

    // Assert
    assert_eq!(
        payload["activity"]["metadata"],
        json!({
            // Objects stay JSON, so redaction sees inside them.
            "custom_fields_from": { "team": "a" }, "custom_fields_to": { "team": "b" },
            "actor_role": "user",
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn explicit_actor_target_mode_role_and_extra_metadata_are_kept() {
    // Arrange
    let app = spawn_app().await;
    let (user, admin, target) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    // Act
    let payload = log_user_change(
        &app,
        json!({
            "action": "role.assigned", "userUuid": user, "actorUuid": admin, "targetUuid": target,
            "mode": "manual", "actorRole": "admin",
            "extraMetadata": { "reason": "promotion", "ticket": 42 },
            "changes": { "role": "editor" }, "before": { "role": "viewer" },
        }),
    )
    .await;

    // Assert
    let activity = &payload["activity"];
    assert_eq!(activity["actorUuid"], json!(admin));
    assert_eq!(activity["targetUuid"], json!(target));
    assert_eq!(activity["resourceUuid"], json!(user));
    assert_eq!(activity["mode"], "manual");
    assert_eq!(activity["module"], "users");
    assert_eq!(activity["resourceType"], "user");
    assert_eq!(
        activity["metadata"],
        json!({
            "role_from": "viewer", "role_to": "editor", "actor_role": "admin",
            "reason": "promotion", "ticket": 42,
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn inputs_that_are_not_objects_are_refused_and_nothing_is_logged() {
    // Arrange
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    let cases = [
        (
            json!({ "changes": [1] }),
            json!([{ "field": "changes", "message": "must be a JSON object", "code": "BAD_USER_INPUT" }]),
        ),
        (
            json!({ "changes": { "a": 1 }, "before": "x" }),
            json!([{ "field": "before", "message": "must be a JSON object", "code": "BAD_USER_INPUT" }]),
        ),
        (
            json!({ "changes": { "a": 1 }, "extraMetadata": 3 }),
            json!([{ "field": "extraMetadata", "message": "must be a JSON object", "code": "BAD_USER_INPUT" }]),
        ),
    ];

    for (fields, errors) in cases {
        let mut input = json!({ "action": "user.updated", "userUuid": user });
        input
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());

        // Act
        let payload = log_user_change(&app, input).await;

        // Assert
        assert_eq!(
            payload,
            json!({ "changed": false, "activity": null, "errors": errors }),
            "{fields}"
        );
    }
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_action_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let payload = log_user_change(
        &app,
        json!({ "action": "", "userUuid": Uuid::now_v7(), "changes": { "a": 1 } }),
    )
    .await;

    // Assert
    assert_eq!(
        payload,
        json!({ "changed": false, "activity": null, "errors": [
            { "field": "action", "message": "must not be empty", "code": "BAD_USER_INPUT" },
        ]})
    );
    assert_eq!(app.count(json!({})).await, 0);
    app.stop().await;
}
