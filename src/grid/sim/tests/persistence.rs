//! Persistence tests of the simulated grid: reopen, torn and corrupt
//! journals, compaction, and reopening (and a batch lookup) at 100,000
//! contracts.

use std::time::Duration;

use super::{first_node, identity, need, open, owner, owner_of, signed, small_cfg, spec, tempdir};
use crate::grid::sim::state::{self, Event};
use crate::grid::sim::{Resources, SimConfig, SimGrid};
use crate::grid::{ContractId, ContractState, Grid, GridNodeId, NodeStatus, TwinId};

#[tokio::test]
async fn twins_are_idempotent_and_state_survives_reopen() {
    let dir = tempdir();
    let (placed, cancelled, down, stats, before);
    {
        let grid = open(dir.path(), small_cfg());
        let t1 = grid.ensure_twin(&identity(1)).await.expect("twin");
        assert_eq!(grid.ensure_twin(&identity(1)).await, Ok(t1));
        let s = spec(2, 2048, 10, true);
        let d = signed(&grid, 1, &s).await;
        let ids = grid.node_ids();
        placed = grid
            .deploy(&owner(&grid, &d), ids[0], &need(&s), &d)
            .await
            .expect("first");
        let second = grid
            .deploy(&owner(&grid, &d), ids[1], &need(&s), &d)
            .await
            .expect("second");
        cancelled = second.contract;
        grid.cancel(&owner_of(&grid, cancelled), cancelled)
            .await
            .expect("cancel");
        grid.fail_workload(placed.contract, "disk full")
            .expect("fault");
        down = ids[2];
        grid.set_node_status(down, NodeStatus::Down).expect("down");
        stats = grid.stats();
        before = grid
            .contract(&owner_of(&grid, placed.contract), placed.contract)
            .await
            .expect("info");
    }
    let grid = SimGrid::open(dir.path(), small_cfg()).expect("reopens");
    assert_eq!(grid.stats(), stats);
    assert_eq!(grid.ensure_twin(&identity(1)).await, Ok(TwinId(1)));
    assert_eq!(grid.ensure_twin(&identity(2)).await, Ok(TwinId(2)));
    assert_eq!(
        grid.contract(&owner_of(&grid, placed.contract), placed.contract)
            .await,
        Ok(before)
    );
    let info = grid
        .contract(&owner_of(&grid, cancelled), cancelled)
        .await
        .expect("info");
    assert_eq!(info.state, ContractState::Deleted);
    assert_eq!(grid.node(down).map(|n| n.status), Some(NodeStatus::Down));
    let used = grid.node_resources(placed.node.id).expect("node").used;
    assert_eq!((used.cpu, used.memory_mib, used.disk_gib), (2, 2048, 10));
    // A new contract gets a fresh id, never a reused one.
    let s = spec(1, 1024, 1, false);
    let d = signed(&grid, 1, &s).await;
    let next = grid
        .deploy(&owner(&grid, &d), placed.node.id, &need(&s), &d)
        .await
        .expect("ok");
    assert_eq!(next.contract, ContractId(3));
}

#[test]
fn a_torn_journal_line_is_dropped_and_a_corrupt_one_refused() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let stats = grid.stats();
    drop(grid);
    let journal = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".jsonl"))
        .expect("journal");
    let mut text = std::fs::read(&journal).expect("read");
    text.extend_from_slice(br#"{"event":"twin","id":5"#);
    std::fs::write(&journal, &text).expect("write");
    let grid = SimGrid::open(dir.path(), small_cfg()).expect("reopens");
    assert_eq!(grid.stats(), stats);
    drop(grid);
    let mut text = b"garbage\n".to_vec();
    text.extend(std::fs::read(&journal).expect("read"));
    std::fs::write(&journal, &text).expect("write");
    assert!(SimGrid::open(dir.path(), small_cfg()).is_err());
}

#[test]
fn compaction_keeps_the_state() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let node = first_node(&grid);
    for _ in 0..30 {
        grid.set_node_status(node, NodeStatus::Down).expect("down");
        grid.set_node_status(node, NodeStatus::Up).expect("up");
    }
    let stats = grid.stats();
    let events = grid.lock().state.events();
    grid.lock().store.compact(&events).expect("compacts");
    grid.set_node_status(node, NodeStatus::Standby)
        .expect("standby");
    drop(grid);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    assert_eq!(files, ["journal.00000000000000000001.jsonl"]);
    let grid = SimGrid::open(dir.path(), small_cfg()).expect("reopens");
    assert_eq!(grid.node(node).map(|n| n.status), Some(NodeStatus::Standby));
    assert_eq!(grid.stats().nodes_up, stats.nodes_up - 1);
}

#[test]
fn reopening_with_100k_contracts_is_fast_and_exact() {
    use std::io::Write as _;
    let dir = tempdir();
    let cfg = SimConfig::default();
    let grid = SimGrid::open(dir.path(), cfg.clone()).expect("opens");
    let up: Vec<GridNodeId> = grid
        .node_ids()
        .into_iter()
        .filter(|id| grid.node(*id).map(|n| n.status) == Some(NodeStatus::Up))
        .collect();
    drop(grid);
    // Write the journal a long-running grid would have, without 100k fsyncs.
    let journal = dir.path().join("journal.00000000000000000000.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&journal).expect("journal"));
    for id in 1..=100_000u64 {
        let rec = state::ContractRec {
            id,
            twin: 1,
            node: up[id as usize % up.len()].0,
            res: Resources::default(),
            ipv4: Vec::new(),
            ipv6: None,
            mycelium: None,
            deployment_hash: format!("{id:032x}"),
            deleted: id % 2 == 0,
            failure: None,
            paused: false,
            app_failure: None,
            created_at: 0,
        };
        serde_json::to_writer(&mut out, &Event::Contract(rec)).expect("line");
        out.write_all(b"\n").expect("newline");
    }
    out.flush().expect("flush");
    drop(out);

    let start = std::time::Instant::now();
    let grid = SimGrid::open(dir.path(), cfg).expect("reopens");
    let took = start.elapsed();
    let stats = grid.stats();
    assert_eq!(
        (stats.contracts_active, stats.contracts_deleted),
        (50_000, 50_000)
    );
    // Generous for a debug build on a busy 2-core machine.
    assert!(took < Duration::from_secs(20), "reopen took {took:?}");
    let start = std::time::Instant::now();
    grid.fail_workload(ContractId(1), "probe")
        .expect("one more event");
    assert!(start.elapsed() < Duration::from_secs(1));
    eprintln!("reopen with 100k contracts: {took:?}");

    // The monitor's batch lookup: every contract, one lock hold.
    let ids: Vec<ContractId> = (1..=100_000).map(ContractId).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let start = std::time::Instant::now();
    let answers = rt.block_on(grid.contracts(&ids)).expect("grid answers");
    let took = start.elapsed();
    assert_eq!(answers.len(), ids.len());
    for (id, answer) in ids.iter().zip(&answers) {
        let info = answer.as_ref().expect("known contract");
        let deleted = id.0 % 2 == 0;
        assert_eq!(info.contract, *id);
        assert_eq!(info.state == ContractState::Deleted, deleted);
    }
    assert!(took < Duration::from_secs(5), "batch lookup took {took:?}");
    eprintln!("batch lookup of 100k contracts: {took:?}");
}
