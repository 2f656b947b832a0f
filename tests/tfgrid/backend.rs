//! The real backend against all three fakes at once (grid proxy, TFChain,
//! relay with Zero-OS nodes): a twin per identity, deploy, status, delete
//! and redeploy, and failures that leave no contract behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::crypto::IdentityKey;
use jukebox::grid::tfgrid::adapter::TfGrid;
use jukebox::grid::tfgrid::backend::TfGridBackend;
use jukebox::grid::tfgrid::rmb::zos::ZosNode;
use jukebox::grid::tfgrid::rmb::{Remote, RmbError, RmbPeer, RmbSettings};
use jukebox::grid::{
    ContractId, ContractInfo, ContractState, Grid, GridError, GridNodeId, NodeStatus, Placed,
    Placement, TwinId, WorkloadState,
};
use jukebox::reservation::Deployment;
use md5::Digest as _;

use super::fake_gridproxy::{FakeGridProxy, FakeNode};
use super::fake_relay::{Behaviour, DELETE, FakeRelay};
use super::fake_server::Server;
use super::fake_tfchain::{ChainNode, FakeTfchain, OPTED_OUT};
use super::setup::{
    Fakes, TFT, build_backend, deployment, fakes, grid, healthy, live_contracts, need,
};

/// The contract's status as the [`Grid`] trait asks it: read from the
/// chain first, then handed to the backend with the owner's key.
async fn contract(g: &Fakes, id: ContractId) -> Result<ContractInfo, GridError> {
    let on_chain = g.backend.chain_contract(id).await?;
    g.backend.contract(&g.user, &on_chain).await
}

/// Deploys `d` on grid node `node` with the user's key, for [`need`].
async fn deploy_on(g: &Fakes, node: u32, d: &Deployment) -> Result<Placed, GridError> {
    g.backend
        .deploy(&g.user, GridNodeId(node), &need(), d)
        .await
}

/// Cancels the contract as the [`Grid`] trait does: read from the chain
/// first, then cancelled with the owner's key.
async fn cancel(g: &Fakes, id: ContractId) -> Result<(), GridError> {
    let on_chain = g.backend.chain_contract(id).await?;
    g.backend.cancel(&g.user, &on_chain).await
}

#[tokio::test]
async fn deploy_status_delete_and_redeploy_through_the_real_backend() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    assert_eq!(g.twin, 1004);
    // The twin exists once, with our relay.
    assert_eq!(g.backend.ensure_twin(&g.user).await.unwrap().0, 1004);

    let found = g
        .backend
        .candidates(&need(), &Placement::Random, &[], 3)
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    let first = deployment(&g, 3, &g.user);
    let placed = deploy_on(&g, 1, &first).await.unwrap();
    assert_eq!(placed.contract, ContractId(1));
    assert_eq!(placed.node.id, GridNodeId(1));
    assert_eq!(placed.ipv4.as_deref(), Some("185.206.122.40/24"));
    assert_eq!(placed.mycelium.as_deref(), Some("5a1:7b2:c3d4::1"));
    assert!(g.relay.state().node_has(1001, 1));
    {
        let world = g.chain.world();
        let c = &world.contracts[&1];
        assert_eq!((c.twin, c.node, c.public_ips), (1004, 1, 1));
        assert_eq!(c.data, first.metadata.as_bytes());
    }

    let info = contract(&g, ContractId(1)).await.unwrap();
    assert_eq!(info.state, ContractState::Created);
    assert_eq!(info.workload, WorkloadState::Ok);
    assert_eq!(info.node_status, NodeStatus::Up);

    // Redeploy: the new contract elsewhere first, then the old one goes.
    let second = deployment(&g, 4, &g.user);
    let moved = deploy_on(&g, 2, &second).await.unwrap();
    assert_eq!(moved.contract, ContractId(2));
    assert_eq!(live_contracts(&g), [1, 2]);
    cancel(&g, ContractId(1)).await.unwrap();
    assert_eq!(live_contracts(&g), [2]);
    assert!(
        !g.relay.state().node_has(1001, 1),
        "the node saw the cancel on chain"
    );

    // Delete: the contract is cancelled. Cancelling again finds no
    // contract (TFChain removed it), which every caller takes as done
    // (`service/intents.rs`, `service/reconcile.rs`).
    cancel(&g, ContractId(2)).await.unwrap();
    assert_eq!(
        cancel(&g, ContractId(2)).await,
        Err(GridError::UnknownContract(ContractId(2)))
    );
    assert!(live_contracts(&g).is_empty());
    // TFChain removes a cancelled contract from storage (pallet-smart-contract
    // `grid_contract.rs` `remove_contract`): the chain no longer knows it,
    // which the monitor reads as deleted (`lifecycle::grid_verdict`).
    assert_eq!(
        contract(&g, ContractId(2)).await,
        Err(GridError::UnknownContract(ContractId(2)))
    );
    assert_no_delete_was_sent(&g);
    // Cancelling a cancelled contract sends nothing more.
    assert_eq!(
        g.chain
            .world()
            .applied
            .iter()
            .filter(|c| *c == "SmartContractModule.cancel_contract")
            .count(),
        2
    );
}

/// Zero-OS refuses `zos.deployment.delete`: it must never be sent.
fn assert_no_delete_was_sent(g: &Fakes) {
    let s = g.relay.state();
    assert!(
        s.delivered.iter().all(|(_, _, command)| command != DELETE),
        "{:?}",
        s.delivered
    );
}

/// The proxy may lag the chain: a node it still shows as free was rented
/// by another twin meanwhile. The chain refuses the contract
/// (`NodeNotAvailableToDeploy`), nothing is left, and another node is tried.
#[tokio::test]
async fn a_contract_on_a_node_rented_meanwhile_is_refused_and_leaves_nothing() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    g.chain.world().nodes.insert(
        3,
        ChainNode {
            rented_by: Some(77),
            ..ChainNode::default()
        },
    );
    g.chain.seal();
    let d = deployment(&g, 3, &g.user);
    let err = deploy_on(&g, 3, &d).await.unwrap_err();
    assert_eq!(
        err,
        GridError::DeployFailed("grid node 3 is rented by another twin or kept for renters".into())
    );
    assert!(err.try_elsewhere());
    assert!(g.chain.world().contracts.is_empty());
    assert!(g.relay.state().delivered.is_empty());
    assert_eq!(live_contracts(&g), Vec::<u64>::new());
    deploy_on(&g, 1, &d).await.unwrap();
}

/// The proxy and the chain agree the node is rented: by another twin, it
/// is refused before any contract; by the deploying twin itself, it is
/// used (`rentedByTwinId` equal to ours).
#[tokio::test]
async fn a_rented_node_takes_only_its_renters_deployments() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    {
        let mut proxy = g.proxy.state();
        proxy.nodes[0].rented_by = Some(g.twin);
        proxy.nodes[1].rented_by = Some(77);
        proxy.nodes[2].dedicated_farm = true;
    }
    {
        let mut world = g.chain.world();
        let rented = |twin| ChainNode {
            rented_by: Some(twin),
            ..ChainNode::default()
        };
        world.nodes.insert(1, rented(g.twin));
        world.nodes.insert(2, rented(77));
        world.nodes.insert(
            3,
            ChainNode {
                dedicated_farm: true,
                ..ChainNode::default()
            },
        );
    }
    g.chain.seal();
    let d = deployment(&g, 3, &g.user);
    for node in [2, 3] {
        let err = deploy_on(&g, node, &d).await.unwrap_err();
        assert_eq!(err, GridError::NoCapacity, "node {node}");
    }
    assert!(
        g.chain
            .world()
            .applied
            .iter()
            .all(|c| !c.contains("create_node_contract"))
    );
    let placed = deploy_on(&g, 1, &d).await.unwrap();
    assert_eq!(placed.node.id, GridNodeId(1));
    assert_eq!(live_contracts(&g), [placed.contract.0]);
}

#[tokio::test]
async fn a_node_opted_out_of_v3_billing_is_not_offered_again() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    g.chain.world().refusing_nodes.insert(3, OPTED_OUT.into());
    let d = deployment(&g, 3, &g.user);
    let err = deploy_on(&g, 3, &d).await.unwrap_err();
    assert_eq!(
        err,
        GridError::DeployFailed("grid node 3 is not open to v3 deployments".into())
    );
    assert!(err.try_elsewhere());
    assert!(g.chain.world().contracts.is_empty());
    assert!(g.relay.state().delivered.is_empty());
    // The proxy's order is random: ask a few times, never node 3.
    g.proxy.take_requests();
    for _ in 0..5 {
        let found = g
            .backend
            .candidates(&need(), &Placement::Random, &[], 3)
            .await
            .unwrap();
        let ids: Vec<u32> = found.iter().map(|n| n.id.0).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(!ids.contains(&3), "{ids:?}");
    }
    // The proxy is told, so it does not spend a slot of the page on it.
    assert!(
        g.proxy
            .take_requests()
            .iter()
            .all(|r| r.contains("excluded=3"))
    );
    // The same deployment goes elsewhere.
    let placed = deploy_on(&g, 1, &d).await.unwrap();
    assert_eq!(live_contracts(&g), [placed.contract.0]);
}

#[tokio::test]
async fn a_silent_node_times_out_and_the_contract_is_cancelled() {
    let g = grid(
        [Behaviour::Silent, healthy(), healthy()],
        Duration::from_millis(300),
    )
    .await;
    let d = deployment(&g, 3, &g.user);
    let err = deploy_on(&g, 1, &d).await.unwrap_err();
    assert!(
        matches!(&err, GridError::DeployFailed(m) if m.contains("did not answer")),
        "{err:?}"
    );
    assert!(err.try_elsewhere());
    // The contract was made, then cancelled: nothing keeps paying.
    assert_eq!(g.chain.world().contracts.len(), 1);
    assert!(live_contracts(&g).is_empty());
    assert_no_delete_was_sent(&g);
}

#[tokio::test]
async fn a_failing_workload_is_deleted_and_its_contract_cancelled() {
    let failing = Behaviour::WorkloadFails("flist not found".into());
    let g = grid([failing, healthy(), healthy()], Duration::from_secs(5)).await;
    let d = deployment(&g, 3, &g.user);
    let err = deploy_on(&g, 1, &d).await.unwrap_err();
    assert_eq!(
        err,
        GridError::DeployFailed("dash1: flist not found".into())
    );
    assert!(live_contracts(&g).is_empty());
    assert!(!g.relay.state().node_has(1001, 1));
    assert_no_delete_was_sent(&g);
    // Another node takes the same deployment: a new contract there.
    let placed = deploy_on(&g, 2, &d).await.unwrap();
    assert_eq!(live_contracts(&g), [placed.contract.0]);
}

#[tokio::test]
async fn a_deployment_not_signed_by_the_twin_is_refused_before_any_contract() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let forged = deployment(&g, 3, &SigningKey::from_bytes(&[9; 32]));
    let err = deploy_on(&g, 1, &forged).await.unwrap_err();
    assert_eq!(err, GridError::BadSignature(1004));
    let stranger = SigningKey::from_bytes(&[8; 32]);
    let d = deployment(&g, 3, &g.user);
    let err = g
        .backend
        .deploy(&stranger, GridNodeId(1), &need(), &d)
        .await
        .unwrap_err();
    assert_eq!(err, GridError::UnknownTwin(1004));
    assert!(g.chain.world().contracts.is_empty());
}

/// Only the contract's owner cancels it: TFChain refuses any other signer
/// (tfchain pallet-smart-contract `grid_contract.rs`, `_cancel_contract`:
/// `ContractNotExists`, then the twin's account must be the signer's, else
/// `TwinNotAuthorizedToCancelContract`), and the contract stays live.
#[tokio::test]
async fn a_cancel_signed_by_another_key_is_refused_and_changes_nothing() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let d = deployment(&g, 3, &g.user);
    let placed = deploy_on(&g, 1, &d).await.unwrap();
    let on_chain = g.backend.chain_contract(placed.contract).await.unwrap();
    // A funded account (an unfunded one is refused before any dispatch,
    // for the fee), but not the contract's twin.
    let stranger = SigningKey::from_bytes(&[8; 32]);
    g.chain.fund(stranger.verifying_key().to_bytes(), TFT);
    let err = g.backend.cancel(&stranger, &on_chain).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("TwinNotAuthorizedToCancelContract"),
        "{err}"
    );
    assert_eq!(live_contracts(&g), [placed.contract.0]);
    g.backend.cancel(&g.user, &on_chain).await.unwrap();
    assert!(live_contracts(&g).is_empty());
}

#[tokio::test]
async fn the_backend_is_built_from_the_grid_config() {
    let proxy = FakeGridProxy::start(vec![FakeNode::new(1, 1, "Belgium")]).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    let user = SigningKey::from_bytes(&[2; 32]);
    chain.fund(user.verifying_key().to_bytes(), TFT);
    let (docs, fetches, _server) = terms_server().await;
    let config = jukebox::config::TfgridConfig {
        proxy_url: proxy.url.clone(),
        tfchain_url: chain.url.clone(),
        relay_url: relay.url.clone(),
        // No terms_hash, as an operator's config leaves it: the document
        // at the link is fetched and hashed.
        terms_link: format!("{docs}/legal"),
        ..Default::default()
    };
    config.validate(jukebox::config::Network::Dev).unwrap();
    let backend =
        TfGridBackend::from_config(jukebox::config::Network::Dev, &config, "jukebox", None)
            .unwrap();
    let twin = backend.ensure_twin(&user).await.unwrap().0;
    // A second newcomer accepts the same hash, not fetched again.
    let other = SigningKey::from_bytes(&[3; 32]);
    chain.fund(other.verifying_key().to_bytes(), TFT);
    backend.ensure_twin(&other).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    {
        let world = chain.world();
        // tfgrid-sdk-ts `grid_client/src/clients/tf-grid/terms_and_conditions.ts`:
        // the hex MD5 of the document's bytes.
        let md5 = hex::encode(md5::Md5::digest(DOCUMENT));
        let accepted = vec![(format!("{docs}/legal"), md5)];
        assert_eq!(
            world.accepted_terms[&user.verifying_key().to_bytes()],
            accepted
        );
        assert_eq!(
            world.accepted_terms[&other.verifying_key().to_bytes()],
            accepted
        );
        // The twin names the relay's host, where nodes reach it.
        let relay_host = relay
            .url
            .trim_start_matches("ws://")
            .split(':')
            .next()
            .unwrap();
        assert_eq!(world.twins[&twin].1, relay_host);
    }
    let found = backend
        .candidates(&need(), &Placement::Random, &[], 5)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

/// The terms document the loopback server serves at `/legal`.
const DOCUMENT: &[u8] = b"<html><body>ThreeFold legal terms, version under test</body></html>\n";

/// Serves [`DOCUMENT`] at `/legal` on loopback; counts the fetches.
async fn terms_server() -> (String, Arc<AtomicUsize>, Server) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let count = fetches.clone();
    let app = axum::Router::new().route(
        "/legal",
        axum::routing::get(move || {
            count.fetch_add(1, Ordering::SeqCst);
            async { DOCUMENT }
        }),
    );
    let (url, server) = Server::http(app).await;
    (url, fetches, server)
}

/// A config on the fakes, with `terms` set.
fn terms_config(
    proxy: &FakeGridProxy,
    relay: &FakeRelay,
    chain: &FakeTfchain,
    link: String,
    hash: Option<&str>,
) -> jukebox::config::TfgridConfig {
    jukebox::config::TfgridConfig {
        proxy_url: proxy.url.clone(),
        tfchain_url: chain.url.clone(),
        relay_url: relay.url.clone(),
        terms_link: link,
        terms_hash: hash.map(str::to_owned),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_configured_terms_hash_is_sent_without_fetching_the_document() {
    let proxy = FakeGridProxy::start(vec![FakeNode::new(1, 1, "Belgium")]).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    let user = SigningKey::from_bytes(&[2; 32]);
    chain.fund(user.verifying_key().to_bytes(), TFT);
    let (docs, fetches, _server) = terms_server().await;
    let link = format!("{docs}/legal");
    let config = terms_config(&proxy, &relay, &chain, link.clone(), Some("my-terms_v2"));
    let backend =
        TfGridBackend::from_config(jukebox::config::Network::Dev, &config, "jukebox", None)
            .unwrap();
    backend.ensure_twin(&user).await.unwrap();
    assert_eq!(
        chain.world().accepted_terms[&user.verifying_key().to_bytes()],
        vec![(link, "my-terms_v2".to_owned())]
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_terms_document_stops_the_twin_before_any_extrinsic() {
    let proxy = FakeGridProxy::start(vec![FakeNode::new(1, 1, "Belgium")]).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    let user = SigningKey::from_bytes(&[2; 32]);
    chain.fund(user.verifying_key().to_bytes(), TFT);
    let (docs, _, server) = terms_server().await;
    // Nothing listens there any more; a path the server lacks is a 404.
    let gone = format!("{docs}/legal");
    drop(server);
    let missing = terms_server().await;
    for link in [gone, format!("{}/missing", missing.0)] {
        let config = terms_config(&proxy, &relay, &chain, link.clone(), None);
        let backend =
            TfGridBackend::from_config(jukebox::config::Network::Dev, &config, "jukebox", None)
                .unwrap();
        let err = backend.ensure_twin(&user).await.unwrap_err();
        let GridError::Unavailable(message) = &err else {
            panic!("{err:?}")
        };
        assert!(message.contains(&link), "{message}");
        assert!(message.contains("set grid.tfgrid.terms_hash"), "{message}");
        let world = chain.world();
        assert!(world.applied.is_empty(), "{:?}", world.applied);
        assert!(world.accepted_terms.is_empty() && world.twins.is_empty());
    }
}

#[tokio::test]
async fn the_grid_trait_drives_the_real_backend() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let backend = build_backend(&g.proxy, &g.relay, &g.chain, Duration::from_secs(5));
    let identity = IdentityKey::new(g.user.clone());
    let grid: Arc<dyn Grid> = Arc::new(TfGrid::new(backend));
    assert_eq!(grid.kind(), "tfgrid");
    assert_eq!(grid.ensure_twin(&identity).await.unwrap(), TwinId(g.twin));
    // (The grid no longer looks keys up, so there is no "no identity holds
    // this key" refusal left to check: it is handed the key itself.)

    let menu = grid.locations(&need()).await.unwrap();
    assert_eq!(menu.countries[0].nodes, 3);
    let node = grid
        .candidates(&need(), &Placement::Country("Belgium".into()), &[], 1)
        .await
        .unwrap()[0]
        .id;
    let placed = grid
        .deploy(&identity, node, &need(), &deployment(&g, 5, &g.user))
        .await
        .unwrap();
    let answers = grid
        .contracts(&[placed.contract, ContractId(99)])
        .await
        .unwrap();
    let info = answers[0].as_ref().unwrap();
    assert_eq!(
        (info.state, &info.workload),
        (ContractState::Created, &WorkloadState::Ok)
    );
    assert_eq!(answers[1], Err(GridError::UnknownContract(ContractId(99))));
    grid.set_paused(placed.contract, true).await.unwrap();
    grid.cancel(&identity, placed.contract).await.unwrap();
    assert!(live_contracts(&g).is_empty());
    // Gone from TFChain's storage once cancelled (see above).
    assert_eq!(
        grid.contract(&identity, placed.contract).await,
        Err(GridError::UnknownContract(placed.contract))
    );
}

#[tokio::test]
async fn a_new_identity_is_funded_by_the_operator_before_its_twin() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let operator = SigningKey::from_bytes(&[42; 32]);
    g.chain.fund(operator.verifying_key().to_bytes(), 100 * TFT);
    let backend = build_backend(&g.proxy, &g.relay, &g.chain, Duration::from_secs(5))
        .with_funding(operator.clone(), 2 * TFT);
    let newcomer = SigningKey::from_bytes(&[3; 32]);
    let twin = backend.ensure_twin(&newcomer).await.unwrap();
    assert_eq!(twin.0, 1005);
    let fee = super::fake_tfchain::FEE;
    let world = g.chain.world();
    assert_eq!(
        world.balances[&newcomer.verifying_key().to_bytes()],
        2 * TFT - 2 * fee
    );
    assert_eq!(
        world.applied[world.applied.len() - 3..],
        [
            "Balances.transfer_keep_alive",
            "TfgridModule.user_accept_tc",
            "TfgridModule.create_twin"
        ]
    );
}

#[tokio::test]
async fn a_node_gone_from_the_proxy_is_down_and_is_not_asked() {
    let g = grid([healthy(), healthy(), healthy()], Duration::from_secs(5)).await;
    let d = deployment(&g, 3, &g.user);
    let placed = deploy_on(&g, 1, &d).await.unwrap();
    // The node is removed from the grid: the proxy forgets it.
    g.proxy.state().nodes.retain(|n| n.id != 1);
    let asked_before = g.relay.state().delivered.len();
    let info = contract(&g, placed.contract).await.unwrap();
    assert_eq!(
        (info.state, info.node_status, info.workload),
        (
            ContractState::Created,
            NodeStatus::Down,
            WorkloadState::Error("the grid node is not up".into())
        )
    );
    assert_eq!(g.relay.state().delivered.len(), asked_before);
}

/// A twin that already exists for the identity's account, made by another
/// tool: with an end-to-end key (`pk`), so nodes would encrypt every reply,
/// and `relay` as its relay.
async fn twin_made_elsewhere(relay: &str) -> Fakes {
    let (proxy, fake_relay, chain) = fakes([healthy(), healthy(), healthy()]).await;
    let user = SigningKey::from_bytes(&[6; 32]);
    let account = user.verifying_key().to_bytes();
    chain.fund(account, 50 * TFT);
    {
        let mut world = chain.world();
        world.accepted_terms.insert(account, Vec::new());
        world.twins.insert(1004, (account, relay.into()));
        // A compressed secp256k1 key, as rmb-sdk-go's peer sets it.
        world
            .twin_pks
            .insert(1004, [vec![0x02], vec![0x5a; 32]].concat());
        world.seal();
    }
    fake_relay.register_twin(1004, user.verifying_key());
    let backend = build_backend(&proxy, &fake_relay, &chain, Duration::from_secs(5));
    Fakes {
        proxy,
        relay: fake_relay,
        chain,
        backend,
        user,
        twin: 1004,
    }
}

#[tokio::test]
async fn a_twin_made_elsewhere_with_an_end_to_end_key_is_cleared_before_deploying() {
    let g = twin_made_elsewhere("relay.fake").await;
    let d = deployment(&g, 3, &g.user);
    let placed = deploy_on(&g, 1, &d).await.unwrap();
    assert!(g.relay.state().node_has(1001, placed.contract.0));
    {
        let world = g.chain.world();
        assert!(world.twin_pks.is_empty(), "the key is gone");
        assert_eq!(world.twins[&1004].1, "relay.fake");
        assert_eq!(
            world.applied,
            [
                "TfgridModule.update_twin",
                "SmartContractModule.create_node_contract"
            ],
            "cleared before the contract"
        );
    }
    // The twin is right now: the next deploy reads it and changes nothing.
    let again = deployment(&g, 4, &g.user);
    deploy_on(&g, 2, &again).await.unwrap();
    assert_eq!(
        g.chain
            .world()
            .applied
            .iter()
            .filter(|c| *c == "TfgridModule.update_twin")
            .count(),
        1
    );
}

#[tokio::test]
async fn finding_an_existing_twin_gives_it_our_relay_and_no_key() {
    let g = twin_made_elsewhere("relay.grid.tf").await;
    assert_eq!(g.backend.ensure_twin(&g.user).await.unwrap().0, 1004);
    let world = g.chain.world();
    assert!(world.twin_pks.is_empty());
    assert_eq!(world.twins[&1004].1, "relay.fake");
    assert_eq!(world.applied, ["TfgridModule.update_twin"]);
}

#[tokio::test]
async fn a_node_that_still_remembers_the_old_key_fails_over_to_another() {
    let g = twin_made_elsewhere("relay.fake").await;
    // The other tool talked to node 1 while the key was set: that node
    // remembers it (Zero-OS keeps twins for hours).
    let rmb = RmbSettings {
        relay_url: g.relay.url.clone(),
        call_timeout: Duration::from_secs(5),
        token_ttl: Duration::from_secs(60),
        session: "other-tool".into(),
    };
    let peer = RmbPeer::connect(rmb, g.twin, g.user.clone()).await.unwrap();
    let node1 = Remote {
        twin: 1001,
        key: SigningKey::from_bytes(&[100; 32]).verifying_key(),
    };
    let zos = ZosNode {
        peer: &peer,
        node: node1,
    };
    // An error's text is never sealed, only payloads are.
    assert!(matches!(
        zos.get(1).await,
        Err(RmbError::Remote { twin: 1001, message, .. }) if message == "deployment not found"
    ));

    let d = deployment(&g, 3, &g.user);
    let err = deploy_on(&g, 1, &d).await.unwrap_err();
    assert!(
        matches!(&err, GridError::DeployFailed(m) if m.contains("end-to-end key")),
        "{err:?}"
    );
    assert!(err.try_elsewhere());
    assert!(live_contracts(&g).is_empty(), "its contract is cancelled");
    assert!(g.chain.world().twin_pks.is_empty());
    // Node 2 first reads our twin now, without a key: plain replies.
    let placed = deploy_on(&g, 2, &d).await.unwrap();
    assert_eq!(live_contracts(&g), [placed.contract.0]);
}
