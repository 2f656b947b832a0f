//! What users see about their nodes and money and the commands on one node:
//! /list, /status, /balance, /delete, /redeploy and the buttons of outage
//! alerts. The words are the core's (`user::view`); this component loads
//! the records, asks the grid, acts and sends.

use std::sync::Arc;

use super::audit_trail::AuditTrail;
use super::deploy::Deployer;
use super::funding::Funding;
use super::intents::GridWork;
use super::repo::Repo;
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::command::AlertAction;
use crate::grid::Grid;
use crate::ids::UserId;
use crate::user::chain_text;
use crate::user::view::{self, OnGrid};
use crate::user::{NodeRecord, NodeState, Nodes};

/// The user-facing views of nodes and balance, and delete and redeploy.
pub struct Views {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    grid_work: Arc<GridWork>,
    funding: Arc<Funding>,
    deployer: Arc<Deployer>,
    audit: Arc<AuditTrail>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
}

impl Views {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        grid_work: Arc<GridWork>,
        funding: Arc<Funding>,
        deployer: Arc<Deployer>,
        audit: Arc<AuditTrail>,
        outbox: Arc<dyn Outbox>,
        clock: Arc<dyn Clock>,
    ) -> Views {
        Views {
            repo,
            grid,
            grid_work,
            funding,
            deployer,
            audit,
            outbox,
            clock,
        }
    }

    async fn own_live_node(
        &self,
        user: &UserId,
        name: &str,
    ) -> anyhow::Result<Option<(Nodes, NodeRecord)>> {
        own_live_node(&self.repo, &self.outbox, user, name).await
    }

    /// `/list`.
    pub async fn list_nodes(&self, user: &UserId) -> anyhow::Result<()> {
        let nodes = self.repo.load_nodes(user)?;
        let catalog = self.deployer.catalog();
        let mark = |n: &NodeRecord| {
            chain_text::node_mark(catalog, n)
                .or_else(|| crate::user::link_text::list_mark(catalog, n))
        };
        self.outbox
            .say(user, view::nodes_list_marked(&nodes, &mark))
            .await;
        Ok(())
    }

    /// `/balance`. `fresh` is how reading the twin's balance on the chain
    /// went just before (the ledger follows it on the real grid): when it
    /// failed, the last balance read is shown with a word saying so.
    pub async fn show_balance(
        &self,
        user: &UserId,
        fresh: anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if let Err(e) = fresh {
            tracing::warn!(user = %user, error = %format!("{e:#}"), "could not read the twin's balance");
            self.outbox
                .say(
                    user,
                    "TFChain could not be reached just now, so this is your balance as last read.",
                )
                .await;
        }
        let Some(profile) = self.repo.load_profile(user)? else {
            return Ok(());
        };
        let nodes = self.repo.load_nodes(user)?;
        let balance = profile.account.balance;
        let runway = self.funding.runway_text(user, balance, &nodes, &profile)?;
        self.outbox
            .say(
                user,
                view::balance_text(balance, &runway, profile.funding.mute),
            )
            .await;
        Ok(())
    }

    /// `/status <name>`: the record, and the contract as the grid sees it.
    pub async fn show_status(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((_, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        let text = match &node.placed {
            Some(placed) => {
                // The caller holds the user's lock: their own key asks.
                let answer = match self.grid_work.identity_of(user)? {
                    Some(identity) => self.grid.contract(&identity, placed.contract).await,
                    None => Err(crate::grid::GridError::UnknownContract(placed.contract)),
                };
                let description = self.deployer.describe_running(&node);
                view::status_text(
                    &node,
                    now,
                    Some(OnGrid {
                        contract: answer.as_ref(),
                        description: &description,
                    }),
                )
            }
            None => view::status_text(&node, now, None),
        };
        let text = chain_text::with_status_lines(text, self.deployer.catalog(), &node, now);
        let text =
            crate::user::link_text::with_status_line(text, self.deployer.catalog(), &node, now);
        self.outbox.say(user, text).await;
        Ok(())
    }

    /// `/delete <name>`.
    pub async fn delete_node(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((mut nodes, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if let Some(refusal) = view::delete_refusal(&node) {
            self.outbox.say(user, refusal).await;
            return Ok(());
        }
        // Write-ahead: the node is deleted and its contract retired in one
        // save, and only then cancelled; a crash in between leaves the
        // contract listed for the next start to cancel.
        if let Some(stored) = nodes.get_mut(name) {
            stored.state = NodeState::Deleted;
            stored.retired.extend(node.contract());
        }
        self.repo.save_nodes(user, &nodes)?;
        let waiting = self.grid_work.cancel_retired(user).await?;
        tracing::info!(user = %user, node = %name, "node deleted");
        self.audit.record(
            user.as_str(),
            Some(user),
            "node.deleted",
            Some(name),
            "deleted by its owner",
        );
        self.outbox
            .say(user, view::deleted_text(name, waiting.is_empty()))
            .await;
        Ok(())
    }

    /// `/redeploy`: moves a node to another grid node in the background.
    pub async fn start_redeploy(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((_, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if let Some(refusal) = view::redeploy_refusal(&node) {
            self.outbox.say(user, refusal).await;
            return Ok(());
        }
        self.outbox
            .say(
                user,
                format!("Redeploying {} on another grid node…", node.name),
            )
            .await;
        self.deployer.spawn_redeploy(user, node).await;
        Ok(())
    }

    /// A button of an outage alert: acts only while the outage it was sent
    /// for lasts. After a recovery, a redeploy or a newer outage it says so,
    /// does nothing, and has its buttons removed where the channel can.
    pub async fn alert_button(
        &self,
        user: &UserId,
        kind: AlertAction,
        name: &str,
        since: Option<u64>,
    ) -> anyhow::Result<()> {
        // Only the presser's own nodes are looked at.
        let nodes = self.repo.load_nodes(user)?;
        let node = view::live_node(&nodes, name);
        if view::alert_applies(node, since) {
            return match kind {
                AlertAction::Redeploy => self.start_redeploy(user, name).await,
                AlertAction::Status => self.show_status(user, name).await,
            };
        }
        self.outbox.send(user, Outgoing::Withdrawn).await;
        self.outbox
            .say(user, view::stale_alert_text(name, node))
            .await;
        Ok(())
    }
}

/// The user's live node called `name` with their nodes, or None after
/// telling them there is no such node: every command that names a node
/// (here, `/keys`, `/autoheal`) looks it up this way, so only the user's own
/// nodes are ever looked at.
pub(super) async fn own_live_node(
    repo: &Repo,
    outbox: &Arc<dyn Outbox>,
    user: &UserId,
    name: &str,
) -> anyhow::Result<Option<(Nodes, NodeRecord)>> {
    let nodes = repo.load_nodes(user)?;
    match view::live_node(&nodes, name).cloned() {
        Some(node) => Ok(Some((nodes, node))),
        None => {
            outbox.say(user, view::no_such_node(name)).await;
            Ok(None)
        }
    }
}
