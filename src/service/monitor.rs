//! The monitor: checks every running node each interval (grid node status,
//! contract and workload state, then the catalog's application check),
//! confirms outages and recoveries, tells owners through the alert queue and
//! redeploys nodes whose owners turned auto-heal on.

use std::sync::Arc;

use super::alerter::Alerter;
use super::audit_trail::{AuditTrail, SYSTEM};
use super::chain_watch::{ChainSweep, ChainWatch};
use super::deploy::Deployer;
use super::node_status::{LinkSweep, NodeStatusWatch};
use super::repo::Repo;
use super::watch::Target;
use crate::alerts::Priority;
use crate::clock::Clock;
use crate::command::{AlertAction, Command, NodeKey};
use crate::config::MonitorConfig;
use crate::dialogue::Engine;
use crate::dialogue::{Button, Message};
use crate::grid::Grid;
use crate::lifecycle::{
    GridVerdict, Observation, Outage, Transition, grid_verdict, human_duration,
};
use crate::metrics::Metrics;
use crate::probe::AppProbe;
use crate::probe::{AppHealth, ProbeTarget};
use crate::user::NodeState;

/// What one sweep saw, for logs, metrics and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub checked: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    /// The grid could not say (unreachable): no verdict, no alert.
    pub unknown: usize,
    pub went_down: usize,
    pub came_back: usize,
    /// The chain checks of the same nodes (`chain_watch.rs`).
    pub chain: ChainSweep,
    /// The dashboard checks of the same nodes (`node_status.rs`).
    pub links: LinkSweep,
}

/// Checks every watched node each interval and acts on confirmed changes.
pub struct Monitor {
    /// The chain checks, run over the same targets each sweep.
    chain: Arc<ChainWatch>,
    /// The network dashboards' checks, over the same targets.
    links: Arc<NodeStatusWatch>,
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    probe: Arc<dyn AppProbe>,
    alerter: Arc<Alerter>,
    audit: Arc<AuditTrail>,
    /// Auto-heal: a node confirmed down is moved.
    deployer: Arc<Deployer>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    settings: MonitorConfig,
}

impl Monitor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: Arc<ChainWatch>,
        links: Arc<NodeStatusWatch>,
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        probe: Arc<dyn AppProbe>,
        alerter: Arc<Alerter>,
        audit: Arc<AuditTrail>,
        deployer: Arc<Deployer>,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
        settings: MonitorConfig,
    ) -> Monitor {
        Monitor {
            chain,
            links,
            engine,
            repo,
            grid,
            probe,
            alerter,
            audit,
            deployer,
            metrics,
            clock,
            settings,
        }
    }

    /// Fills the watch list from the store; run once at start.
    pub async fn load_watchlist(&self) -> anyhow::Result<usize> {
        for user in self.repo.list_users()? {
            let nodes = self.repo.load_nodes(&user)?;
            self.repo.watch().sync(&user, &nodes);
        }
        Ok(self.repo.watch().len())
    }

    /// Nodes the monitor watches now.
    pub fn watched(&self) -> usize {
        self.repo.watch().len()
    }

    /// One check of every running node, in batches; acts on confirmed
    /// changes. Errors of one node never stop the sweep.
    pub async fn sweep(&self) -> SweepReport {
        let started = std::time::Instant::now();
        let report = self.sweep_once().await;
        self.metrics.monitor_sweep(
            started.elapsed().as_secs_f64(),
            report.checked as u64,
            report.went_down as u64,
            report.came_back as u64,
        );
        report
    }

    async fn sweep_once(&self) -> SweepReport {
        let settings = &self.settings;
        let targets = self.repo.watch().targets();
        let mut report = SweepReport::default();
        let mut transitions = Vec::new();
        // Only nodes that answered their application check get their chain
        // read: one that is down would only cost a time-out each.
        let mut healthy = Vec::new();
        for batch in targets.chunks(settings.batch_size.max(1)) {
            let ids: Vec<_> = batch.iter().map(|t| t.node.contract).collect();
            let answers = match self.grid.contracts(&ids).await {
                Ok(a) if a.len() == batch.len() => a,
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        nodes = batch.len(),
                        "the grid did not answer a monitor batch; no verdict this round"
                    );
                    report.unknown += batch.len();
                    continue;
                }
            };
            let mut observations = Vec::with_capacity(batch.len());
            let mut to_probe = Vec::new();
            for (target, answer) in batch.iter().zip(answers) {
                match grid_verdict(answer) {
                    GridVerdict::Fine => to_probe.push(target),
                    GridVerdict::Bad(why) => {
                        observations.push((target, Observation::Unhealthy(why)))
                    }
                    GridVerdict::Unknown => report.unknown += 1,
                }
            }
            observations.extend(self.probe_all(&to_probe).await);
            let now = self.clock.now();
            for (target, observation) in observations {
                report.checked += 1;
                match observation {
                    Observation::Healthy => {
                        report.healthy += 1;
                        healthy.push(target);
                    }
                    Observation::Unhealthy(_) => report.unhealthy += 1,
                }
                if let Some(t) =
                    self.repo
                        .watch()
                        .observe(target, observation, now, settings.confirmations)
                {
                    transitions.push((target.clone(), t));
                }
            }
        }
        report.chain = self.chain.sweep(&healthy).await;
        report.links = self.links.sweep(&healthy).await;
        for (target, transition) in transitions {
            match &transition {
                Transition::WentDown(_) => report.went_down += 1,
                Transition::CameBack { .. } => report.came_back += 1,
            }
            if let Err(e) = self.apply_transition(&target, transition).await {
                tracing::error!(user = %target.user, node = %target.node.name, error = %format!("{e:#}"), "could not record a node's health change; it is seen again next sweep");
            }
        }
        report
    }

    /// Runs the application checks of `targets`, a bounded number at once.
    async fn probe_all<'t>(&self, targets: &[&'t Target]) -> Vec<(&'t Target, Observation)> {
        let catalog = self.engine.catalog();
        let (known, probes): (Vec<&Target>, Vec<ProbeTarget>) = targets
            .iter()
            .filter_map(|t| {
                let (_, nt) = catalog.node_type(&t.node.chain, &t.node.node_type)?;
                Some((
                    *t,
                    ProbeTarget {
                        contract: t.node.contract,
                        hosts: t.node.hosts.clone(),
                        check: nt.health.clone(),
                    },
                ))
            })
            .unzip();
        let answers = self
            .probe
            .probe_many(&probes, self.settings.probe_concurrency)
            .await;
        known
            .into_iter()
            .zip(answers)
            .map(|(target, health)| {
                let observation = match health {
                    AppHealth::Healthy => Observation::Healthy,
                    AppHealth::Unhealthy(why) => {
                        Observation::Unhealthy(format!("its application check failed: {why}"))
                    }
                };
                (target, observation)
            })
            .collect()
    }

    /// Records a confirmed change in the node's record and tells the owner.
    async fn apply_transition(
        &self,
        target: &Target,
        transition: Transition,
    ) -> anyhow::Result<()> {
        let user = &target.user;
        let _guard = self.repo.lock(user).await;
        let mut nodes = self.repo.load_nodes(user)?;
        let Some(node) = nodes.get_mut(&target.node.name).filter(|n| {
            n.state == NodeState::Running && n.contract() == Some(target.node.contract)
        }) else {
            return Ok(());
        };
        let now = self.clock.now();
        match transition {
            Transition::WentDown(outage) => {
                node.outage = Some(outage.clone());
                let autoheal = node.autoheal;
                let record = node.clone();
                self.repo
                    .watch()
                    .grid_node_failed(target.node.grid_node, now);
                self.repo.save_nodes(user, &nodes)?;
                tracing::warn!(user = %user, node = %target.node.name, grid_node = %target.node.grid_node, reason = %outage.reason, "node down");
                self.audit.record(
                    SYSTEM,
                    Some(user),
                    "node.down",
                    Some(&target.node.name),
                    outage.reason.clone(),
                );
                let message = down_message(&target.node.name, &outage, autoheal);
                self.alerter
                    .raise(
                        user,
                        Priority::Outage,
                        format!("down:{}:{}", target.node.name, outage.since),
                        message,
                    )
                    .await?;
                if autoheal {
                    self.deployer.spawn_redeploy(user, record).await;
                }
            }
            Transition::CameBack { outage, down_for } => {
                node.outage = None;
                self.repo.save_nodes(user, &nodes)?;
                tracing::info!(user = %user, node = %target.node.name, down_secs = down_for, "node back");
                self.audit.record(
                    SYSTEM,
                    Some(user),
                    "node.up",
                    Some(&target.node.name),
                    format!("back after {down_for} s"),
                );
                let text = recovery_text(&target.node.name, down_for, &outage.reason);
                self.alerter
                    .raise(
                        user,
                        Priority::Recovery,
                        format!("up:{}:{}", target.node.name, outage.since),
                        Message::text(text),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// "✅ x is back up. It was down for 31 minutes: grid node 380 was down."
/// The reason was written while it held ("is down"); told afterwards, it is
/// in the past tense.
fn recovery_text(name: &str, down_for: u64, reason: &str) -> String {
    let past = reason
        .replacen(" is ", " was ", 1)
        .replacen(" are ", " were ", 1);
    format!(
        "✅ {name} is back up. It was down for {}: {past}.",
        human_duration(down_for)
    )
}

/// The buttons of an outage alert, tied to that outage
/// (`rd:<node>:<outage>`, `st:<node>:<outage>`, the outage being when it
/// started, in hex); none when the node's name is too long for Telegram's
/// callback data (the text names the commands instead).
fn alert_buttons(name: &str, outage: &Outage) -> Vec<Vec<Button>> {
    let Some(node) = NodeKey::node(name) else {
        return Vec::new();
    };
    let button = |action, label: &str| {
        Command::Alert {
            action,
            node: node.clone(),
            outage: Some(outage.since),
        }
        .button(label)
    };
    vec![vec![
        button(AlertAction::Redeploy, "Redeploy now"),
        button(AlertAction::Status, "Status"),
    ]]
}

fn down_message(name: &str, outage: &Outage, autoheal: bool) -> Message {
    if autoheal {
        return Message::text(format!(
            "⚠️ {name} is down: {}. Auto-heal is on, so I am moving it to another grid node now; I will tell you its new addresses.",
            outage.reason
        ));
    }
    Message {
        text: format!(
            "⚠️ {name} is down: {}. Redeploy moves it to another healthy grid node, keeping its name and settings. If it comes back by itself I will tell you. (/autoheal does this automatically.)",
            outage.reason
        ),
        buttons: alert_buttons(name, outage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node and the outage an alert button's data names after its prefix.
    fn alert_target(rest: &str) -> (&str, Option<u64>) {
        match Command::from_button(&format!("rd:{rest}")) {
            Command::Alert { node, outage, .. } => (&rest[..node.as_str().len()], outage),
            other => panic!("not an alert button: {other:?}"),
        }
    }

    #[test]
    fn alert_buttons_name_their_outage_within_telegram_limits() {
        let outage = Outage {
            since: 1_795_392_000,
            reason: "grid node 380 is down".into(),
        };
        let rows = alert_buttons("dash-full-amber-fox", &outage);
        let data: Vec<&str> = rows.iter().flatten().map(|b| b.data.as_str()).collect();
        assert_eq!(
            data,
            [
                "rd:dash-full-amber-fox:6b038200",
                "st:dash-full-amber-fox:6b038200"
            ]
        );
        assert_eq!(
            alert_target("dash-full-amber-fox:6b038200"),
            ("dash-full-amber-fox", Some(1_795_392_000))
        );
        // An alert from before outages were named: the node alone.
        assert_eq!(
            alert_target("dash-full-amber-fox"),
            ("dash-full-amber-fox", None)
        );
        // Too long for callback data: no buttons rather than broken ones.
        assert!(alert_buttons(&"x".repeat(60), &outage).is_empty());
    }

    #[test]
    fn the_recovery_message_keeps_to_the_past_tense() {
        assert_eq!(
            recovery_text("dash-full-amber-fox", 31 * 60, "grid node 380 is down"),
            "✅ dash-full-amber-fox is back up. It was down for 31 minutes: grid node 380 was down."
        );
        assert_eq!(
            recovery_text("n", 300, "its workload failed (oom)"),
            "✅ n is back up. It was down for 5 minutes: its workload failed (oom)."
        );
    }
}
