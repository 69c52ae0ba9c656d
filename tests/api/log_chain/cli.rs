//! `activity-feed verify`, `forget` and `public-key`.

use std::process::{Command, Output};

use serde_json::{json, Value};

use super::{at, key_file, log_many, sealed_through, signing_app_with, sql};
use crate::helpers::TestDb;

/// The binary on `db`, signing with `key`.
fn binary(db: &TestDb, key: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_activity-feed"));
    cmd.env("DATABASE_URL", &db.config.url)
        .env("LOG_FORMAT", "json")
        .env("SIGNING_KEY_FILE", key)
        .env_remove("RUST_LOG")
        .args(args);
    match &db.config.schema {
        Some(schema) => cmd.env("DATABASE_SCHEMA", schema),
        None => cmd.env_remove("DATABASE_SCHEMA"),
    };
    cmd.output().expect("the binary runs")
}

#[tokio::test]
async fn verify_prints_the_report_and_exits_1_at_the_first_bad_position_and_forget_erases() {
    // Arrange
    let key = key_file();
    let key_path = key.clone();
    let app =
        signing_app_with(move |config| config.signing.signing_key_file = Some(key_path)).await;
    let ann = uuid::Uuid::now_v7();
    let mut rows = log_many(&app, 3).await;
    rows.push(super::log(&app, json!({ "action": "post.created", "actorUuid": ann })).await);
    let head = sealed_through(&app, &rows[3]["cursor"]).await;

    // Act
    let good = binary(&app.db, &key, &["verify", "--head", &head.to_string()]);
    let forget = binary(
        &app.db,
        &key,
        &["forget", &ann.to_string(), "--reason", "request 7"],
    );
    let again = binary(
        &app.db,
        &key,
        &["forget", &ann.to_string(), "--reason", "request 7"],
    );
    let after_forget = binary(&app.db, &key, &["verify"]);
    sql(
        &app,
        &format!("DELETE FROM activities WHERE {}", at(&rows[1]["cursor"])),
    )
    .await;
    let bad = binary(&app.db, &key, &["verify", "--head", &head.to_string()]);
    let public_key = binary(&app.db, &key, &["public-key"]);
    let not_json = binary(&app.db, &key, &["verify", "--head", "{"]);

    // Assert
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let report: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["headChecked"], true, "{report}");
    assert_eq!(report["checked"], 4);

    assert!(
        forget.status.success(),
        "{}",
        String::from_utf8_lossy(&forget.stderr)
    );
    assert!(
        String::from_utf8_lossy(&forget.stdout).starts_with("forgotten: 1 activities rewritten")
    );
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("nothing is held about"));
    let report: Value = serde_json::from_slice(&after_forget.stdout).unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["erasedCount"], 1, "{report}");

    assert_eq!(bad.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["failure"]["reason"], "MISSING_ROW", "{report}");
    assert_eq!(report["failure"]["position"], rows[1]["cursor"]);

    assert!(String::from_utf8_lossy(&public_key.stdout).starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(!not_json.status.success());
    assert!(String::from_utf8_lossy(&not_json.stderr).contains("--head is not JSON"));
    app.stop().await;
}
