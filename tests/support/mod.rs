//! Test support: a whole Jukebox on a temporary data dir, with an in-memory
//! outbox, a manual clock and a fast, failure-free simulated grid.

use std::path::Path;
use std::sync::Arc;

use jukebox::alerts::AlertLimits;
use jukebox::channel::{MemoryOutbox, Outgoing};
use jukebox::clock::ManualClock;
use jukebox::config::Config;
use jukebox::dialogue::{Button, Input};
use jukebox::grid::sim::SimGrid;
use jukebox::ids::UserId;
use jukebox::service::Service;
use jukebox::user::{NodeRecord, Nodes};

pub mod crash_grid;
pub mod fake_horizon;
pub mod fake_telegram;
pub mod fake_tfconnect;
pub mod s3_server;
pub mod snapshot;
pub mod transcript;
// `Site` holds its hub and server so they live as long as the test; no test
// reads those two fields.
#[allow(dead_code)]
pub mod web_site;
pub mod webdriver;

/// 2026-11-23 00:00 UTC, so tests never depend on the real date.
pub const START: u64 = 1_795_392_000;

pub struct TestApp {
    pub service: Service,
    pub outbox: Arc<MemoryOutbox>,
    /// The embedded grid, for fault injection.
    pub sim: SimGrid,
}

/// A config for tests: data in `dir`, the shipped dialogues, instant deploys.
pub fn test_config(dir: &Path, tweak: &dyn Fn(&mut Config)) -> Config {
    let mut config = Config {
        data_dir: dir.join("data"),
        dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Config::default()
    };
    config.grid.sim.deploy_seconds = 0.0;
    config.grid.sim.deploy_failure_rate = 0.0;
    config.grid.sim.node_down_rate_per_hour = 0.0;
    config.admin.operators = vec!["term:operator".into()];
    tweak(&mut config);
    config
}

impl TestApp {
    pub fn start(config: &Config, clock: Arc<ManualClock>) -> TestApp {
        let outbox = Arc::new(MemoryOutbox::default());
        let app =
            jukebox::app::build(config, outbox.clone(), clock.clone()).expect("service starts");
        TestApp {
            service: app.service,
            outbox,
            sim: app.sim.expect("tests run on the embedded grid"),
        }
    }

    /// [`TestApp::start`], with the service seeing the grid through a
    /// [`crash_grid::CrashingGrid`] that dies at `at`.
    // Only the contract crash tests start it this way.
    #[allow(dead_code)]
    pub fn start_crashing(
        config: &Config,
        clock: Arc<ManualClock>,
        at: Option<crash_grid::Moment>,
    ) -> TestApp {
        let outbox = Arc::new(MemoryOutbox::default());
        let app = jukebox::app::build_wrapped(
            config,
            outbox.clone(),
            clock,
            &|name| std::env::var(name).ok(),
            &|grid| crash_grid::CrashingGrid::new(grid, at),
        )
        .expect("service starts");
        TestApp {
            service: app.service,
            outbox,
            sim: app.sim.expect("tests run on the embedded grid"),
        }
    }

    /// Hands every queued alert to the outbox. Rate limits are tested in
    /// the alert queue's own tests; here they only would slow things down.
    pub async fn deliver_alerts(&self) -> usize {
        self.service
            .alerts()
            .drain(self.outbox.as_ref(), unlimited_alerts())
            .await
            .expect("alerts delivered")
    }

    /// The record of `user`'s node whose name starts with `prefix`.
    pub fn node(&self, user: &UserId, prefix: &str) -> NodeRecord {
        let nodes: Nodes = self
            .service
            .store()
            .read(user, jukebox::user::NODES)
            .expect("nodes readable")
            .unwrap_or_default();
        nodes
            .nodes
            .into_iter()
            .find(|n| n.name.starts_with(prefix) && n.is_live())
            .unwrap_or_else(|| panic!("{user} has no live node starting with {prefix:?}"))
    }

    pub async fn send(&self, user: &UserId, text: &str) {
        self.service
            .handle(user, "Tester", Input::from_message(text), None)
            .await
            .expect("handled");
    }

    pub async fn press(&self, user: &UserId, data: &str) {
        self.service
            .handle(user, "Tester", Input::Button(data.to_owned()), None)
            .await
            .expect("handled");
    }

    /// Presses the button of the latest buttons shown to `user` whose label
    /// starts with `label`.
    // Only some test binaries press by label.
    #[allow(dead_code)]
    pub async fn press_label(&self, user: &UserId, label: &str) {
        let button = last_buttons(&self.outbox.all(), user)
            .into_iter()
            .find(|b| b.label.starts_with(label))
            .unwrap_or_else(|| panic!("no button {label:?}"));
        self.press(user, &button.data).await;
    }
}

/// A loopback address where connecting is refused for as long as the
/// returned socket lives: bound but never listening. Binding a port and
/// freeing it again would let another test of this process take it
/// meanwhile (all integration tests share one process).
pub fn refusing_addr() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("bind loopback");
    let addr = socket.local_addr().expect("bound address");
    (socket, addr)
}

/// Alert limits that never hold anything back.
pub fn unlimited_alerts() -> AlertLimits {
    AlertLimits {
        global_per_second: 1e6,
        global_burst: 1e6,
        per_user_per_second: 1e6,
        per_user_burst: 1e6,
    }
}

/// Everything shown to `user` in `items`, as text (captions and progress too).
pub fn texts_for(items: &[(UserId, Outgoing)], user: &UserId) -> Vec<String> {
    items
        .iter()
        .filter(|(u, _)| u == user)
        .map(|(_, item)| match item {
            Outgoing::Message(m) => m.text.clone(),
            Outgoing::Image { caption, .. } => caption.clone(),
            Outgoing::Progress { text, .. } => text.clone(),
            Outgoing::Answered { answer } => format!("✔ {answer}"),
            Outgoing::Withdrawn => "(buttons withdrawn)".into(),
        })
        .collect()
}

/// The buttons of the latest item with buttons sent to `user`.
pub fn last_buttons(items: &[(UserId, Outgoing)], user: &UserId) -> Vec<Button> {
    items
        .iter()
        .rev()
        .filter(|(u, _)| u == user)
        .find_map(|(_, item)| {
            let rows = match item {
                Outgoing::Message(m) => &m.buttons,
                Outgoing::Image { buttons, .. } => buttons,
                _ => return None,
            };
            (!rows.is_empty()).then(|| rows.iter().flatten().cloned().collect())
        })
        .unwrap_or_default()
}
