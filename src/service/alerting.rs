//! Alerts and the commands around them: raising an alert into the durable
//! queue (honouring mutes) or to every operator, `/mute`, `/autoheal`, and the operators' fault
//! injection on the embedded grid.

use super::Service;
use crate::alerts::{Alert, Priority};
use crate::dialogue::Message;
use crate::grid::{ContractId, GridNodeId, NodeStatus};
use crate::ids::UserId;
use crate::lifecycle::Mute;

impl Service {
    /// Queues an alert for `user` unless they muted its kind or blocked the
    /// bot. `key` only needs to be unique per user; the same key raised
    /// twice is sent once.
    pub(super) async fn raise(
        &self,
        user: &UserId,
        priority: Priority,
        key: String,
        message: Message,
    ) -> anyhow::Result<()> {
        let Some(profile) = self.load_profile(user)? else {
            return Ok(());
        };
        let muted = match profile.funding.mute {
            Mute::Nothing => false,
            Mute::Reminders => priority == Priority::Reminder,
            Mute::Everything => matches!(
                priority,
                Priority::Reminder | Priority::Outage | Priority::Recovery
            ),
        };
        if muted || profile.blocked {
            tracing::debug!(user = %user, key = %key, muted, blocked = profile.blocked, "alert not sent");
            return Ok(());
        }
        let alert = Alert {
            key: format!("{user}:{key}"),
            user: user.clone(),
            priority,
            message,
            raised_at: self.now(),
        };
        let queue = self.inner.alerts.clone();
        queue.enqueue(vec![alert])?;
        Ok(())
    }

    /// Queues `text` as a notice to every operator (`admin.operators`),
    /// each under `{operator}:{key}`; mutes do not apply to operators.
    pub(super) fn alert_operators(&self, key: &str, text: String) -> anyhow::Result<()> {
        let now = self.now();
        let alerts: Vec<Alert> = self
            .inner
            .settings
            .operators
            .iter()
            .map(|operator| Alert {
                key: format!("{operator}:{key}"),
                user: operator.clone(),
                priority: Priority::Notice,
                message: Message::text(text.clone()),
                raised_at: now,
            })
            .collect();
        if !alerts.is_empty() {
            self.inner.alerts.enqueue(alerts)?;
        }
        Ok(())
    }

    /// The durable alert queue (its dispatcher runs in `main`).
    pub fn alerts(&self) -> &crate::alerts::AlertQueue {
        &self.inner.alerts
    }

    pub(super) async fn set_mute(&self, user: &UserId, what: &str) -> anyhow::Result<()> {
        let (mute, text) = match what {
            "reminders" => (
                Mute::Reminders,
                "Low-funds reminders are off. I still tell you when a node goes down or comes back, and when nodes are paused or deleted. /unmute turns reminders back on.",
            ),
            "everything" => (
                Mute::Everything,
                "Reminders and outage alerts are off. I still tell you when nodes are paused or deleted for lack of funds. /unmute turns everything back on.",
            ),
            _ => (
                Mute::Nothing,
                "You will get every reminder and outage alert again.",
            ),
        };
        if let Some(mut profile) = self.load_profile(user)? {
            profile.funding.mute = mute;
            self.save_profile(&profile)?;
        }
        self.say(user, text).await;
        Ok(())
    }

    pub(super) async fn set_autoheal(
        &self,
        user: &UserId,
        name: &str,
        on: bool,
    ) -> anyhow::Result<()> {
        let Some((mut nodes, _)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if let Some(node) = nodes.get_mut(name) {
            node.autoheal = on;
        }
        self.save_nodes(user, &nodes)?;
        let text = if on {
            format!(
                "Auto-heal is on for {name}: when it goes down I move it to another grid node and tell you its new addresses."
            )
        } else {
            format!(
                "Auto-heal is off for {name}: when it goes down I tell you, with a button to redeploy it."
            )
        };
        self.say(user, text).await;
        Ok(())
    }

    pub fn is_operator(&self, user: &UserId) -> bool {
        self.inner.settings.operators.contains(user)
    }

    /// `/fault node <id> down|up`, `/fault workload|app <contract> down|up`:
    /// operators take parts of the embedded (simulated) grid down and up.
    pub(super) async fn fault_command(
        &self,
        user: &UserId,
        arg: Option<&str>,
    ) -> anyhow::Result<()> {
        const HELP: &str = "Usage: /fault node <grid node id> down|up, /fault workload <contract> down|up, /fault app <contract> down|up. The monitor notices within two checks.";
        let Some(sim) = &self.inner.sim else {
            self.say(
                user,
                "Fault injection only exists on the embedded simulated grid.",
            )
            .await;
            return Ok(());
        };
        let words: Vec<&str> = arg.unwrap_or("").split_whitespace().collect();
        let (target, id, direction) = match words.as_slice() {
            [t, id, d] if matches!(*d, "down" | "up") => (*t, *id, *d),
            _ => {
                self.say(user, HELP).await;
                return Ok(());
            }
        };
        let Ok(number) = id.parse::<u64>() else {
            self.say(user, format!("{id:?} is not a number. {HELP}"))
                .await;
            return Ok(());
        };
        let down = direction == "down";
        let contract = ContractId(number);
        let result = match target {
            "node" => match u32::try_from(number) {
                Ok(n) => sim.set_node_status(
                    GridNodeId(n),
                    if down {
                        NodeStatus::Down
                    } else {
                        NodeStatus::Up
                    },
                ),
                Err(_) => Err(crate::grid::GridError::UnknownNode(GridNodeId(u32::MAX))),
            },
            "workload" if down => sim.fail_workload(contract, "fault injected by an operator"),
            "workload" => sim.restore_workload(contract),
            "app" if down => sim.fail_app(contract, "fault injected by an operator"),
            "app" => sim.restore_app(contract),
            _ => {
                self.say(user, HELP).await;
                return Ok(());
            }
        };
        match result {
            Ok(()) => {
                tracing::warn!(operator = %user, target, id = number, direction, "fault injected on the simulated grid");
                self.say(
                    user,
                    format!("Done: {target} {number} is {direction} on the simulated grid."),
                )
                .await;
            }
            Err(e) => self.say(user, format!("Could not do that: {e}.")).await,
        }
        Ok(())
    }
}
