//! What the reconciler asks of the real grid: the contract a deployment
//! already has on a node (TFChain's `ContractIDByNodeIDAndHash`), and the
//! live contracts a twin owns.
//!
//! TFChain keeps no index of contracts by twin (pallet-smart-contract
//! `lib.rs`: contracts by id, by node and hash, active ones by node, none
//! by twin), so the twin's contracts are listed by the grid proxy, as the
//! Go and TypeScript clients list them through their indexers. The proxy
//! lags the chain and is a third party, so each listed contract is read
//! back from TFChain and kept only if the chain has it, live, owned by
//! that twin, on the node the proxy named: nothing is ever cancelled on
//! the proxy's word alone.

use super::{TfGridBackend, chain_error};
use crate::grid::tfgrid::chain::ChainContractState;
use crate::grid::{ContractId, GridError, GridNodeId, OwnedContract, TwinId};

/// Chain reads in flight at once while confirming a twin's contracts.
const CONCURRENT_CONFIRMS: usize = 16;

impl TfGridBackend {
    /// The live contract for the deployment with hex hash `deployment_hash`
    /// on `node`. A string that is not 32 bytes cannot be a deployment hash
    /// on chain, so nothing holds it.
    pub async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError> {
        let Ok(hash) = <[u8; 32]>::try_from(deployment_hash.as_bytes()) else {
            return Ok(None);
        };
        self.chain
            .contract_for(node.0, hash)
            .await
            .map(|id| id.map(ContractId))
            .map_err(chain_error)
    }

    /// The twin's live node contracts: listed by the grid proxy, each
    /// confirmed on TFChain. A contract the chain cannot be asked about
    /// fails the whole listing rather than being left out, so a reader
    /// never takes "not listed" for "gone".
    pub async fn twin_contracts(&self, twin: TwinId) -> Result<Vec<OwnedContract>, GridError> {
        let listed = self.discovery.proxy().twin_contracts(twin.0).await?;
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|c| c.kind == "node" && c.twin_id == twin.0)
            .collect();
        if listed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<u64> = listed.iter().map(|c| c.contract_id).collect();
        let read = self
            .chain
            .contracts(&ids, CONCURRENT_CONFIRMS)
            .await
            .map_err(chain_error)?;
        let mut owned = Vec::new();
        for (listed, on_chain) in listed.into_iter().zip(read) {
            let Some(c) = on_chain.map_err(chain_error)? else {
                continue; // removed from the chain since the proxy indexed it
            };
            let live = c.state != ChainContractState::Deleted;
            if live && c.twin_id == twin.0 && c.node_id == listed.details.node_id {
                owned.push(OwnedContract {
                    contract: ContractId(c.id),
                    node: GridNodeId(c.node_id),
                    deployment_hash: listed.details.deployment_hash,
                });
            }
        }
        Ok(owned)
    }
}
