//! What users see about their nodes and money: /list, /status, /balance, and
//! /delete (which is short enough to live beside them).

use super::{Service, state_word};
use crate::channel::Outgoing;
use crate::grid::{ContractState, NodeStatus, WorkloadState};
use crate::ids::UserId;
use crate::lifecycle::{human_duration, utc_datetime};
use crate::user::{NodeRecord, NodeState};

impl Service {
    pub(super) async fn list_nodes(&self, user: &UserId) -> anyhow::Result<()> {
        let nodes = self.inner.repo.load_nodes(user)?;
        let live: Vec<&NodeRecord> = nodes.live().collect();
        if live.is_empty() {
            self.say(user, "You have no nodes yet. Send /deploy to run one.")
                .await;
            return Ok(());
        }
        let mut lines = vec![format!("Your nodes ({}):", live.len())];
        for n in live {
            let place = n
                .placed
                .as_ref()
                .map(|p| format!(" · grid node {} ({})", p.node.id, p.node.country))
                .unwrap_or_default();
            lines.push(format!("• {} — {}{place}", n.name, state_word(&n.state)));
        }
        lines.push(String::new());
        lines.push("/status <name> for details, /delete <name>, /redeploy <name>.".into());
        self.say(user, lines.join("\n")).await;
        Ok(())
    }

    pub(super) async fn show_balance(&self, user: &UserId) -> anyhow::Result<()> {
        if let Err(e) = self.reconcile_with_grid(user).await {
            // The last balance read is shown; say it may be behind.
            tracing::warn!(user = %user, error = %format!("{e:#}"), "could not read the twin's balance");
            self.say(
                user,
                "TFChain could not be reached just now, so this is your balance as last read.",
            )
            .await;
        }
        let Some(profile) = self.inner.repo.load_profile(user)? else {
            return Ok(());
        };
        let nodes = self.inner.repo.load_nodes(user)?;
        let balance = profile.account.balance;
        let mut text = format!(
            "Balance: {balance}\n{}",
            self.inner
                .funding
                .runway_text(user, balance, &nodes, &profile)?
        );
        text.push_str("\n/topup adds funds.");
        if profile.funding.mute != crate::lifecycle::Mute::Nothing {
            text.push_str(" (Reminders are muted; /unmute turns them back on.)");
        }
        self.say(user, text).await;
        Ok(())
    }

    pub(super) async fn show_status(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((_, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        let mut text = format!("{} — {}", node.name, state_word(&node.state));
        if let Some(outage) = &node.outage {
            text.push_str(&format!(
                "\nDown since {} ({} ago): {}. /redeploy moves it.",
                utc_datetime(outage.since),
                human_duration(self.now().saturating_sub(outage.since)),
                outage.reason
            ));
        }
        if node.state == NodeState::Running {
            text.push_str(if node.autoheal {
                "\nAuto-heal: on (/autoheal to change)"
            } else {
                "\nAuto-heal: off (/autoheal to change)"
            });
        }
        if let Some(placed) = &node.placed {
            // The caller holds the user's lock: their own key asks.
            let answer = match self.inner.grid_work.identity_of(user)? {
                Some(identity) => self.grid().contract(&identity, placed.contract).await,
                None => Err(crate::grid::GridError::UnknownContract(placed.contract)),
            };
            match answer {
                Ok(info) => {
                    let health = match (&info.state, &info.workload, info.node_status) {
                        (ContractState::Created, WorkloadState::Ok, NodeStatus::Up) => {
                            "healthy".to_owned()
                        }
                        (_, _, NodeStatus::Down) => {
                            "its grid node is down; /redeploy moves it".to_owned()
                        }
                        (_, WorkloadState::Error(e), _) => {
                            format!("workload error: {e}; /redeploy moves it")
                        }
                        (ContractState::GracePeriod, _, _) => {
                            "paused: funds ran out; top up to resume".to_owned()
                        }
                        (state, workload, status) => format!(
                            "contract {state:?}, workload {workload:?}, grid node {status:?}"
                        ),
                    };
                    text.push_str(&format!("\nHealth: {health}"));
                }
                Err(e) => text.push_str(&format!("\nThe grid could not be asked right now ({e}).")),
            }
            text.push('\n');
            text.push_str(&self.inner.deployer.describe_running(&node));
        } else if let NodeState::Failed(why) = &node.state {
            text.push_str(&format!("\nReason: {why}"));
        }
        text.push_str(&format!("\nCosts {} per hour.", node.price_per_hour));
        self.say(user, text).await;
        Ok(())
    }

    pub(super) async fn delete_node(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((mut nodes, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if node.state == NodeState::Deploying {
            self.say(
                user,
                format!("{name} is being deployed right now; delete it once it is running."),
            )
            .await;
            return Ok(());
        }
        // Write-ahead: the node is deleted and its contract retired in one
        // save, and only then cancelled; a crash in between leaves the
        // contract listed for the next start to cancel.
        if let Some(stored) = nodes.get_mut(name) {
            stored.state = NodeState::Deleted;
            stored.retired.extend(node.contract());
        }
        self.inner.repo.save_nodes(user, &nodes)?;
        let waiting = self.inner.grid_work.cancel_retired(user).await?;
        tracing::info!(user = %user, node = %name, "node deleted");
        self.inner.audit.record(
            user.as_str(),
            Some(user),
            "node.deleted",
            Some(name),
            "deleted by its owner",
        );
        let text = if waiting.is_empty() {
            format!("Deleted {name}. It no longer costs anything.")
        } else {
            format!(
                "Deleted {name}. The grid has not confirmed the cancellation yet; Jukebox keeps trying until it does, and nothing is charged for {name} meanwhile."
            )
        };
        self.say(user, text).await;
        Ok(())
    }

    /// `/redeploy`: moves a node to another grid node in the background.
    pub(super) async fn start_redeploy(&self, user: &UserId, name: &str) -> anyhow::Result<()> {
        let Some((_, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if node.state != NodeState::Running {
            self.say(
                user,
                format!(
                    "{name} is {} right now; only running nodes can be redeployed.",
                    state_word(&node.state)
                ),
            )
            .await;
            return Ok(());
        }
        if node.intent.is_some() {
            self.say(
                user,
                format!("{name} is being moved already; you will hear when it is done."),
            )
            .await;
            return Ok(());
        }
        self.say(
            user,
            format!("Redeploying {} on another grid node…", node.name),
        )
        .await;
        self.inner.deployer.spawn_redeploy(user, node).await;
        Ok(())
    }

    /// A button of an outage alert: acts only while the outage it was sent
    /// for lasts. After a recovery, a redeploy or a newer outage it says so,
    /// does nothing, and has its buttons removed where the channel can.
    pub(super) async fn alert_button(
        &self,
        user: &UserId,
        kind: crate::command::AlertAction,
        name: &str,
        since: Option<u64>,
    ) -> anyhow::Result<()> {
        // Only the presser's own nodes are looked at.
        let nodes = self.inner.repo.load_nodes(user)?;
        let node = nodes.get(name).filter(|n| n.is_live());
        let current = node.and_then(|n| n.outage.as_ref()).map(|o| o.since);
        let still = match since {
            Some(since) => current == Some(since),
            None => current.is_some(),
        };
        if still {
            return match kind {
                crate::command::AlertAction::Redeploy => self.start_redeploy(user, name).await,
                crate::command::AlertAction::Status => self.show_status(user, name).await,
            };
        }
        let why = match (node, current) {
            (None, _) => format!("{name} no longer exists"),
            (Some(_), Some(_)) => format!(
                "{name} is down again, but this alert was about an earlier outage; use the newest alert, or /redeploy {name}"
            ),
            (Some(_), None) => {
                format!("that outage of {name} is over (it came back, or it was already moved)")
            }
        };
        self.send(user, Outgoing::Withdrawn).await;
        let more = if node.is_some() {
            format!(" /status {name} shows how it is now.")
        } else {
            String::new()
        };
        self.say(
            user,
            format!("That alert's button no longer applies: {why}. Nothing was done.{more}"),
        )
        .await;
        Ok(())
    }
}
