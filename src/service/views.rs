//! What users see about their nodes and money: /list, /status, /balance, and
//! /delete (which is short enough to live beside them).

use super::{Service, state_word};
use crate::catalog::NodeType;
use crate::grid::{ContractState, NodeStatus, WorkloadState};
use crate::ids::UserId;
use crate::lifecycle::{human_duration, utc_datetime};
use crate::user::{NodeRecord, NodeState};

impl Service {
    pub(super) async fn list_nodes(&self, user: &UserId) -> anyhow::Result<()> {
        let nodes = self.load_nodes(user)?;
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
        let Some(profile) = self.load_profile(user)? else {
            return Ok(());
        };
        let nodes = self.load_nodes(user)?;
        let balance = profile.account.balance;
        let mut text = format!(
            "Balance: {balance}\n{}",
            self.runway_text(user, balance, &nodes, &profile)?
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
            match self.grid().contract(placed.contract).await {
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
            text.push_str(&self.describe_running(&node));
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
        self.save_nodes(user, &nodes)?;
        let waiting = self.cancel_retired(user).await?;
        tracing::info!(user = %user, node = %name, "node deleted");
        self.audit(
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

    /// Where a running node is and how to reach it.
    pub(super) fn describe_running(&self, node: &NodeRecord) -> String {
        let Some(placed) = &node.placed else {
            return format!("{} is not placed on the grid.", node.name);
        };
        let nt: Option<&NodeType> = self
            .engine()
            .catalog()
            .node_type(&node.chain, &node.node_type)
            .map(|(_, n)| n);
        let mut lines = vec![
            format!("{} is running", node.name),
            format!(
                "Grid node {} · farm {} · {}",
                placed.node.id, placed.node.farm_name, placed.node.country
            ),
        ];
        if self.grid().kind() == "sim" {
            lines.push(
                "SIMULATED: this node runs on the simulated grid, not on a real server; its addresses are documentation addresses that reach nothing."
                    .to_owned(),
            );
        }
        if let Some(ip) = &placed.ipv4 {
            lines.push(format!("IPv4: {ip}"));
        }
        if let Some(ip) = &placed.ipv6 {
            lines.push(format!("IPv6: {ip}"));
        }
        if let Some(ip) = &placed.mycelium {
            lines.push(format!("Mycelium: {ip}"));
        }
        if let Some(nt) = nt {
            let ports: Vec<String> = nt
                .ports
                .iter()
                .map(|p| {
                    format!(
                        "{} {}{}",
                        p.name,
                        p.port,
                        if p.public { "" } else { " (inside the node)" }
                    )
                })
                .collect();
            if !ports.is_empty() {
                lines.push(format!("Ports: {}", ports.join(", ")));
            }
        }
        let host = placed.hosts().next();
        match (&node.ssh_key, host) {
            (Some(_), Some(host)) => lines.push(format!("SSH: ssh root@{host}")),
            (None, _) => lines.push("SSH: off (no key was given at /deploy).".into()),
            _ => {}
        }
        lines.join("\n")
    }
}
