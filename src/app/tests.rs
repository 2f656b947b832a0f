use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::channel::MemoryOutbox;
use crate::clock::ManualClock;
use crate::runtime::State;

const START: u64 = 1_795_392_000;

fn config(dir: &Path) -> Config {
    let mut config = Config {
        data_dir: dir.join("data"),
        dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Config::default()
    };
    config.grid.sim.deploy_seconds = 0.0;
    config.grid.sim.deploy_failure_rate = 0.0;
    config.ops.listen = "127.0.0.1:0".into();
    config.web.listen = String::new();
    config
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn setup(background: Background) -> Setup<'static> {
    Setup {
        clock: Arc::new(ManualClock::new(START)),
        env: &no_env,
        wrap_grid: &process::as_is,
        chain_probe: None,
        node_status_probe: None,
        chat_outbox: Some(Arc::new(MemoryOutbox::default())),
        background,
        exit_deadline: Duration::from_secs(10),
    }
}

/// Waits (boundedly) until every one of `names` has run at least once.
async fn until_ran(statuses: &crate::runtime::Statuses, names: &[&str]) {
    for _ in 0..2000 {
        if names
            .iter()
            .all(|n| statuses.get(n).is_some_and(|s| s.runs >= 1))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not every worker ran: {}", statuses.render());
}

#[tokio::test]
async fn the_process_runs_every_worker_shows_them_and_stops_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::build(config(dir.path()), setup(Background::Run))
        .await
        .unwrap();
    let ops = format!("http://{}", app.ops.as_ref().expect("ops listens").addr);
    let statuses = app.statuses();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
        "stopped"
    }));
    let workers = [
        "billing",
        "payments",
        "monitor",
        "reconciler",
        "sim-churn",
        "alerts",
    ];
    until_ran(&statuses, &workers).await;
    let page = reqwest::get(format!("{ops}/workers")).await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    for name in workers {
        let line = body
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {body}"));
        assert!(line.contains("0 errors"), "{line}");
    }
    assert!(!body.contains("backup:"), "backups are off: {body}");
    let metrics = reqwest::get(format!("{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jukebox_worker_failures_in_a_row{worker=\"monitor\"} 0\n"),
        "{metrics}"
    );
    stop.send(()).unwrap();
    assert_eq!(running.await.unwrap().unwrap(), "stopped");
    for (name, status) in statuses.all() {
        assert_eq!(status.state, State::Stopped, "{name}");
    }
    // The ops listener stopped with the rest.
    assert!(reqwest::get(format!("{ops}/healthz")).await.is_err());
    // And the data dir is free for the next start.
    drop(
        App::build(config(dir.path()), setup(Background::Stepped))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_stepped_app_runs_no_background_work() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::build(config(dir.path()), setup(Background::Stepped))
        .await
        .unwrap();
    let statuses = app.statuses();
    let names: Vec<&str> = app.workers().iter().map(|w| w.name()).collect();
    assert_eq!(
        names,
        ["billing", "payments", "monitor", "reconciler", "sim-churn"]
    );
    let out = app.run_until_stopped(async { 7 }).await.unwrap();
    assert_eq!(out, 7);
    assert!(statuses.all().is_empty(), "{}", statuses.render());
}
