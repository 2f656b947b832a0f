//! The monitor's chain checks (docs/chain-health.md): every sweep reads
//! each running node's chain through the [`ChainProbe`] (the real P2P
//! handshake and CometBFT `/status` on the real grid, the simulated chains
//! on the embedded one: the same trait, so the same code decides), works
//! out each chain's network tip (the catalog's references through the same
//! probe, weighed with what our own nodes report; lying heights refused,
//! `lifecycle::tip`), feeds one [`ChainTracker`] per node kept in memory,
//! stores the confirmed episodes and the latest reading in the node's
//! record when something a user would see changed, and tells owners of
//! what the trackers confirmed through the [`Alerter`] (each kind muted on
//! its own). Also the operators' `/fault chain` on the simulated grid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::alerter::Alerter;
use super::audit_trail::{AuditTrail, SYSTEM};
use super::repo::Repo;
use super::watch::Target;
use crate::catalog::ChainProbeSpec;
use crate::clock::Clock;
use crate::config::MonitorConfig;
use crate::dialogue::Engine;
use crate::grid::ContractId;
use crate::grid::sim::SimGrid;
use crate::grid::sim::chain::ChainFault;
use crate::ids::UserId;
use crate::lifecycle::chain::{ChainEvent, ChainObservation, ChainRules, ChainTracker, SyncView};
use crate::lifecycle::chain_state::{
    ChainAlertKind, ChainSnapshot, DEFAULT_REFRESH_SECS, NodeChain,
};
use crate::lifecycle::tip::{Report, Tip};
use crate::probe::tip::{read_evm_tip, read_tip};
use crate::probe::{ChainProbe, ChainSource, ChainTarget};
use schedule::{Outcome, Schedule, read_within};

mod layers;
mod schedule;
mod text;

/// What one chain sweep did, for logs and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainSweep {
    /// Nodes whose chain was asked.
    pub read: usize,
    /// Of them, those that did not answer.
    pub unreadable: usize,
    /// Nodes left for a later sweep: the budget was spent before their
    /// turn, or they are backed off after repeated time-outs.
    pub deferred: usize,
    /// Confirmed changes (each one alert at most).
    pub events: usize,
    /// Node records written (few: only what users see changed).
    pub written: usize,
}

/// The chain-check settings (`[monitor]`).
#[derive(Clone, Copy, Debug)]
struct Settings {
    stall_after_secs: u64,
    confirmations: u32,
    concurrency: usize,
    /// No read starts after this long into a sweep's chain reads.
    budget: std::time::Duration,
}

/// One node's memory between sweeps.
struct Tracked {
    contract: ContractId,
    tracker: ChainTracker,
}

#[derive(Default)]
struct Memory {
    nodes: HashMap<(UserId, String), Tracked>,
    /// Each chain's last believed tip: it never goes back, and lies are
    /// measured against it.
    tips: HashMap<String, Tip>,
    /// The same for chains with an execution layer (`evm_rpc_port`).
    evm_tips: HashMap<String, Tip>,
    /// Which nodes each sweep reads, in what order, and who is backed off.
    schedule: Schedule,
}

/// A node's new chain record and what was confirmed, to store and tell.
struct Change {
    name: String,
    contract: ContractId,
    chain: String,
    record: NodeChain,
    events: Vec<ChainEvent>,
}

pub struct ChainWatch {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    probe: Arc<dyn ChainProbe>,
    alerter: Arc<Alerter>,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    /// The embedded grid, for `/fault chain`.
    sim: Option<SimGrid>,
    settings: Settings,
    memory: Mutex<Memory>,
}

impl ChainWatch {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        probe: Arc<dyn ChainProbe>,
        alerter: Arc<Alerter>,
        audit: Arc<AuditTrail>,
        clock: Arc<dyn Clock>,
        sim: Option<SimGrid>,
        config: &MonitorConfig,
    ) -> ChainWatch {
        ChainWatch {
            engine,
            repo,
            probe,
            alerter,
            audit,
            clock,
            sim,
            settings: Settings {
                stall_after_secs: config.chain_stall_minutes * 60,
                confirmations: config.chain_confirmations,
                concurrency: config.chain_probe_concurrency,
                budget: std::time::Duration::from_secs(config.chain_sweep_budget_seconds),
            },
            memory: Mutex::new(Memory::default()),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // Each update replaces whole entries: a panic cannot leave one
        // half-written in a way that matters.
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the chains of `targets` (the running nodes of this sweep that
    /// passed their other checks), stores what changed and tells owners
    /// what was confirmed. A node left out keeps its record; its memory
    /// here is rebuilt from that record when it is back. Errors of one
    /// user never stop the others.
    pub async fn sweep(&self, targets: &[&Target]) -> ChainSweep {
        let catalog = self.engine.catalog();
        // Each chain's probe block once per sweep, shared by its targets.
        let mut specs: BTreeMap<&str, Option<Arc<ChainProbeSpec>>> = BTreeMap::new();
        let mut chosen: Vec<&Target> = Vec::new();
        let mut reads: Vec<ChainTarget> = Vec::new();
        for &target in targets {
            let spec = specs
                .entry(target.node.chain.as_str())
                .or_insert_with(|| {
                    catalog
                        .chain(&target.node.chain)
                        .and_then(|c| c.probe.clone())
                        .map(Arc::new)
                })
                .clone();
            let Some(spec) = spec else { continue };
            chosen.push(target);
            reads.push(ChainTarget {
                chain: target.node.chain.clone(),
                source: ChainSource::Node {
                    contract: target.node.contract,
                    hosts: target.node.hosts.clone(),
                    mycelium: target.node.mycelium.clone(),
                },
                spec,
            });
        }
        let concurrency = self.settings.concurrency;
        // Within the sweep's budget, in round-robin order, without the
        // nodes backed off (`schedule.rs`); the others wait their turn and
        // keep their record.
        let candidates: HashSet<(UserId, String)> = chosen
            .iter()
            .map(|t| (t.user.clone(), t.node.name.clone()))
            .collect();
        let contracts: Vec<ContractId> = chosen.iter().map(|t| t.node.contract).collect();
        let started = self.clock.now();
        let order = self.memory().schedule.plan(&contracts, started);
        let results = read_within(
            self.probe.as_ref(),
            &reads,
            &order,
            concurrency,
            self.settings.budget,
        )
        .await;
        {
            let mut memory = self.memory();
            for (contract, result) in contracts.iter().zip(&results) {
                memory
                    .schedule
                    .record(*contract, Outcome::of(result), started);
            }
            let live: HashSet<ContractId> = contracts.iter().copied().collect();
            memory.schedule.retain(|c| live.contains(&c));
        }
        let mut report = ChainSweep {
            deferred: results.iter().filter(|r| r.is_none()).count(),
            ..ChainSweep::default()
        };
        let (mut kept, mut kept_reads, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        for ((target, read), result) in chosen.into_iter().zip(reads).zip(results) {
            if let Some(answer) = result {
                kept.push(target);
                kept_reads.push(read);
                answers.push(answer);
            }
        }
        let (chosen, reads) = (kept, kept_reads);
        report.read = reads.len();

        // The network's tip of each chain: references and our own nodes.
        let mut own: HashMap<&str, Vec<Report>> = HashMap::new();
        let mut own_evm: HashMap<&str, Vec<Report>> = HashMap::new();
        for (read, answer) in reads.iter().zip(&answers) {
            if let Ok(reading) = answer {
                own.entry(read.chain.as_str()).or_default().push(Report {
                    source: read.label(),
                    height: reading.height,
                });
                if let Some(evm) = &reading.evm {
                    let reports = own_evm.entry(read.chain.as_str()).or_default();
                    reports.push(Report {
                        source: read.label(),
                        height: evm.height,
                    });
                    // What its peers announced (eth_syncing's highestBlock):
                    // a claim about the network, weighed like the others.
                    if let Some((_, highest)) = evm.syncing {
                        reports.push(Report {
                            source: format!("{}'s peers", read.label()),
                            height: highest,
                        });
                    }
                }
            }
        }
        let now = self.clock.now();
        let mut tips: HashMap<&str, Option<u64>> = HashMap::new();
        let mut evm_tips: HashMap<&str, u64> = HashMap::new();
        for (chain, spec) in &specs {
            let Some(spec) = spec else { continue };
            let previous = self.memory().tips.get(*chain).copied();
            let mine = own.get(chain).map_or(&[][..], Vec::as_slice);
            let verdict = read_tip(
                self.probe.as_ref(),
                chain,
                spec,
                mine,
                previous,
                now,
                concurrency,
            )
            .await;
            if let Some(tip) = verdict.tip {
                self.memory().tips.insert((*chain).to_string(), tip);
            }
            tips.insert(chain, verdict.tip.map(|t| t.height));
            let previous = self.memory().evm_tips.get(*chain).copied();
            let mine = own_evm.get(chain).map_or(&[][..], Vec::as_slice);
            let evm = read_evm_tip(
                self.probe.as_ref(),
                chain,
                spec,
                mine,
                previous,
                now,
                concurrency,
            )
            .await;
            if let Some(tip) = evm.and_then(|v| v.tip) {
                self.memory().evm_tips.insert((*chain).to_string(), tip);
                evm_tips.insert(chain, tip.height);
            }
        }

        // Each node's tracker, then what is worth storing.
        let mut changes: BTreeMap<UserId, Vec<Change>> = BTreeMap::new();
        {
            let mut memory = self.memory();
            let mut rules: HashMap<&str, ChainRules> = HashMap::new();
            for ((target, read), answer) in chosen.iter().zip(&reads).zip(answers) {
                let facts = &target.node;
                let rules = rules.entry(read.chain.as_str()).or_insert_with(|| {
                    ChainRules::from_spec(
                        &read.spec,
                        self.settings.stall_after_secs,
                        self.settings.confirmations,
                    )
                });
                let stored = facts
                    .chain_health
                    .as_ref()
                    .filter(|c| c.contract == facts.contract);
                let key = (target.user.clone(), facts.name.clone());
                let tracked = memory.nodes.entry(key).or_insert_with(|| Tracked {
                    contract: facts.contract,
                    tracker: ChainTracker::new(
                        stored.map(|s| s.episodes.clone()).unwrap_or_default(),
                    ),
                });
                if tracked.contract != facts.contract {
                    // Redeployed: a new chain, syncing from 0.
                    *tracked = Tracked {
                        contract: facts.contract,
                        tracker: ChainTracker::default(),
                    };
                }
                let mut record = stored
                    .cloned()
                    .unwrap_or_else(|| NodeChain::new(facts.contract));
                let mut events = Vec::new();
                match answer {
                    Ok(reading) => {
                        let chain = read.chain.as_str();
                        let combined = layers::combine(
                            &read.spec,
                            &reading,
                            tips.get(chain).copied().flatten(),
                            evm_tips.get(chain).copied(),
                        );
                        let observation = ChainObservation {
                            at: now,
                            height: combined.height,
                            network_height: combined.network_height,
                            version: reading.version.clone(),
                            layers: combined
                                .layers
                                .iter()
                                .map(|l| (l.height, l.network_height))
                                .collect(),
                        };
                        events = tracked.tracker.observe(&observation, rules);
                        let eta_secs = match tracked.tracker.view(&observation, rules) {
                            SyncView::Syncing { eta_secs, .. } => eta_secs,
                            _ => None,
                        };
                        record.episodes = tracked.tracker.episodes.clone();
                        record.unreadable = None;
                        record.last = Some(ChainSnapshot {
                            at: now,
                            height: combined.height,
                            network_height: observation.network_height,
                            client: reading.client,
                            version: reading.version,
                            eta_secs,
                            layers: combined.layers,
                        });
                    }
                    Err(e) => {
                        report.unreadable += 1;
                        record.unreadable = Some(e.to_string());
                    }
                }
                let write = !events.is_empty()
                    || stored.is_none_or(|old| {
                        old.needs_write(&record, read.spec.in_sync_blocks, DEFAULT_REFRESH_SECS)
                    });
                report.events += events.len();
                if write {
                    changes
                        .entry(target.user.clone())
                        .or_default()
                        .push(Change {
                            name: facts.name.clone(),
                            contract: facts.contract,
                            chain: read.chain.clone(),
                            record,
                            events,
                        });
                }
            }
            // Nodes no longer running (or no longer read) are forgotten;
            // those left for a later sweep keep their memory.
            memory.nodes.retain(|key, _| candidates.contains(key));
        }

        for (user, changes) in changes {
            match self.store(&user, changes).await {
                Ok(written) => report.written += written,
                Err(e) => {
                    tracing::error!(user = %user, error = %format!("{e:#}"), "could not record nodes' chain state; it is read again next sweep")
                }
            }
        }
        report
    }

    /// Writes one user's changed chain records in one save, then raises
    /// what was confirmed (after the save: an episode is raised once).
    async fn store(&self, user: &UserId, changes: Vec<Change>) -> anyhow::Result<usize> {
        let changes = changes.into_iter().map(|c| (c.name.clone(), c.contract, c));
        let applied = self
            .repo
            .apply_to_running(user, changes, |node, change| {
                let last = change.record.last.clone();
                node.chain_health = Some(change.record);
                (!change.events.is_empty()).then(|| {
                    (
                        change.name,
                        change.chain,
                        node.node_type.clone(),
                        change.events,
                        last,
                    )
                })
            })
            .await?;
        for (name, chain, node_type, events, last) in applied.raised {
            for event in events {
                self.tell(user, &name, &chain, &node_type, event, last.as_ref())
                    .await?;
            }
        }
        Ok(applied.written)
    }

    /// One confirmed change: logged, audited and, unless muted, alerted
    /// (`last`: the confirming reading, whose layers and height the words use).
    async fn tell(
        &self,
        user: &UserId,
        name: &str,
        chain: &str,
        node_type: &str,
        event: ChainEvent,
        last: Option<&crate::lifecycle::chain_state::ChainSnapshot>,
    ) -> anyhow::Result<()> {
        let layers = last.map(|l| l.layers.as_slice()).unwrap_or_default();
        let height = last.map(|l| l.height);
        let catalog = self.engine.catalog();
        let newer = catalog
            .node_type(chain, node_type)
            .map(|(_, nt)| text::catalog_versions(&nt.clients))
            .unwrap_or_default();
        // The end of the initial sync: its words need the chain's name and
        // the height reached, per layer for a chain read in layers
        // (`text::synced`).
        let alert = match (&event, height) {
            (ChainEvent::Synced { took_from }, Some(height)) => {
                let chain_name = catalog.chain(chain).map_or(chain, |c| c.name.as_str());
                Some(text::synced(
                    name,
                    chain_name,
                    &text::position(height, layers),
                    *took_from,
                    self.clock.now(),
                ))
            }
            _ => text::alert_with_layers(name, &event, &newer, self.clock.now(), layers),
        };
        let Some(alert) = alert else {
            tracing::info!(user = %user, node = name, event = ?event, "chain event");
            return Ok(());
        };
        tracing::warn!(user = %user, node = name, key = %alert.key, "chain alert");
        self.audit.record(
            SYSTEM,
            Some(user),
            "node.chain",
            Some(name),
            alert.message.text.clone(),
        );
        self.alerter
            .raise_chain(user, alert.kind, alert.priority, alert.key, alert.message)
            .await
    }

    /// Whether a chain alert's button still applies to the presser's own
    /// node: `Err` says why not (nothing is done then).
    pub fn button_applies(
        &self,
        user: &UserId,
        name: &str,
        kind: ChainAlertKind,
    ) -> anyhow::Result<Result<(), StaleChainButton>> {
        let nodes = self.repo.load_nodes(user)?;
        let Some(node) = nodes.get(name).filter(|n| n.is_live()) else {
            return Ok(Err(StaleChainButton::Gone(name.to_owned())));
        };
        let episodes = node
            .chain_health
            .as_ref()
            .filter(|c| Some(c.contract) == node.contract())
            .map(|c| &c.episodes);
        let still = episodes.is_some_and(|e| match kind {
            ChainAlertKind::Stall => e.stalled.is_some(),
            ChainAlertKind::Behind => e.behind.is_some(),
            ChainAlertKind::Version => e.too_old.is_some(),
            // No buttons: nothing to be stale about.
            ChainAlertKind::Synced | ChainAlertKind::Disconnected => false,
        });
        Ok(if still {
            Ok(())
        } else {
            Err(StaleChainButton::Recovered(name.to_owned()))
        })
    }

    /// `/mute chain_<kind>`: the confirmation to send, or `None` when
    /// `what` is not a chain kind (the other mutes then).
    pub fn mute(&self, user: &UserId, what: &str) -> anyhow::Result<Option<String>> {
        let Some(kind) = ChainAlertKind::parse(what) else {
            return Ok(None);
        };
        if let Some(mut profile) = self.repo.load_profile(user)? {
            if !profile.funding.chain_mutes.contains(&kind) {
                profile.funding.chain_mutes.push(kind);
                profile.funding.chain_mutes.sort();
            }
            self.repo.save_profile(&profile)?;
        }
        Ok(Some(format!(
            "I will not tell you when {}. Other alerts still come through; /unmute turns everything back on.",
            kind.describe()
        )))
    }

    /// `/unmute` (everything back on): the chain kinds too.
    pub fn unmute_all(&self, user: &UserId) -> anyhow::Result<()> {
        if let Some(mut profile) = self.repo.load_profile(user)?
            && !profile.funding.chain_mutes.is_empty()
        {
            profile.funding.chain_mutes.clear();
            self.repo.save_profile(&profile)?;
        }
        Ok(())
    }

    /// `/fault chain <contract|node> stall|behind [blocks]|oldversion|clear`
    /// on the simulated grid: the reply for the operator.
    pub fn fault(&self, operator: &UserId, words: &[&str]) -> String {
        const HELP: &str = "Usage: /fault chain <contract or node name> stall|behind [blocks]|oldversion|clear. The monitor notices over its next checks.";
        let Some(sim) = &self.sim else {
            return "Fault injection only exists on the embedded simulated grid.".into();
        };
        let (which, what) = match words {
            [which, what @ ..] if !what.is_empty() => (*which, what.join(" ")),
            _ => return HELP.into(),
        };
        let targets = self.repo.watch().targets();
        let matching: Vec<&Target> = match which.parse::<u64>() {
            Ok(n) => targets
                .iter()
                .filter(|t| t.node.contract == ContractId(n))
                .collect(),
            Err(_) => targets.iter().filter(|t| t.node.name == which).collect(),
        };
        let target = match matching.as_slice() {
            [one] => *one,
            [] => return format!("No running node has contract or name {which:?}. {HELP}"),
            _ => {
                return format!(
                    "Several running nodes are named {which:?}; name it by its contract. {HELP}"
                );
            }
        };
        let Some(spec) = self
            .engine
            .catalog()
            .chain(&target.node.chain)
            .and_then(|c| c.probe.clone())
        else {
            return format!("{}'s chain is not read by the monitor.", target.node.name);
        };
        let fault = match what.as_str() {
            "clear" => None,
            words => match ChainFault::parse(words, &spec) {
                Ok(f) => Some(f),
                Err(e) => return format!("{e}. {HELP}"),
            },
        };
        let contract = target.node.contract;
        sim.chain().set_fault(contract, fault.clone());
        tracing::warn!(operator = %operator, contract = contract.0, fault = ?fault, "chain fault injected on the simulated grid");
        match fault {
            None => format!(
                "Done: the chain of {} (contract {}) runs normally again on the simulated grid.",
                target.node.name, contract.0
            ),
            Some(f) => format!(
                "Done: the chain of {} (contract {}) now {} on the simulated grid.",
                target.node.name,
                contract.0,
                text::fault_words(&f)
            ),
        }
    }
}

/// Why a chain alert's button no longer applies (said to the presser; the
/// node's name inside).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StaleChainButton {
    #[error("{0} no longer exists")]
    Gone(String),
    #[error("{0} no longer shows what that alert was about (it recovered, or it was moved)")]
    Recovered(String),
}
