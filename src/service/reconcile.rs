//! The reconciler: at start and periodically, the contracts Jukebox's twins
//! hold on the grid are compared with the node records.
//!
//! - A contract no node record references (not a live node's placement,
//!   not its deploy intent, not a contract it retired) is an **orphan**:
//!   something paying for nothing. It is cancelled once it has been an
//!   orphan for the safety delay (`[reconciler] orphan_delay_minutes`),
//!   after the user's records are read again under their lock: a contract
//!   that work in flight is about to record is never touched.
//! - Contracts records retired are cancelled on every pass (see
//!   `intents.rs`).
//! - A running or paused node whose contract the grid no longer has is
//!   reported, once: the monitor already tells its owner (and auto-heal
//!   moves it); the operator sees it in `/stats` and the audit trail.
//!
//! What was seen is kept in the global `reconciler` record, so the delay
//! counts across restarts and `/stats` shows the last pass.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::audit_trail::{AuditTrail, SYSTEM};
use super::intents::GridWork;
use super::repo::Repo;
use crate::clock::Clock;
use crate::grid::{ContractId, ContractState, Grid, GridError, GridNodeId, OwnedContract, TwinId};
use crate::ids::UserId;
use crate::user::{NodeState, Nodes};

/// The global record of what the reconciler saw.
const STATE: &str = "reconciler";
/// Node records listed by name in `/stats` at most.
const MISSING_SHOWN: usize = 5;

/// An orphan waiting out the safety delay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Suspect {
    pub user: UserId,
    pub twin: TwinId,
    pub node: GridNodeId,
    /// When it was first seen unreferenced (unix seconds).
    pub first_seen: u64,
}

/// A node record whose contract is gone from the grid.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Missing {
    pub user: UserId,
    pub node: String,
    pub contract: ContractId,
}

/// What the reconciler remembers between passes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ReconcilerState {
    /// Orphans by contract id.
    pub suspects: BTreeMap<u64, Suspect>,
    /// Records whose contract is gone, as the last pass found them.
    pub missing: BTreeSet<Missing>,
    pub last_pass: Option<PassReport>,
    /// Orphans cancelled since the data dir began.
    pub orphans_cancelled: u64,
}

/// What one pass saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassReport {
    pub at: u64,
    /// Twins whose contracts were listed, and those the grid could not list.
    pub twins: u64,
    pub twins_unreachable: u64,
    /// Live contracts seen.
    pub contracts: u64,
    /// Orphans found this pass for the first time.
    pub orphans_found: u64,
    /// Orphans waiting out the safety delay after this pass.
    pub orphans_waiting: u64,
    pub orphans_cancelled: u64,
    /// Records whose contract is gone (newly found this pass).
    pub missing_found: u64,
}

/// Which contracts a user's records account for.
struct References {
    placed: BTreeSet<ContractId>,
    retired: BTreeSet<ContractId>,
    intents: BTreeSet<(GridNodeId, String)>,
}

impl References {
    fn of(nodes: &Nodes) -> References {
        let live = || nodes.nodes.iter().filter(|n| n.is_live());
        References {
            placed: live().filter_map(|n| n.contract()).collect(),
            retired: nodes
                .nodes
                .iter()
                .flat_map(|n| n.retired.iter().copied())
                .collect(),
            intents: live()
                .filter_map(|n| n.intent.as_ref())
                .map(|i| (i.grid_node, i.deployment_hash.clone()))
                .collect(),
        }
    }

    fn covers(&self, c: &OwnedContract) -> bool {
        self.placed.contains(&c.contract)
            || self.retired.contains(&c.contract)
            || self.intents.contains(&(c.node, c.deployment_hash.clone()))
    }
}

/// Compares twins' contracts with node records (one pass at a time).
pub struct Reconciler {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    grid_work: Arc<GridWork>,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    /// How long an orphan is left alone before it is cancelled.
    orphan_delay_secs: u64,
}

impl Reconciler {
    pub fn new(
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        grid_work: Arc<GridWork>,
        audit: Arc<AuditTrail>,
        clock: Arc<dyn Clock>,
        orphan_delay_secs: u64,
    ) -> Reconciler {
        Reconciler {
            repo,
            grid,
            grid_work,
            audit,
            clock,
            orphan_delay_secs,
        }
    }

    /// One reconciler pass over every user with a twin. Errors of one
    /// user's grid reads never stop the pass; storage errors do.
    pub async fn pass(&self) -> anyhow::Result<PassReport> {
        let now = self.clock.now();
        let delay = self.orphan_delay_secs;
        let before: ReconcilerState = self.repo.load_global(STATE)?.unwrap_or_default();
        let mut after = ReconcilerState {
            orphans_cancelled: before.orphans_cancelled,
            ..ReconcilerState::default()
        };
        let mut report = PassReport {
            at: now,
            ..PassReport::default()
        };
        for user in self.repo.list_users()? {
            let Some(twin) = self.repo.load_profile(&user)?.and_then(|p| p.twin) else {
                continue;
            };
            {
                let _guard = self.repo.lock(&user).await;
                self.grid_work.cancel_retired(&user).await?;
            }
            let owned = match self.grid.twin_contracts(twin).await {
                Ok(owned) => owned,
                Err(e) => {
                    tracing::warn!(user = %user, twin = twin.0, error = %e, "reconciler: the grid could not list the twin's contracts");
                    report.twins_unreachable += 1;
                    // Nothing is known: keep what was seen, delay and all.
                    for (id, s) in before.suspects.iter().filter(|(_, s)| s.user == user) {
                        after.suspects.insert(*id, s.clone());
                    }
                    after
                        .missing
                        .extend(before.missing.iter().filter(|m| m.user == user).cloned());
                    continue;
                }
            };
            report.twins += 1;
            report.contracts += owned.len() as u64;
            // Read after the listing: anything recorded before it shows.
            let nodes = self.repo.load_nodes(&user)?;
            let refs = References::of(&nodes);
            for c in owned.iter().filter(|c| !refs.covers(c)) {
                let first_seen = before
                    .suspects
                    .get(&c.contract.0)
                    .map_or(now, |s| s.first_seen);
                let suspect = Suspect {
                    user: user.clone(),
                    twin,
                    node: c.node,
                    first_seen,
                };
                if !before.suspects.contains_key(&c.contract.0) {
                    report.orphans_found += 1;
                    self.audit.record(
                        SYSTEM,
                        Some(&user),
                        "contract.orphan_found",
                        None,
                        format!(
                            "contract {} on grid node {}: no node record uses it; cancelled if still so in {} minute(s)",
                            c.contract,
                            c.node,
                            delay / 60
                        ),
                    );
                }
                if now.saturating_sub(first_seen) >= delay && self.cancel_orphan(&user, c).await? {
                    report.orphans_cancelled += 1;
                    after.orphans_cancelled += 1;
                } else {
                    after.suspects.insert(c.contract.0, suspect);
                }
            }
            let listed: BTreeSet<ContractId> = owned.iter().map(|c| c.contract).collect();
            for m in self.missing_contracts(&user, &nodes, &listed).await {
                if !before.missing.contains(&m) {
                    report.missing_found += 1;
                    self.audit.record(
                        SYSTEM,
                        Some(&user),
                        "node.contract_missing",
                        Some(&m.node),
                        format!(
                            "contract {} is gone from the grid; the node record still uses it",
                            m.contract
                        ),
                    );
                }
                after.missing.insert(m);
            }
        }
        report.orphans_waiting = after.suspects.len() as u64;
        after.last_pass = Some(report.clone());
        self.repo.save_global(STATE, &after)?;
        tracing::info!(?report, "reconciler pass done");
        Ok(report)
    }

    /// Cancels the orphan `c` of `user` if, read again under their lock,
    /// still no record references it. Returns whether it is gone now.
    async fn cancel_orphan(&self, user: &UserId, c: &OwnedContract) -> anyhow::Result<bool> {
        let _guard = self.repo.lock(user).await;
        if References::of(&self.repo.load_nodes(user)?).covers(c) {
            return Ok(false);
        }
        // The orphan is this user's twin's: their own key cancels it.
        let Some(identity) = self.grid_work.identity_of(user)? else {
            return Ok(false);
        };
        match self.grid.cancel(&identity, c.contract).await {
            Ok(()) | Err(GridError::UnknownContract(_)) => {
                tracing::warn!(user = %user, contract = %c.contract, grid_node = %c.node, "orphan contract cancelled");
                self.audit.record(
                    SYSTEM,
                    Some(user),
                    "contract.orphan_cancelled",
                    None,
                    format!(
                        "contract {} on grid node {}: no node record used it",
                        c.contract, c.node
                    ),
                );
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(user = %user, contract = %c.contract, error = %e, "could not cancel an orphan contract; retried next pass");
                Ok(false)
            }
        }
    }

    /// The running or paused nodes of `user` whose contract is not among
    /// the `listed` ones and that the grid confirms gone (unknown, or
    /// cancelled). A listing can lag, so absence alone proves nothing.
    async fn missing_contracts(
        &self,
        user: &UserId,
        nodes: &Nodes,
        listed: &BTreeSet<ContractId>,
    ) -> Vec<Missing> {
        let unlisted: Vec<(String, ContractId)> = nodes
            .nodes
            .iter()
            .filter(|n| matches!(n.state, NodeState::Running | NodeState::Paused))
            .filter_map(|n| Some((n.name.clone(), n.contract()?)))
            .filter(|(_, c)| !listed.contains(c))
            .collect();
        if unlisted.is_empty() {
            return Vec::new();
        }
        let ids: Vec<ContractId> = unlisted.iter().map(|(_, c)| *c).collect();
        let Ok(answers) = self.grid.contracts(&ids).await else {
            return Vec::new();
        };
        unlisted
            .into_iter()
            .zip(answers)
            .filter(|(_, answer)| match answer {
                Err(GridError::UnknownContract(_)) => true,
                Ok(info) => info.state == ContractState::Deleted,
                Err(_) => false,
            })
            .map(|((node, contract), _)| Missing {
                user: user.clone(),
                node,
                contract,
            })
            .collect()
    }

    /// The `/stats` lines about the reconciler.
    pub fn lines(&self) -> anyhow::Result<String> {
        let state: ReconcilerState = self.repo.load_global(STATE)?.unwrap_or_default();
        let Some(last) = &state.last_pass else {
            return Ok("\nReconciler: no pass yet.".to_owned());
        };
        let mut text = format!(
            "\nReconciler: last pass {} ({} twin(s), {} unreachable; {} live contract(s)); orphan contracts: {} waiting out the safety delay, {} cancelled this pass, {} cancelled in all",
            crate::lifecycle::utc_datetime(last.at),
            last.twins,
            last.twins_unreachable,
            last.contracts,
            state.suspects.len(),
            last.orphans_cancelled,
            state.orphans_cancelled,
        );
        text.push_str(&format!(
            "\nNode records whose contract is gone: {}",
            state.missing.len()
        ));
        let shown: Vec<String> = state
            .missing
            .iter()
            .take(MISSING_SHOWN)
            .map(|m| format!("{} {} (contract {})", m.user, m.node, m.contract))
            .collect();
        if !shown.is_empty() {
            text.push_str(&format!(": {}", shown.join(", ")));
        }
        Ok(text)
    }
}
