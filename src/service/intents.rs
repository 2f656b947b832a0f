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

use super::Service;
use crate::grid::{ContractId, GridError};
use crate::ids::UserId;
use crate::user::{DeployIntent, NodeState};

impl Service {
    /// Stores `intent` on `user`'s node `name` before the grid is asked.
    /// Returns false (and stores nothing) when the node is no longer live:
    /// then nothing should be deployed for it.
    pub(super) async fn write_intent(
        &self,
        user: &UserId,
        name: &str,
        intent: DeployIntent,
    ) -> anyhow::Result<bool> {
        let _guard = self.inner.locks.lock(user).await;
        let mut nodes = self.load_nodes(user)?;
        let Some(node) = nodes.get_mut(name).filter(|n| n.is_live()) else {
            return Ok(false);
        };
        node.intent = Some(intent);
        self.save_nodes(user, &nodes)?;
        Ok(true)
    }

    /// Cancels every contract `user`'s nodes retired and drops the ones
    /// the grid confirmed (a contract the grid no longer knows is gone too).
    /// Returns the contracts still waiting. The caller holds the user's
    /// lock, so no other save of the nodes interleaves.
    pub(super) async fn cancel_retired(&self, user: &UserId) -> anyhow::Result<Vec<ContractId>> {
        let mut nodes = self.load_nodes(user)?;
        let retired: Vec<(String, ContractId)> = nodes
            .nodes
            .iter()
            .flat_map(|n| n.retired.iter().map(|c| (n.name.clone(), *c)))
            .collect();
        if retired.is_empty() {
            return Ok(Vec::new());
        }
        let mut waiting = Vec::new();
        let mut done = Vec::new();
        for (name, contract) in retired {
            match self.inner.grid.cancel(contract).await {
                Ok(()) | Err(GridError::UnknownContract(_)) => {
                    tracing::info!(user = %user, node = %name, contract = %contract, "retired contract cancelled");
                    self.audit(
                        super::audit_trail::SYSTEM,
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
            self.save_nodes(user, &nodes)?;
        }
        Ok(waiting)
    }

    /// After a start: cancels what nodes retired, resumes moves a crash
    /// interrupted (a running node with an intent is redeployed again, and
    /// the redeploy adopts the contract the intent made, if any), and drops
    /// the intent of a node in any other state, whose contract, if one was
    /// made, the reconciler then cancels as an orphan. Deployments of paid
    /// orders resume through `global/pending/` instead. Returns how many
    /// moves were resumed.
    pub(super) async fn resume_moves(&self) -> anyhow::Result<usize> {
        let mut resumed = 0;
        for user in self.store().list_users()? {
            let moves = {
                let _guard = self.inner.locks.lock(&user).await;
                let mut nodes = self.load_nodes(&user)?;
                // One read for the many users with nothing left half-done.
                if nodes
                    .nodes
                    .iter()
                    .all(|n| n.retired.is_empty() && n.intent.is_none())
                {
                    continue;
                }
                if nodes.nodes.iter().any(|n| !n.retired.is_empty()) {
                    self.cancel_retired(&user).await?;
                    nodes = self.load_nodes(&user)?;
                }
                let mut moves = Vec::new();
                let mut changed = false;
                for node in &mut nodes.nodes {
                    match (&node.state, &node.intent) {
                        (_, None) | (NodeState::Deploying | NodeState::Pending, _) => {}
                        (NodeState::Running, Some(_)) => moves.push(node.clone()),
                        (_, Some(_)) => {
                            node.intent = None;
                            changed = true;
                        }
                    }
                }
                if changed {
                    self.save_nodes(&user, &nodes)?;
                }
                moves
            };
            for node in moves {
                tracing::info!(user = %user, node = %node.name, "resuming an interrupted move");
                resumed += 1;
                self.spawn_redeploy(&user, node).await;
            }
        }
        Ok(resumed)
    }
}
