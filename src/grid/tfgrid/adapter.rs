//! The [`Grid`] trait over the real backend.
//!
//! Every action on the real grid is signed by the user's own twin key, while
//! the trait's methods carry only public keys and ids. A [`KeyRing`], given
//! by whoever builds the grid, finds the signing key of an identity by its
//! public key or its twin; the grid never stores keys itself. The monitor's
//! batch ([`Grid::contracts`]) signs nothing and needs no key.

use std::sync::Arc;

use async_trait::async_trait;
use ed25519_dalek::SigningKey;

use super::backend::TfGridBackend;
use super::chain::ChainContract;
use crate::grid::{
    Capacity, ContractId, ContractInfo, Grid, GridError, GridNode, GridNodeId, Locations,
    OwnedContract, Placed, Placement, TwinId,
};
use crate::reservation::Deployment;

/// Finds identities' signing keys (unsealed only for the call).
#[async_trait]
pub trait KeyRing: Send + Sync {
    /// The key of the identity whose public key this is.
    async fn by_public_key(&self, public_key: &[u8; 32]) -> Option<SigningKey>;
    /// The key of the identity that owns this twin.
    async fn by_twin(&self, twin: TwinId) -> Option<SigningKey>;
}

/// The real ThreeFold Grid v3 as a [`Grid`].
pub struct TfGrid {
    backend: TfGridBackend,
    keys: Arc<dyn KeyRing>,
}

impl TfGrid {
    pub fn new(backend: TfGridBackend, keys: Arc<dyn KeyRing>) -> TfGrid {
        TfGrid { backend, keys }
    }

    async fn key_of_twin(&self, twin: TwinId) -> Result<SigningKey, GridError> {
        self.keys
            .by_twin(twin)
            .await
            .ok_or(GridError::UnknownTwin(twin.0))
    }

    /// The contract as the chain stores it, with its owner's key: read once,
    /// then handed to the backend so it is not read again.
    async fn with_owner_key(
        &self,
        contract: ContractId,
    ) -> Result<(ChainContract, SigningKey), GridError> {
        let on_chain = self.backend.chain_contract(contract).await?;
        let key = self.key_of_twin(TwinId(on_chain.twin_id)).await?;
        Ok((on_chain, key))
    }
}

#[async_trait]
impl Grid for TfGrid {
    fn kind(&self) -> &'static str {
        "tfgrid"
    }

    async fn ensure_twin(&self, public_key: &[u8; 32]) -> Result<TwinId, GridError> {
        let key = self
            .keys
            .by_public_key(public_key)
            .await
            .ok_or_else(|| GridError::Rejected("no identity holds this key".into()))?;
        self.backend.ensure_twin(&key).await
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

    async fn deploy(
        &self,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError> {
        let key = self.key_of_twin(TwinId(deployment.twin_id)).await?;
        self.backend.deploy(&key, node, need, deployment).await
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

    async fn cancel(&self, contract: ContractId) -> Result<(), GridError> {
        let (on_chain, key) = self.with_owner_key(contract).await?;
        self.backend.cancel(&key, &on_chain).await
    }

    /// Asks the node itself for its workloads over RMB, signed by the
    /// owner's key: right for one contract (a status page).
    async fn contract(&self, contract: ContractId) -> Result<ContractInfo, GridError> {
        let (on_chain, key) = self.with_owner_key(contract).await?;
        self.backend.contract(&key, &on_chain).await
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
