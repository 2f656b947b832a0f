//! The [`Grid`] trait over the real backend.
//!
//! Every action on the real grid is signed by the user's own twin key, which
//! the caller hands over already unsealed ([`IdentityKey`], unsealed once
//! per piece of work by the service's deployer under the user's lock); the
//! grid never looks a key up, stores one, or calls back into the service.
//! The monitor's batch ([`Grid::contracts`]) and the reconciler's listing
//! ([`Grid::twin_contracts`]) sign nothing and take no key.

use async_trait::async_trait;

use super::backend::TfGridBackend;
use crate::crypto::IdentityKey;
use crate::grid::{
    Capacity, ContractId, ContractInfo, Grid, GridError, GridNode, GridNodeId, Locations,
    OwnedContract, Placed, Placement, TwinId,
};
use crate::reservation::Deployment;

/// The real ThreeFold Grid v3 as a [`Grid`].
pub struct TfGrid {
    backend: TfGridBackend,
}

impl TfGrid {
    pub fn new(backend: TfGridBackend) -> TfGrid {
        TfGrid { backend }
    }
}

#[async_trait]
impl Grid for TfGrid {
    fn kind(&self) -> crate::config::GridKind {
        crate::config::GridKind::Tfgrid
    }

    async fn ensure_twin(&self, identity: &IdentityKey) -> Result<TwinId, GridError> {
        self.backend.ensure_twin(identity.signing_key()).await
    }

    async fn locations(&self, need: &Capacity) -> Result<Locations, GridError> {
        self.backend.locations(need).await
    }

    async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError> {
        self.backend.candidates(need, place, avoid, limit).await
    }

    /// The backend checks the key against the deployment's twin on chain
    /// before it signs anything.
    async fn deploy(
        &self,
        identity: &IdentityKey,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError> {
        self.backend
            .deploy(identity.signing_key(), node, need, deployment)
            .await
    }

    async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError> {
        self.backend.contract_for(node, deployment_hash).await
    }

    /// Listed by the grid proxy, confirmed on TFChain; no key is needed.
    async fn twin_contracts(&self, twin: TwinId) -> Result<Vec<OwnedContract>, GridError> {
        self.backend.twin_contracts(twin).await
    }

    /// Signed by `identity`; TFChain refuses a key that does not own the
    /// contract (`TwinNotAuthorizedToCancelContract`, tfchain
    /// pallet-smart-contract `grid_contract.rs` `_cancel_contract`).
    async fn cancel(&self, identity: &IdentityKey, contract: ContractId) -> Result<(), GridError> {
        let on_chain = self.backend.chain_contract(contract).await?;
        self.backend.cancel(identity.signing_key(), &on_chain).await
    }

    /// Asks the node itself for its workloads over RMB, signed by the
    /// owner's key: right for one contract (a status page).
    async fn contract(
        &self,
        identity: &IdentityKey,
        contract: ContractId,
    ) -> Result<ContractInfo, GridError> {
        let on_chain = self.backend.chain_contract(contract).await?;
        self.backend
            .contract(identity.signing_key(), &on_chain)
            .await
    }

    /// The monitor's fast batch: contracts from TFChain and each node's
    /// status from the grid proxy, no RMB and no key. The workload state is
    /// *inferred* (a created contract on an up node is `Ok`); the service's
    /// application probe is what checks that the node really runs. See
    /// [`TfGridBackend::contracts`].
    async fn contracts(
        &self,
        ids: &[ContractId],
    ) -> Result<Vec<Result<ContractInfo, GridError>>, GridError> {
        self.backend.contracts(ids).await
    }

    /// On the real grid the chain pauses a contract by itself when its
    /// twin's balance runs out (grace period) and resumes it when the
    /// account is topped up; there is nothing for Jukebox to do, and the
    /// state shows in [`Grid::contract`].
    async fn set_paused(&self, _contract: ContractId, _paused: bool) -> Result<(), GridError> {
        Ok(())
    }

    /// The twin account's free balance on TFChain, which the chain bills.
    async fn account_balance(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<crate::money::Tft>, GridError> {
        self.backend.account_balance(public_key).await.map(Some)
    }
}
