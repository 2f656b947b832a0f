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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, stream};
use jukebox::grid::tfgrid::adapter::TfGrid;
use jukebox::grid::{ContractId, Grid, WorkloadState};

// The fakes of the `tfgrid` test crate and its setup, compiled here as they
// are there.
#[path = "../tests/tfgrid"]
#[allow(dead_code, unused_imports)] // The tests use more of them than this.
mod fakes {
    pub mod fake_gridproxy;
    pub mod fake_relay;
    pub mod fake_server;
    pub mod fake_tfchain;
    pub mod setup;
}

use fakes::fake_gridproxy::{FakeGridProxy, FakeNode};
use fakes::fake_relay::FakeRelay;
use fakes::fake_tfchain::{ContractState, FakeTfchain};
use fakes::setup::{backend_at, put_contracts};

const CONTRACTS: u64 = 2_000;
const NODES: u32 = 50;
const RUNS: usize = 5;
/// Chain reads in flight in the one-by-one comparison.
const ONE_BY_ONE_IN_FLIGHT: usize = 64;

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
    // Contract `id` on node `id % NODES + 1`, all created.
    let contracts: BTreeMap<u64, (u32, ContractState)> = (1..=CONTRACTS)
        .map(|id| {
            (
                id,
                ((id % u64::from(NODES)) as u32 + 1, ContractState::Created),
            )
        })
        .collect();
    put_contracts(&chain, &contracts);
    let backend = || backend_at(&proxy.url, &relay.url, &chain.url, Duration::from_secs(30));
    let grid = TfGrid::new(backend());
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

    let one_by_one_backend = backend();
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
