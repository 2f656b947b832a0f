//! The real grid's operations, tying discovery (grid proxy), TFChain and RMB
//! together: a twin per identity, and deploy, status and delete of one
//! signed deployment (`tfgrid-v3.md`, "The contract on TFChain").
//!
//! Unlike the simulated grid, every on-grid action here is signed by the
//! user's own twin key (extrinsics, the relay token, RMB envelopes), so each
//! operation takes that key. A deploy first makes sure nodes can answer the
//! twin in plain text through our relay (see [`TfGridBackend::settle_twin`]),
//! creates the node contract (or finds the one an interrupted deploy already
//! made for the same deployment hash), hands the deployment to the node
//! over RMB and polls until every workload is ok; on any failure after the
//! contract exists it cancels the contract, so no contract is left paying
//! for nothing (the node removes the workloads when it sees the cancel:
//! Zero-OS refuses deletes over RMB). Nodes whose farm opted them out of v3
//! billing are remembered and never offered again; a node twin's key is
//! read from the chain once.
//!
//! The [`Grid`](crate::grid::Grid) trait is implemented over this in
//! `adapter.rs`, which finds the keys.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::chain::terms::TermsSource;
use super::chain::{ChainError, ChainTwin, Ed25519Signer, TfChain};
use super::discovery::{self, Discovery};
use super::rmb::zos::{Progress, ZosNode};
use super::rmb::{Remote, RmbError, RmbPeer, RmbSettings};
use crate::grid::{
    Capacity, ContractId, GridError, GridNode, GridNodeId, Locations, Placed, Placement, TwinId,
};
use crate::reservation::{Deployment, deployment_hash_ascii, verify};

mod owned;
mod status;

/// How a deployment is watched until it is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployTiming {
    /// Between two `zos.deployment.get` polls.
    pub poll_interval: Duration,
    /// From handing the deployment over until every workload must be ok.
    pub deploy_timeout: Duration,
}

/// What the twin registration needs: the relay our twin is reached through,
/// and the terms and conditions accepted on chain.
#[derive(Clone, Debug)]
pub struct TwinSettings {
    pub relay_domain: String,
    pub terms: TermsSource,
}

pub struct TfGridBackend {
    discovery: Discovery,
    chain: TfChain,
    rmb: RmbSettings,
    twins: TwinSettings,
    timing: DeployTiming,
    /// Nodes that refused contracts with `OnlyTwinAdminCanDeployOnThisNode`.
    opted_out: Mutex<HashSet<GridNodeId>>,
    /// Node twins' keys as read from the chain, at most one per grid node:
    /// a twin's account (its key) never changes, so it is read once.
    node_keys: Mutex<HashMap<u32, VerifyingKey>>,
    /// The operator's account that funds new twins, and with how much.
    funding: Option<(Ed25519Signer, u128)>,
}

impl TfGridBackend {
    pub fn new(
        discovery: Discovery,
        chain: TfChain,
        rmb: RmbSettings,
        twins: TwinSettings,
        timing: DeployTiming,
    ) -> TfGridBackend {
        TfGridBackend {
            discovery,
            chain,
            rmb,
            twins,
            timing,
            opted_out: Mutex::new(HashSet::new()),
            node_keys: Mutex::new(HashMap::new()),
            funding: None,
        }
    }

    /// Before a twin is created, its account is topped up to `units` from
    /// `funder` (the operator's funded account): enough for the existential
    /// deposit and the fees of accepting the terms and creating the twin.
    pub fn with_funding(mut self, funder: SigningKey, units: u128) -> TfGridBackend {
        self.funding = (units > 0).then(|| (Ed25519Signer::new(funder), units));
        self
    }

    /// Builds the backend from `[grid]`: the grid proxy client, discovery,
    /// and a TFChain client that connects on first use (nothing here touches
    /// the network). `funder` is the operator's funded account key (never in
    /// the config file); without it, identities' accounts must be funded by
    /// hand.
    pub fn from_config(
        network: crate::config::Network,
        config: &crate::config::TfgridConfig,
        session: &str,
        funder: Option<SigningKey>,
    ) -> Result<TfGridBackend, GridError> {
        let endpoints = config
            .endpoints(network)
            .map_err(|e| GridError::Unavailable(e.to_string()))?;
        let proxy = super::proxy::GridProxy::new(config.proxy_settings(&endpoints))?;
        let discovery = Discovery::new(std::sync::Arc::new(proxy), config.discovery_settings());
        let chain = TfChain::new(&endpoints.tfchain, config.finality_timeout());
        let funding = config
            .twin_funding()
            .map_err(|e| GridError::Unavailable(format!("grid.tfgrid.{e}")))?;
        let backend = TfGridBackend::new(
            discovery,
            chain,
            config.rmb_settings(&endpoints, session),
            config
                .twin_settings(&endpoints)
                .map_err(|e| GridError::Unavailable(format!("grid.tfgrid.{e}")))?,
            config.deploy_timing(),
        );
        Ok(match funder {
            Some(funder) => backend.with_funding(funder, funding),
            None => backend,
        })
    }

    /// The identity's twin, created (terms first) when its account has none.
    /// The account must hold enough TFT for the two extrinsics' fees: with
    /// funding set, it is topped up first (at most once: the balance is
    /// read before any transfer).
    pub async fn ensure_twin(&self, key: &SigningKey) -> Result<TwinId, GridError> {
        let signer = Ed25519Signer::new(key.clone());
        if let Some(id) = self
            .chain
            .twin_id_of(signer.account())
            .await
            .map_err(chain_error)?
        {
            // A twin made elsewhere may carry a key or relay nodes would
            // use against us.
            self.settle_twin(&signer, id).await?;
            return Ok(TwinId(id));
        }
        // The terms first: a document that cannot be hashed stops the
        // twin before any TFT is moved or any extrinsic sent.
        let terms = self
            .twins
            .terms
            .terms()
            .await
            .map_err(|e| GridError::Unavailable(e.to_string()))?;
        if let Some((funder, units)) = &self.funding {
            self.chain
                .fund_up_to(funder, signer.account(), *units)
                .await
                .map_err(chain_error)?;
        }
        // The account was just read without a twin: create it straight away.
        self.chain
            .create_twin(&signer, &self.twins.relay_domain, &terms)
            .await
            .map(TwinId)
            .map_err(chain_error)
    }

    /// The free balance on TFChain of the account of the identity
    /// `public_key`: an ed25519 identity's account id is its public key, so
    /// no twin lookup is needed.
    pub async fn account_balance(
        &self,
        public_key: &[u8; 32],
    ) -> Result<crate::money::Tft, GridError> {
        let units = self
            .chain
            .free_balance(*public_key)
            .await
            .map_err(chain_error)?;
        // More than i64 units (9e11 TFT) is more TFT than exists.
        Ok(crate::money::Tft::from_units(
            i64::try_from(units).unwrap_or(i64::MAX),
        ))
    }

    pub async fn locations(&self, need: &Capacity) -> Result<Locations, GridError> {
        self.discovery.locations(need).await
    }

    /// Candidates as discovery finds them, never an opted-out node.
    pub async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError> {
        let mut avoid = avoid.to_vec();
        avoid.extend(self.lock_opted_out().iter().copied());
        self.discovery.candidates(need, place, &avoid, limit).await
    }

    /// Creates the contract for `deployment` on `node`, deploys it and waits
    /// until it is up. On failure no contract is left behind.
    pub async fn deploy(
        &self,
        key: &SigningKey,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError> {
        let signer = Ed25519Signer::new(key.clone());
        let twin = self
            .chain
            .twin_id_of(signer.account())
            .await
            .map_err(chain_error)?
            .ok_or(GridError::UnknownTwin(deployment.twin_id))?;
        if twin != deployment.twin_id {
            return Err(GridError::BadSignature(deployment.twin_id));
        }
        verify(deployment, twin, &key.verifying_key())
            .map_err(|_| GridError::BadSignature(twin))?;
        // Before any contract: a node that cannot answer us would leave it
        // paying for nothing.
        self.settle_twin(&signer, twin).await?;
        let hash = deployment_hash_ascii(deployment);
        let public_ips = u32::from(need.public_ipv4);
        // A deploy interrupted after the contract was made finds it again
        // and adopts it. Its capacity already counts as used on the node,
        // so the room check is only for a new contract.
        let existing = self
            .chain
            .contract_for(node.0, hash)
            .await
            .map_err(chain_error)?;
        let found = self.discovery.node(node).await?;
        if existing.is_none() && !discovery::fits(&found, need, Some(twin)) {
            return Err(if found.status == super::proxy::ProxyNodeStatus::Up {
                GridError::NoCapacity
            } else {
                GridError::NodeNotUp(node)
            });
        }
        // The node's twin must be known before any contract is made.
        self.node_key(found.twin_id).await?;

        let contract = match existing {
            Some(id) => id,
            None => {
                let created = self
                    .chain
                    .create_node_contract(
                        &signer,
                        node.0,
                        hash,
                        deployment.metadata.as_bytes(),
                        public_ips,
                    )
                    .await
                    .map_err(|e| self.contract_refused(node, e));
                match created {
                    Ok(id) => id,
                    Err(e) => {
                        self.cancel_if_it_landed(&signer, node, hash).await;
                        return Err(e);
                    }
                }
            }
        };
        let mut deployment = deployment.clone();
        deployment.contract_id = contract;

        let adopted = existing.is_some();
        match self
            .hand_over(key, twin, found.twin_id, &deployment, adopted)
            .await
        {
            Ok(progress) => Ok(Placed {
                contract: ContractId(contract),
                node: discovery::grid_node(&found),
                ipv4: progress.ipv4,
                ipv6: progress.ipv6,
                mycelium: progress.mycelium,
            }),
            Err(failure) => {
                // The cancel stops the billing and makes the node clean up;
                // its failure is reported.
                self.cancel_on_chain(&signer, contract).await?;
                Err(failure)
            }
        }
    }

    /// Makes our twin one that nodes answer in plain text through our
    /// relay: no end-to-end key (`pk`) and our relay, as on chain. With a
    /// `pk`, Zero-OS encrypts every reply to the twin (rmb-sdk-go
    /// `peer/peer.go`, `makeEnvelope`), which Jukebox does not read; with
    /// another relay, replies go where we are not listening. Either is
    /// repaired with one `update_twin`, as rmb-sdk-go's own peer repairs
    /// its twin when it starts (`NewPeer`); a twin already right costs one
    /// storage read.
    async fn settle_twin(&self, signer: &Ed25519Signer, twin: u32) -> Result<(), GridError> {
        let found = self.chain_twin(twin).await?;
        let relay = self.twins.relay_domain.as_str();
        if found.end_to_end_key().is_none() && found.relay.as_deref() == Some(relay) {
            return Ok(());
        }
        self.chain
            .reset_twin(signer, relay)
            .await
            .map_err(chain_error)
    }

    /// Sends the deployment and polls it until it is up, failed, or late.
    /// For an `adopted` contract the node may hold the deployment already
    /// (the crash came after the hand-over); Zero-OS refuses a second
    /// `deploy` of it ("exists": zosbase `pkg/provision/storage`), so it is
    /// sent only when `get` does not find it.
    async fn hand_over(
        &self,
        key: &SigningKey,
        twin: u32,
        node_twin: u32,
        deployment: &Deployment,
        adopted: bool,
    ) -> Result<super::rmb::zos::Addresses, GridError> {
        let session = self.open_session(key, twin, node_twin).await?;
        let zos = session.zos();
        let held = adopted && zos.get(deployment.contract_id).await.is_ok();
        if !held {
            zos.deploy(deployment).await.map_err(rmb_error)?;
        }
        let contract = deployment.contract_id;
        let watching = async {
            loop {
                let state = zos.get(contract).await.map_err(rmb_error)?;
                match state.progress() {
                    Progress::Ready => return Ok(state.addresses()),
                    failed @ Progress::Failed { .. } => {
                        return Err(GridError::DeployFailed(failed.to_string()));
                    }
                    Progress::Pending => tokio::time::sleep(self.timing.poll_interval).await,
                }
            }
        };
        // On failure the caller cancels the contract, which is what makes
        // the node remove the workloads (it refuses deletes over RMB).
        tokio::time::timeout(self.timing.deploy_timeout, watching)
            .await
            .unwrap_or_else(|_| {
                Err(GridError::DeployFailed(format!(
                    "the workloads were not up within {:?}",
                    self.timing.deploy_timeout
                )))
            })
    }

    /// An RMB session with the node whose twin is `node_twin`, opened as
    /// `owner` (the contract's twin) with the owner's `key`. The node's key
    /// is looked up first, so an unknown node twin fails before connecting.
    async fn open_session(
        &self,
        key: &SigningKey,
        owner: u32,
        node_twin: u32,
    ) -> Result<NodeSession, GridError> {
        let node = self.node_key(node_twin).await?;
        let peer = RmbPeer::connect(self.rmb.clone(), owner, key.clone())
            .await
            .map_err(rmb_error)?;
        Ok(NodeSession { peer, node })
    }

    /// A twin as TFChain holds it; one that does not exist is an error.
    async fn chain_twin(&self, twin: u32) -> Result<ChainTwin, GridError> {
        self.chain
            .twin(twin)
            .await
            .map_err(chain_error)?
            .ok_or(GridError::UnknownTwin(twin))
    }

    /// A node twin's RMB address and key: from the chain the first time,
    /// then from [`Self::node_keys`].
    async fn node_key(&self, twin: u32) -> Result<Remote, GridError> {
        if let Some(key) = self.lock_node_keys().get(&twin) {
            return Ok(Remote { twin, key: *key });
        }
        let found = self.chain_twin(twin).await?;
        let key = VerifyingKey::from_bytes(&found.account)
            .map_err(|_| GridError::Unavailable(format!("twin {twin} has no ed25519 key")))?;
        self.lock_node_keys().insert(twin, key);
        Ok(Remote { twin, key })
    }

    async fn cancel_on_chain(
        &self,
        signer: &Ed25519Signer,
        contract: u64,
    ) -> Result<(), GridError> {
        self.chain
            .cancel_contract(signer, contract)
            .await
            .map_err(chain_error)
    }

    /// A create that timed out may still have been included: if the chain
    /// shows a contract for this deployment, cancel it (best effort; the
    /// next deploy of the same deployment would find and reuse it anyway).
    async fn cancel_if_it_landed(&self, signer: &Ed25519Signer, node: GridNodeId, hash: [u8; 32]) {
        if let Ok(Some(id)) = self.chain.contract_for(node.0, hash).await {
            let _ = self.chain.cancel_contract(signer, id).await;
        }
    }

    /// Maps a refused contract; an opted-out node is never offered again.
    fn contract_refused(&self, node: GridNodeId, e: ChainError) -> GridError {
        if e.node_opted_out() {
            self.lock_opted_out().insert(node);
            return GridError::DeployFailed(format!(
                "grid node {node} is not open to v3 deployments"
            ));
        }
        // `NodeNotAvailableToDeploy` (pallet-smart-contract
        // `grid_contract.rs`): the proxy lagged a rent; another node may do.
        if e.node_not_available() {
            return GridError::DeployFailed(format!(
                "grid node {node} is rented by another twin or kept for renters"
            ));
        }
        chain_error(e)
    }

    fn lock_opted_out(&self) -> std::sync::MutexGuard<'_, HashSet<GridNodeId>> {
        self.opted_out.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_node_keys(&self) -> std::sync::MutexGuard<'_, HashMap<u32, VerifyingKey>> {
        // A map of keys read from the chain holds no invariant to break.
        self.node_keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An open RMB connection as a contract's owner, and the node it talks to.
struct NodeSession {
    peer: RmbPeer,
    node: Remote,
}

impl NodeSession {
    fn zos(&self) -> ZosNode<'_> {
        ZosNode {
            peer: &self.peer,
            node: self.node.clone(),
        }
    }
}

fn chain_error(e: ChainError) -> GridError {
    match e {
        ChainError::Dispatch(_) => GridError::Rejected(e.to_string()),
        other => GridError::Unavailable(other.to_string()),
    }
}

fn rmb_error(e: RmbError) -> GridError {
    match e {
        RmbError::Remote { .. } => GridError::DeployFailed(e.to_string()),
        RmbError::Timeout { .. } => GridError::DeployFailed(e.to_string()),
        // That node still remembers an end-to-end key we cleared; a node
        // that never saw our twin answers in plain text.
        RmbError::Encrypted { .. } => GridError::DeployFailed(e.to_string()),
        other => GridError::Unavailable(other.to_string()),
    }
}
