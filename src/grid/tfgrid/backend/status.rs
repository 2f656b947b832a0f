//! Reading and ending a deployment on the real grid: a contract as the
//! chain stores it, its state with its node's and workloads', many contracts
//! at once for the monitor, and cancelling one.
//!
//! Reading one contract asks everyone: TFChain for the contract, the grid
//! proxy for its node, and the node itself (over RMB, signed by the owner's
//! key) for its workloads. The monitor's batch cannot afford that for
//! 100,000 contracts a minute, so it asks only TFChain and the proxy and
//! infers the workloads' state (see [`TfGridBackend::contracts`]).

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;

use super::{TfGridBackend, chain_error, rmb_error};
use crate::grid::tfgrid::chain::{ChainContract, ChainContractState, Ed25519Signer};
use crate::grid::tfgrid::rmb::zos::Progress;
use crate::grid::{
    ContractId, ContractInfo, ContractState, GridError, GridNodeId, NodeStatus, WorkloadState,
};

/// Chain reads in flight at once in a batch. They share one websocket and
/// are small, so many can wait on it together.
const CONCURRENT_CHAIN_READS: usize = 64;

impl TfGridBackend {
    /// The contract as the chain stores it (owner, node, state).
    pub async fn chain_contract(&self, contract: ContractId) -> Result<ChainContract, GridError> {
        self.chain
            .contract(contract.0)
            .await
            .map_err(chain_error)?
            .ok_or(GridError::UnknownContract(contract))
    }

    /// Cancels the contract: the billing stops, and the node, which
    /// watches TFChain, removes the workloads (Zero-OS refuses
    /// `zos.deployment.delete`, see `rmb/zos.rs`). Cancelling a cancelled
    /// contract succeeds. The contract comes already read from the chain
    /// ([`Self::chain_contract`]: its owner's key had to be found first), so
    /// it is not read again.
    pub async fn cancel(
        &self,
        key: &SigningKey,
        on_chain: &ChainContract,
    ) -> Result<(), GridError> {
        if on_chain.state == ChainContractState::Deleted {
            return Ok(());
        }
        let signer = Ed25519Signer::new(key.clone());
        self.cancel_on_chain(&signer, on_chain.id).await
    }

    /// The contract's state from the chain, its node's status from the
    /// proxy, and the workloads' state from the node itself. The contract
    /// comes already read from the chain ([`Self::chain_contract`]), so it
    /// is not read again.
    pub async fn contract(
        &self,
        key: &SigningKey,
        on_chain: &ChainContract,
    ) -> Result<ContractInfo, GridError> {
        let node = GridNodeId(on_chain.node_id);
        let Some(found) = self.discovery.known_node(node).await? else {
            // A node the proxy does not know is down, which settles the
            // workloads' state: nothing to ask.
            return Ok(inferred(on_chain, NodeStatus::Down));
        };
        let node_status = found.status.into();
        let state = contract_state(on_chain.state);
        let workload = match settled_workload(state, node_status) {
            Some(settled) => settled,
            None => {
                let contract = ContractId(on_chain.id);
                self.workload_state(key, on_chain.twin_id, found.twin_id, contract)
                    .await
            }
        };
        Ok(ContractInfo {
            contract: ContractId(on_chain.id),
            node,
            state,
            workload,
            node_status,
        })
    }

    /// Many contracts for the monitor, one answer per id in the order asked:
    /// every contract from TFChain (one block, many reads in flight over the
    /// one connection) and every distinct grid node's status from the proxy,
    /// once per batch. No key is needed: nothing is signed.
    ///
    /// The workload state here is *inferred*, not asked: no node is called
    /// over RMB. A created contract on an up node is reported
    /// [`WorkloadState::Ok`], and whether the application really runs is
    /// left to the service's application probe, which the monitor runs on
    /// exactly those. A contract in grace period is `Paused`, a deleted one
    /// `Deleted`, and one whose node is down or unknown is an error, as in
    /// [`Self::contract`], which still asks the node itself.
    ///
    /// The outer error means the grid could not be asked at all: TFChain
    /// unreachable, or every answer unavailable (the proxy unreachable). An
    /// unknown id is an inner [`GridError::UnknownContract`].
    pub async fn contracts(
        &self,
        ids: &[ContractId],
    ) -> Result<Vec<Result<ContractInfo, GridError>>, GridError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<u64> = ids.iter().map(|id| id.0).collect();
        let read = self
            .chain
            .contracts(&raw, CONCURRENT_CHAIN_READS)
            .await
            .map_err(chain_error)?;
        let on_chain: Vec<Result<ChainContract, GridError>> = ids
            .iter()
            .zip(read)
            .map(|(id, r)| {
                r.map_err(chain_error)?
                    .ok_or(GridError::UnknownContract(*id))
            })
            .collect();
        let nodes: BTreeSet<GridNodeId> = on_chain
            .iter()
            .flatten()
            .map(|c| GridNodeId(c.node_id))
            .collect();
        let statuses = self.discovery.node_statuses(&nodes).await;
        let answers: Vec<Result<ContractInfo, GridError>> = on_chain
            .into_iter()
            .map(|c| {
                let c = c?;
                let node = GridNodeId(c.node_id);
                let node_status = statuses
                    .get(&node)
                    .cloned()
                    .unwrap_or(Err(GridError::UnknownNode(node)))?;
                Ok(inferred(&c, node_status))
            })
            .collect();
        match unavailable(&answers) {
            Some(e) => Err(e),
            None => Ok(answers),
        }
    }

    async fn workload_state(
        &self,
        key: &SigningKey,
        owner: u32,
        node_twin: u32,
        contract: ContractId,
    ) -> WorkloadState {
        let asked = async {
            let session = self.open_session(key, owner, node_twin).await?;
            session.zos().get(contract.0).await.map_err(rmb_error)
        };
        match asked.await {
            Ok(d) => match d.progress() {
                Progress::Ready => WorkloadState::Ok,
                Progress::Pending => WorkloadState::Init,
                failed @ Progress::Failed { .. } => WorkloadState::Error(failed.to_string()),
            },
            Err(e) => WorkloadState::Error(format!("the grid node did not answer: {e}")),
        }
    }
}

fn contract_state(state: ChainContractState) -> ContractState {
    match state {
        ChainContractState::Created => ContractState::Created,
        ChainContractState::GracePeriod(_) => ContractState::GracePeriod,
        ChainContractState::Deleted => ContractState::Deleted,
    }
}

/// The workload state that the contract's and the node's state decide
/// alone; `None` when only the node can tell (created, node up).
fn settled_workload(state: ContractState, node: NodeStatus) -> Option<WorkloadState> {
    match state {
        ContractState::Deleted => Some(WorkloadState::Deleted),
        ContractState::GracePeriod => Some(WorkloadState::Paused),
        ContractState::Created if node == NodeStatus::Up => None,
        ContractState::Created => Some(WorkloadState::Error("the grid node is not up".into())),
    }
}

/// A contract from the chain and its node's status alone, as the batch
/// reports it: workloads of a created contract on an up node are taken to
/// be running.
fn inferred(on_chain: &ChainContract, node_status: NodeStatus) -> ContractInfo {
    let state = contract_state(on_chain.state);
    ContractInfo {
        contract: ContractId(on_chain.id),
        node: GridNodeId(on_chain.node_id),
        state,
        workload: settled_workload(state, node_status).unwrap_or(WorkloadState::Ok),
        node_status,
    }
}

/// The error to give once for the whole batch when no answer came through
/// because the grid was unreachable.
fn unavailable(answers: &[Result<ContractInfo, GridError>]) -> Option<GridError> {
    let all = !answers.is_empty()
        && answers
            .iter()
            .all(|a| matches!(a, Err(GridError::Unavailable(_))));
    match answers.first() {
        Some(Err(e)) if all => Some(e.clone()),
        _ => None,
    }
}
