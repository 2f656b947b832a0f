//! Benchmark of the monitor's batch on the real grid backend:
//! `Grid::contracts` of `TfGrid` for 2,000 contracts over 50 grid nodes,
//! against the loopback fakes the `tfgrid` tests use (a subxt client talking
//! JSON-RPC to the fake TFChain, an HTTP client to the fake grid proxy).
//!
//! Each batch reads every contract from TFChain (one block, many storage
//! reads in flight over the one websocket) and each of the 50 nodes once
//! from the proxy, whose cache is off so every batch pays for its node
//! reads. The fake relay stands by to show that no node is called over RMB.
//! For comparison it also times reading the same contracts from TFChain one
//! by one, each at its own latest block (what `TfChain::contract` does):
//! that is the cost the batch's single block saves.
//!
//! The fakes run in the same process and share its cores with the client,
//! so the numbers are a floor for the client's own speed, not a ceiling;
//! a real TFChain node over the internet adds its round-trip time, which
//! the reads in flight hide as long as the node keeps up.
//!
//! Run it with:
//!
//! ```text
//! cargo bench --bench tfgrid_monitor
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures_util::{StreamExt as _, stream};
use jukebox::grid::tfgrid::adapter::{KeyRing, TfGrid};
use jukebox::grid::tfgrid::backend::{DeployTiming, TfGridBackend, TwinSettings};
use jukebox::grid::tfgrid::chain::TfChain;
use jukebox::grid::tfgrid::discovery::{Discovery, DiscoverySettings};
use jukebox::grid::tfgrid::proxy::{GridProxy, ProxySettings};
use jukebox::grid::tfgrid::rmb::RmbSettings;
use jukebox::grid::{ContractId, Grid, TwinId, WorkloadState};

// The fakes of the `tfgrid` test crate, compiled here as they are there.
#[path = "../tests/tfgrid"]
#[allow(dead_code, unused_imports)] // The tests use more of the fakes than this.
mod fakes {
    pub mod fake_gridproxy;
    pub mod fake_relay;
    pub mod fake_tfchain;
}

use fakes::fake_gridproxy::{FakeGridProxy, FakeNode};
use fakes::fake_relay::FakeRelay;
use fakes::fake_tfchain::{ContractState, FakeContract, FakeTfchain};

const CONTRACTS: u64 = 2_000;
const NODES: u32 = 50;
const RUNS: usize = 5;
/// Chain reads in flight in the one-by-one comparison.
const ONE_BY_ONE_IN_FLIGHT: usize = 64;

/// The batch needs no key; this ring has none.
struct NoKeys;

#[async_trait::async_trait]
impl KeyRing for NoKeys {
    async fn by_public_key(&self, _: &[u8; 32]) -> Option<SigningKey> {
        None
    }

    async fn by_twin(&self, _: TwinId) -> Option<SigningKey> {
        None
    }
}

fn backend(proxy: &FakeGridProxy, relay: &FakeRelay, chain: &FakeTfchain) -> TfGridBackend {
    let proxy_client = GridProxy::new(ProxySettings {
        url: proxy.url.clone(),
        timeout: Duration::from_secs(30),
        cache_ttl: Duration::ZERO,
    })
    .expect("proxy client");
    TfGridBackend::new(
        Discovery::new(Arc::new(proxy_client), DiscoverySettings::default()),
        TfChain::new(&chain.url, Duration::from_secs(30)),
        RmbSettings {
            relay_url: relay.url.clone(),
            call_timeout: Duration::from_secs(30),
            token_ttl: Duration::from_secs(60),
            session: "bench".into(),
        },
        TwinSettings {
            relay_domain: "relay.fake".into(),
            terms_link: "https://library.threefold.me/info/legal/#/".into(),
            terms_hash: "f4fa1c1b".into(),
        },
        DeployTiming {
            poll_interval: Duration::from_secs(1),
            deploy_timeout: Duration::from_secs(60),
        },
    )
}

/// Contract `id` on node `id % NODES + 1`, all created.
fn seed(chain: &FakeTfchain) {
    let mut world = chain.world();
    for id in 1..=CONTRACTS {
        let mut hash = [b'0'; 32];
        hash[..8].copy_from_slice(format!("{id:08}").as_bytes());
        world.contracts.insert(
            id,
            FakeContract {
                twin: 7,
                node: (id % u64::from(NODES)) as u32 + 1,
                hash,
                data: b"{}".to_vec(),
                public_ips: 0,
                state: ContractState::Created,
            },
        );
    }
    world.seal();
}

/// Best and median of `runs`, in seconds.
fn best_and_median(mut runs: Vec<f64>) -> (f64, f64) {
    runs.sort_by(f64::total_cmp);
    (runs[0], runs[runs.len() / 2])
}

async fn measure() -> Vec<(String, String)> {
    let nodes = (1..=NODES)
        .map(|id| FakeNode::new(id, id % 5 + 1, "Belgium"))
        .collect();
    let proxy = FakeGridProxy::start(nodes).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    seed(&chain);
    let grid = TfGrid::new(backend(&proxy, &relay, &chain), Arc::new(NoKeys));
    let ids: Vec<ContractId> = (1..=CONTRACTS).map(ContractId).collect();

    // The first batch connects and fetches the metadata: not timed.
    let answers = grid.contracts(&ids).await.expect("the batch");
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().is_ok_and(|i| i.workload == WorkloadState::Ok))
    );
    proxy.take_requests();

    let mut batch = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let answers = grid.contracts(&ids).await.expect("the batch");
        batch.push(started.elapsed().as_secs_f64());
        assert_eq!(answers.len(), ids.len());
    }
    let proxy_reads = proxy.take_requests().len() / RUNS;
    let rmb_connections = relay.state().connections;

    let one_by_one_backend = backend(&proxy, &relay, &chain);
    let mut one_by_one = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let read: Vec<_> = stream::iter(ids.iter().copied())
            .map(|id| one_by_one_backend.chain_contract(id))
            .buffered(ONE_BY_ONE_IN_FLIGHT)
            .collect()
            .await;
        one_by_one.push(started.elapsed().as_secs_f64());
        assert!(read.iter().all(Result::is_ok));
    }

    let (best, median) = best_and_median(batch);
    let (obo_best, obo_median) = best_and_median(one_by_one);
    let n = CONTRACTS as f64;
    vec![
        (
            "Batch".into(),
            format!(
                "`Grid::contracts` of {CONTRACTS} contracts over {NODES} grid nodes, \
                 {RUNS} runs after a warm-up"
            ),
        ),
        (
            "Batch time (best / median)".into(),
            format!("{:.0} ms / {:.0} ms", best * 1e3, median * 1e3),
        ),
        (
            "Contracts per second (median)".into(),
            format!("{:.0}", n / median),
        ),
        (
            "Grid proxy reads per batch".into(),
            format!("{proxy_reads} (one per node)"),
        ),
        ("RMB connections".into(), rmb_connections.to_string()),
        (
            "TFChain reads one by one, each at its own block (best / median)".into(),
            format!(
                "{:.0} ms / {:.0} ms ({:.0} contracts/s), {ONE_BY_ONE_IN_FLIGHT} in flight",
                obo_best * 1e3,
                obo_median * 1e3,
                n / obo_median
            ),
        ),
    ]
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rows = vec![(
        "Machine".to_string(),
        format!("{cores} cores; client and fakes in one process, tokio multi-thread, loopback"),
    )];
    rows.extend(rt.block_on(measure()));
    println!();
    println!("| Measure | Result |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}
