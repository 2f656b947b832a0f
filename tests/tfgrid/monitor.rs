//! The monitor's fast batch (`Grid::contracts` on the real grid) against the
//! fakes: TFChain read for every contract, each grid node's status read once,
//! no RMB call and no key; the outer error when TFChain is unreachable; and
//! a backend built before TFChain listens, which works once it does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::grid::tfgrid::adapter::TfGrid;
use jukebox::grid::tfgrid::backend::TfGridBackend;
use jukebox::grid::{
    ContractId, ContractInfo, ContractState, Grid, GridError, GridNodeId, NodeStatus, WorkloadState,
};

use super::fake_gridproxy::{FakeGridProxy, FakeNode, Fault};
use super::fake_relay::FakeRelay;
use super::fake_tfchain::{ContractState as ChainState, FakeTfchain};
use super::setup::{TFT, backend_at, build_backend, put_contracts};

/// An address nothing listens on (for now).
async fn free_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn info(id: u64, node: u32, state: ContractState, node_status: NodeStatus) -> ContractInfo {
    let workload = match (state, node_status) {
        (ContractState::Deleted, _) => WorkloadState::Deleted,
        (ContractState::GracePeriod, _) => WorkloadState::Paused,
        (ContractState::Created, NodeStatus::Up) => WorkloadState::Ok,
        (ContractState::Created, _) => WorkloadState::Error("the grid node is not up".into()),
    };
    ContractInfo {
        contract: ContractId(id),
        node: GridNodeId(node),
        state,
        workload,
        node_status,
    }
}

#[tokio::test]
async fn the_batch_reads_the_chain_and_each_node_once_and_calls_no_node() {
    // Nodes 1-3 up, 4 down; node 9 hosts a contract but is gone from the
    // proxy (removed from the grid).
    let mut nodes: Vec<FakeNode> = (1..=4).map(|id| FakeNode::new(id, 1, "Belgium")).collect();
    nodes[3].status = "down";
    let proxy = FakeGridProxy::start(nodes).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    let mut contracts: BTreeMap<u64, (u32, ChainState)> = (1..=40)
        .map(|id| ((id), ((id % 4) as u32 + 1, ChainState::Created)))
        .collect();
    contracts.insert(41, (9, ChainState::Created));
    contracts.get_mut(&6).unwrap().1 = ChainState::GracePeriod(100);
    contracts.get_mut(&11).unwrap().1 = ChainState::Deleted;
    put_contracts(&chain, &contracts);
    let backend = build_backend(&proxy, &relay, &chain, Duration::from_secs(5));
    // No key at all: the grid holds none, and the batch takes none.
    let grid = TfGrid::new(backend);

    // Backwards, with an id the chain does not know in the middle.
    let mut asked: Vec<ContractId> = (1..=41).rev().map(ContractId).collect();
    asked.insert(20, ContractId(999));
    let answers = grid.contracts(&asked).await.unwrap();

    let expected: Vec<Result<ContractInfo, GridError>> = asked
        .iter()
        .map(|id| {
            let (node, state) = contracts
                .get(&id.0)
                .ok_or(GridError::UnknownContract(*id))?;
            let state = match state {
                ChainState::Created => ContractState::Created,
                ChainState::GracePeriod(_) => ContractState::GracePeriod,
                // A cancelled contract is removed from TFChain's storage
                // (see `fake_tfchain.rs`): the chain no longer knows it.
                ChainState::Deleted => return Err(GridError::UnknownContract(*id)),
            };
            let status = if (1..=3).contains(node) {
                NodeStatus::Up
            } else {
                NodeStatus::Down
            };
            Ok(info(id.0, *node, state, status))
        })
        .collect();
    assert_eq!(answers, expected);
    // Spot checks of the rules themselves.
    assert_eq!(
        answers[0],
        Ok(info(41, 9, ContractState::Created, NodeStatus::Down))
    );
    assert_eq!(
        answers[20],
        Err(GridError::UnknownContract(ContractId(999)))
    );

    // Each distinct node once, nothing else from the proxy.
    let mut requests = proxy.take_requests();
    requests.sort();
    assert_eq!(
        requests,
        ["/nodes/1", "/nodes/2", "/nodes/3", "/nodes/4", "/nodes/9"]
    );
    // No RMB call, no key.
    let relay = relay.state();
    assert_eq!((relay.connections, relay.frames), (0, 0));
    assert!(relay.delivered.is_empty());
}

#[tokio::test]
async fn a_node_the_proxy_cannot_read_leaves_only_its_contracts_unknown() {
    let proxy = FakeGridProxy::start(vec![
        FakeNode::new(1, 1, "Belgium"),
        FakeNode::new(2, 1, "Belgium"),
    ])
    .await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    let contracts = (1..=6)
        .map(|id| (id, ((id % 2) as u32 + 1, ChainState::Created)))
        .collect();
    put_contracts(&chain, &contracts);
    let backend = build_backend(&proxy, &relay, &chain, Duration::from_secs(5));
    // Whichever node is read first meets the fault.
    proxy
        .state()
        .faults
        .push(Fault::Status(500, r#"{"error":"database is down"}"#.into()));
    let asked: Vec<ContractId> = (1..=6).map(ContractId).collect();
    let answers = backend.contracts(&asked).await.unwrap();
    let failed: Vec<u32> = contracts
        .iter()
        .zip(&answers)
        .filter(|(_, a)| matches!(a, Err(GridError::Unavailable(_))))
        .map(|((_, (node, _)), _)| *node)
        .collect();
    assert_eq!(failed.len(), 3, "{answers:?}");
    assert!(failed.iter().all(|n| *n == failed[0]));
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 3);

    // Every node unreadable: the grid could not be asked at all.
    for _ in 0..2 {
        proxy.state().faults.push(Fault::Status(503, "busy".into()));
    }
    assert!(matches!(
        backend.contracts(&asked).await,
        Err(GridError::Unavailable(_))
    ));
}

#[tokio::test]
async fn the_batch_fails_as_a_whole_when_tfchain_is_unreachable() {
    let proxy = FakeGridProxy::start(vec![FakeNode::new(1, 1, "Belgium")]).await;
    let relay = FakeRelay::start().await;
    let nowhere = format!("ws://{}", free_address().await);
    let backend = backend_at(&proxy.url, &relay.url, &nowhere, Duration::from_secs(5));
    let grid = TfGrid::new(backend);
    let asked = [ContractId(1), ContractId(2), ContractId(3)];
    let err = grid.contracts(&asked).await.unwrap_err();
    assert!(
        matches!(&err, GridError::Unavailable(m) if m.contains("TFChain")),
        "{err:?}"
    );
    assert!(proxy.take_requests().is_empty());
    // An empty batch asks nobody and answers nothing.
    assert_eq!(grid.contracts(&[]).await, Ok(Vec::new()));
}

#[tokio::test]
async fn a_backend_built_before_tfchain_listens_works_once_it_does() {
    let proxy = FakeGridProxy::start(vec![FakeNode::new(1, 1, "Belgium")]).await;
    let relay = FakeRelay::start().await;
    let address = free_address().await;
    let config = jukebox::config::TfgridConfig {
        proxy_url: proxy.url.clone(),
        tfchain_url: format!("ws://{address}"),
        relay_url: relay.url.clone(),
        terms_hash: Some(super::setup::TERMS_HASH.into()),
        ..Default::default()
    };
    config.validate(jukebox::config::Network::Dev).unwrap();
    // Nothing listens yet, and building the backend does not mind.
    let backend =
        TfGridBackend::from_config(jukebox::config::Network::Dev, &config, "jukebox", None)
            .unwrap();
    let user = SigningKey::from_bytes(&[2; 32]);
    let err = backend.ensure_twin(&user).await.unwrap_err();
    assert!(matches!(&err, GridError::Unavailable(_)), "{err:?}");

    // TFChain comes up where the backend points: the next call connects.
    let chain = FakeTfchain::start_on(address).await;
    chain.fund(user.verifying_key().to_bytes(), TFT);
    let twin = backend.ensure_twin(&user).await.unwrap();
    assert_eq!(
        chain.world().twins[&twin.0].0,
        user.verifying_key().to_bytes()
    );
    put_contracts(&chain, &BTreeMap::from([(1, (1, ChainState::Created))]));
    let answers = backend.contracts(&[ContractId(1)]).await.unwrap();
    assert_eq!(
        answers,
        [Ok(info(1, 1, ContractState::Created, NodeStatus::Up))]
    );
}
