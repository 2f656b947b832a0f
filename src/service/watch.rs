//! The monitor's watch list: every running node with its contract and its
//! outage tracker, in memory.
//!
//! It is kept in step with the store at one choke point (every save of a
//! user's nodes calls [`Watchlist::sync`]), so a sweep never reads 100,000
//! node files; at start it is filled once from the store.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::grid::{ContractId, GridNodeId};
use crate::ids::UserId;
use crate::lifecycle::{Observation, Tracker, Transition};
use crate::user::{NodeState, Nodes};

/// What the monitor needs to know to check one node.
#[derive(Clone, Debug)]
pub(crate) struct NodeFacts {
    pub name: String,
    pub contract: ContractId,
    pub grid_node: GridNodeId,
    pub chain: String,
    pub node_type: String,
    /// Public addresses for the application check, best first.
    pub hosts: Vec<String>,
    /// Its Mycelium address, the private path to what is never public
    /// (an execution client's JSON-RPC, docs/chain-health.md).
    pub mycelium: Option<String>,
    /// What the record keeps of its chain (`chain_watch.rs` compares
    /// with it to write only what changed).
    pub chain_health: Option<crate::lifecycle::chain_state::NodeChain>,
}

/// One node the monitor checks, with its memory between checks.
#[derive(Clone, Debug)]
struct Watched {
    facts: NodeFacts,
    tracker: Tracker,
}

/// A node to check in one sweep (a copy, so the list is not held locked).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub user: UserId,
    pub node: NodeFacts,
}

#[derive(Default)]
pub(crate) struct Watchlist {
    users: Mutex<HashMap<UserId, Vec<Watched>>>,
    /// Grid nodes recently found failing, and when, so redeploys avoid them.
    failed_grid_nodes: Mutex<HashMap<GridNodeId, u64>>,
}

impl Watchlist {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<Watched>>> {
        // A panic while holding this lock cannot leave it half-updated in a
        // way that matters (each update replaces one user's list).
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the list match `nodes` for `user`: running, placed nodes are
    /// watched; a node keeps its tracker while its contract is the same.
    pub fn sync(&self, user: &UserId, nodes: &Nodes) {
        let mut users = self.users();
        let old = users.remove(user).unwrap_or_default();
        let watched: Vec<Watched> = nodes
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Running)
            .filter_map(|n| {
                let placed = n.placed.as_ref()?;
                let tracker = old
                    .iter()
                    .find(|w| w.facts.name == n.name && w.facts.contract == placed.contract)
                    .map(|w| w.tracker.clone())
                    .unwrap_or_else(|| Tracker::new(n.outage.clone()));
                let hosts = placed.hosts().map(str::to_owned).collect();
                Some(Watched {
                    facts: NodeFacts {
                        name: n.name.clone(),
                        contract: placed.contract,
                        grid_node: placed.node.id,
                        chain: n.chain.clone(),
                        node_type: n.node_type.clone(),
                        hosts,
                        mycelium: placed.mycelium.clone(),
                        chain_health: n.chain_health.clone(),
                    },
                    tracker,
                })
            })
            .collect();
        if !watched.is_empty() {
            users.insert(user.clone(), watched);
        }
    }

    /// Everything to check now, in a stable order (by user, then node).
    pub fn targets(&self) -> Vec<Target> {
        let users = self.users();
        let mut targets: Vec<Target> = users
            .iter()
            .flat_map(|(user, list)| {
                list.iter().map(move |w| Target {
                    user: user.clone(),
                    node: w.facts.clone(),
                })
            })
            .collect();
        targets.sort_by(|a, b| (&a.user, &a.node.name).cmp(&(&b.user, &b.node.name)));
        targets
    }

    pub fn len(&self) -> usize {
        self.users().values().map(Vec::len).sum()
    }

    /// Nodes watched, and how many of them have a confirmed outage.
    pub fn counts(&self) -> (usize, usize) {
        let users = self.users();
        let all = users.values().flatten();
        let down = all.clone().filter(|w| w.tracker.outage.is_some()).count();
        (users.values().map(Vec::len).sum(), down)
    }

    /// Feeds one check of `target`. A check of a contract the node no
    /// longer has (it was redeployed meanwhile) is dropped.
    pub fn observe(
        &self,
        target: &Target,
        observation: Observation,
        now: u64,
        confirmations: u32,
    ) -> Option<Transition> {
        let mut users = self.users();
        let watched = users.get_mut(&target.user)?.iter_mut().find(|w| {
            w.facts.name == target.node.name && w.facts.contract == target.node.contract
        })?;
        watched.tracker.observe(observation, now, confirmations)
    }

    pub fn grid_node_failed(&self, node: GridNodeId, now: u64) {
        let mut failed = self
            .failed_grid_nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failed.insert(node, now);
    }

    /// Grid nodes that failed within `window` seconds before `now`.
    pub fn recently_failed(&self, now: u64, window: u64) -> Vec<GridNodeId> {
        let mut failed = self
            .failed_grid_nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failed.retain(|_, at| now.saturating_sub(*at) < window);
        let mut nodes: Vec<GridNodeId> = failed.keys().copied().collect();
        nodes.sort();
        nodes
    }
}
