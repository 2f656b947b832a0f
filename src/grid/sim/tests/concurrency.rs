//! Property test: many concurrent deploys of random sizes on a small grid
//! never overbook a node or a farm's IP pool, and every success is accounted
//! for exactly once (also after a reopen).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::{identity, need, open, small_cfg, spec, tempdir};
use crate::grid::sim::{Resources, SimGrid};
use crate::grid::{Grid, GridError};
use crate::reservation::{build_deployment, sign};

/// (cpu, memory GiB, disk GiB, public IPv4, node index)
type Order = (u32, u64, u64, bool, usize);

fn orders() -> impl Strategy<Value = Vec<Order>> {
    prop::collection::vec(
        (1u32..=24, 1u64..=160, 1u64..=2000, any::<bool>(), 0usize..6),
        1..48,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_deploys_never_overbook(orders in orders()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(check(orders));
    }
}

async fn check(orders: Vec<Order>) {
    let dir = tempdir();
    let grid = Arc::new(open(dir.path(), small_cfg()));
    let ids = grid.node_ids();
    // A few twins, keys derived once: debug-build ed25519 is slow.
    let mut twins = Vec::new();
    for k in 1..=4u8 {
        let key = SigningKey::from_bytes(&[k; 32]);
        let twin = grid.ensure_twin(&identity(k)).await;
        twins.push((twin.expect("twin").0, key, identity(k)));
    }
    let twins = Arc::new(twins);
    let mut tasks = Vec::new();
    for (k, (cpu, mem_gib, disk, ipv4, node)) in orders.into_iter().enumerate() {
        let s = spec(cpu, mem_gib * 1024, disk, ipv4);
        let (grid, node, twins) = (grid.clone(), ids[node], twins.clone());
        tasks.push(tokio::spawn(async move {
            // Signed inside the task so signing runs in parallel too.
            let (twin, key, identity) = &twins[k % twins.len()];
            let mut d = build_deployment(*twin, &s, &[k as u8; 32]).expect("builds");
            sign(&mut d, *twin, key);
            let r = grid.deploy(identity, node, &need(&s), &d).await;
            (node, s, r)
        }));
    }

    let mut expected: BTreeMap<_, Resources> = BTreeMap::new();
    let mut contracts = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for t in tasks {
        let (node, s, r) = t.await.expect("task joins");
        match r {
            Ok(placed) => {
                assert_eq!(placed.node.id, node);
                assert!(contracts.insert(placed.contract), "contract id reused");
                if let Some(ip) = placed.ipv4 {
                    assert!(s.public_ipv4);
                    assert!(ips.insert(ip), "public IP handed out twice");
                }
                let e = expected.entry(node).or_default();
                e.cpu += u64::from(s.cpu);
                e.memory_mib += s.memory_mib;
                e.disk_gib += s.disk_gib;
            }
            Err(GridError::NoCapacity) => {}
            Err(other) => panic!("unexpected failure {other:?}"),
        }
    }

    let report = |g: &SimGrid| {
        for id in &ids {
            let r = g.node_resources(*id).expect("node");
            let want = expected.get(id).copied().unwrap_or_default();
            assert_eq!(r.used, want, "node {id} accounting");
            assert!(r.used.cpu <= r.total.cpu, "node {id} cpu overbooked");
            assert!(
                r.used.memory_mib <= r.total.memory_mib,
                "node {id} memory overbooked"
            );
            assert!(
                r.used.disk_gib <= r.total.disk_gib,
                "node {id} disk overbooked"
            );
        }
        let stats = g.stats();
        assert_eq!(stats.contracts_active, contracts.len());
        assert_eq!(stats.ipv4_used, ips.len());
        assert!(stats.ipv4_used <= stats.ipv4_total);
        assert_eq!(stats.deploys_in_flight, 0);
    };
    report(&grid);
    drop(grid);
    let reopened = SimGrid::open(dir.path(), small_cfg()).expect("reopens");
    report(&reopened);
}
