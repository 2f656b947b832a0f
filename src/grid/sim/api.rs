//! The [`Grid`] trait as the simulated grid answers it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::VerifyingKey;

use super::deploy::{PendingGuard, requirement};
use super::state::{ContractRec, Event, Resources, State};
use super::{SimGrid, world};
use crate::crypto::IdentityKey;
use crate::grid::{
    Capacity, ContractId, ContractInfo, ContractState, Grid, GridError, GridNode, GridNodeId,
    Locations, NodeStatus, OwnedContract, Placed, Placement, TwinId, WorkloadState,
};
use crate::reservation::{Deployment, deployment_hash_hex, verify};

#[async_trait]
impl Grid for SimGrid {
    fn kind(&self) -> crate::config::GridKind {
        crate::config::GridKind::Sim
    }

    async fn ensure_twin(&self, identity: &IdentityKey) -> Result<TwinId, GridError> {
        let public_key = &identity.public_key();
        let mut inner = self.lock();
        if let Some(id) = inner.state.twin_by_key.get(public_key) {
            let id = *id;
            drop(inner);
            self.settled()?;
            return Ok(TwinId(id));
        }
        // Deployments are checked against this key, so it must be usable.
        VerifyingKey::from_bytes(public_key)
            .map_err(|_| GridError::Rejected("not an ed25519 public key".to_string()))?;
        let id = inner.state.next_twin_id();
        let ticket = inner.record(Event::Twin {
            id,
            key: hex::encode(public_key),
        })?;
        drop(inner);
        self.durable(ticket)?;
        Ok(TwinId(id))
    }

    async fn locations(&self, need: &Capacity) -> Result<Locations, GridError> {
        let res = Resources::from_capacity(need);
        let ipv4 = usize::from(need.public_ipv4);
        let inner = self.lock();
        let s = &inner.state;
        let farms: BTreeMap<u32, &str> = s
            .world
            .farms
            .iter()
            .map(|f| (f.id, f.name.as_str()))
            .collect();
        // Every node's farm exists: both come from the same generated world.
        let fitting = s
            .world
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| s.fits(*i, &res, ipv4))
            .filter_map(|(_, n)| Some((n.country.as_str(), n.farm_id, *farms.get(&n.farm_id)?)));
        Ok(Locations::tally(fitting))
    }

    async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError> {
        let res = Resources::from_capacity(need);
        let ipv4 = usize::from(need.public_ipv4);
        let mut inner = self.lock();
        let s = &inner.state;
        let mut found: Vec<GridNode> = s
            .world
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| place.admits(&n.country, n.farm_id))
            .filter(|(_, n)| !avoid.contains(&GridNodeId(n.id)))
            .filter(|(i, _)| s.fits(*i, &res, ipv4))
            .map(|(i, _)| s.grid_node(i))
            .collect();
        inner.rng.shuffle(&mut found);
        found.truncate(limit);
        Ok(found)
    }

    async fn deploy(
        &self,
        identity: &IdentityKey,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError> {
        let req = requirement(deployment).map_err(GridError::Rejected)?;
        req.check_matches(need)?;
        let twin = deployment.twin_id;
        let key = self.lock().state.twin_keys.get(&twin).copied();
        let key = key.ok_or(GridError::UnknownTwin(twin))?;
        // The contract is the signer's: TFChain makes it for the twin of the
        // account that signs, and Zero-OS refuses a deployment of another
        // twin (zosbase engine.go), so a key that is not the deployment's
        // twin's deploys nothing.
        if identity.public_key() != key {
            return Err(GridError::BadSignature(twin));
        }
        // Verified outside the lock: it is the slowest step and needs no state.
        let key = VerifyingKey::from_bytes(&key).map_err(|_| GridError::BadSignature(twin))?;
        verify(deployment, twin, &key).map_err(|_| GridError::BadSignature(twin))?;

        // A deploy interrupted after the contract was recorded: adopt it.
        // Its capacity is taken already, so this comes before the room check.
        let hash = deployment_hash_hex(deployment);
        {
            let mut inner = self.lock();
            if let Some(rec) = live_contract_for(&inner.state, node.0, &hash).cloned() {
                let idx = inner
                    .state
                    .node_idx(node.0)
                    .ok_or(GridError::UnknownNode(node))?;
                if inner.state.nodes[idx].status != NodeStatus::Up {
                    // As the real backend: a deploy that fails after its
                    // contract exists cancels it.
                    let ticket = inner.record(Event::Cancel { id: rec.id })?;
                    drop(inner);
                    self.durable(ticket)?;
                    return Err(GridError::NodeNotUp(node));
                }
                self.chain.adopt_node(ContractId(rec.id), rec.created_at);
                let placed = Placed {
                    contract: ContractId(rec.id),
                    node: inner.state.grid_node(idx),
                    ipv4: rec.ipv4.first().cloned(),
                    ipv6: rec.ipv6,
                    mycelium: rec.mycelium,
                };
                drop(inner);
                self.settled()?;
                return Ok(placed);
            }
        }

        // Check and reserve under one lock hold: concurrent deploys cannot
        // both see the same free room.
        let (guard, idx) = {
            let mut inner = self.lock();
            let idx = inner
                .state
                .node_idx(node.0)
                .ok_or(GridError::UnknownNode(node))?;
            if inner.state.nodes[idx].status != NodeStatus::Up {
                return Err(GridError::NodeNotUp(node));
            }
            if !inner.state.fits(idx, &req.res, req.ipv4) {
                return Err(GridError::NoCapacity);
            }
            let id = inner.state.reserve(idx, req.res, req.ipv4);
            (PendingGuard::new(self.inner.clone(), id), idx)
        };

        if self.cfg.deploy_seconds > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(self.cfg.deploy_seconds)).await;
        }

        let mut inner = self.lock();
        let ipv4 = inner.state.release(guard.disarm());
        if inner.state.nodes[idx].status != NodeStatus::Up {
            return Err(GridError::DeployFailed(
                "the grid node went down during the deployment".to_string(),
            ));
        }
        if inner.rng.f64() < self.cfg.deploy_failure_rate {
            return Err(GridError::DeployFailed(
                "the workload did not come up (simulated failure)".to_string(),
            ));
        }
        // As TFChain refuses a second live contract for the same node and
        // hash (`ContractIsNotUnique`), so does the simulation.
        if live_contract_for(&inner.state, node.0, &hash).is_some() {
            return Err(GridError::Rejected(
                "a contract for this deployment already exists on this node".to_string(),
            ));
        }
        let id = inner.state.next_contract_id();
        let rec = ContractRec {
            id,
            twin,
            node: node.0,
            res: req.res,
            ipv4,
            ipv6: req.ipv6.then(|| world::ipv6_for(node.0, id)),
            mycelium: req
                .mycelium_seed
                .as_deref()
                .and_then(|seed| world::mycelium_for(node.0, seed)),
            deployment_hash: hash,
            deleted: false,
            failure: None,
            paused: false,
            app_failure: None,
            created_at: self.chain.now(),
        };
        let ticket = inner.record(Event::Contract(rec.clone()))?;
        // Its chain starts syncing from block 0 now.
        self.chain.start_node(ContractId(id));
        let placed = Placed {
            contract: ContractId(id),
            node: inner.state.grid_node(idx),
            ipv4: rec.ipv4.first().cloned(),
            ipv6: rec.ipv6,
            mycelium: rec.mycelium,
        };
        drop(inner);
        self.durable(ticket)?;
        Ok(placed)
    }

    async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError> {
        let found = live_contract_for(&self.lock().state, node.0, deployment_hash)
            .map(|r| ContractId(r.id));
        self.settled()?;
        Ok(found)
    }

    async fn twin_contracts(&self, twin: TwinId) -> Result<Vec<OwnedContract>, GridError> {
        let owned = self
            .lock()
            .state
            .contracts
            .values()
            .filter(|r| r.twin == twin.0 && !r.deleted)
            .map(|r| OwnedContract {
                contract: ContractId(r.id),
                node: GridNodeId(r.node),
                deployment_hash: r.deployment_hash.clone(),
            })
            .collect();
        self.settled()?;
        Ok(owned)
    }

    async fn cancel(&self, identity: &IdentityKey, contract: ContractId) -> Result<(), GridError> {
        let mut inner = self.lock();
        let rec = inner
            .state
            .contracts
            .get(&contract.0)
            .ok_or(GridError::UnknownContract(contract))?;
        // Only the owner cancels, as tfchain pallet-smart-contract's
        // `grid_contract.rs` `_cancel_contract` checks
        // (`TwinNotAuthorizedToCancelContract`).
        if !owns(&inner.state, identity, rec.twin) {
            return Err(GridError::Rejected(
                "TwinNotAuthorizedToCancelContract".to_string(),
            ));
        }
        if rec.deleted {
            drop(inner);
            return self.settled();
        }
        let ticket = inner.record(Event::Cancel { id: contract.0 })?;
        drop(inner);
        self.chain.forget(contract);
        self.durable(ticket)
    }

    /// As Zero-OS answers `zos.deployment.get`: a twin sees only its own
    /// deployments; another twin's reads as not found.
    async fn contract(
        &self,
        identity: &IdentityKey,
        contract: ContractId,
    ) -> Result<ContractInfo, GridError> {
        let inner = self.lock();
        match inner.state.contracts.get(&contract.0) {
            Some(rec) if !owns(&inner.state, identity, rec.twin) => {
                Err(GridError::UnknownContract(contract))
            }
            _ => contract_info(&inner.state, contract),
        }
    }

    /// One lock hold for the whole batch: 100,000 lookups are a few
    /// milliseconds, far cheaper than taking the lock per contract.
    async fn contracts(
        &self,
        ids: &[ContractId],
    ) -> Result<Vec<Result<ContractInfo, GridError>>, GridError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .map(|id| contract_info(&inner.state, *id))
            .collect())
    }

    /// Journaled only when it changes something, so a monitor re-asserting
    /// the pause every interval does not grow the journal. A cancelled
    /// contract has nothing left to pause or resume: that is a no-op too.
    async fn set_paused(&self, contract: ContractId, paused: bool) -> Result<(), GridError> {
        let mut inner = self.lock();
        let rec = inner
            .state
            .contracts
            .get(&contract.0)
            .ok_or(GridError::UnknownContract(contract))?;
        if rec.deleted || rec.paused == paused {
            return Ok(());
        }
        let ticket = inner.record(Event::Paused {
            contract: contract.0,
            paused,
        })?;
        drop(inner);
        self.durable(ticket)
    }
}

/// Whether `identity` is the key `twin` registered.
fn owns(s: &State, identity: &IdentityKey, twin: u32) -> bool {
    s.twin_keys.get(&twin) == Some(&identity.public_key())
}

/// The live contract for this deployment hash on this node, as TFChain's
/// `ContractIDByNodeIDAndHash` keys them: at most one, since the chain
/// refuses a second live one (`ContractIsNotUnique`).
fn live_contract_for<'a>(s: &'a State, node: u32, hash: &str) -> Option<&'a ContractRec> {
    s.live_contract(node, hash)
}

/// What [`Grid::contract`] answers, read from `s`. A pause outranks a down
/// node and an injected workload fault: the workload is stopped on purpose,
/// so it reports `Paused`; the fault shows again once it is resumed.
pub(super) fn contract_info(s: &State, contract: ContractId) -> Result<ContractInfo, GridError> {
    let rec = s
        .contracts
        .get(&contract.0)
        .ok_or(GridError::UnknownContract(contract))?;
    let node_status = s
        .node_idx(rec.node)
        .map_or(NodeStatus::Down, |i| s.nodes[i].status);
    let (state, workload) = if rec.deleted {
        (ContractState::Deleted, WorkloadState::Deleted)
    } else if rec.paused {
        (ContractState::GracePeriod, WorkloadState::Paused)
    } else if node_status != NodeStatus::Up {
        let why = match node_status {
            NodeStatus::Standby => "grid node is in standby",
            _ => "grid node is down",
        };
        (
            ContractState::Created,
            WorkloadState::Error(why.to_string()),
        )
    } else if let Some(reason) = &rec.failure {
        (ContractState::Created, WorkloadState::Error(reason.clone()))
    } else {
        (ContractState::Created, WorkloadState::Ok)
    };
    Ok(ContractInfo {
        contract,
        node: GridNodeId(rec.node),
        state,
        workload,
        node_status,
    })
}
