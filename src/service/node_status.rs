//! The monitor's dashboard checks (docs/chain-health.md, "Nodes that show
//! nothing from outside"): for node types whose network reports their
//! status on a dashboard (the catalog's `node_status:`), and whose owner gave
//! the API key (an optional secret setting, sealed at rest), every sweep
//! reads the account's nodes through the [`NodeStatusProbe`] (the real API
//! on the real grid, the simulated dashboard on the embedded one: the same
//! trait), finds ours by address, confirms a disconnection over several
//! checks (`lifecycle::node_link`), stores what users see in the node's
//! record and tells owners through the [`Alerter`], once per episode,
//! muted with the other chain alerts (`/mute` "Node: disconnected").
//!
//! Rate limits (the upstream API allows 4 reads a minute, 4 with
//! statistics an hour, per node): one read per user and key per sweep, none
//! sooner than [`MIN_READ_GAP`] after the last, statistics every
//! `stats_every_minutes`. The key is unsealed in memory for the read only
//! and never logged; errors never carry the URL (which holds it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::alerter::Alerter;
use super::audit_trail::{AuditTrail, SYSTEM};
use super::repo::Repo;
use super::watch::Target;
use crate::alerts::Priority;
use crate::catalog::NodeStatusSpec;
use crate::clock::Clock;
use crate::dialogue::{Engine, Message};
use crate::grid::ContractId;
use crate::grid::sim::SimGrid;
use crate::ids::UserId;
use crate::lifecycle::chain_state::ChainAlertKind;
use crate::lifecycle::node_link::{LinkEvent, LinkSnapshot, LinkTracker, NodeLink, tenths};
use crate::lifecycle::{human_duration, utc_datetime};
use crate::probe::NodeStatusProbe;
use crate::probe::node_status::{DashboardNode, NodeStatusError, StatusRequest};
use crate::user::StoredValue;

/// No read of one user's dashboard sooner than this after the last (the
/// API blocks more than 4 a minute).
pub const MIN_READ_GAP: u64 = 20;

/// A stored reading this old is written again even if nothing changed.
const REFRESH_SECS: u64 = 3600;

/// What one dashboard sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSweep {
    /// Dashboard reads made (one per user and key).
    pub reads: usize,
    pub failed: usize,
    pub events: usize,
    pub written: usize,
}

#[derive(Default)]
struct Memory {
    trackers: HashMap<(UserId, String), (ContractId, LinkTracker)>,
    /// Each user's last read, and last read with statistics, per API URL.
    last_read: HashMap<(UserId, String), u64>,
    last_stats: HashMap<(UserId, String), u64>,
}

/// A node's new record and what was confirmed: name, contract, record.
type Change = (String, ContractId, NodeLink, Option<LinkEvent>);

/// One node to read.
struct Wanted {
    name: String,
    contract: ContractId,
    hosts: Vec<String>,
    stored: Option<NodeLink>,
}

/// One read: a user's key at one dashboard, and our nodes on it.
struct Read {
    user: UserId,
    spec: NodeStatusSpec,
    request: StatusRequest,
    nodes: Vec<Wanted>,
}

pub struct NodeStatusWatch {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    probe: Arc<dyn NodeStatusProbe>,
    alerter: Arc<Alerter>,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    sim: Option<SimGrid>,
    confirmations: u32,
    concurrency: usize,
    memory: Mutex<Memory>,
}

impl NodeStatusWatch {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        probe: Arc<dyn NodeStatusProbe>,
        alerter: Arc<Alerter>,
        audit: Arc<AuditTrail>,
        clock: Arc<dyn Clock>,
        sim: Option<SimGrid>,
        config: &crate::config::MonitorConfig,
    ) -> NodeStatusWatch {
        NodeStatusWatch {
            engine,
            repo,
            probe,
            alerter,
            audit,
            clock,
            sim,
            confirmations: config.chain_confirmations,
            concurrency: config.chain_probe_concurrency,
            memory: Mutex::new(Memory::default()),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the dashboards of `targets` (the running nodes of this sweep
    /// that passed their other checks) whose node type has a
    /// `node_status`, stores what changed and tells owners.
    pub async fn sweep(&self, targets: &[&Target]) -> LinkSweep {
        let catalog = self.engine.catalog();
        let now = self.clock.now();
        let mut by_user: BTreeMap<&UserId, Vec<&Target>> = BTreeMap::new();
        for &t in targets {
            let has = catalog
                .node_type(&t.node.chain, &t.node.node_type)
                .is_some_and(|(_, nt)| nt.node_status.is_some());
            if has {
                by_user.entry(&t.user).or_default().push(t);
            }
        }
        let mut reads: Vec<Read> = Vec::new();
        for (user, targets) in by_user {
            match self.reads_of(user, &targets, now) {
                Ok(mut r) => reads.append(&mut r),
                Err(e) => {
                    tracing::error!(user = %user, error = %format!("{e:#}"), "could not prepare dashboard reads")
                }
            }
        }
        let mut report = LinkSweep {
            reads: reads.len(),
            ..LinkSweep::default()
        };
        {
            let mut memory = self.memory();
            for read in &reads {
                let slot = (read.user.clone(), read.spec.url.clone());
                memory.last_read.insert(slot.clone(), now);
                if read.request.stats {
                    memory.last_stats.insert(slot, now);
                }
            }
        }
        use futures_util::StreamExt as _;
        let asks: Vec<_> = reads.iter().map(|r| self.probe.read(&r.request)).collect();
        let answers: Vec<_> = futures_util::stream::iter(asks)
            .buffered(self.concurrency.max(1))
            .collect()
            .await;

        let mut changes: BTreeMap<UserId, Vec<Change>> = BTreeMap::new();
        for (read, answer) in reads.into_iter().zip(answers) {
            if answer.is_err() {
                report.failed += 1;
            }
            for wanted in read.nodes {
                let (record, event) =
                    self.judge(&read.user, &wanted, &answer, read.request.stats, now);
                let write = event.is_some()
                    || wanted
                        .stored
                        .as_ref()
                        .is_none_or(|old| old.needs_write(&record, REFRESH_SECS));
                report.events += usize::from(event.is_some());
                if write {
                    changes.entry(read.user.clone()).or_default().push((
                        wanted.name,
                        wanted.contract,
                        record,
                        event,
                    ));
                }
            }
        }
        for (user, changes) in changes {
            match self.store(&user, changes).await {
                Ok(n) => report.written += n,
                Err(e) => {
                    tracing::error!(user = %user, error = %format!("{e:#}"), "could not record nodes' dashboard state; read again next sweep")
                }
            }
        }
        report
    }

    /// The reads one user's nodes need now (none when read too recently).
    fn reads_of(&self, user: &UserId, targets: &[&Target], now: u64) -> anyhow::Result<Vec<Read>> {
        let catalog = self.engine.catalog();
        let nodes = self.repo.load_nodes(user)?;
        let mut reads: Vec<Read> = Vec::new();
        for t in targets {
            let Some((_, nt)) = catalog.node_type(&t.node.chain, &t.node.node_type) else {
                continue;
            };
            let Some(spec) = nt.node_status.clone() else {
                continue;
            };
            let Some(node) = nodes
                .get(&t.node.name)
                .filter(|n| n.contract() == Some(t.node.contract))
            else {
                continue;
            };
            let Some(value) = node.settings.get(&spec.key_setting) else {
                continue;
            };
            let key = match value {
                StoredValue::Sealed(s) => self.repo.open_secret(s)?.to_string(),
                StoredValue::Plain(p) => p.clone(),
            };
            let slot = (user.clone(), spec.url.clone());
            let (recent, stats) = {
                let memory = self.memory();
                let recent = memory
                    .last_read
                    .get(&slot)
                    .is_some_and(|&at| now.saturating_sub(at) < MIN_READ_GAP);
                let stats = memory
                    .last_stats
                    .get(&slot)
                    .is_none_or(|&at| now.saturating_sub(at) >= spec.stats_every_secs);
                (recent, stats)
            };
            if recent {
                continue;
            }
            let wanted = Wanted {
                name: node.name.clone(),
                contract: t.node.contract,
                hosts: t.node.hosts.clone(),
                stored: node
                    .node_link
                    .clone()
                    .filter(|l| l.contract == t.node.contract),
            };
            match reads
                .iter_mut()
                .find(|r| r.spec.url == spec.url && r.request.key == key)
            {
                Some(read) => {
                    read.request
                        .nodes
                        .push((wanted.contract, wanted.hosts.clone()));
                    read.nodes.push(wanted);
                }
                None => reads.push(Read {
                    user: user.clone(),
                    request: StatusRequest {
                        url: spec.url.clone(),
                        key,
                        stats,
                        nodes: vec![(wanted.contract, wanted.hosts.clone())],
                    },
                    spec,
                    nodes: vec![wanted],
                }),
            }
        }
        Ok(reads)
    }

    /// One node's new record from the read, and what was confirmed.
    fn judge(
        &self,
        user: &UserId,
        wanted: &Wanted,
        answer: &Result<BTreeMap<String, DashboardNode>, NodeStatusError>,
        stats: bool,
        now: u64,
    ) -> (NodeLink, Option<LinkEvent>) {
        let mut memory = self.memory();
        let slot = memory
            .trackers
            .entry((user.clone(), wanted.name.clone()))
            .or_insert_with(|| {
                (
                    wanted.contract,
                    LinkTracker::new(wanted.stored.as_ref().and_then(|l| l.down_since)),
                )
            });
        if slot.0 != wanted.contract {
            // Redeployed: a new machine, a new episode.
            *slot = (wanted.contract, LinkTracker::default());
        }
        let mut record = wanted
            .stored
            .clone()
            .unwrap_or_else(|| NodeLink::new(wanted.contract));
        let mut event = None;
        match answer {
            Ok(nodes) => {
                let found = nodes.values().find(|n| n.is_at(&wanted.hosts));
                event = slot
                    .1
                    .observe(found.map(|n| n.connected), now, self.confirmations);
                let before = record.last.clone();
                let (uptime, reliability) = match found.and_then(|n| n.stats) {
                    Some(s) => (
                        s.uptime_percent.and_then(tenths),
                        s.reliability_score.and_then(tenths),
                    ),
                    // Statistics are read now and then: keep the last ones.
                    None if !stats => (
                        before.as_ref().and_then(|b| b.uptime_permille),
                        before.as_ref().and_then(|b| b.reliability_tenths),
                    ),
                    None => (None, None),
                };
                record.last = Some(LinkSnapshot {
                    at: now,
                    listed: found.is_some(),
                    connected: found.is_some_and(|n| n.connected),
                    blocked: found.is_some_and(|n| n.blocked),
                    since: found.and_then(|n| n.since),
                    version: found.and_then(|n| n.version.clone()),
                    uptime_permille: uptime,
                    reliability_tenths: reliability,
                });
                record.unreadable = None;
            }
            Err(e) => record.unreadable = Some(e.to_string()),
        }
        record.down_since = slot.1.down_since;
        (record, event)
    }

    /// Writes one user's changed records in one save, then raises what was
    /// confirmed (after the save: an episode is raised once).
    async fn store(&self, user: &UserId, changes: Vec<Change>) -> anyhow::Result<usize> {
        let changes = changes
            .into_iter()
            .map(|(name, contract, record, event)| (name, contract, (record, event)));
        let applied = self
            .repo
            .apply_to_running(user, changes, |node, (record, event)| {
                node.node_link = Some(record);
                event.map(|event| (node.name.clone(), node.chain.clone(), event))
            })
            .await?;
        for (name, chain, event) in applied.raised {
            self.tell(user, &name, &chain, event).await?;
        }
        Ok(applied.written)
    }

    async fn tell(
        &self,
        user: &UserId,
        name: &str,
        chain: &str,
        event: LinkEvent,
    ) -> anyhow::Result<()> {
        let network = self
            .engine
            .catalog()
            .chain(chain)
            .map_or_else(|| chain.to_owned(), |c| c.name.clone());
        let (priority, key, text) = alert(name, &network, &event, self.clock.now());
        tracing::warn!(user = %user, node = name, key = %key, "node dashboard alert");
        self.audit
            .record(SYSTEM, Some(user), "node.link", Some(name), text.clone());
        self.alerter
            .raise_chain(
                user,
                ChainAlertKind::Disconnected,
                priority,
                key,
                Message::text(text),
            )
            .await
    }

    /// `/fault link <contract|node> down|up` on the simulated grid: the
    /// dashboard shows the node disconnected (or connected again).
    pub fn fault(&self, operator: &UserId, words: &[&str]) -> String {
        const HELP: &str = "Usage: /fault link <contract or node name> down|up: the node's network dashboard shows it disconnected, or connected again. The monitor notices over its next checks.";
        let Some(sim) = &self.sim else {
            return "Fault injection only exists on the embedded simulated grid.".into();
        };
        let (which, down) = match words {
            [which, "down"] => (*which, true),
            [which, "up"] => (*which, false),
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
        let [target] = matching.as_slice() else {
            return format!("No single running node has contract or name {which:?}. {HELP}");
        };
        let reports = self
            .engine
            .catalog()
            .node_type(&target.node.chain, &target.node.node_type)
            .is_some_and(|(_, nt)| nt.node_status.is_some());
        if !reports {
            return format!(
                "{}'s network has no dashboard the monitor reads.",
                target.node.name
            );
        }
        sim.links().set_down(target.node.contract, down);
        tracing::warn!(operator = %operator, contract = target.node.contract.0, down, "link fault injected on the simulated grid");
        format!(
            "Done: the simulated dashboard now shows {} (contract {}) {}.",
            target.node.name,
            target.node.contract.0,
            if down { "disconnected" } else { "connected" }
        )
    }
}

/// The alert for a confirmed change: priority, the key that makes it once
/// per episode, and the words.
fn alert(name: &str, network: &str, event: &LinkEvent, at: u64) -> (Priority, String, String) {
    match event {
        LinkEvent::Disconnected { since } => (
            Priority::Outage,
            format!("link-down:{name}:{since}"),
            format!(
                "⚠️ {name} is disconnected from the {network} network since {} ({} ago), as your {network} dashboard says. \
                 Its machine still answers the grid, so this is the node's own connection: it usually comes back by itself. \
                 Look at /status {name} for its uptime; if it stays away, its logs over SSH say why, or /redeploy {name}.",
                utc_datetime(*since),
                human_duration(at.saturating_sub(*since).max(60))
            ),
        ),
        LinkEvent::Reconnected { since, after } => (
            Priority::Recovery,
            format!("link-up:{name}:{since}"),
            format!(
                "✅ {name} is connected to the {network} network again, after {}.",
                human_duration((*after).max(60))
            ),
        ),
    }
}
