//! The chain probes against loopback fakes that speak the real wire
//! formats: the Bitcoin-family P2P handshake (Dash, DigiByte) and CometBFT's
//! `/status` plus Bor's `eth_blockNumber` (Polygon), with the catalog's own
//! constants; garbage, a wrong network, a peer that never answers (paused
//! tokio time), and a peer that lies about its height.

use crate::support::{fake_cometbft, fake_p2p};

use std::sync::Arc;
use std::time::Duration;

use fake_cometbft::{FakeCometBft, Mode, NodeState};
use fake_p2p::{Behaviour, FakePeer, PeerConfig};
use jukebox::catalog::{Catalog, ChainProbeSpec, ProbeProtocol};
use jukebox::grid::ContractId;
use jukebox::lifecycle::chain::ClientVersion;
use jukebox::lifecycle::tip::{Report, Tip};
use jukebox::probe::tip::read_tip;
use jukebox::probe::{
    ChainProbe, ChainProbeError, ChainReading, ChainSource, ChainTarget, NetChainProbe,
};

const PROBE: NetChainProbe = NetChainProbe {
    timeout: Duration::from_secs(5),
};

fn spec(chain: &str) -> ChainProbeSpec {
    let catalog =
        Catalog::parse("catalog.yaml", include_str!("../dialogues/catalog.yaml")).unwrap();
    catalog.chain(chain).unwrap().probe.clone().unwrap()
}

/// The chain's spec with its port moved to where a fake listens.
fn at_port(chain: &str, port: u16) -> Arc<ChainProbeSpec> {
    let mut spec = spec(chain);
    match &mut spec.protocol {
        ProbeProtocol::P2p(p) => p.port = port,
        ProbeProtocol::CometBft(c) => c.rpc_port = port,
    }
    Arc::new(spec)
}

fn node(chain: &str, port: u16) -> ChainTarget {
    ChainTarget {
        chain: chain.into(),
        source: ChainSource::Node {
            contract: ContractId(42),
            hosts: vec!["127.0.0.1".into()],
            mycelium: None,
        },
        spec: at_port(chain, port),
    }
}

fn magic(chain: &str) -> [u8; 4] {
    match spec(chain).protocol {
        ProbeProtocol::P2p(p) => p.magic,
        ProbeProtocol::CometBft(_) => panic!("not p2p"),
    }
}

fn dash_peer(behaviour: Behaviour) -> PeerConfig {
    PeerConfig {
        magic: magic("dash"),
        user_agent: "/Dash Core:22.1.0/".into(),
        height: 2_400_123,
        protocol_version: 70233,
        min_peer_version: 70215,
        dash_extras: true,
        behaviour,
    }
}

fn digibyte_peer(height: i32) -> PeerConfig {
    PeerConfig {
        magic: magic("digibyte"),
        user_agent: "/DigiByte:9.26.3/".into(),
        height,
        protocol_version: 70018,
        min_peer_version: 31800,
        dash_extras: false,
        behaviour: Behaviour::Honest,
    }
}

async fn dash_error(behaviour: Behaviour) -> ChainProbeError {
    let peer = FakePeer::start(dash_peer(behaviour)).await;
    PROBE
        .read_chain(&node("dash", peer.addr.port()))
        .await
        .unwrap_err()
}

#[test]
fn the_catalog_carries_upstreams_constants() {
    let dash = spec("dash");
    let ProbeProtocol::P2p(p) = &dash.protocol else {
        panic!("dash is p2p")
    };
    assert_eq!(hex::encode(p.magic), "bf0c6bbd");
    assert_eq!((p.port, p.protocol_version), (9999, 70233));
    assert_eq!(dash.block_seconds, 150);
    let dgb = spec("digibyte");
    let ProbeProtocol::P2p(p) = &dgb.protocol else {
        panic!("digibyte is p2p")
    };
    assert_eq!(hex::encode(p.magic), "fac3b6da");
    assert_eq!(p.port, 12024);
    assert_eq!(dgb.block_seconds, 15);
    assert_eq!(dgb.min_version, ClientVersion::parse("9.26.2").ok());
    let polygon = spec("polygon");
    let ProbeProtocol::CometBft(c) = &polygon.protocol else {
        panic!("polygon is cometbft")
    };
    assert_eq!((c.rpc_port, c.network.as_str()), (26657, "heimdallv2-137"));
}

#[tokio::test]
async fn a_dash_node_tells_its_height_and_client_and_gets_a_verack() {
    let peer = FakePeer::start(dash_peer(Behaviour::Honest)).await;
    let reading = PROBE
        .read_chain(&node("dash", peer.addr.port()))
        .await
        .unwrap();
    assert_eq!(reading.height, 2_400_123);
    assert_eq!(reading.client, "/Dash Core:22.1.0/");
    assert_eq!(reading.version, ClientVersion::parse("22.1.0").ok());
    assert_eq!(reading.protocol_version, Some(70233));
    // The fake logs the connection once the probe has left.
    let seen = peer.next_seen().await;
    assert_eq!(seen.commands, ["version", "verack"]);
    assert_eq!(seen.their_version, Some(70233));
    assert_eq!(seen.their_receiver_port, Some(peer.addr.port()));
    assert!(seen.their_agent.unwrap().starts_with("/jukebox-probe:"));
}

#[tokio::test]
async fn a_digibyte_node_on_its_own_magic() {
    let peer = FakePeer::start(digibyte_peer(24_900_321)).await;
    let reading = PROBE
        .read_chain(&node("digibyte", peer.addr.port()))
        .await
        .unwrap();
    assert_eq!(reading.height, 24_900_321);
    assert_eq!(reading.version, ClientVersion::parse("9.26.3").ok());
    // A Dash probe at a DigiByte node: the node drops our frame (another
    // magic) and hangs up.
    let err = PROBE
        .read_chain(&node("dash", peer.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainProbeError::Closed { .. }), "{err}");
}

#[tokio::test]
async fn a_peer_answering_with_another_networks_magic_is_refused() {
    let err = dash_error(Behaviour::WrongMagic(magic("digibyte"))).await;
    assert_eq!(
        err.to_string(),
        "the peer speaks another network (magic fac3b6da, expected bf0c6bbd)"
    );
}

#[tokio::test]
async fn garbage_and_broken_frames_are_refused_with_what_was_wrong() {
    let err = dash_error(Behaviour::Garbage).await;
    assert!(
        matches!(&err, ChainProbeError::WrongMagic { got, .. } if got == "48545450"),
        "{err}"
    );
    assert_eq!(
        dash_error(Behaviour::BadChecksum).await.to_string(),
        "the version message's checksum is wrong"
    );
    assert_eq!(
        dash_error(Behaviour::Oversize).await.to_string(),
        "the peer announced a 67108864-byte version message, over the protocol's limit of 3145728"
    );
    let err = dash_error(Behaviour::Truncated).await;
    assert_eq!(
        err.to_string(),
        "the answer is not the chain's protocol: its version message ends too early"
    );
    assert_eq!(
        dash_error(Behaviour::PingFirst).await,
        ChainProbeError::NotVersionFirst("ping".into())
    );
    let err = dash_error(Behaviour::HangUp).await;
    assert_eq!(
        err.to_string(),
        "the peer closed the connection before sending a message header"
    );
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_answers_times_out() {
    let peer = FakePeer::start(dash_peer(Behaviour::Silent)).await;
    let port = peer.addr.port();
    let err = PROBE.read_chain(&node("dash", port)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the peer on port {port} did not answer within 5 s")
    );
}

#[tokio::test]
async fn a_probe_claiming_an_obsolete_protocol_is_dropped_as_upstream_does() {
    let peer = FakePeer::start(dash_peer(Behaviour::Honest)).await;
    let mut old = (*at_port("dash", peer.addr.port())).clone();
    if let ProbeProtocol::P2p(p) = &mut old.protocol {
        p.protocol_version = 70214;
    }
    let target = ChainTarget {
        spec: Arc::new(old),
        ..node("dash", peer.addr.port())
    };
    let err = PROBE.read_chain(&target).await.unwrap_err();
    assert!(matches!(err, ChainProbeError::Closed { .. }), "{err}");
}

#[tokio::test]
async fn nothing_listening_and_no_address_say_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = PROBE.read_chain(&node("dash", port)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("port {port} refused the connection")
    );
    let nowhere = ChainTarget {
        source: ChainSource::Node {
            contract: ContractId(1),
            hosts: vec![],
            mycelium: None,
        },
        ..node("dash", port)
    };
    assert_eq!(
        PROBE.read_chain(&nowhere).await.unwrap_err(),
        ChainProbeError::NoAddress
    );
}

#[tokio::test]
async fn a_peer_lying_about_its_height_is_not_believed() {
    let honest_a = FakePeer::start(digibyte_peer(24_900_000)).await;
    let honest_b = FakePeer::start(digibyte_peer(24_900_004)).await;
    let liar = FakePeer::start(digibyte_peer(99_999_999)).await;
    let mut digibyte = spec("digibyte");
    digibyte.references = [&honest_a, &liar, &honest_b]
        .iter()
        .map(|p| p.addr.to_string())
        .collect();
    let digibyte = Arc::new(digibyte);
    let own = [Report {
        source: "contract 42".into(),
        height: 24_899_990,
    }];
    let verdict = read_tip(&PROBE, "digibyte", &digibyte, &own, None, 1_000, 4).await;
    assert_eq!(
        verdict.tip,
        Some(Tip {
            height: 24_900_004,
            at: 1_000
        })
    );
    assert_eq!(verdict.disbelieved.len(), 1);
    assert_eq!(verdict.disbelieved[0].source, liar.addr.to_string());
    assert_eq!(verdict.disbelieved[0].height, 99_999_999);
    // A reference that does not answer is skipped, not fatal.
    let mut gone = (*digibyte).clone();
    gone.references.push("127.0.0.1:1".into());
    let verdict = read_tip(&PROBE, "digibyte", &Arc::new(gone), &own, None, 1_000, 4).await;
    assert_eq!(verdict.tip.map(|t| t.height), Some(24_900_004));
}

fn heimdall(mode: Mode) -> NodeState {
    NodeState {
        network: "heimdallv2-137".into(),
        version: "0.38.17".into(),
        height: 31_000_123,
        catching_up: false,
        bor_height: 81_000_456,
        mode,
        requests: vec![],
    }
}

#[tokio::test]
async fn a_heimdall_node_reports_its_status() {
    let fake = FakeCometBft::start(heimdall(Mode::Honest)).await;
    let reading = PROBE
        .read_chain(&node("polygon", fake.addr.port()))
        .await
        .unwrap();
    assert_eq!(reading.height, 31_000_123);
    assert_eq!(reading.catching_up, Some(false));
    assert_eq!(reading.client, "0.38.17");
    assert_eq!(reading.latest_block_time, Some(1_795_392_000));
    // A reference is a base URL; a trailing slash is fine.
    let reference = ChainTarget {
        source: ChainSource::Reference(format!("{}/", fake.url())),
        ..node("polygon", 1)
    };
    assert_eq!(
        PROBE.read_chain(&reference).await.unwrap().height,
        31_000_123
    );
    assert_eq!(
        fake.state.lock().unwrap().requests,
        ["GET /status", "GET /status"]
    );
}

#[tokio::test]
async fn heimdall_on_another_network_garbage_and_errors_are_refused() {
    let mut wrong = heimdall(Mode::Honest);
    wrong.network = "heimdall-137".into();
    let fake = FakeCometBft::start(wrong).await;
    let err = PROBE
        .read_chain(&node("polygon", fake.addr.port()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the node is on network \"heimdall-137\", not \"heimdallv2-137\""
    );
    for (mode, expected) in [
        (Mode::ServerError, "the node answered HTTP 500"),
        (
            Mode::RpcError,
            "the node answered an error: -32603 Internal error (\"node is shutting down\")",
        ),
    ] {
        let fake = FakeCometBft::start(heimdall(mode)).await;
        let err = PROBE
            .read_chain(&node("polygon", fake.addr.port()))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    let fake = FakeCometBft::start(heimdall(Mode::Garbage)).await;
    let err = PROBE
        .read_chain(&node("polygon", fake.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainProbeError::Garbage(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_heimdall_node_that_never_answers_times_out() {
    let fake = FakeCometBft::start(heimdall(Mode::Silent)).await;
    let err = PROBE
        .read_chain(&node("polygon", fake.addr.port()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "GET /status did not answer within 5 s");
}

#[tokio::test]
async fn bors_height_over_json_rpc() {
    let fake = FakeCometBft::start(heimdall(Mode::Honest)).await;
    assert_eq!(
        PROBE.evm_block_number(&fake.url()).await.unwrap(),
        81_000_456
    );
    assert_eq!(fake.state.lock().unwrap().requests, ["eth_blockNumber"]);
    let broken = FakeCometBft::start(heimdall(Mode::Garbage)).await;
    assert!(matches!(
        PROBE.evm_block_number(&broken.url()).await,
        Err(ChainProbeError::Garbage(_))
    ));
}

/// The real probe, seen by the monitor: the simulated grid's nodes have
/// documentation addresses that reach nothing, so this probe sends each
/// node's read to a loopback fake and each of the catalog's references to
/// its own fake; everything else (the handshake, the time-out, the tip, the
/// trackers, the alerts) is the process's own.
struct Redirect {
    inner: NetChainProbe,
    /// Where every node of the chain listens.
    node: std::net::SocketAddr,
    /// The catalog's references, in order, and the fake standing for each.
    references: Vec<(String, String)>,
}

#[async_trait::async_trait]
impl ChainProbe for Redirect {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
        let source = match &target.source {
            ChainSource::Node { contract, .. } => ChainSource::Node {
                contract: *contract,
                hosts: vec![self.node.ip().to_string()],
                mycelium: None,
            },
            ChainSource::Reference(r) => {
                let (_, fake) = self
                    .references
                    .iter()
                    .find(|(catalog, _)| catalog == r)
                    .unwrap_or_else(|| panic!("{r} is not one of the catalog's references"));
                ChainSource::Reference(fake.clone())
            }
            ChainSource::EvmReference(r) => panic!("{r}: this test reads no execution layer"),
        };
        let redirected = ChainTarget {
            chain: target.chain.clone(),
            source,
            spec: at_port(&target.chain, self.node.port()),
        };
        self.inner.read_chain(&redirected).await
    }
}

/// The monitor reads a DigiByte node over the real P2P handshake and the
/// tip from three references, one lying by 75 million blocks: the liar is
/// not believed (the node stays in sync, no "fell behind"), the node's
/// client (9.26.1, older than the 9.26.2 the network requires since its
/// split) is told once with the one-tap redeploy, and the record keeps what
/// was read.
#[tokio::test]
async fn the_real_probe_drives_the_monitor_and_a_lying_reference_is_not_believed() {
    use crate::support::{TestApp, test_config, texts_for};
    use jukebox::user::{NODES, Nodes};

    let node = FakePeer::start(PeerConfig {
        user_agent: "/DigiByte:9.26.1/".into(),
        ..digibyte_peer(24_900_000)
    })
    .await;
    let mut fakes = Vec::new();
    for height in [24_899_998, 99_999_999, 24_900_004] {
        fakes.push(FakePeer::start(digibyte_peer(height)).await);
    }
    let references = spec("digibyte")
        .references
        .into_iter()
        .zip(&fakes)
        .map(|(catalog, fake)| (catalog, fake.addr.to_string()))
        .collect();
    let probe = Redirect {
        inner: PROBE,
        node: node.addr,
        references,
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(jukebox::clock::ManualClock::new(crate::support::START));
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start_with_chain_probe(&config, clock.clone(), Arc::new(probe)).await;
    let alice = jukebox::ids::UserId::parse("term:alice").unwrap();
    app.send(&alice, "/deploy").await;
    for label in ["DigiByte"] {
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
    let before = app.outbox.all().len();
    for _ in 0..3 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    let told: Vec<&String> = shown.iter().filter(|t| t.contains("too old")).collect();
    assert_eq!(told.len(), 1, "{shown:#?}");
    assert!(
        told[0].contains("runs client 9.26.1, too old for the network (it needs 9.26.2 or later)"),
        "{}",
        told[0]
    );
    assert!(
        !shown.iter().any(|t| t.contains("fell behind")),
        "{shown:#?}"
    );
    let buttons = crate::support::last_buttons(&app.outbox.all(), &alice);
    assert_eq!(buttons[0].label, "Redeploy to update", "{buttons:?}");

    // The record keeps the reading: the node's height and client, and the
    // tip the honest references gave (the liar's 99,999,999 disbelieved).
    let nodes: Nodes = app.service.store().read(&alice, NODES).unwrap().unwrap();
    let chain = nodes.nodes[0].chain_health.clone().expect("chain read");
    let last = chain.last.expect("a reading");
    assert_eq!(last.height, 24_900_000);
    assert_eq!(last.network_height, Some(24_900_004));
    assert_eq!(last.client, "/DigiByte:9.26.1/");
    assert_eq!(last.version, Some(ClientVersion::parse("9.26.1").unwrap()));
    assert!(chain.episodes.too_old.is_some());
    assert!(chain.episodes.behind.is_none());
    // Each sweep made one handshake with the node, over the real wire.
    let seen = node.next_seen().await;
    assert!(seen.commands.iter().any(|c| c == "version"), "{seen:?}");
}
