//! What the reconciler and a resumed deploy ask of the real grid, against
//! the fakes: a deploy whose contract an interrupted run already made on
//! TFChain adopts it (`ContractIDByNodeIDAndHash`), whether or not the
//! node got the deployment; and a twin's contracts, listed by the grid
//! proxy (`GET /contracts?twin_id=&state=`) and each confirmed on TFChain.

use std::time::Duration;

use jukebox::crypto::IdentityKey;
use jukebox::grid::tfgrid::adapter::TfGrid;
use jukebox::grid::{ContractId, Grid, GridNodeId, OwnedContract, TwinId};
use jukebox::reservation::{deployment_hash_ascii, deployment_hash_hex};

use super::fake_tfchain::{ContractState as ChainState, FakeContract};
use super::setup::{build_backend, deployment, grid, healthy, index, live_contracts, need};

fn deploys_sent(g: &super::setup::Fakes) -> usize {
    g.relay
        .state()
        .delivered
        .iter()
        .filter(|(_, _, command)| command == "zos.deployment.deploy")
        .count()
}

#[tokio::test]
async fn a_deploy_adopts_the_contract_an_interrupted_run_made() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let d = deployment(&g, 3, &g.user);
    // The run that crashed got as far as the contract: it is on chain, the
    // node has nothing yet. The node is full now (the contract's share
    // counts as used), which must not stop the adoption.
    {
        let mut world = g.chain.world();
        world.contracts.insert(
            1,
            FakeContract {
                twin: g.twin,
                node: 1,
                hash: deployment_hash_ascii(&d),
                data: d.metadata.as_bytes().to_vec(),
                public_ips: 1,
                state: ChainState::Created,
            },
        );
        world.seal();
    }
    g.proxy.state().nodes[0].used_mru_gib = 64;

    let placed = g
        .backend
        .deploy(&g.user, GridNodeId(1), &need(), &d)
        .await
        .unwrap();
    assert_eq!(placed.contract, ContractId(1));
    assert_eq!(live_contracts(&g), [1]);
    assert!(g.relay.state().node_has(1001, 1));
    assert!(
        !g.chain
            .world()
            .applied
            .iter()
            .any(|c| c == "SmartContractModule.create_node_contract"),
        "no second contract was asked for"
    );
    assert_eq!(deploys_sent(&g), 1);

    // Crashed again after the hand-over: the node holds it already and
    // would refuse a second `deploy` ("exists"), so none is sent.
    let again = g
        .backend
        .deploy(&g.user, GridNodeId(1), &need(), &d)
        .await
        .unwrap();
    assert_eq!(again.contract, ContractId(1));
    assert_eq!(deploys_sent(&g), 1);
    assert_eq!(live_contracts(&g), [1]);
}

#[tokio::test]
async fn a_twins_contracts_are_listed_by_the_proxy_and_confirmed_on_tfchain() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let identity = IdentityKey::new(g.user.clone());
    let backend = build_backend(&g.proxy, &g.relay, &g.chain, Duration::from_secs(5));
    let tfgrid = TfGrid::new(backend);
    let kept = deployment(&g, 3, &g.user);
    let gone = deployment(&g, 4, &g.user);
    let first = tfgrid
        .deploy(&identity, GridNodeId(1), &need(), &kept)
        .await
        .unwrap();
    let second = tfgrid
        .deploy(&identity, GridNodeId(2), &need(), &gone)
        .await
        .unwrap();
    let hash = deployment_hash_hex(&kept);
    assert_eq!(
        tfgrid.contract_for(GridNodeId(1), &hash).await.unwrap(),
        Some(first.contract)
    );
    assert_eq!(
        tfgrid.contract_for(GridNodeId(2), &hash).await.unwrap(),
        None
    );
    assert_eq!(
        tfgrid.contract_for(GridNodeId(1), "short").await.unwrap(),
        None
    );

    // The indexer caught up; then the second contract is cancelled and the
    // proxy still lists it as created. Another twin's contract is listed
    // under our twin by a confused proxy; both must be left out.
    index(&g.proxy, &g.chain);
    tfgrid.cancel(&identity, second.contract).await.unwrap();
    {
        let mut s = g.proxy.state();
        let mut stranger = s.contracts[0].clone();
        stranger["contract_id"] = 77.into();
        s.contracts.push(stranger);
    }
    {
        let mut world = g.chain.world();
        let mut other = world.contracts[&1].clone();
        other.twin = 7;
        world.contracts.insert(77, other);
        world.seal();
    }
    g.proxy.take_requests();
    let owned = tfgrid.twin_contracts(TwinId(g.twin)).await.unwrap();
    assert_eq!(
        owned,
        [OwnedContract {
            contract: first.contract,
            node: GridNodeId(1),
            deployment_hash: hash,
        }]
    );
    assert_eq!(
        g.proxy.take_requests(),
        [format!(
            "/contracts?twin_id={}&state=Created,GracePeriod&type=node&size=100&page=1",
            g.twin
        )]
    );
}

#[tokio::test]
async fn a_long_listing_is_read_page_by_page_and_nothing_only_the_proxy_knows_is_kept() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let identity = IdentityKey::new(g.user.clone());
    let backend = build_backend(&g.proxy, &g.relay, &g.chain, Duration::from_secs(5));
    let tfgrid = TfGrid::new(backend);
    let real = tfgrid
        .deploy(
            &identity,
            GridNodeId(3),
            &need(),
            &deployment(&g, 3, &g.user),
        )
        .await
        .unwrap();
    index(&g.proxy, &g.chain);
    {
        let mut s = g.proxy.state();
        let template = s.contracts[0].clone();
        for id in 1000..1150u64 {
            let mut c = template.clone();
            c["contract_id"] = id.into();
            s.contracts.push(c);
        }
    }
    g.proxy.take_requests();
    let owned = tfgrid.twin_contracts(TwinId(g.twin)).await.unwrap();
    let ids: Vec<ContractId> = owned.iter().map(|c| c.contract).collect();
    assert_eq!(ids, [real.contract]);
    let pages: Vec<String> = g
        .proxy
        .take_requests()
        .into_iter()
        .map(|r| r.rsplit('&').next().unwrap().to_owned())
        .collect();
    assert_eq!(pages, ["page=1", "page=2"]);
}
