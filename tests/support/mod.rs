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
pub mod fake_bor;
pub mod fake_cometbft;
pub mod fake_horizon;
pub mod fake_node_dashboard;
pub mod fake_p2p;
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

/// Starts what `jukebox run` starts, through the binary's own path
/// (`jukebox::app::App::build`): on `config`'s temp data dir, every
/// listener on 127.0.0.1 with a port of its own (port 0), time from
/// `clock`, Telegram's and the terminal's messages kept in `chat`, and the
/// background work stepped by the test (`Background::Stepped`: the test
/// calls `sweep`, `bill_all`, `drain`... when it wants them). Dropping the
/// `App` stops its listeners; `run_until_stopped` runs the rest.
// Not every test binary starts a whole process.
#[allow(dead_code)]
pub async fn spawn_app(
    mut config: Config,
    clock: Arc<ManualClock>,
    chat: Arc<MemoryOutbox>,
) -> jukebox::app::App {
    spawn_app_with(
        &mut config,
        clock,
        chat,
        jukebox::app::Background::Stepped,
        &jukebox::app::as_is,
    )
    .await
}

/// [`spawn_app`], with the background work as given and the service seeing
/// the grid through `wrap`.
#[allow(dead_code)]
pub async fn spawn_app_with(
    config: &mut Config,
    clock: Arc<ManualClock>,
    chat: Arc<MemoryOutbox>,
    background: jukebox::app::Background,
    wrap: &dyn Fn(Arc<dyn jukebox::grid::Grid>) -> Arc<dyn jukebox::grid::Grid>,
) -> jukebox::app::App {
    // Never the fixed default ports: tests run side by side.
    for listen in [&mut config.web.listen, &mut config.ops.listen] {
        if !listen.is_empty() {
            *listen = "127.0.0.1:0".into();
        }
    }
    let setup = jukebox::app::Setup {
        clock,
        env: &|name| std::env::var(name).ok(),
        wrap_grid: wrap,
        chain_probe: None,
        node_status_probe: None,
        chat_outbox: Some(chat),
        background,
        exit_deadline: std::time::Duration::from_secs(10),
    };
    jukebox::app::App::build(config.clone(), setup)
        .await
        .expect("the app starts")
}

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
    /// A whole Jukebox started by [`spawn_app`], as the binary starts it,
    /// with its listeners off: nothing here speaks HTTP, and a test that
    /// restarts needs the data dir free the moment the old app is dropped
    /// (a listener's task holds the service until it has stopped).
    pub async fn start(config: &Config, clock: Arc<ManualClock>) -> TestApp {
        Self::start_wrapped(config, clock, &jukebox::app::as_is).await
    }

    async fn start_wrapped(
        config: &Config,
        clock: Arc<ManualClock>,
        wrap: &dyn Fn(Arc<dyn jukebox::grid::Grid>) -> Arc<dyn jukebox::grid::Grid>,
    ) -> TestApp {
        let outbox = Arc::new(MemoryOutbox::default());
        let mut config = config.clone();
        config.web.listen = String::new();
        config.ops.listen = String::new();
        let app = spawn_app_with(
            &mut config,
            clock,
            outbox.clone(),
            jukebox::app::Background::Stepped,
            wrap,
        )
        .await;
        TestApp {
            service: app.service.clone(),
            outbox,
            sim: app.sim.clone().expect("tests run on the embedded grid"),
        }
    }

    /// [`TestApp::start`], with nodes' chains read by `chain_probe`
    /// instead of the simulated chains.
    // Only the chain monitor's test starts it this way.
    #[allow(dead_code)]
    pub async fn start_with_chain_probe(
        config: &Config,
        clock: Arc<ManualClock>,
        chain_probe: Arc<dyn jukebox::probe::ChainProbe>,
    ) -> TestApp {
        Self::start_with_probes(config, clock, Some(chain_probe), None).await
    }

    /// [`TestApp::start`], with nodes' chains and network dashboards read
    /// by the probes given instead of the simulated grid's.
    // Only the chain and dashboard monitors' tests start it this way.
    #[allow(dead_code)]
    pub async fn start_with_probes(
        config: &Config,
        clock: Arc<ManualClock>,
        chain_probe: Option<Arc<dyn jukebox::probe::ChainProbe>>,
        node_status_probe: Option<Arc<dyn jukebox::probe::NodeStatusProbe>>,
    ) -> TestApp {
        let outbox = Arc::new(MemoryOutbox::default());
        let mut config = config.clone();
        config.web.listen = String::new();
        config.ops.listen = String::new();
        let setup = jukebox::app::Setup {
            clock,
            env: &|name| std::env::var(name).ok(),
            wrap_grid: &jukebox::app::as_is,
            chain_probe,
            node_status_probe,
            chat_outbox: Some(outbox.clone()),
            background: jukebox::app::Background::Stepped,
            exit_deadline: std::time::Duration::from_secs(10),
        };
        let app = jukebox::app::App::build(config, setup)
            .await
            .expect("the app starts");
        TestApp {
            service: app.service.clone(),
            outbox,
            sim: app.sim.clone().expect("tests run on the embedded grid"),
        }
    }

    /// [`TestApp::start`], with the service seeing the grid through a
    /// [`crash_grid::CrashingGrid`] that dies at `at`.
    // Only the contract crash tests start it this way.
    #[allow(dead_code)]
    pub async fn start_crashing(
        config: &Config,
        clock: Arc<ManualClock>,
        at: Option<crash_grid::Moment>,
    ) -> TestApp {
        Self::start_wrapped(config, clock, &|grid| {
            crash_grid::CrashingGrid::new(grid, at)
        })
        .await
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
