//! `jukebox admin stats|user|nodes`: operator reports read from a data dir
//! while the service that owns it is running (and holds its lock).

// This test uses only part of the shared support code.
#[allow(dead_code)]
mod support;

use std::process::Command;
use std::sync::Arc;

use jukebox::clock::ManualClock;
use jukebox::ids::UserId;
use support::{START, TestApp, last_buttons, test_config};

/// Runs `jukebox admin <args>` on `data_dir`: success, stdout, stderr.
fn admin(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("JUKEBOX_DATA_DIR", data_dir)
        .arg("admin")
        .args(args)
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn press(app: &TestApp, user: &UserId, label: &str) {
    let button = last_buttons(&app.outbox.all(), user)
        .into_iter()
        .find(|b| b.label.starts_with(label))
        .unwrap_or_else(|| panic!("no button {label:?}"));
    app.press(user, &button.data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_work_while_the_service_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start(&config, Arc::new(ManualClock::new(START)));
    let alice = UserId::parse("term:alice").expect("id");
    app.send(&alice, "/deploy").await;
    for label in ["Dash", "Dash full node"] {
        press(&app, &alice, label).await;
    }
    app.send(&alice, "1").await;
    for label in [
        "No",
        "Anywhere",
        "Skip",
        "1 week",
        "Confirm",
        "Pay with sandbox wallet",
    ] {
        press(&app, &alice, label).await;
    }
    app.service.wait_idle().await;

    // The service still holds the data dir's lock: these only read.
    let data = &config.data_dir;
    let (ok, out, err) = admin(data, &["stats"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("Users: 1"), "{out}");
    assert!(out.contains("Nodes by state: running 1"), "{out}");
    assert!(out.contains("Audit, last 24 h:"), "{out}");

    let (ok, out, err) = admin(data, &["user", "term:alice"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("dash-full-"), "{out}");
    assert!(
        out.contains("Recent events:") && out.contains("node.running"),
        "{out}"
    );

    let (ok, out, _) = admin(data, &["nodes", "running"]);
    assert!(
        ok && out.contains("1 node(s) matching \"running\""),
        "{out}"
    );

    let (ok, _, err) = admin(data, &["user", "nobody"]);
    assert!(!ok && err.contains("no user matches"), "{err}");

    let empty = dir.path().join("empty");
    let (ok, _, err) = admin(&empty, &["stats"]);
    assert!(!ok && err.contains("not a Jukebox data dir"), "{err}");
    assert!(!empty.exists(), "a report must not create a data dir");
}
