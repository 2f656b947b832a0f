//! Write-ahead records of grid work, so that a crash at any instruction
//! neither makes a second contract nor leaves one paying for nothing.
//!
//! - Before the grid is asked to deploy, the node record gets a
//!   [`DeployIntent`] (grid node and deployment hash). A deploy or move
//!   resumed after a crash first asks the grid for the contract that intent
//!   may have made (`Grid::contract_for`, TFChain's
//!   `ContractIDByNodeIDAndHash`) and adopts it.
//! - A contract a node gives up (the old one of a move, a superseded
//!   redeploy's new one, the one of a deleted node or of a node expired at
//!   the end of the grace period) is put in the record's `retired` list in
//!   the same save that gives it up, then cancelled, then dropped from the
//!   list. A crash in between leaves it listed; the next start and every
//!   reconciler pass cancel it. Cancelling is idempotent, so the grid sees
//!   it cancelled once. Every cancel of the service goes through here but
//!   the reconciler's of orphans, which no record holds.

use std::sync::Arc;

use super::audit_trail::{AuditTrail, SYSTEM};
use super::repo::Repo;
use crate::crypto::IdentityKey;
use crate::grid::{ContractId, Grid, GridError, TwinId};
use crate::ids::UserId;
use crate::user::{DeployIntent, Profile};

/// The grid work every component shares: intents, retired contracts, and
/// the user's twin and identity key. Below the deployer, the monitor, the
/// reconciler and funding, which all cancel through it.
pub struct GridWork {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    audit: Arc<AuditTrail>,
}

impl GridWork {
    pub fn new(repo: Arc<Repo>, grid: Arc<dyn Grid>, audit: Arc<AuditTrail>) -> GridWork {
        GridWork { repo, grid, audit }
    }
    /// Stores `intent` on `user`'s node `name` before the grid is asked.
    /// Returns false (and stores nothing) when the node is no longer live:
    /// then nothing should be deployed for it.
    pub async fn write_intent(
        &self,
        user: &UserId,
        name: &str,
        intent: DeployIntent,
    ) -> anyhow::Result<bool> {
        let _guard = self.repo.lock(user).await;
        let mut nodes = self.repo.load_nodes(user)?;
        let Some(node) = nodes.get_mut(name).filter(|n| n.is_live()) else {
            return Ok(false);
        };
        node.intent = Some(intent);
        self.repo.save_nodes(user, &nodes)?;
        Ok(true)
    }

    /// Cancels every contract `user`'s nodes retired and drops the ones
    /// the grid confirmed (a contract the grid no longer knows is gone too).
    /// Returns the contracts still waiting. The caller holds the user's
    /// lock, so no other save of the nodes interleaves.
    pub async fn cancel_retired(&self, user: &UserId) -> anyhow::Result<Vec<ContractId>> {
        let mut nodes = self.repo.load_nodes(user)?;
        let retired: Vec<(String, ContractId)> = nodes
            .nodes
            .iter()
            .flat_map(|n| n.retired.iter().map(|c| (n.name.clone(), *c)))
            .collect();
        if retired.is_empty() {
            return Ok(Vec::new());
        }
        // Unsealed once for all of them, from this user's own profile: the
        // contracts are this user's, and the grid refuses any other key.
        let Some(identity) = self.identity_of(user)? else {
            return Ok(retired.into_iter().map(|(_, c)| c).collect());
        };
        let mut waiting = Vec::new();
        let mut done = Vec::new();
        for (name, contract) in retired {
            match self.grid.cancel(&identity, contract).await {
                Ok(()) | Err(GridError::UnknownContract(_)) => {
                    tracing::info!(user = %user, node = %name, contract = %contract, "retired contract cancelled");
                    self.audit.record(
                        SYSTEM,
                        Some(user),
                        "contract.cancelled",
                        Some(&name),
                        format!("contract {contract}, given up by the node"),
                    );
                    done.push(contract);
                }
                Err(e) => {
                    tracing::warn!(user = %user, node = %name, contract = %contract, error = %e, "could not cancel a retired contract; retried later");
                    waiting.push(contract);
                }
            }
        }
        if !done.is_empty() {
            for node in &mut nodes.nodes {
                node.retired.retain(|c| !done.contains(c));
            }
            self.repo.save_nodes(user, &nodes)?;
        }
        Ok(waiting)
    }

    /// The identity key of `user`, unsealed from their own profile for a
    /// grid call made for them (a cancel, a status read); `None` when they
    /// have no profile. The caller holds the user's lock.
    pub fn identity_of(&self, user: &UserId) -> anyhow::Result<Option<IdentityKey>> {
        match self.repo.load_profile(user)? {
            Some(profile) => Ok(Some(self.repo.unseal_identity(&profile)?)),
            None => Ok(None),
        }
    }

    /// The user's twin, registered now if need be, with the profile that
    /// records it; the caller holds the user's lock.
    pub async fn twin_locked(
        &self,
        user: &UserId,
    ) -> anyhow::Result<Result<(TwinId, Profile), GridError>> {
        let Some(mut profile) = self.repo.load_profile(user)? else {
            anyhow::bail!("no profile for {user}")
        };
        if let Some(twin) = profile.twin {
            return Ok(Ok((twin, profile)));
        }
        let identity = self.repo.unseal_identity(&profile)?;
        Ok(self
            .register_twin(&mut profile, &identity)
            .await?
            .map(|twin| (twin, profile)))
    }

    /// The user's twin (registered on first use) and identity key, unsealed
    /// once for a whole deploy: it signs the deployment and is handed to
    /// the grid for the contract. Read under the user's own lock from the
    /// user's own profile, so the key is that of the user whose node it is.
    /// The caller does not hold the lock. Registering holds it, as a payment
    /// request does: on the real grid that is TFChain writes (up to
    /// `finality_timeout_seconds` each), but there the twin already exists
    /// by the time an order is paid, so a deploy only finds it.
    pub async fn twin_and_key(
        &self,
        user: &UserId,
    ) -> anyhow::Result<Result<(TwinId, IdentityKey), GridError>> {
        let _guard = self.repo.lock(user).await;
        let Some(mut profile) = self.repo.load_profile(user)? else {
            anyhow::bail!("no profile for {user}")
        };
        let identity = self.repo.unseal_identity(&profile)?;
        let twin = match profile.twin {
            Some(twin) => twin,
            None => match self.register_twin(&mut profile, &identity).await? {
                Ok(twin) => twin,
                Err(e) => return Ok(Err(e)),
            },
        };
        Ok(Ok((twin, identity)))
    }

    /// Registers `profile`'s identity as a twin and records it in the
    /// profile; the caller holds the user's lock and unsealed `identity`
    /// from that same profile.
    async fn register_twin(
        &self,
        profile: &mut Profile,
        identity: &IdentityKey,
    ) -> anyhow::Result<Result<TwinId, GridError>> {
        let twin = match self.grid.ensure_twin(identity).await {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        profile.twin = Some(twin);
        self.repo.save_profile(profile)?;
        Ok(Ok(twin))
    }
}
