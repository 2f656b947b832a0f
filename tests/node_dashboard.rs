//! A node that shows nothing from outside (Presearch: the flist publishes no
//! port, threefoldtech/tf-images tfgrid3/presearch/ps/prenode.yaml) is read
//! from its network's dashboard with the user's API key: the real client
//! against a fake of the Node Status API on loopback
//! (`support::fake_node_dashboard`, written from PresearchOfficial/
//! docs.presearch.io nodes/api.md), and a whole Jukebox's monitor driving
//! it: the honest `/status` line without a key, `/apikey`, connected with
//! uptime and reliability, a disconnection confirmed over three checks and
//! told once, `/list`'s mark, the recovery, the mute, and the key never in
//! the clear on disk.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jukebox::clock::ManualClock;
use jukebox::probe::NetNodeStatusProbe;
use jukebox::probe::NodeStatusProbe;
use jukebox::probe::node_status::{DashboardNode, NodeStatusError, StatusRequest};
use jukebox::user::{NODES, Nodes};

use crate::support::fake_node_dashboard::{FakeDashboard, FakeNode};
use crate::support::{START, TestApp, test_config, texts_for};

const CATALOG_BASE: &str = "https://nodes.presearch.com";
const KEY: &str = "AbCdEf0123456789AbCdEf0123456789";

fn probe() -> NetNodeStatusProbe {
    NetNodeStatusProbe {
        timeout: Duration::from_secs(5),
    }
}

fn request(base: &str, key: &str, stats: bool) -> StatusRequest {
    StatusRequest {
        url: format!("{base}/api/nodes/status/"),
        key: key.into(),
        stats,
        nodes: Vec::new(),
    }
}

fn fake_node(addr: &str, connected: bool) -> FakeNode {
    FakeNode {
        public_key: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".into(),
        remote_addr: addr.into(),
        connected,
        since: START - 7200,
        uptime_percentage: 99.5,
        reliability: 97.0,
    }
}

#[tokio::test]
async fn the_client_reads_the_api_and_its_refusals() {
    let clock = Arc::new(ManualClock::new(START));
    let fake = FakeDashboard::start(clock.clone()).await;
    fake.set_account(KEY, vec![fake_node("192.0.2.7", true)]);

    let nodes = probe().read(&request(&fake.base, KEY, true)).await.unwrap();
    let node: &DashboardNode = nodes.values().next().unwrap();
    assert!(node.connected && node.is_at(&["192.0.2.7".into()]));
    assert_eq!(node.since, Some(START - 7200));
    let stats = node.stats.expect("asked for statistics");
    assert_eq!(stats.uptime_percent, Some(99.5));
    assert_eq!(stats.reliability_score, Some(97.0));
    // Without stats, no period.
    let plain = probe()
        .read(&request(&fake.base, KEY, false))
        .await
        .unwrap();
    assert_eq!(plain.values().next().unwrap().stats, None);

    // A wrong key: 401, said without the key.
    let bad = probe()
        .read(&request(&fake.base, "WrongKey0123456789", false))
        .await
        .unwrap_err();
    assert_eq!(bad, NodeStatusError::BadKey);
    assert!(!bad.to_string().contains("WrongKey"));

    // Upstream's limit: 4 a minute per node without stats (one made above).
    for _ in 0..3 {
        probe()
            .read(&request(&fake.base, KEY, false))
            .await
            .unwrap();
    }
    assert_eq!(
        probe().read(&request(&fake.base, KEY, false)).await,
        Err(NodeStatusError::RateLimited)
    );
    clock.advance(60);
    probe()
        .read(&request(&fake.base, KEY, false))
        .await
        .unwrap();
}

/// Upstream leaves out a node with no activity in the period (24 hours)
/// unless `include_inactive=true`: the client asks for it, so a node
/// disconnected for two days still reads as disconnected, not as missing.
#[tokio::test]
async fn a_node_disconnected_for_days_is_still_listed() {
    let clock = Arc::new(ManualClock::new(START));
    let fake = FakeDashboard::start(clock.clone()).await;
    let mut gone = fake_node("192.0.2.8", false);
    gone.since = START - 2 * 86_400;
    fake.set_account(KEY, vec![gone]);

    // As upstream answers a plain request: the inactive node is left out.
    let plain: serde_json::Value = reqwest::get(format!("{}/api/nodes/status/{KEY}", fake.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["nodes"], serde_json::json!({}), "{plain}");

    let nodes = probe()
        .read(&request(&fake.base, KEY, false))
        .await
        .unwrap();
    let node = nodes.values().next().expect("listed with include_inactive");
    assert!(!node.connected && node.is_at(&["192.0.2.8".into()]));
    assert_eq!(node.since, Some(START - 2 * 86_400));
}

#[tokio::test(start_paused = true)]
async fn garbage_silence_and_nothing_listening_say_so() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    // Garbage: an HTML page with 200.
    let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let g = garbage.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = garbage.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let body = "<html>maintenance</html>";
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let err = probe()
        .read(&request(&format!("http://{g}"), KEY, false))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeStatusError::Garbage(_)), "{err:?}");

    // Silence: accepts and never answers; the time-out says so.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let err = probe()
        .read(&request(&format!("http://{s}"), KEY, false))
        .await
        .unwrap_err();
    assert_eq!(err, NodeStatusError::Silent("5 s".into()));

    // Nothing listening: unreachable, and the key is not in the words.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let err = probe()
        .read(&request(&format!("http://{closed}"), KEY, false))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeStatusError::Unreachable(_)), "{err:?}");
    assert!(!err.to_string().contains(KEY), "{err}");
}

/// The real client, sent to the fake instead of the catalog's host.
struct Rebase {
    base: String,
}

#[async_trait]
impl NodeStatusProbe for Rebase {
    async fn read(
        &self,
        request: &StatusRequest,
    ) -> Result<std::collections::BTreeMap<String, DashboardNode>, NodeStatusError> {
        let mut request = request.clone();
        assert!(request.url.starts_with(CATALOG_BASE), "{}", request.url);
        request.url = request.url.replacen(CATALOG_BASE, &self.base, 1);
        probe().read(&request).await
    }
}

#[tokio::test]
async fn the_monitor_reads_the_dashboard_alerts_once_recovers_and_mutes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let fake = FakeDashboard::start(clock.clone()).await;
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start_with_probes(
        &config,
        clock.clone(),
        None,
        Some(Arc::new(Rebase {
            base: fake.base.clone(),
        })),
    )
    .await;
    let alice = jukebox::ids::UserId::parse("term:alice").unwrap();
    app.send(&alice, "/deploy").await;
    app.press_label(&alice, "Presearch").await;
    app.send(&alice, "1").await;
    app.press_label(&alice, "Anywhere").await;
    app.send(&alice, "0123456789abcdef0123456789abc123").await;
    for label in ["Skip", "1 week", "Confirm", "Pay with sandbox wallet"] {
        app.press_label(&alice, label).await;
    }
    app.service.wait_idle().await;
    let nodes: Nodes = app.service.store().read(&alice, NODES).unwrap().unwrap();
    let node = nodes.nodes[0].clone();
    let name = node.name.clone();
    let addr = node
        .placed
        .as_ref()
        .unwrap()
        .hosts()
        .next()
        .unwrap()
        .to_owned();

    // Without a key: honest, and nothing is asked of the dashboard.
    clock.advance(60);
    app.service.sweep().await;
    let before = app.outbox.all().len();
    app.send(&alice, &format!("/status {name}")).await;
    let shown = texts_for(&app.outbox.all()[before..], &alice).join("\n");
    assert!(
        shown.contains("Presearch network: the node shows nothing from outside")
            && shown.contains("only the grid's checks apply")
            && shown.contains(&format!("/apikey {name}")),
        "{shown}"
    );
    assert!(fake.requests().is_empty());

    // The key, given later with /apikey (a bad one is asked again).
    fake.set_account(KEY, vec![fake_node(&addr, true)]);
    app.send(&alice, "/apikey").await;
    app.send(&alice, "no spaces allowed here").await;
    app.send(&alice, KEY).await;
    let said = texts_for(&app.outbox.all()[before..], &alice).join("\n");
    assert!(said.contains(&format!("Saved for {name}")), "{said}");
    assert!(!said.contains(KEY), "the key is never echoed: {said}");

    clock.advance(60);
    app.service.sweep().await;
    assert_eq!(fake.requests(), vec![(KEY.to_owned(), true)]);
    let before = app.outbox.all().len();
    app.send(&alice, &format!("/status {name}")).await;
    let shown = texts_for(&app.outbox.all()[before..], &alice).join("\n");
    assert!(
        shown.contains("Presearch network: connected for 2 hours")
            && shown.contains("uptime 99.5% and reliability score 97")
            && shown.contains("node version 1.0.26"),
        "{shown}"
    );

    // Disconnected: confirmed over three checks, told once.
    fake.set_connected(KEY, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", false);
    let before = app.outbox.all().len();
    for _ in 0..6 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    let told: Vec<&String> = shown
        .iter()
        .filter(|t| t.contains("disconnected"))
        .collect();
    assert_eq!(told.len(), 1, "{shown:#?}");
    assert!(
        told[0].contains(&format!(
            "{name} is disconnected from the Presearch network since"
        )),
        "{}",
        told[0]
    );
    // Statistics are not asked again within the catalog's 30 minutes.
    assert_eq!(fake.requests().iter().filter(|(_, s)| *s).count(), 1);
    let before = app.outbox.all().len();
    app.send(&alice, "/list").await;
    let list = texts_for(&app.outbox.all()[before..], &alice).join("\n");
    assert!(list.contains("⚠️ disconnected from Presearch"), "{list}");

    // Back: the recovery, once.
    fake.set_connected(KEY, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", true);
    let before = app.outbox.all().len();
    for _ in 0..4 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    let back: Vec<&String> = shown
        .iter()
        .filter(|t| t.contains("is connected to the Presearch network again"))
        .collect();
    assert_eq!(back.len(), 1, "{shown:#?}");

    // Muted: the next disconnection is recorded, not told.
    app.send(&alice, "/mute").await;
    app.press_label(&alice, "Node: disconnected").await;
    fake.set_connected(KEY, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", false);
    let before = app.outbox.all().len();
    for _ in 0..4 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    assert!(
        !shown.iter().any(|t| t.contains("is disconnected from")),
        "{shown:#?}"
    );
    let nodes: Nodes = app.service.store().read(&alice, NODES).unwrap().unwrap();
    assert!(
        nodes.nodes[0]
            .node_link
            .as_ref()
            .unwrap()
            .down_since
            .is_some()
    );

    // Never in the clear on disk.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{} holds the key in clear",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn the_simulated_dashboard_answers_the_same_trait_and_link_faults() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let config = test_config(dir.path(), &|_| {});
    let app = TestApp::start_with_probes(&config, clock.clone(), None, None).await;
    let alice = jukebox::ids::UserId::parse("term:alice").unwrap();
    app.send(&alice, "/deploy").await;
    app.press_label(&alice, "Presearch").await;
    app.send(&alice, "1").await;
    app.press_label(&alice, "Anywhere").await;
    app.send(&alice, "0123456789abcdef0123456789abc123").await;
    for label in ["Skip", "1 week", "Confirm", "Pay with sandbox wallet"] {
        app.press_label(&alice, label).await;
    }
    app.service.wait_idle().await;
    app.send(&alice, "/apikey").await;
    app.send(&alice, KEY).await;
    let nodes: Nodes = app.service.store().read(&alice, NODES).unwrap().unwrap();
    let name = nodes.nodes[0].name.clone();
    let op = jukebox::ids::UserId::parse("term:operator").unwrap();
    app.send(&op, &format!("/fault link {name} down")).await;
    let before = app.outbox.all().len();
    for _ in 0..4 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    assert_eq!(
        shown
            .iter()
            .filter(|t| t.contains("is disconnected from the Presearch network"))
            .count(),
        1,
        "{shown:#?}"
    );
    app.send(&op, &format!("/fault link {name} up")).await;
    let before = app.outbox.all().len();
    for _ in 0..4 {
        clock.advance(60);
        app.service.sweep().await;
        app.deliver_alerts().await;
    }
    let shown = texts_for(&app.outbox.all()[before..], &alice);
    assert!(
        shown
            .iter()
            .any(|t| t.contains("connected to the Presearch network again")),
        "{shown:#?}"
    );
}
