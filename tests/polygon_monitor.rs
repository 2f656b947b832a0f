//! A whole Jukebox (`App::build`) whose Polygon node is read through the
//! real probe (`NetChainProbe`): Heimdall's CometBFT `/status` from a
//! loopback fake shaped as cometbft's `ResultStatus`
//! (`rpc/core/types/responses.go`: heights as JSON strings), Bor's
//! `eth_blockNumber` + `eth_syncing` batch from a loopback fake answering as
//! go-ethereum does (`fake_bor.rs`), reached at the node's Mycelium address,
//! and Bor's tip from the catalog's public JSON-RPC reference, also a fake.
//! The simulated grid's addresses reach nothing, so only the addresses are
//! redirected; the handshakes, time-outs, tips, trackers, records and alerts
//! are the process's own.
//!
//! Covered: syncing then in sync (both layers shown in `/status`), a lying
//! reference not believed, garbage, a Bor that never answers, Heimdall on
//! another network (`heimdall-137`, not `heimdallv2-137`), and a stall
//! raised once.

use crate::support::fake_bor::{self, BorState, FakeBor};
use crate::support::fake_cometbft::{self, FakeCometBft};
use crate::support::{START, TestApp, test_config, texts_for};

use std::sync::Arc;
use std::time::Duration;

use jukebox::catalog::{Catalog, ChainProbeSpec, ProbeProtocol};
use jukebox::ids::UserId;
use jukebox::lifecycle::chain_state::NodeChain;
use jukebox::probe::{
    ChainProbe, ChainProbeError, ChainReading, ChainSource, ChainTarget, NetChainProbe,
};
use jukebox::user::{NODES, Nodes};

/// The catalog's Bor reference (the fake stands for it).
const POLYGON_RPC: &str = "https://polygon-rpc.com";

fn polygon_spec() -> ChainProbeSpec {
    let catalog =
        Catalog::parse("catalog.yaml", include_str!("../dialogues/catalog.yaml")).unwrap();
    catalog.chain("polygon").unwrap().probe.clone().unwrap()
}

/// The real probe with every address moved to a loopback fake.
struct ToFakes {
    inner: NetChainProbe,
    heimdall: std::net::SocketAddr,
    bor: std::net::SocketAddr,
    reference: String,
}

#[async_trait::async_trait]
impl ChainProbe for ToFakes {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
        let mut spec = (*target.spec).clone();
        let ProbeProtocol::CometBft(cometbft) = &mut spec.protocol else {
            panic!("only Polygon is deployed here");
        };
        cometbft.rpc_port = self.heimdall.port();
        cometbft.evm.as_mut().expect("Bor is read").rpc_port = self.bor.port();
        let source = match &target.source {
            ChainSource::Node {
                contract,
                hosts,
                mycelium,
            } => {
                // The monitor hands over the node's Mycelium address (Bor's
                // only path) beside its public ones.
                let mycelium = mycelium.as_deref().expect("the node's Mycelium address");
                assert!(
                    mycelium.starts_with('4') || mycelium.starts_with('5'),
                    "{mycelium}"
                );
                assert!(!hosts.iter().any(|h| h == mycelium), "{hosts:?}");
                ChainSource::Node {
                    contract: *contract,
                    hosts: vec![self.heimdall.ip().to_string()],
                    mycelium: Some(self.bor.ip().to_string()),
                }
            }
            ChainSource::EvmReference(url) => {
                assert_eq!(url, POLYGON_RPC);
                ChainSource::EvmReference(self.reference.clone())
            }
            ChainSource::Reference(r) => panic!("the catalog names no Heimdall reference: {r}"),
        };
        let redirected = ChainTarget {
            chain: target.chain.clone(),
            source,
            spec: Arc::new(spec),
        };
        self.inner.read_chain(&redirected).await
    }
}

struct Polygon {
    app: TestApp,
    clock: Arc<jukebox::clock::ManualClock>,
    alice: UserId,
    heimdall: FakeCometBft,
    bor: FakeBor,
    reference: FakeBor,
    _dir: tempfile::TempDir,
}

impl Polygon {
    async fn start() -> Polygon {
        let heimdall = FakeCometBft::start(fake_cometbft::NodeState {
            network: "heimdallv2-137".into(),
            version: "0.38.17".into(),
            height: 31_000_000,
            catching_up: false,
            bor_height: 0,
            mode: fake_cometbft::Mode::Honest,
            requests: vec![],
        })
        .await;
        let bor = FakeBor::start(BorState {
            syncing_to: Some(80_000_000),
            ..BorState::at(40_000_000)
        })
        .await;
        let reference = FakeBor::start(BorState::at(80_000_000)).await;
        let probe = ToFakes {
            // Short: the silent case waits for it (real time; the whole
            // app does not run on paused time).
            inner: NetChainProbe {
                timeout: Duration::from_millis(500),
            },
            heimdall: heimdall.addr,
            bor: bor.addr,
            reference: reference.url(),
        };
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(jukebox::clock::ManualClock::new(START));
        let config = test_config(dir.path(), &|_| {});
        let app = TestApp::start_with_chain_probe(&config, clock.clone(), Arc::new(probe)).await;
        let alice = UserId::parse("term:alice").unwrap();
        app.send(&alice, "/deploy").await;
        app.press_label(&alice, "Polygon").await;
        app.press_label(&alice, "Polygon full").await;
        app.send(&alice, "1").await;
        app.press_label(&alice, "Anywhere").await;
        app.send(&alice, "https://mainnet.infura.io/v3/abc123")
            .await;
        for label in ["Skip", "1 week", "Confirm", "Pay with sandbox wallet"] {
            app.press_label(&alice, label).await;
        }
        app.service.wait_idle().await;
        Polygon {
            app,
            clock,
            alice,
            heimdall,
            bor,
            reference,
            _dir: dir,
        }
    }

    /// One monitor sweep `secs` later, its alerts delivered: what Alice
    /// was told.
    async fn sweep(&self, secs: u64) -> Vec<String> {
        let before = self.app.outbox.all().len();
        self.clock.advance(secs);
        self.app.service.sweep().await;
        self.app.deliver_alerts().await;
        texts_for(&self.app.outbox.all()[before..], &self.alice)
    }

    fn chain(&self) -> NodeChain {
        let nodes: Nodes = self
            .app
            .service
            .store()
            .read(&self.alice, NODES)
            .unwrap()
            .unwrap();
        nodes.nodes[0].chain_health.clone().expect("chain read")
    }

    /// `/status`'s chain line.
    async fn status_line(&self) -> String {
        let before = self.app.outbox.all().len();
        self.app.send(&self.alice, "/status").await;
        let shown = texts_for(&self.app.outbox.all()[before..], &self.alice).join("\n");
        shown
            .lines()
            .find(|l| l.starts_with("Polygon chain:"))
            .unwrap_or_else(|| panic!("no chain line in {shown}"))
            .to_owned()
    }

    /// Both layers and the reference move on by `blocks`; the node's layers
    /// follow when `follow`.
    fn advance_chain(&self, blocks: u64, follow: bool) {
        self.reference.set(|r| r.height += blocks);
        if follow {
            let tip = self.reference.state.lock().unwrap().height;
            self.bor.set(|b| {
                b.height = tip;
                b.syncing_to = None;
            });
            self.heimdall.state.lock().unwrap().height += blocks;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polygon_node_is_read_in_two_layers_through_the_real_probes() {
    let p = Polygon::start().await;
    assert!(
        polygon_spec().references.is_empty(),
        "the test assumes no Heimdall reference"
    );

    // Syncing: Heimdall at its (own) tip, Bor half way to the reference's.
    p.sweep(60).await;
    let chain = p.chain();
    assert_eq!(chain.unreadable, None);
    let last = chain.last.clone().expect("a reading");
    assert_eq!(last.height, 71_000_000);
    assert_eq!(last.network_height, Some(111_000_000));
    let layers: Vec<(&str, u64, Option<u64>)> = last
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.height, l.network_height))
        .collect();
    assert_eq!(
        layers,
        [
            ("Heimdall", 31_000_000, Some(31_000_000)),
            ("Bor", 40_000_000, Some(80_000_000))
        ]
    );
    let line = p.status_line().await;
    assert!(
        line.starts_with("Polygon chain: syncing, Heimdall block 31,000,000 of 31,000,000, Bor block 40,000,000 of 80,000,000 (63.9%)"),
        "{line}"
    );
    // Our node was asked both in one batch; the public reference only its height.
    assert_eq!(
        p.bor.state.lock().unwrap().calls,
        ["eth_blockNumber", "eth_syncing"]
    );
    assert_eq!(p.reference.state.lock().unwrap().calls, ["eth_blockNumber"]);
    assert_eq!(p.heimdall.state.lock().unwrap().requests, ["GET /status"]);

    // Bor catches up: in sync once confirmed (three checks).
    for _ in 0..3 {
        p.advance_chain(30, true);
        p.sweep(60).await;
    }
    let line = p.status_line().await;
    assert!(
        line.starts_with("Polygon chain: in sync, Heimdall block 31,000,090"),
        "{line}"
    );
    assert!(
        line.contains("Bor block 80,000,090 (network 80,000,090)"),
        "{line}"
    );
    assert!(p.chain().episodes.ever_in_sync);

    // The reference lies by 900 million blocks: not believed, so the node
    // does not "fall behind"; then it is honest again.
    p.reference.set(|r| r.height += 900_000_000);
    let told = p.sweep(60).await;
    assert!(!told.iter().any(|t| t.contains("fell behind")), "{told:#?}");
    let bor = p.chain().last.unwrap().layers[1].clone();
    assert!(bor.network_height.unwrap() < 80_001_000, "{bor:?}");
    p.reference.set(|r| r.height -= 900_000_000);

    // Garbage from Bor: the reading fails with what was wrong, by layer;
    // the reading before stays.
    p.bor.set(|b| b.mode = fake_bor::Mode::Garbage);
    p.sweep(60).await;
    let chain = p.chain();
    let why = chain.unreadable.clone().expect("unreadable");
    assert!(
        why.starts_with("Bor: the answer is not the chain's protocol: not Ethereum JSON-RPC"),
        "{why}"
    );
    assert_eq!(chain.last.unwrap().layers[1].height, 80_000_090);
    p.bor.set(|b| b.mode = fake_bor::Mode::LeadingZero);
    p.sweep(60).await;
    let why = p.chain().unreadable.expect("unreadable");
    assert!(why.contains("has leading zero digits"), "{why}");

    // A Bor that never answers: the probe's time-out, named.
    p.bor.set(|b| b.mode = fake_bor::Mode::Silent);
    p.sweep(60).await;
    assert_eq!(
        p.chain().unreadable.as_deref(),
        Some("Bor: the JSON-RPC port did not answer within 500 ms")
    );
    p.bor.set(|b| b.mode = fake_bor::Mode::Honest);

    // Heimdall on another network (Heimdall v1's chain id): refused.
    p.heimdall.state.lock().unwrap().network = "heimdall-137".into();
    p.sweep(60).await;
    assert_eq!(
        p.chain().unreadable.as_deref(),
        Some("the node is on network \"heimdall-137\", not \"heimdallv2-137\"")
    );
    p.heimdall.state.lock().unwrap().network = "heimdallv2-137".into();
    p.advance_chain(30, true);
    p.sweep(60).await;
    assert_eq!(p.chain().unreadable, None);

    // Both layers freeze (a full disk stops them both) while the network
    // moves on: "stopped syncing", said once.
    let mut told = Vec::new();
    for _ in 0..8 {
        p.advance_chain(300, false);
        told.extend(p.sweep(600).await);
    }
    let stalls: Vec<&String> = told
        .iter()
        .filter(|t| t.contains("stopped syncing"))
        .collect();
    assert_eq!(stalls.len(), 1, "{told:#?}");
    // Where each layer stays, not their sum.
    assert!(
        stalls[0]
            .contains("its chain has stayed at Heimdall block 31000120, Bor block 80000120 since"),
        "{}",
        stalls[0]
    );
    let chain = p.chain();
    assert!(chain.episodes.stalled.is_some());
    let line = p.status_line().await;
    assert!(
        line.starts_with("Polygon chain: syncing, Heimdall block 31,000,120"),
        "{line}"
    );
}
