//! `forgetPerson`: a person erased from a seeded log, which still verifies.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{at, log, sealed_through, signing_app_with, sql, verify};
use crate::helpers::{TestApp, TestDb};

const FORGET: &str = "mutation($u: UUID!, $r: String!) { forgetPerson(uuid: $u, reason: $r) { \
    found pseudonym rewritten activity { uuid action actorUuid resourceType resourceUuid metadata cursor } \
    userErrors { field message code } } }";

/// Ann, the person erased, and what identifies her.
struct Ann {
    uuid: Uuid,
    email: &'static str,
    new_email: &'static str,
    first_name: &'static str,
    new_first_name: &'static str,
    last_name: &'static str,
    ip: &'static str,
    user_agent: &'static str,
}

const ANN: Ann = Ann {
    uuid: Uuid::nil(),
    email: "annabel.q@example.com",
    new_email: "aq@example.org",
    first_name: "Annabel",
    new_first_name: "Ziva",
    last_name: "Quintrell",
    ip: "203.0.113.77",
    user_agent: "AnnabelBrowser/7.1",
};

/// A server that records request context, believing 127.0.0.1's X-Forwarded-For.
async fn context_app() -> TestApp {
    signing_app_with(|config| {
        config.context.record_request_context = true;
        config.context.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
}

/// POSTs `query` as a caller at `ip` with `user_agent`; returns `data`.
async fn data_from(
    app: &TestApp,
    ip: &str,
    user_agent: &str,
    query: &str,
    variables: Value,
) -> Value {
    let body: Value = app
        .http
        .post(app.url("/graphql"))
        .header("X-Forwarded-For", ip)
        .header("User-Agent", user_agent)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Logs `input` from `ip` with `user_agent`; returns the activity's uuid and cursor.
async fn log_from(app: &TestApp, ip: &str, user_agent: &str, input: Value) -> Value {
    data_from(
        app,
        ip,
        user_agent,
        "mutation($i: LogInput!) { log(input: $i) { activity { uuid cursor } } }",
        json!({ "i": input }),
    )
    .await["log"]["activity"]
        .clone()
}

/// Every row of every table, as lower-cased text: what "anywhere in the
/// database" means. SQLite's full-text index is left out: its segments
/// hold words, not values, until they are merged (see the README).
async fn everything(db: &TestDb) -> String {
    let conn = db.connect().await;
    use sea_orm::{ConnectionTrait, Statement};
    let backend = conn.get_database_backend();
    let q = |sql: String| Statement::from_string(backend, sql);
    let mut out = String::new();
    if db.is_postgres() {
        let tables = conn
            .query_all_raw(q("SELECT table_name::text FROM information_schema.tables \
                WHERE table_schema = current_schema()"
                .into()))
            .await
            .unwrap();
        for t in tables {
            let name: String = t.try_get_by_index(0).unwrap();
            for row in conn
                .query_all_raw(q(format!("SELECT t::text FROM \"{name}\" t")))
                .await
                .unwrap()
            {
                out.push_str(&row.try_get_by_index::<String>(0).unwrap());
                out.push('\n');
            }
        }
    } else {
        let tables = conn
            .query_all_raw(q("SELECT name FROM sqlite_master WHERE type = 'table' \
                AND name NOT LIKE 'activities_fts%'"
                .into()))
            .await
            .unwrap();
        for t in tables {
            let name: String = t.try_get_by_index(0).unwrap();
            let columns: Vec<String> = conn
                .query_all_raw(q(format!("SELECT name FROM pragma_table_info('{name}')")))
                .await
                .unwrap()
                .iter()
                .map(|c| format!("quote(\"{}\")", c.try_get_by_index::<String>(0).unwrap()))
                .collect();
            let sql = format!("SELECT {} FROM \"{name}\"", columns.join(" || ',' || "));
            for row in conn.query_all_raw(q(sql)).await.unwrap() {
                out.push_str(&row.try_get_by_index::<String>(0).unwrap());
                out.push('\n');
            }
        }
    }
    conn.close().await.ok();
    out.to_lowercase()
}

/// The values that identify `uuid`'s person, as they could be stored.
fn traces(ann: &Ann, uuid: Uuid) -> Vec<String> {
    vec![
        uuid.to_string(),
        uuid.simple().to_string(),
        ann.email.into(),
        ann.new_email.into(),
        ann.first_name.into(),
        ann.new_first_name.into(),
        ann.last_name.into(),
        ann.ip.into(),
        ann.user_agent.into(),
    ]
}

#[tokio::test]
async fn an_erased_person_is_found_nowhere_and_the_log_still_verifies_with_their_fields_erased() {
    // Arrange: Ann and Bob, Ann acting from her browser, Bob mentioning her,
    // a change of Ann's email and first name, and rows about others.
    let app = context_app().await;
    let ann = Ann {
        uuid: Uuid::now_v7(),
        ..ANN
    };
    let bob = Uuid::now_v7();
    app.upsert_users(json!([
        { "uuid": ann.uuid, "email": ann.email, "firstName": ann.first_name, "lastName": ann.last_name },
        { "uuid": bob, "email": "bob@example.com", "firstName": "Bob", "lastName": "Stone" },
    ]))
    .await;
    let (bob_ip, bob_ua) = ("198.51.100.2", "BobAgent/1");
    let posted = log_from(
        &app,
        ann.ip,
        ann.user_agent,
        json!({
            "action": "post.created", "actorUuid": ann.uuid, "metadata": { "title": "Hello" },
        }),
    )
    .await;
    let mentioned = log_from(
        &app,
        bob_ip,
        bob_ua,
        json!({
            "action": "comment.created", "actorUuid": bob, "targetUuid": ann.uuid,
            "metadata": { "mentioned": ann.email, "author": ann.first_name, "words": 3 },
        }),
    )
    .await;
    let changed = data_from(&app, ann.ip, ann.user_agent,
        "mutation($i: LogUserChangeInput!) { logUserChange(input: $i) { activity { uuid cursor } } }",
        json!({ "i": {
            "action": "user.updated", "userUuid": ann.uuid,
            "changes": { "email": ann.new_email, "firstName": ann.new_first_name },
        } }),
    ).await["logUserChange"]["activity"].clone();
    let nested = log_from(&app, bob_ip, bob_ua, json!({
        "action": "review.assigned", "actorUuid": bob,
        "metadata": { "user_id": ann.uuid.to_string(), "reviewer": { "email": ann.new_email, "team": "core" } },
    })).await;
    let viewed = log_from(&app, ann.ip, ann.user_agent, json!({
        "action": "profile.viewed", "actorUuid": ann.uuid, "resourceType": "user", "resourceUuid": ann.uuid,
    })).await;
    let unrelated = log_from(
        &app,
        bob_ip,
        bob_ua,
        json!({
            "action": "post.created", "actorUuid": bob, "metadata": { "title": "Unrelated" },
        }),
    )
    .await;
    sealed_through(&app, &unrelated["cursor"]).await;
    let before = everything(&app.db).await;
    // PostgreSQL shows uuids hyphenated, SQLite's blobs as hex: one of the two.
    for trace in traces(&ann, ann.uuid).iter().skip(2) {
        assert!(
            before.contains(&trace.to_lowercase()),
            "the arrangement stores {trace}"
        );
    }
    assert!(
        before.contains(&ann.uuid.to_string()) || before.contains(&ann.uuid.simple().to_string()),
        "the arrangement stores the uuid"
    );

    // Act
    let forgotten = app
        .data(FORGET, json!({ "u": ann.uuid, "r": "GDPR request 42" }))
        .await["forgetPerson"]
        .clone();
    let report = verify(&app, json!({})).await;
    let after = everything(&app.db).await;

    // Assert: the outcome and the entry it logged.
    assert_eq!(forgotten["found"], true, "{forgotten}");
    assert_eq!(forgotten["userErrors"], json!([]));
    assert_eq!(forgotten["rewritten"], 5, "{forgotten}");
    let pseudonym: Uuid = serde_json::from_value(forgotten["pseudonym"].clone()).unwrap();
    assert_ne!(pseudonym, ann.uuid);
    let entry = &forgotten["activity"];
    assert_eq!(entry["action"], "person.forgotten");
    assert_eq!(entry["resourceType"], "person");
    assert_eq!(entry["resourceUuid"], json!(pseudonym));
    assert_eq!(
        entry["actorUuid"],
        Value::Null,
        "open mode has no admin uuid"
    );
    assert_eq!(
        entry["metadata"],
        json!({ "reason": "GDPR request 42", "rewritten": 5 })
    );

    // Nothing of Ann anywhere, in any table.
    for trace in traces(&ann, ann.uuid) {
        assert!(
            !after.contains(&trace.to_lowercase()),
            "{trace} is still stored"
        );
    }
    // Bob's values stay.
    for kept in ["bob@example.com", bob_ip, "bobagent/1", "unrelated", "core"] {
        assert!(after.contains(kept), "{kept} was erased too");
    }

    // The chain verifies, and exactly the rewritten fields report as erased.
    assert_eq!(report["valid"], true, "{report}");
    let erased: BTreeSet<(String, String)> = report["erased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["activityUuid"].as_str().unwrap().to_owned(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (&posted, &["actor_uuid", "client_ip", "user_agent"][..]),
        (
            &mentioned,
            &["target_uuid", "metadata.author", "metadata.mentioned"][..],
        ),
        (
            &changed,
            &[
                "actor_uuid",
                "client_ip",
                "resource_uuid",
                "user_agent",
                "metadata.email_from",
                "metadata.email_to",
                "metadata.first_name_from",
                "metadata.first_name_to",
            ][..],
        ),
        (&nested, &["metadata.reviewer", "metadata.user_id"][..]),
        (
            &viewed,
            &["actor_uuid", "client_ip", "resource_uuid", "user_agent"][..],
        ),
    ]
    .into_iter()
    .flat_map(|(row, fields)| {
        fields
            .iter()
            .map(|f| (row["uuid"].as_str().unwrap().to_owned(), (*f).to_owned()))
    })
    .collect();
    assert_eq!(erased, expected);
    assert_eq!(report["erasedCount"], expected.len());

    // Reads show the erased form.
    let read = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { actorUuid targetUuid metadata } }",
            json!({ "u": mentioned["uuid"] }),
        )
        .await["activity"]
        .clone();
    assert_eq!(read["actorUuid"], json!(bob));
    assert_eq!(read["targetUuid"], json!(pseudonym));
    assert_eq!(
        read["metadata"],
        json!({ "mentioned": "[ERASED]", "author": "[ERASED]", "words": 3 })
    );
    let stored = app
        .data(
            "query($u: UUID!) { user(uuid: $u) { uuid } }",
            json!({ "u": ann.uuid }),
        )
        .await;
    assert_eq!(stored["user"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn forgetting_again_finds_nothing_and_writes_nothing() {
    // Arrange
    let app = context_app().await;
    let ann = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": ann, "email": "x@example.com" }]))
        .await;
    log(&app, json!({ "action": "post.created", "actorUuid": ann })).await;
    let first = app.data(FORGET, json!({ "u": ann, "r": "request" })).await;

    // Act
    let again = app.data(FORGET, json!({ "u": ann, "r": "request" })).await;
    let unknown = app
        .data(FORGET, json!({ "u": Uuid::now_v7(), "r": "request" }))
        .await;

    // Assert
    assert_eq!(first["forgetPerson"]["found"], true);
    for answer in [again, unknown] {
        assert_eq!(
            answer["forgetPerson"],
            json!({ "found": false, "pseudonym": null, "rewritten": 0, "activity": null, "userErrors": [] })
        );
    }
    assert_eq!(app.count(json!({ "action": "person.forgotten" })).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn erasure_replaces_only_equal_strings_and_resends_nothing_to_subscribers() {
    // Arrange
    let app = context_app().await;
    let ann = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": ann, "firstName": "Annabel" }]))
        .await;
    let mut ws = app.websocket().await;
    let fields = "{ uuid action actorUuid metadata }";
    ws.subscribe(
        "2",
        &format!(
            "subscription {{ activityAdded(filter: {{action: \"person.forgotten\"}}) {fields} }}"
        ),
        json!({}),
    )
    .await;
    app.subscribe_ready(
        &mut ws,
        "1",
        &format!("subscription {{ activityAdded(filter: {{action: \"note.added\"}}) {fields} }}"),
        json!({}),
    )
    .await;
    let row = log(
        &app,
        json!({ "action": "note.added", "actorUuid": ann,
                "metadata": { "name": "Annabel", "note": "Annabel wrote this", "list": ["Annabel", "x"] } }),
    )
    .await;
    let delivered = ws.next_data().await;

    // Act
    app.data(FORGET, json!({ "u": ann, "r": "request" })).await;
    let next = ws.next_data().await;
    let read = app
        .data(
            "query($u: UUID!) { activity(uuid: $u) { actorUuid metadata } }",
            json!({ "u": row["uuid"] }),
        )
        .await["activity"]
        .clone();

    // Assert: what was delivered stays as it was; the next event is the entry.
    assert_eq!(delivered["activityAdded"]["actorUuid"], json!(ann));
    assert_eq!(next["activityAdded"]["action"], "person.forgotten");
    ws.assert_silent(std::time::Duration::from_millis(300))
        .await;
    assert_ne!(read["actorUuid"], json!(ann));
    assert_eq!(
        read["metadata"],
        json!({ "name": "[ERASED]", "note": "Annabel wrote this", "list": ["[ERASED]", "x"] })
    );
    app.stop().await;
}

#[tokio::test]
async fn an_erased_field_changed_afterwards_fails_verification_and_is_named() {
    // Arrange
    let app = context_app().await;
    let ann = Uuid::now_v7();
    let row = log_from(
        &app,
        "203.0.113.9",
        "UA/1",
        json!({ "action": "post.created", "actorUuid": ann }),
    )
    .await;
    sealed_through(&app, &row["cursor"]).await;
    app.data(FORGET, json!({ "u": ann, "r": "request" })).await;

    // Act
    sql(
        &app,
        &format!(
            "UPDATE activities SET client_ip = '10.9.9.9' WHERE {}",
            at(&row["cursor"])
        ),
    )
    .await;
    let report = verify(&app, json!({})).await;

    // Assert
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["failure"]["reason"], "CHANGED_FIELD");
    assert_eq!(report["failure"]["field"], "client_ip");
    assert_eq!(report["failure"]["position"], row["cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn a_reason_that_breaks_the_rules_is_refused_and_nothing_is_erased() {
    // Arrange
    let app = context_app().await;
    let ann = Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": ann, "email": "x@example.com" }]))
        .await;

    // Act
    let mut answers = Vec::new();
    for reason in [String::new(), "   ".into(), "r".repeat(1001), "a\0b".into()] {
        answers
            .push(app.data(FORGET, json!({ "u": ann, "r": reason })).await["forgetPerson"].clone());
    }

    // Assert
    for answer in answers {
        assert_eq!(answer["found"], false, "{answer}");
        assert_eq!(
            answer["userErrors"][0]["field"],
            json!(["reason"]),
            "{answer}"
        );
        assert_eq!(
            answer["userErrors"][0]["code"], "BAD_USER_INPUT",
            "{answer}"
        );
    }
    let stored = app
        .data(
            "query($u: UUID!) { user(uuid: $u) { email } }",
            json!({ "u": ann }),
        )
        .await;
    assert_eq!(stored["user"]["email"], "x@example.com");
    app.stop().await;
}
