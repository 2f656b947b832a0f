//! `jukebox admin stats|user|nodes`: operator reports read from a data dir
//! while the service that owns it is running (and holds its lock).

use crate::support;

use std::process::Command;
use std::sync::Arc;

use jukebox::clock::ManualClock;
use jukebox::ids::UserId;
use support::{START, TestApp, test_config};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_work_while_the_service_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start(&config, Arc::new(ManualClock::new(START))).await;
    let alice = UserId::parse("term:alice").expect("id");
    app.send(&alice, "/deploy").await;
    for label in ["Dash", "Dash full node"] {
        app.press_label(&alice, label).await;
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
        app.press_label(&alice, label).await;
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

/// Stamps every delivery with tokio's (paused) clock.
#[derive(Default)]
struct Stamped(std::sync::Mutex<Vec<(UserId, String, tokio::time::Instant)>>);

#[async_trait::async_trait]
impl jukebox::channel::Outbox for Stamped {
    async fn send(&self, user: &UserId, item: jukebox::channel::Outgoing) {
        if let jukebox::channel::Outgoing::Message(m) = item
            && let Ok(mut v) = self.0.lock()
        {
            v.push((user.clone(), m.text, tokio::time::Instant::now()));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_broadcast_reaches_everyone_once_at_the_configured_pace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start(&config, Arc::new(ManualClock::new(START))).await;
    let users: Vec<UserId> = (0..60)
        .map(|i| UserId::parse(&format!("term:u{i}")).expect("id"))
        .collect();
    for u in &users {
        app.send(u, "/start").await;
    }
    let operator = UserId::parse("term:operator").expect("id");
    app.send(&operator, "/broadcast Maintenance tonight.").await;
    app.press_label(&operator, "Send to everyone").await;

    let limits = jukebox::alerts::AlertLimits::default();
    let stamped = Stamped::default();
    let sent = app
        .service
        .alerts()
        .drain(&stamped, limits)
        .await
        .expect("drained");
    let log = stamped.0.lock().expect("log").clone();
    // Complete: the 60 users and the operator, each exactly once.
    assert_eq!(sent, 61);
    let mut who: Vec<&UserId> = log.iter().map(|(u, _, _)| u).collect();
    who.sort();
    who.dedup();
    assert_eq!(who.len(), 61);
    assert!(
        log.iter()
            .all(|(_, text, _)| text == "Maintenance tonight.")
    );
    // Paced: never more than the burst plus one second's rate in a second,
    // so 61 alerts need at least (61 - burst) / rate seconds.
    let times: Vec<tokio::time::Instant> = log.iter().map(|(_, _, t)| *t).collect();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < std::time::Duration::from_secs(1))
            .count();
        assert!(in_window as f64 <= limits.global_burst + limits.global_per_second);
    }
    let span = times.last().expect("sent").duration_since(times[0]);
    let floor = (61.0 - limits.global_burst) / limits.global_per_second;
    assert!(
        span.as_secs_f64() >= floor - 0.01,
        "all went out in {span:?}"
    );
}
