//! The commands around alerts: `/mute`, `/autoheal`, and the operators'
//! fault injection on the embedded grid. Raising alerts is `alerter.rs`.

use super::Service;
use crate::grid::{ContractId, GridNodeId, NodeStatus};
use crate::ids::UserId;
use crate::lifecycle::Mute;

impl Service {
    /// The durable alert queue (its dispatcher runs in `main`).
    pub fn alerts(&self) -> &crate::alerts::AlertQueue {
        self.inner.alerter.queue()
    }

    pub(super) async fn set_mute(&self, user: &UserId, what: &str) -> anyhow::Result<()> {
        if let Some(text) = self.inner.chain_watch.mute(user, what)? {
            self.say(user, text).await;
            return Ok(());
        }
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
        if mute == Mute::Nothing {
            self.inner.chain_watch.unmute_all(user)?;
        }
        if let Some(mut profile) = self.inner.repo.load_profile(user)? {
            profile.funding.mute = mute;
            self.inner.repo.save_profile(&profile)?;
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
        self.inner.repo.save_nodes(user, &nodes)?;
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
        const HELP: &str = "Usage: /fault node <grid node id> down|up, /fault workload <contract> down|up, /fault app <contract> down|up, /fault chain <contract> stall|behind|oldversion|clear. The monitor notices within two checks.";
        let Some(sim) = &self.inner.sim else {
            self.say(
                user,
                "Fault injection only exists on the embedded simulated grid.",
            )
            .await;
            return Ok(());
        };
        let words: Vec<&str> = arg.unwrap_or("").split_whitespace().collect();
        if let ["chain", rest @ ..] = words.as_slice() {
            let reply = self.inner.chain_watch.fault(user, rest);
            self.say(user, reply).await;
            return Ok(());
        }
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
