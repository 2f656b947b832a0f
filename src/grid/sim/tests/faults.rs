//! Tests of what the monitor relies on: batch contract lookups, grace-period
//! pauses, application faults and the simulated probe, and scheduled node
//! outages (in paused tokio time, so no test really waits).

use std::time::Duration;

use super::{first_node, need, open, owner, owner_of, signed, small_cfg, spec, tempdir};
use crate::catalog::HealthCheck;
use crate::grid::sim::schedule::{Change, Schedule};
use crate::grid::sim::{ScheduledFault, SimConfig, SimGrid};
use crate::grid::{
    ContractId, ContractState, Grid, GridError, GridNodeId, NodeStatus, Placed, WorkloadState,
};
use crate::probe::{AppHealth, AppProbe, ProbeTarget};

/// Deploys a small node without public IPv4 on `node` for the twin of key `k`.
async fn deploy(grid: &SimGrid, k: u8, node: GridNodeId) -> Placed {
    deploy_with(grid, k, node, false).await
}

async fn deploy_with(grid: &SimGrid, k: u8, node: GridNodeId, ipv4: bool) -> Placed {
    let s = spec(1, 1024, 1, ipv4);
    let d = signed(grid, k, &s).await;
    grid.deploy(&owner(grid, &d), node, &need(&s), &d)
        .await
        .expect("deploys")
}

fn target(contract: ContractId) -> ProbeTarget {
    ProbeTarget {
        contract,
        hosts: vec!["185.69.0.10".into()],
        check: HealthCheck {
            tcp: Some(9999),
            http: None,
        },
    }
}

fn fault(node: GridNodeId, after_minutes: f64, for_minutes: f64) -> ScheduledFault {
    ScheduledFault {
        node: node.0,
        after_minutes,
        for_minutes,
    }
}

#[tokio::test]
async fn batch_contracts_answer_in_order() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let a = deploy(&grid, 1, first_node(&grid)).await.contract;
    let b = deploy(&grid, 2, first_node(&grid)).await.contract;
    grid.cancel(&owner_of(&grid, b), b).await.expect("cancel");
    let ids = [b, ContractId(404), a];
    let answers = grid.contracts(&ids).await.expect("grid answers");
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0], grid.contract(&owner_of(&grid, b), b).await);
    assert_eq!(
        answers[0].as_ref().map(|i| i.state),
        Ok(ContractState::Deleted)
    );
    assert_eq!(answers[1], Err(GridError::UnknownContract(ContractId(404))));
    assert_eq!(
        answers[2].as_ref().map(|i| &i.workload),
        Ok(&WorkloadState::Ok)
    );
    assert_eq!(grid.contracts(&[]).await, Ok(Vec::new()));
}

#[tokio::test]
async fn pause_keeps_capacity_and_resume_restores() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let node = first_node(&grid);
    let c = deploy_with(&grid, 1, node, true).await.contract;
    let used = grid.node_resources(node).expect("node").used;
    grid.set_paused(c, true).await.expect("pause");
    grid.set_paused(c, true).await.expect("pause again");
    let info = grid.contract(&owner_of(&grid, c), c).await.expect("info");
    assert_eq!(
        (info.state, info.workload),
        (ContractState::GracePeriod, WorkloadState::Paused)
    );
    assert_eq!(grid.node_resources(node).expect("node").used, used);
    assert_eq!(grid.stats().ipv4_used, 1);
    // A fault injected while paused waits for the resume.
    grid.fail_workload(c, "oom").expect("fault");
    let paused = grid
        .contract(&owner_of(&grid, c), c)
        .await
        .expect("info")
        .workload;
    assert_eq!(paused, WorkloadState::Paused);
    grid.set_paused(c, false).await.expect("resume");
    let info = grid.contract(&owner_of(&grid, c), c).await.expect("info");
    assert_eq!(info.state, ContractState::Created);
    assert_eq!(info.workload, WorkloadState::Error("oom".into()));
    grid.restore_workload(c).expect("restore");
    let info = grid.contract(&owner_of(&grid, c), c).await.expect("info");
    assert_eq!(
        (info.state, info.workload),
        (ContractState::Created, WorkloadState::Ok)
    );
    // Cancelling a paused contract frees its room; pausing it then is a no-op.
    grid.set_paused(c, true).await.expect("pause");
    grid.cancel(&owner_of(&grid, c), c).await.expect("cancel");
    assert_eq!(grid.stats().ipv4_used, 0);
    grid.set_paused(c, true).await.expect("no-op");
    let info = grid.contract(&owner_of(&grid, c), c).await.expect("info");
    assert_eq!(info.state, ContractState::Deleted);
    let missing = grid.set_paused(ContractId(404), true).await;
    assert_eq!(missing, Err(GridError::UnknownContract(ContractId(404))));
}

#[tokio::test]
async fn pause_and_app_faults_survive_reopen_and_compaction() {
    let dir = tempdir();
    let (paused, broken);
    {
        let grid = open(dir.path(), small_cfg());
        paused = deploy(&grid, 1, first_node(&grid)).await.contract;
        broken = deploy(&grid, 2, first_node(&grid)).await.contract;
        grid.set_paused(paused, true).await.expect("pause");
        grid.fail_app(broken, "rpc stuck").expect("app fault");
    }
    let check = |grid: SimGrid| async move {
        let info = grid
            .contract(&owner_of(&grid, paused), paused)
            .await
            .expect("info");
        assert_eq!(info.state, ContractState::GracePeriod);
        let health = grid.probe(&target(broken)).await;
        assert_eq!(health, AppHealth::Unhealthy("rpc stuck".into()));
        grid
    };
    let grid = check(SimGrid::open(dir.path(), small_cfg()).expect("reopens")).await;
    let events = grid.lock().state.events();
    grid.lock().store.compact(&events).expect("compacts");
    drop(grid);
    check(SimGrid::open(dir.path(), small_cfg()).expect("reopens")).await;
}

#[tokio::test]
async fn the_simulated_probe_reports_every_kind_of_fault() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let node = first_node(&grid);
    let c = deploy(&grid, 1, node).await.contract;
    let unhealthy = |why: &str| AppHealth::Unhealthy(why.to_string());
    assert_eq!(grid.probe(&target(c)).await, AppHealth::Healthy);

    grid.fail_app(c, "port 9999 refused the connection")
        .expect("app fault");
    let health = grid.probe(&target(c)).await;
    assert_eq!(health, unhealthy("port 9999 refused the connection"));
    // The grid itself still sees a running workload: only the probe knows.
    assert_eq!(
        grid.contract(&owner_of(&grid, c), c)
            .await
            .map(|i| i.workload),
        Ok(WorkloadState::Ok)
    );
    grid.restore_app(c).expect("restore");
    assert_eq!(grid.probe(&target(c)).await, AppHealth::Healthy);

    grid.fail_workload(c, "oom").expect("fault");
    let health = grid.probe(&target(c)).await;
    assert_eq!(health, unhealthy("the workload failed: oom"));
    grid.restore_workload(c).expect("restore");
    grid.set_node_status(node, NodeStatus::Down).expect("down");
    let health = grid.probe(&target(c)).await;
    assert_eq!(health, unhealthy("the grid node is down"));
    grid.set_node_status(node, NodeStatus::Up).expect("up");
    grid.set_paused(c, true).await.expect("pause");
    let health = grid.probe(&target(c)).await;
    assert_eq!(health, unhealthy("the workload is paused (grace period)"));
    grid.set_paused(c, false).await.expect("resume");

    let other = deploy(&grid, 2, node).await.contract;
    grid.cancel(&owner_of(&grid, other), other)
        .await
        .expect("cancel");
    let targets = [target(c), target(other), target(ContractId(404))];
    let want = [
        AppHealth::Healthy,
        unhealthy("the contract was cancelled"),
        unhealthy("the contract does not exist"),
    ];
    assert_eq!(grid.probe_many(&targets), want);
    for (t, w) in targets.iter().zip(&want) {
        assert_eq!(&grid.probe(t).await, w);
    }
    let missing = grid.fail_app(ContractId(404), "x");
    assert_eq!(missing, Err(GridError::UnknownContract(ContractId(404))));
    assert!(grid.restore_app(ContractId(404)).is_err());
}

#[tokio::test]
async fn contracts_on_lists_the_live_contracts_of_a_node() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let ids = grid.node_ids();
    let a = deploy(&grid, 1, ids[0]).await.contract;
    let b = deploy(&grid, 2, ids[0]).await.contract;
    let c = deploy(&grid, 3, ids[0]).await.contract;
    let elsewhere = deploy(&grid, 4, ids[1]).await.contract;
    grid.cancel(&owner_of(&grid, b), b).await.expect("cancel");
    grid.set_paused(c, true).await.expect("pause");
    assert_eq!(grid.contracts_on(ids[0]), [a, c]);
    assert_eq!(grid.contracts_on(ids[1]), [elsewhere]);
    assert!(grid.contracts_on(GridNodeId(99_999)).is_empty());
}

#[test]
fn a_schedule_merges_overlaps_and_skips_empty_faults() {
    let (n1, n2) = (GridNodeId(1), GridNodeId(2));
    let min = |m: u64| Duration::from_secs(m * 60);
    let schedule = Schedule::new(&[
        fault(n1, 5.0, 10.0),
        fault(n2, 1.0, 0.0), // zero minutes: nothing happens
        fault(n1, 8.0, 20.0),
        fault(n2, 0.5, 1.0),
        fault(n1, 40.0, 1.0),
    ]);
    let change = |at: Duration, node, status| Change { at, node, status };
    let want = [
        change(Duration::from_secs(30), n2, NodeStatus::Down),
        change(Duration::from_secs(90), n2, NodeStatus::Up),
        change(min(5), n1, NodeStatus::Down),
        change(min(28), n1, NodeStatus::Up),
        change(min(40), n1, NodeStatus::Down),
        change(min(41), n1, NodeStatus::Up),
    ];
    assert_eq!(schedule.changes(), want);
    assert_eq!(schedule.due(Duration::ZERO), 0);
    assert_eq!(schedule.due(Duration::from_secs(30)), 1);
    assert_eq!(schedule.due(min(27)), 3);
    assert_eq!(schedule.due(min(1000)), 6);
    assert_eq!((schedule.at(3), schedule.at(6)), (Some(min(28)), None));
    assert!(Schedule::new(&[]).changes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn scheduled_faults_go_down_and_up_on_time() {
    let dir = tempdir();
    let ids = open(dir.path(), small_cfg()).node_ids();
    let cfg = SimConfig {
        node_down_rate_per_hour: 0.0,
        faults: vec![fault(ids[0], 2.0, 3.0), fault(ids[1], 0.5, 1.0)],
        ..small_cfg()
    };
    let grid = SimGrid::open(dir.path(), cfg).expect("opens");
    let churn = {
        let grid = grid.clone();
        tokio::spawn(async move { grid.run_churn(Duration::from_secs(60)).await })
    };
    let start = tokio::time::Instant::now();
    let status = |node: GridNodeId| grid.node(node).map(|n| n.status);
    let (up, down) = (Some(NodeStatus::Up), Some(NodeStatus::Down));
    let steps = [
        (29, up, up),
        (31, up, down),
        (89, up, down),
        (91, up, up),
        (119, up, up),
        (121, down, up),
        (299, down, up),
        (301, up, up),
    ];
    for (secs, first, second) in steps {
        tokio::time::sleep_until(start + Duration::from_secs(secs)).await;
        let now = (status(ids[0]), status(ids[1]));
        assert_eq!(now, (first, second), "at {secs} s");
        if secs == 121 {
            // Pinned like an operator's fault: churn does not revive it.
            grid.tick(10_000.0).expect("tick");
            assert_eq!(status(ids[0]), down);
        }
    }
    churn.abort();
}

#[test]
fn open_rejects_an_invalid_schedule() {
    let dir = tempdir();
    let node = first_node(&open(dir.path(), small_cfg()));
    let with = |faults| SimConfig {
        faults,
        ..small_cfg()
    };
    let unknown = SimGrid::open(dir.path(), with(vec![fault(GridNodeId(99_999), 1.0, 1.0)]));
    let err = unknown.err().expect("refused").to_string();
    assert!(err.contains("grid node 99999 does not exist"), "{err}");
    for (after, lasting) in [
        (-1.0, 1.0),
        (1.0, f64::NAN),
        (f64::INFINITY, 1.0),
        (1.0, 1e300),
    ] {
        let bad = SimGrid::open(dir.path(), with(vec![fault(node, after, lasting)]));
        assert!(bad.is_err(), "after {after}, for {lasting}");
    }
    let good = SimGrid::open(dir.path(), with(vec![fault(node, 0.0, 0.0)]));
    assert!(good.is_ok());
    let parsed: SimConfig = toml::from_str(&format!(
        "faults = [{{ node = {node}, after_minutes = 5, for_minutes = 2.5 }}]\n"
    ))
    .expect("parses");
    assert_eq!(parsed.faults, [fault(node, 5.0, 2.5)]);
    let typo = format!("faults = [{{ node = {node}, after = 5, for_minutes = 2.5 }}]\n");
    assert!(toml::from_str::<SimConfig>(&typo).is_err());
}
