//! Tests of the simulated grid: world, accounting, signatures, faults and
//! timing. The concurrency property test lives in `concurrency`, reopen and
//! journal tests in `persistence`, pauses, app faults, the probe and
//! scheduled outages in `faults`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::SigningKey;

use super::*;
use crate::crypto::IdentityKey;
use crate::grid::{Capacity, ContractId, ContractState, Grid, Placement, WorkloadState};
use crate::reservation::{Deployment, WorkloadSpec, build_deployment, sign};

mod concurrency;
mod faults;
mod persistence;

/// A small, deterministic, instant grid with every node up.
pub(super) fn small_cfg() -> SimConfig {
    SimConfig {
        seed: 7,
        farms: 3,
        nodes_per_farm: 2,
        deploy_seconds: 0.0,
        deploy_failure_rate: 0.0,
        public_ips_per_farm: 2,
        ..SimConfig::default()
    }
}

pub(super) fn open(dir: &Path, cfg: SimConfig) -> SimGrid {
    let grid = SimGrid::open(dir, cfg).expect("opens");
    for id in grid.node_ids() {
        grid.set_node_status(id, NodeStatus::Up)
            .expect("node exists");
    }
    grid
}

pub(super) fn spec(cpu: u32, memory_mib: u64, disk_gib: u64, ipv4: bool) -> WorkloadSpec {
    WorkloadSpec {
        name: "dash-full-amber-fox".into(),
        flist: "https://hub.grid.tf/jukebox/dash.flist".into(),
        entrypoint: "/sbin/zinit init".into(),
        cpu,
        memory_mib,
        disk_gib,
        public_ipv4: ipv4,
        env: BTreeMap::new(),
        ssh_key: None,
    }
}

pub(super) fn need(s: &WorkloadSpec) -> Capacity {
    Capacity {
        cpu: s.cpu,
        memory_mib: s.memory_mib,
        disk_gib: s.disk_gib,
        public_ipv4: s.public_ipv4,
    }
}

/// The test identity `k` (secret key `[k; 32]`).
pub(super) fn identity(k: u8) -> IdentityKey {
    IdentityKey::new(SigningKey::from_bytes(&[k; 32]))
}

/// The test identity registered as `twin` (tests use keys 1 to 16), or a
/// key no twin has, as a caller would hand the grid its own key.
pub(super) fn twin_identity(grid: &SimGrid, twin: u32) -> IdentityKey {
    let registered = grid.lock().state.twin_keys.get(&twin).copied();
    (1..=16)
        .map(identity)
        .find(|k| Some(k.public_key()) == registered)
        .unwrap_or_else(|| identity(0))
}

/// The identity of the twin a deployment is for, as the deployer hands it.
pub(super) fn owner(grid: &SimGrid, d: &Deployment) -> IdentityKey {
    twin_identity(grid, d.twin_id)
}

/// The identity of a contract's owner.
pub(super) fn owner_of(grid: &SimGrid, contract: ContractId) -> IdentityKey {
    let twin = grid.lock().state.contracts.get(&contract.0).map(|r| r.twin);
    twin.map_or_else(|| identity(0), |t| twin_identity(grid, t))
}

/// Registers the twin of key `k` and returns a deployment it signed.
pub(super) async fn signed(grid: &SimGrid, k: u8, s: &WorkloadSpec) -> Deployment {
    let key = SigningKey::from_bytes(&[k; 32]);
    let twin = grid.ensure_twin(&identity(k)).await.expect("twin");
    let mut d = build_deployment(twin.0, s, &[k; 32]).expect("builds");
    sign(&mut d, twin.0, &key);
    d
}

pub(super) fn first_node(grid: &SimGrid) -> GridNodeId {
    grid.node_ids()[0]
}

#[test]
fn world_is_reproducible_and_varied() {
    let (a, b, c) = (tempdir(), tempdir(), tempdir());
    let ga = SimGrid::open(a.path(), SimConfig::default()).expect("a");
    let gb = SimGrid::open(b.path(), SimConfig::default()).expect("b");
    let other = SimConfig {
        seed: 2,
        ..SimConfig::default()
    };
    let gc = SimGrid::open(c.path(), other).expect("c");
    let nodes = |g: &SimGrid| -> Vec<_> {
        g.node_ids()
            .into_iter()
            .map(|id| (g.node(id), g.node_resources(id)))
            .collect()
    };
    assert_eq!(nodes(&ga), nodes(&gb));
    assert_ne!(nodes(&ga), nodes(&gc));
    let stats = ga.stats();
    assert_eq!((stats.farms, ga.node_ids().len()), (24, 192));
    assert!(stats.nodes_down + stats.nodes_standby > 0, "{stats:?}");
    assert!(stats.nodes_up > 150, "{stats:?}");
    assert_eq!(stats.ipv4_total, 24 * 16);
    let countries: BTreeSet<String> = ga
        .node_ids()
        .into_iter()
        .filter_map(|id| ga.node(id).map(|n| n.country))
        .collect();
    assert!(countries.len() >= 15, "{countries:?}");
    for id in ga.node_ids() {
        let r = ga.node_resources(id).expect("node").total;
        assert!((8..=64).contains(&r.cpu));
        assert!((32 * 1024..=512 * 1024).contains(&r.memory_mib));
        assert!((931..=8 * 931).contains(&r.disk_gib));
    }
}

/// The default world holds nodes of 1 to 8 TB SSD and 32 to 512 GiB, as
/// grid nodes built for chains do: the catalog's Polygon node (8 cores,
/// 32 GiB, a 5 TB disk, a public IPv4) fits on some nodes in several
/// countries, not on every node, so its location menu is real but shorter.
#[tokio::test]
async fn a_five_terabyte_polygon_node_finds_a_few_places() {
    let dir = tempdir();
    let grid = open(dir.path(), SimConfig::default());
    let polygon = Capacity {
        cpu: 8,
        memory_mib: 32 * 1024,
        disk_gib: 4657,
        public_ipv4: true,
    };
    let small = Capacity {
        cpu: 1,
        memory_mib: 1024,
        disk_gib: 10,
        public_ipv4: true,
    };
    let count = |l: &crate::grid::Locations| l.countries.iter().map(|c| c.nodes).sum::<u32>();
    let big = grid.locations(&polygon).await.expect("locations");
    let all = grid.locations(&small).await.expect("locations");
    assert!(big.countries.len() >= 5, "{big:?}");
    assert!(
        count(&big) >= 20 && count(&big) < count(&all),
        "{} of {}",
        count(&big),
        count(&all)
    );
}

#[tokio::test]
async fn locations_list_only_places_with_room() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let small = spec(1, 1024, 1, false);
    let before = grid.locations(&need(&small)).await.expect("locations");
    let farm = before.farms[0].clone();
    assert_eq!(farm.nodes, 2);
    assert_eq!(before.countries.iter().map(|c| c.nodes).sum::<u32>(), 6);

    // Fill every cpu of both nodes of that farm.
    let farm_nodes: Vec<_> = grid
        .node_ids()
        .into_iter()
        .filter(|id| grid.node(*id).map(|n| n.farm_id) == Some(farm.id))
        .collect();
    for (k, id) in farm_nodes.iter().enumerate() {
        let total = grid.node_resources(*id).expect("node").total;
        let big = spec(u32::try_from(total.cpu).expect("small"), 1024, 1, false);
        let d = signed(&grid, 1 + k as u8, &big).await;
        grid.deploy(&owner(&grid, &d), *id, &need(&big), &d)
            .await
            .expect("deploys");
    }
    let after = grid.locations(&need(&small)).await.expect("locations");
    assert!(after.farms.iter().all(|f| f.id != farm.id), "{after:?}");
    assert_eq!(after.countries.iter().map(|c| c.nodes).sum::<u32>(), 4);
    let sorted = after
        .farms
        .windows(2)
        .all(|w| w[0].nodes > w[1].nodes || (w[0].nodes == w[1].nodes && w[0].name <= w[1].name));
    assert!(sorted, "{after:?}");
}

#[tokio::test]
async fn ipv4_exhaustion_removes_the_farm_for_ipv4_requests() {
    let dir = tempdir();
    let cfg = SimConfig {
        public_ips_per_farm: 1,
        ..small_cfg()
    };
    let grid = open(dir.path(), cfg);
    let with_ip = spec(1, 1024, 1, true);
    let node = first_node(&grid);
    let farm = grid.node(node).expect("node").farm_id;
    let d = signed(&grid, 1, &with_ip).await;
    let placed = grid
        .deploy(&owner(&grid, &d), node, &need(&with_ip), &d)
        .await
        .expect("ok");
    assert!(
        placed
            .ipv4
            .as_deref()
            .is_some_and(|ip| ip.starts_with("192.0.2."))
    );
    assert!(
        placed
            .ipv6
            .as_deref()
            .is_some_and(|ip| ip.starts_with("2001:db8:"))
    );
    assert!(
        placed
            .mycelium
            .as_deref()
            .is_some_and(|ip| ip.starts_with('4'))
    );

    let v4 = grid.locations(&need(&with_ip)).await.expect("locations");
    assert!(v4.farms.iter().all(|f| f.id != farm));
    let plain = grid.locations(&need(&spec(1, 1024, 1, false))).await;
    assert!(plain.expect("locations").farms.iter().any(|f| f.id == farm));
    let d2 = signed(&grid, 2, &with_ip).await;
    let again = grid
        .deploy(&owner(&grid, &d2), node, &need(&with_ip), &d2)
        .await;
    assert_eq!(again, Err(GridError::NoCapacity));
}

#[tokio::test]
async fn deployments_must_be_signed_by_the_registered_twin() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let s = spec(1, 1024, 1, false);
    let node = first_node(&grid);
    let good = signed(&grid, 1, &s).await;
    let twin = good.twin_id;

    let mut unsigned = good.clone();
    unsigned.signature_requirement.signatures.clear();
    let r = grid
        .deploy(&owner(&grid, &unsigned), node, &need(&s), &unsigned)
        .await;
    assert_eq!(r, Err(GridError::BadSignature(twin)));

    let mut wrong = good.clone();
    sign(&mut wrong, twin, &SigningKey::from_bytes(&[9; 32]));
    let r = grid
        .deploy(&owner(&grid, &wrong), node, &need(&s), &wrong)
        .await;
    assert_eq!(r, Err(GridError::BadSignature(twin)));

    let mut tampered = good.clone();
    tampered.description = "mine now".into();
    let r = grid
        .deploy(&owner(&grid, &tampered), node, &need(&s), &tampered)
        .await;
    assert_eq!(r, Err(GridError::BadSignature(twin)));

    let mut stranger = good.clone();
    stranger.twin_id = 999;
    let r = grid
        .deploy(&owner(&grid, &stranger), node, &need(&s), &stranger)
        .await;
    assert_eq!(r, Err(GridError::UnknownTwin(999)));

    let r = grid
        .deploy(
            &owner(&grid, &good),
            node,
            &need(&spec(2, 1024, 1, false)),
            &good,
        )
        .await;
    assert!(matches!(r, Err(GridError::Rejected(_))), "{r:?}");
    assert_eq!(grid.stats().used, Resources::default());
    assert!(
        grid.deploy(&owner(&grid, &good), node, &need(&s), &good)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn cancel_frees_capacity_and_is_idempotent() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let s = spec(4, 4096, 50, true);
    let d = signed(&grid, 1, &s).await;
    let placed = grid
        .deploy(&owner(&grid, &d), first_node(&grid), &need(&s), &d)
        .await;
    let placed = placed.expect("deploys");
    assert_eq!(grid.stats().ipv4_used, 1);
    grid.cancel(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("cancel");
    grid.cancel(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("cancel again");
    let stats = grid.stats();
    assert_eq!((stats.used, stats.ipv4_used), (Resources::default(), 0));
    assert_eq!((stats.contracts_active, stats.contracts_deleted), (0, 1));
    let info = grid
        .contract(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("info");
    assert_eq!(info.workload, WorkloadState::Deleted);
    let missing = grid
        .cancel(&owner_of(&grid, ContractId(404)), ContractId(404))
        .await;
    assert_eq!(missing, Err(GridError::UnknownContract(ContractId(404))));
}

#[tokio::test]
async fn a_failure_rate_of_one_leaves_nothing_reserved() {
    let dir = tempdir();
    let cfg = SimConfig {
        deploy_failure_rate: 1.0,
        ..small_cfg()
    };
    let grid = open(dir.path(), cfg);
    let s = spec(2, 2048, 10, true);
    let d = signed(&grid, 1, &s).await;
    for node in grid.node_ids() {
        let r = grid.deploy(&owner(&grid, &d), node, &need(&s), &d).await;
        assert!(matches!(r, Err(GridError::DeployFailed(_))), "{r:?}");
    }
    let stats = grid.stats();
    assert_eq!((stats.used, stats.ipv4_used), (Resources::default(), 0));
    assert_eq!((stats.contracts_active, stats.deploys_in_flight), (0, 0));
}

#[tokio::test]
async fn down_nodes_refuse_deploys_and_report_their_contracts() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let s = spec(1, 1024, 1, false);
    let d = signed(&grid, 1, &s).await;
    let ids = grid.node_ids();
    let placed = grid
        .deploy(&owner(&grid, &d), ids[0], &need(&s), &d)
        .await
        .expect("ok");
    assert_eq!(
        grid.contract(&owner_of(&grid, placed.contract), placed.contract)
            .await
            .map(|i| i.workload),
        Ok(WorkloadState::Ok)
    );
    grid.set_node_status(ids[0], NodeStatus::Down)
        .expect("down");
    let info = grid
        .contract(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("info");
    assert_eq!(info.node_status, NodeStatus::Down);
    assert_eq!(info.state, ContractState::Created);
    assert!(matches!(info.workload, WorkloadState::Error(_)));
    let other = signed(&grid, 2, &s).await;
    let r = grid
        .deploy(&owner(&grid, &other), ids[0], &need(&s), &other)
        .await;
    assert_eq!(r, Err(GridError::NodeNotUp(ids[0])));
    let r = grid
        .deploy(&owner(&grid, &d), GridNodeId(99_999), &need(&s), &d)
        .await;
    assert_eq!(r, Err(GridError::UnknownNode(GridNodeId(99_999))));
    let c = grid
        .candidates(&need(&s), &Placement::Random, &[], 100)
        .await;
    assert!(c.expect("candidates").iter().all(|n| n.id != ids[0]));
    // Churn leaves an operator-downed node alone; setting it up revives it.
    grid.tick(10_000.0).expect("tick");
    assert_eq!(grid.node(ids[0]).map(|n| n.status), Some(NodeStatus::Down));
    grid.set_node_status(ids[0], NodeStatus::Up).expect("up");
    grid.fail_workload(placed.contract, "oom").expect("fault");
    let info = grid
        .contract(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("info");
    assert_eq!(info.workload, WorkloadState::Error("oom".into()));
    grid.restore_workload(placed.contract).expect("restore");
    let info = grid
        .contract(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("info");
    assert_eq!(info.workload, WorkloadState::Ok);
}

#[tokio::test]
async fn candidates_respect_placement_avoid_and_limit() {
    let dir = tempdir();
    let grid = open(dir.path(), small_cfg());
    let n = need(&spec(1, 1024, 1, false));
    let all = grid.candidates(&n, &Placement::Random, &[], 100).await;
    let all = all.expect("candidates");
    assert_eq!(all.len(), 6);
    let first = all[0].clone();
    let by_country = Placement::Country(first.country.to_uppercase());
    let c = grid
        .candidates(&n, &by_country, &[], 100)
        .await
        .expect("ok");
    assert!(!c.is_empty() && c.iter().all(|x| x.country == first.country));
    let by_farm = Placement::Farm(first.farm_id);
    let f = grid.candidates(&n, &by_farm, &[first.id], 100).await;
    let f = f.expect("ok");
    assert!(
        f.iter()
            .all(|x| x.farm_id == first.farm_id && x.id != first.id)
    );
    assert_eq!(f.len(), 1);
    let two = grid.candidates(&n, &Placement::Random, &[], 2).await;
    assert_eq!(two.expect("ok").len(), 2);
}

#[test]
fn churn_takes_nodes_down_and_brings_them_back() {
    let dir = tempdir();
    let cfg = SimConfig {
        node_down_rate_per_hour: 1.0,
        ..small_cfg()
    };
    let grid = open(dir.path(), cfg.clone());
    let changes = grid.tick(100.0).expect("tick");
    assert_eq!(changes.len(), 6);
    assert_eq!(grid.stats().nodes_down, 6);
    drop(grid);
    let grid = SimGrid::open(dir.path(), cfg).expect("reopen");
    assert_eq!(grid.stats().nodes_down, 6);
    let back = grid.tick(1000.0).expect("tick");
    assert!(back.iter().all(|(_, s)| *s == NodeStatus::Up));
    assert_eq!(back.len(), 6);
}

#[tokio::test(start_paused = true)]
async fn deploy_takes_deploy_seconds_of_virtual_time() {
    let dir = tempdir();
    let cfg = SimConfig {
        deploy_seconds: 3.0,
        ..small_cfg()
    };
    let grid = std::sync::Arc::new(open(dir.path(), cfg));
    let s = spec(1, 1024, 1, false);
    let d = signed(&grid, 1, &s).await;
    let node = first_node(&grid);
    let start = tokio::time::Instant::now();
    grid.deploy(&owner(&grid, &d), node, &need(&s), &d)
        .await
        .expect("deploys");
    assert_eq!(start.elapsed(), Duration::from_secs(3));

    // While in flight the room is reserved; a node going down fails it.
    let other = signed(&grid, 2, &s).await;
    let task = {
        let (grid, d, n) = (grid.clone(), other, need(&s));
        tokio::spawn(async move { grid.deploy(&owner(&grid, &d), node, &n, &d).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(grid.stats().deploys_in_flight, 1);
    assert_eq!(grid.node_resources(node).expect("node").used.cpu, 2);
    grid.set_node_status(node, NodeStatus::Down).expect("down");
    let r = task.await.expect("joins");
    assert!(matches!(r, Err(GridError::DeployFailed(_))), "{r:?}");
    assert_eq!(grid.node_resources(node).expect("node").used.cpu, 1);

    // A caller that gives up mid-deploy leaves nothing reserved.
    grid.set_node_status(node, NodeStatus::Up).expect("up");
    let n = need(&s);
    let third = signed(&grid, 3, &s).await;
    let identity = owner(&grid, &third);
    let give_up = tokio::time::timeout(
        Duration::from_secs(1),
        grid.deploy(&identity, node, &n, &third),
    );
    assert!(give_up.await.is_err());
    assert_eq!(grid.stats().deploys_in_flight, 0);
    assert_eq!(grid.node_resources(node).expect("node").used.cpu, 1);
}

pub(super) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn config_reads_from_toml_with_defaults() {
    let cfg: SimConfig = toml::from_str("seed = 5\ndeploy_failure_rate = 0.0\n").expect("parses");
    let want = SimConfig {
        seed: 5,
        deploy_failure_rate: 0.0,
        ..SimConfig::default()
    };
    assert_eq!(cfg, want);
    assert!(
        toml::from_str::<SimConfig>("sead = 5\n").is_err(),
        "typos are caught"
    );
    let bad = SimConfig {
        deploy_failure_rate: 1.5,
        ..small_cfg()
    };
    assert!(SimGrid::open(tempdir().path(), bad).is_err());
}

/// As TFChain's `ContractIDByNodeIDAndHash`: a deploy of the same
/// deployment on the same node adopts the live contract instead of making a
/// second; the lookup finds it, the twin's listing shows it, a cancel
/// removes it from both, and after a reopen all of this still holds.
#[tokio::test]
async fn a_repeated_deploy_adopts_its_contract_and_the_lookups_find_it() {
    let dir = tempfile::tempdir().unwrap();
    let grid = open(dir.path(), small_cfg());
    let s = spec(2, 2048, 20, true);
    let d = signed(&grid, 3, &s).await;
    let twin = crate::grid::TwinId(d.twin_id);
    let hash = crate::reservation::deployment_hash_hex(&d);
    let node = first_node(&grid);
    assert_eq!(grid.contract_for(node, &hash).await.unwrap(), None);

    let placed = grid
        .deploy(&owner(&grid, &d), node, &need(&s), &d)
        .await
        .unwrap();
    let again = grid
        .deploy(&owner(&grid, &d), node, &need(&s), &d)
        .await
        .unwrap();
    assert_eq!(again, placed, "adopted, not made twice");
    assert_eq!(grid.stats().contracts_active, 1);
    assert_eq!(grid.stats().ipv4_used, 1);
    assert_eq!(
        grid.contract_for(node, &hash).await.unwrap(),
        Some(placed.contract)
    );
    assert_eq!(
        grid.contract_for(grid.node_ids()[1], &hash).await.unwrap(),
        None
    );
    let listed = grid.twin_contracts(twin).await.unwrap();
    assert_eq!(
        listed,
        [crate::grid::OwnedContract {
            contract: placed.contract,
            node,
            deployment_hash: hash.clone(),
        }]
    );
    assert!(
        grid.twin_contracts(crate::grid::TwinId(d.twin_id + 1))
            .await
            .unwrap()
            .is_empty()
    );

    drop(grid);
    let grid = SimGrid::open(dir.path(), small_cfg()).unwrap();
    assert_eq!(
        grid.contract_for(node, &hash).await.unwrap(),
        Some(placed.contract)
    );
    grid.cancel(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .unwrap();
    assert_eq!(grid.contract_for(node, &hash).await.unwrap(), None);
    assert!(grid.twin_contracts(twin).await.unwrap().is_empty());
    // Once cancelled, the same deployment may be made again, as on TFChain.
    let fresh = grid
        .deploy(&owner(&grid, &d), node, &need(&s), &d)
        .await
        .unwrap();
    assert_ne!(fresh.contract, placed.contract);
    assert_eq!(
        grid.contract_for(node, &hash).await.unwrap(),
        Some(fresh.contract)
    );
    // Adopted on a node that went down, it fails as a deploy there would,
    // and (as the real backend does) leaves no contract behind.
    grid.set_node_status(node, NodeStatus::Down).unwrap();
    assert_eq!(
        grid.deploy(&owner(&grid, &d), node, &need(&s), &d).await,
        Err(GridError::NodeNotUp(node))
    );
    assert_eq!(grid.contract_for(node, &hash).await.unwrap(), None);
    assert_eq!(grid.stats().contracts_active, 0);
}

#[test]
fn simulated_ipv4_addresses_are_documentation_addresses() {
    let documentation = |ip: &str| {
        let ip: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
        let [a, b, c, d] = ip.octets();
        matches!([a, b, c], [192, 0, 2] | [198, 51, 100] | [203, 0, 113]) && (1..=254).contains(&d)
    };
    let world = super::world::generate(&SimConfig::default());
    let all: Vec<&String> = world.farms.iter().flat_map(|f| &f.public_ips).collect();
    assert_eq!(all.len(), 24 * 16);
    assert!(all.iter().all(|ip| documentation(ip)), "{all:?}");
    // The default world's addresses are all different.
    let distinct: std::collections::BTreeSet<&&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len());
    // All three ranges are used before any address repeats.
    let n = super::world::DOCUMENTATION_V4_ADDRESSES;
    assert_eq!(super::world::documentation_ipv4(0), "192.0.2.1");
    assert_eq!(super::world::documentation_ipv4(254), "198.51.100.1");
    assert_eq!(super::world::documentation_ipv4(n - 1), "203.0.113.254");
    assert_eq!(super::world::documentation_ipv4(n), "192.0.2.1");
}

/// The simulated grid answers for its contracts' chains: a deployed node
/// syncs from block 0 from its deploy, a restart of the process keeps that
/// start (the journal's `created_at`), and a cancelled contract's node
/// does not answer.
#[tokio::test]
async fn contracts_chains_start_at_deploy_survive_a_restart_and_end_at_cancel() {
    use crate::catalog::Catalog;
    use crate::clock::{Clock, ManualClock};
    use crate::probe::{ChainProbe, ChainSource, ChainTarget};
    use std::sync::Arc;

    let catalog = Catalog::parse(
        "catalog.yaml",
        include_str!("../../../dialogues/catalog.yaml"),
    )
    .unwrap();
    let chain_spec = Arc::new(catalog.chain("dash").unwrap().probe.clone().unwrap());
    let dir = tempdir();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let grid = open(dir.path(), small_cfg()).with_clock(clock.clone());
    let s = spec(4, 4096, 50, false);
    let d = signed(&grid, 1, &s).await;
    let placed = grid
        .deploy(&owner(&grid, &d), first_node(&grid), &need(&s), &d)
        .await
        .expect("deploys");
    let target = ChainTarget {
        chain: "dash".into(),
        source: ChainSource::Node {
            contract: placed.contract,
            hosts: vec![],
            mycelium: None,
        },
        spec: chain_spec.clone(),
    };
    assert_eq!(grid.read_chain(&target).await.unwrap().height, 0);
    clock.advance(100);
    assert_eq!(grid.read_chain(&target).await.unwrap().height, 6_000);
    let (rate, started) = (
        u64::from(chain_spec.sim.sync_blocks_per_second),
        clock.now() - 100,
    );
    drop(grid);

    // A new process on the same state: the node keeps syncing from its
    // deploy, not from the restart.
    clock.advance(50);
    let grid = open(dir.path(), small_cfg()).with_clock(clock.clone());
    let height = grid.read_chain(&target).await.unwrap().height;
    assert_eq!(height, (clock.now() - started) * rate);

    grid.cancel(&owner_of(&grid, placed.contract), placed.contract)
        .await
        .expect("cancel");
    let gone = grid.read_chain(&target).await;
    assert!(gone.is_err(), "{gone:?}");
}
