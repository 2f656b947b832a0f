//! Reading and ending a deployment on the real grid: who owns a contract,
//! its state with its node's and workloads', and cancelling it.

use ed25519_dalek::SigningKey;

use super::{TfGridBackend, chain_error, rmb_error};
use crate::grid::tfgrid::chain::{ChainContract, ChainContractState, Ed25519Signer};
use crate::grid::tfgrid::rmb::zos::{Progress, ZosNode};
use crate::grid::{
    ContractId, ContractInfo, ContractState, GridError, GridNodeId, NodeStatus, TwinId,
    WorkloadState,
};

impl TfGridBackend {
    /// The twin that owns `contract`, from the chain.
    pub async fn owner_of(&self, contract: ContractId) -> Result<TwinId, GridError> {
        self.chain_contract(contract)
            .await
            .map(|c| TwinId(c.twin_id))
    }

    async fn chain_contract(&self, contract: ContractId) -> Result<ChainContract, GridError> {
        self.chain
            .contract(contract.0)
            .await
            .map_err(chain_error)?
            .ok_or(GridError::UnknownContract(contract))
    }

    /// Cancels the contract (the billing stops) after asking its node to
    /// delete the workloads. Cancelling a cancelled contract succeeds.
    pub async fn cancel(&self, key: &SigningKey, contract: ContractId) -> Result<(), GridError> {
        let signer = Ed25519Signer::new(key.clone());
        if let Ok(c) = self.chain_contract(contract).await
            && c.state != ChainContractState::Deleted
            && let Ok(found) = self.discovery.node(GridNodeId(c.node_id)).await
            && let Ok(remote) = self.twin_key(found.twin_id).await
            && let Ok(peer) = self.connect(key, c.twin_id).await
        {
            // The node frees its resources sooner this way; if it cannot be
            // reached, the cancelled contract makes it clean up later.
            let _ = ZosNode {
                peer: &peer,
                node: remote,
            }
            .delete(contract.0)
            .await;
        }
        self.cancel_on_chain(&signer, contract.0).await
    }

    /// The contract's state from the chain, its node's status from the
    /// proxy, and the workloads' state from the node itself.
    pub async fn contract(
        &self,
        key: &SigningKey,
        contract: ContractId,
    ) -> Result<ContractInfo, GridError> {
        let on_chain = self.chain_contract(contract).await?;
        let node = GridNodeId(on_chain.node_id);
        let found = match self.discovery.node(node).await {
            Ok(found) => Some(found),
            // The proxy forgets nodes removed from the grid.
            Err(GridError::UnknownNode(_)) => None,
            Err(e) => return Err(e),
        };
        let node_status = found.as_ref().map_or(NodeStatus::Down, |n| n.status.into());
        let state = match on_chain.state {
            ChainContractState::Created => ContractState::Created,
            ChainContractState::GracePeriod(_) => ContractState::GracePeriod,
            ChainContractState::Deleted => ContractState::Deleted,
        };
        let workload = match (state, found) {
            (ContractState::Deleted, _) => WorkloadState::Deleted,
            (ContractState::GracePeriod, _) => WorkloadState::Paused,
            (ContractState::Created, Some(found)) if node_status == NodeStatus::Up => {
                self.workload_state(key, on_chain.twin_id, found.twin_id, contract)
                    .await
            }
            (ContractState::Created, _) => WorkloadState::Error("the grid node is not up".into()),
        };
        Ok(ContractInfo {
            contract,
            node,
            state,
            workload,
            node_status,
        })
    }

    async fn workload_state(
        &self,
        key: &SigningKey,
        owner: u32,
        node_twin: u32,
        contract: ContractId,
    ) -> WorkloadState {
        let asked = async {
            let remote = self.twin_key(node_twin).await?;
            let peer = self.connect(key, owner).await?;
            let zos = ZosNode {
                peer: &peer,
                node: remote,
            };
            zos.get(contract.0).await.map_err(rmb_error)
        };
        match asked.await {
            Ok(d) => match d.progress() {
                Progress::Ready => WorkloadState::Ok,
                Progress::Pending => WorkloadState::Init,
                Progress::Failed { workload, message } => {
                    WorkloadState::Error(format!("{workload}: {message}"))
                }
            },
            Err(e) => WorkloadState::Error(format!("the grid node did not answer: {e}")),
        }
    }
}
