//! Redaction: sensitive keys are replaced before anything is written or
//! published, at any depth, in user-change diffs too.

use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use super::{log, subscribe_filters, uuids_matching, FIELDS};
use crate::helpers::{spawn_app, spawn_app_with};

const R: &str = "[REDACTED]";

#[tokio::test]
async fn sensitive_keys_are_redacted_at_any_depth_in_storage_and_live() {
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    subscribe_filters(&app, &mut ws, &[json!({"action": "account.linked"})]).await;

    let logged = log(
        &app,
        json!({"action": "account.linked", "metadata": {
            "password": "hunter2",
            "Token": 12345,
            "profile": {"api_key": "k-1", "name": "Ada", "secret": {"nested": "deep"}},
            "sessions": [{"token": "t-1", "id": 1}, [{"password_hash": "$2b$x"}]],
            "note": "token",
        }}),
    )
    .await;
    let expected = json!({
        "password": R,
        "Token": R,
        "profile": {"api_key": R, "name": "Ada", "secret": R},
        "sessions": [{"token": R, "id": 1}, [{"password_hash": R}]],
        "note": "token",
    });
    assert_eq!(logged["metadata"], expected);

    let read = app
        .data(
            &format!("query($u: UUID!) {{ activity(uuid: $u) {{ {FIELDS} }} }}"),
            json!({"u": logged["uuid"]}),
        )
        .await;
    assert_eq!(read["activity"]["metadata"], expected);

    let event = ws.next_json().await.expect("the live event");
    assert_eq!(
        event["payload"]["data"]["activityAdded"]["uuid"],
        logged["uuid"]
    );
    let text = read["activity"]["metadataText"].as_str().unwrap();
    assert!(!text.contains("hunter2") && !text.contains("k-1"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_live_subscriber_never_sees_the_secret() {
    let app = spawn_app().await;
    let mut ws = app.websocket().await;
    app.subscribe_ready(
        &mut ws,
        "1",
        r#"subscription { activityAdded(filter: {action: "login.failed"}) { metadata } }"#,
        json!({}),
    )
    .await;
    log(
        &app,
        json!({"action": "login.failed", "metadata": {"password": "pw", "user": "ada"}}),
    )
    .await;
    let data = ws.next_data().await;
    assert_eq!(
        data["activityAdded"]["metadata"],
        json!({"password": R, "user": "ada"})
    );
    app.stop().await;
}

#[tokio::test]
async fn user_change_diffs_of_sensitive_fields_keep_only_that_they_changed() {
    let app = spawn_app().await;
    let data = app
        .data(
            "mutation($u: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $u,
                changes: {password: \"new-pw\", email: \"b@x\", api_key: \"same\"},
                before: {password: \"old-pw\", email: \"a@x\", api_key: \"same\"},
                extraMetadata: {token: \"t\"}}) { changed activity { metadata } } }",
            json!({"u": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(data["logUserChange"]["changed"], true);
    assert_eq!(
        data["logUserChange"]["activity"]["metadata"],
        json!({
            "password_from": R, "password_to": R,
            "email_from": "a@x", "email_to": "b@x",
            "token": R,
            "actor_role": "user",
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn batches_are_redacted_entry_by_entry() {
    let app = spawn_app().await;
    let data = app
        .data(
            r#"mutation { logBatch(inputs: [
                {action: "a", metadata: {secret: "s1"}},
                {action: "b", metadata: {list: [{api_key: "k"}]}}
            ]) { activity { metadata } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["logBatch"],
        json!([
            {"activity": {"metadata": {"secret": R}}},
            {"activity": {"metadata": {"list": [{"api_key": R}]}}},
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn redacted_values_cannot_be_searched_for() {
    let app = spawn_app().await;
    log(
        &app,
        json!({"action": "vault.opened", "metadata": {"secret": "open sesame"}}),
    )
    .await;
    assert!(
        uuids_matching(&app, None, json!({"metadataText": "sesame"}))
            .await
            .is_empty()
    );
    assert!(
        uuids_matching(&app, None, json!({"metadata": {"secret": "open sesame"}}))
            .await
            .is_empty()
    );
    assert_eq!(
        uuids_matching(&app, None, json!({"metadata": {"secret": R}}))
            .await
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn the_configured_list_replaces_the_default() {
    let app =
        spawn_app_with(|c| c.redaction.redact_keys = Some(vec!["ssn".into(), "Card".into()])).await;
    let row = log(
        &app,
        json!({"action": "a", "metadata": {"ssn": "078-05-1120", "card": {"n": 1}, "password": "kept"}}),
    )
    .await;
    assert_eq!(
        row["metadata"],
        json!({"ssn": R, "card": R, "password": "kept"})
    );
    app.stop().await;

    let off = spawn_app_with(|c| c.redaction.redact_keys = Some(Vec::new())).await;
    let row = log(&off, json!({"action": "a", "metadata": {"password": "p"}})).await;
    assert_eq!(row["metadata"], json!({"password": "p"}));
    off.stop().await;
}

#[tokio::test]
async fn nested_secrets_in_user_change_diffs_are_redacted_and_cannot_be_found() {
    // Arrange
    let app = spawn_app().await;

    // Act: a password inside a field of another name.
    let data = app
        .data(
            "mutation($u: UUID!) { logUserChange(input: {action: \"user.updated\", userUuid: $u,
                changes: {profile: {password: \"NewPass#2026\", city: \"Oslo\"}},
                before: {profile: {password: \"OldPass#2025\", city: \"Oslo\"}}}) { changed activity { uuid metadata } } }",
            json!({"u": Uuid::now_v7()}),
        )
        .await;

    // Assert: the diff keeps the object, redacted inside; the change shows.
    let activity = &data["logUserChange"]["activity"];
    assert_eq!(data["logUserChange"]["changed"], true);
    assert_eq!(
        activity["metadata"],
        json!({
            "profile_from": {"password": R, "city": "Oslo"},
            "profile_to": {"password": R, "city": "Oslo"},
            "actor_role": "user",
        })
    );
    for word in ["NewPass", "OldPass", "2026"] {
        assert!(
            uuids_matching(&app, None, json!({"metadataText": word}))
                .await
                .is_empty(),
            "{word} is searchable"
        );
    }
    let conn = app.db.connect().await;
    let stored = entity::activity::Entity::find().all(&conn).await.unwrap();
    conn.close().await.ok();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].metadata.to_string().contains("Pass#"),
        "{}",
        stored[0].metadata
    );
    app.stop().await;
}

#[tokio::test]
async fn common_spellings_of_sensitive_keys_are_redacted() {
    // Arrange
    let app = spawn_app().await;

    // Act: the spellings a black-box run found stored verbatim.
    let logged = log(
        &app,
        json!({"action": "account.linked", "metadata": {
            "apiKey": "v-apikey",
            "accessToken": "v-access",
            "Password ": "v-spaced",
            "creds": {"client_secret": "v-nested"},
            "creds.client_secret": "v-dotted",
            "ＰＡＳＳＷＯＲＤ": "v-fullwidth",
            "refresh-token": "v-kebab",
            "Cookie": "v-cookie",
            "privateKey": "v-private",
            "credit_card": "v-card",
            "SSN": "v-ssn",
            "Authorization": "Bearer v-auth",
            "passwd": "v-passwd",
            "title": "visible",
        }}),
    )
    .await;

    // Assert
    assert_eq!(
        logged["metadata"],
        json!({
            "apiKey": R, "accessToken": R, "Password ": R,
            "creds": {"client_secret": R}, "creds.client_secret": R,
            "ＰＡＳＳＷＯＲＤ": R, "refresh-token": R, "Cookie": R,
            "privateKey": R, "credit_card": R, "SSN": R,
            "Authorization": R, "passwd": R, "title": "visible",
        })
    );
    assert!(uuids_matching(&app, None, json!({"metadataText": "v"}))
        .await
        .is_empty());
    assert_eq!(
        uuids_matching(&app, None, json!({"metadataText": "visible"}))
            .await
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn configured_keys_are_normalized_like_metadata_keys() {
    // Arrange: the deployment writes its key in camelCase.
    let app = spawn_app_with(|c| c.redaction.redact_keys = Some(vec!["cardNumber".into()])).await;

    // Act
    let row = log(
        &app,
        json!({"action": "a", "metadata": {"card_number": "4111", "Card-Number": "4111", "cardNumber_to": "4111"}}),
    )
    .await;

    // Assert
    assert_eq!(
        row["metadata"],
        json!({"card_number": R, "Card-Number": R, "cardNumber_to": R})
    );
    app.stop().await;
}
