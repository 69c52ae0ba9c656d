//! The README's Python verifier, run for real against a server's SQLite
//! database: a promise in the README is a test here.

use std::process::Command;

use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::{at, key_file, log, sealed_through, signing_app_with, sql};
use crate::helpers::row;

/// The script under the `<!-- verify_head.py -->` marker of the README.
fn script() -> String {
    let readme = include_str!("../../../README.md");
    let after = readme
        .split("<!-- verify_head.py -->\n```python\n")
        .nth(1)
        .expect("the README holds the verifier");
    after.split("```").next().unwrap().to_owned()
}

#[tokio::test]
async fn the_readmes_python_script_verifies_a_signed_head_and_catches_a_changed_row() {
    // `cargo test` must pass with only Rust installed; CI installs Python's
    // `cryptography` (.ci/run) and must run this, not pass it by.
    let has_python = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_python {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs python3 with the cryptography package"
        );
        crate::helpers::skipped("needs python3 with the cryptography package");
        return;
    }
    // Arrange: a log with personal data, an erasure, a pruned row between
    // kept ones and a pruned prefix: everything the script must carry.
    let key = key_file();
    let key_path = key.clone();
    let app =
        signing_app_with(move |config| config.signing.signing_key_file = Some(key_path)).await;
    if !app.db.runs_sqlite_only() {
        // The script reads an SQLite file; the chain it checks is the same
        // on PostgreSQL, which the Rust verifier's tests cover.
        app.stop().await;
        return;
    }
    let now = Utc::now();
    app.db
        .insert(&[row("old.first", now - TimeDelta::days(40))])
        .await;
    let ann = uuid::Uuid::now_v7();
    app.upsert_users(json!([{ "uuid": ann, "email": "ann@example.com", "firstName": "Ann" }]))
        .await;
    log(&app, json!({ "action": "post.created", "actorUuid": ann, "metadata": {
        "title": "Grüße \"quoted\"\n", "by": "Ann", "tags": ["a", {"z": 1, "b": [true, null]}], "ratio": 1.5,
    } })).await;
    app.db
        .insert(&[row("old.middle", now - TimeDelta::days(35))])
        .await;
    let kept = log(&app, json!({ "action": "comment.created", "targetUuid": ann, "resourceUuid": uuid::Uuid::now_v7() })).await;
    app.data(
        "mutation { pruneActivities(days: 30) { deleted } }",
        json!({}),
    )
    .await;
    app.data(
        "mutation($u: UUID!) { forgetPerson(uuid: $u, reason: \"request\") { found } }",
        json!({ "u": ann }),
    )
    .await;
    let last = log(
        &app,
        json!({ "action": "post.updated", "correlationId": "c-1" }),
    )
    .await;
    let head = sealed_through(&app, &last["cursor"]).await;
    let public_key = Command::new(env!("CARGO_BIN_EXE_activity-feed"))
        .arg("public-key")
        .env("SIGNING_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(
        public_key.status.success(),
        "{}",
        String::from_utf8_lossy(&public_key.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let (script_path, head_path, key_pem) = (
        dir.path().join("verify_head.py"),
        dir.path().join("head.json"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&script_path, script()).unwrap();
    std::fs::write(&head_path, head.to_string()).unwrap();
    std::fs::write(&key_pem, &public_key.stdout).unwrap();
    let db_file = app
        .db
        .config
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let python = |head: &std::path::Path| {
        Command::new("python3")
            .args([&script_path, std::path::Path::new(&db_file), head, &key_pem])
            .output()
            .expect("python3 runs (CI needs python3 with the cryptography package)")
    };

    // Act
    let good = python(&head_path);
    let mut forged = head.clone();
    forged["hash"] = json!("0".repeat(64));
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let bad_signature = python(&forged_path);
    sql(
        &app,
        &format!(
            "UPDATE activities SET action = 'comment.forged' WHERE {}",
            at(&kept["cursor"])
        ),
    )
    .await;
    let tampered = python(&head_path);

    // Assert
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim(),
        format!("OK {}", head["position"].as_str().unwrap())
    );
    assert!(!bad_signature.status.success());
    assert!(String::from_utf8_lossy(&bad_signature.stderr).contains("InvalidSignature"));
    assert!(!tampered.status.success());
    assert!(
        String::from_utf8_lossy(&tampered.stderr).contains("does not match its seal"),
        "{}",
        String::from_utf8_lossy(&tampered.stderr)
    );
    app.stop().await;
}
