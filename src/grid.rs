//! The grid boundary: what Jukebox needs from a ThreeFold Grid.
//!
//! Callers (the service, the monitor) only see the [`Grid`] trait. The embedded
//! simulation (`grid::sim`) and the real Grid v3 backend (`grid::tfgrid`:
//! grid proxy discovery, TFChain contracts, RMB deployments) implement it. Deployments arrive already signed by
//! the user's intermediate identity; a grid must reject one whose signature
//! does not verify against the twin's registered key.

use async_trait::async_trait;

use crate::crypto::IdentityKey;
use crate::reservation::Deployment;

pub mod sim;
pub mod tfgrid;

// The value types live in the bottom model module (the core imports them
// from there); re-exported so the backends keep naming them `grid::…`.
pub use crate::model::grid::{
    Capacity, ContractId, ContractInfo, ContractState, CountryOption, FarmOption, GridError,
    GridNode, GridNodeId, Locations, NodeStatus, OwnedContract, Placed, Placement, TwinId,
    WorkloadState,
};

/// A ThreeFold Grid as Jukebox uses it.
#[async_trait]
pub trait Grid: Send + Sync {
    /// Simulated or real, for logs and the simulation labels.
    fn kind(&self) -> crate::config::GridKind;

    /// Registers the identity as a twin, once; later calls with the same
    /// key return the same twin (idempotent, resumable). The calls that act
    /// for a twin take its unsealed [`IdentityKey`]: the caller (the
    /// deployer) unseals it once for the user whose node is at stake, so
    /// the grid never looks a key up itself.
    async fn ensure_twin(&self, identity: &IdentityKey) -> Result<TwinId, GridError>;

    /// Countries and farms that can host at least one node of `need` now.
    async fn locations(&self, need: &Capacity) -> Result<Locations, GridError>;

    /// Up to `limit` up grid nodes in `place` with room for `need`, in random
    /// order, never one listed in `avoid`.
    async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError>;

    /// Creates a contract for the signed `deployment` on `node` and deploys it.
    /// Capacity is reserved atomically: concurrent calls never overbook a node.
    /// On failure nothing stays reserved and no contract is left behind.
    /// When `node` already holds a live contract for this very deployment
    /// (same deployment hash: a deploy interrupted by a crash made it), that
    /// contract is adopted and deployed, never a second one made.
    /// `identity` is the key of the deployment's twin (`twin_id`), which
    /// signs the contract; another key is refused.
    async fn deploy(
        &self,
        identity: &IdentityKey,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError>;

    /// The live contract made for the deployment whose hash is
    /// `deployment_hash` on `node`, if any: TFChain's
    /// `SmartContractModule.ContractIDByNodeIDAndHash` (pallet-smart-contract
    /// `grid_contract.rs` inserts it on create and removes it when the
    /// contract is removed). How a deploy resumed after a crash finds the
    /// contract its intent may already have made.
    async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError>;

    /// Every live node contract `twin` owns, as the grid confirms it now:
    /// what the reconciler checks against the node records.
    async fn twin_contracts(&self, twin: TwinId) -> Result<Vec<OwnedContract>, GridError>;

    /// Cancels a contract and frees its capacity, signed by `identity`,
    /// which must be the contract's owner (TFChain refuses anyone else:
    /// pallet-smart-contract's `TwinNotAuthorizedToCancelContract`, in
    /// `grid_contract.rs` `_cancel_contract`).
    /// Idempotent: cancelling an already cancelled contract succeeds, or,
    /// on the real grid, where TFChain removes a cancelled contract from
    /// storage (pallet-smart-contract `grid_contract.rs` `remove_contract`),
    /// answers `UnknownContract`, which callers take as done.
    async fn cancel(&self, identity: &IdentityKey, contract: ContractId) -> Result<(), GridError>;

    /// The current state of a contract, its workload and its grid node,
    /// asked of the node as the owner `identity` (Zero-OS shows a twin only
    /// its own deployments; another's reads as unknown).
    async fn contract(
        &self,
        identity: &IdentityKey,
        contract: ContractId,
    ) -> Result<ContractInfo, GridError>;

    /// Many contracts at once, one answer per id in the order asked. The
    /// monitor checks every running node each interval (up to 100,000) this
    /// way; a grid answers in as few round trips as it can. The outer error
    /// means the grid could not be asked at all; an unknown id is an inner
    /// `UnknownContract`.
    async fn contracts(
        &self,
        ids: &[ContractId],
    ) -> Result<Vec<Result<ContractInfo, GridError>>, GridError>;

    /// Pauses a contract's workloads (the owner's funds ran out: grace
    /// period) or resumes them. Idempotent. While paused, [`Grid::contract`]
    /// reports [`ContractState::GracePeriod`] and [`WorkloadState::Paused`].
    async fn set_paused(&self, contract: ContractId, paused: bool) -> Result<(), GridError>;

    /// The spendable balance of the account of the identity `public_key`
    /// (its twin's account), where this grid bills contracts from the twin's
    /// own account (the real grid: the free balance on TFChain). `None`: the
    /// grid keeps no balances (the simulation), so Jukebox's own ledger is
    /// the balance and Jukebox charges it.
    async fn account_balance(
        &self,
        _public_key: &[u8; 32],
    ) -> Result<Option<crate::money::Tft>, GridError> {
        Ok(None)
    }
}
