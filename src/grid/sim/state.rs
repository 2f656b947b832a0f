//! The simulated grid's mutable state and its capacity accounting.
//!
//! All durable changes are [`Event`]s: the same `apply` runs when replaying
//! the journal and when a live change is recorded, so what is reloaded is by
//! construction what was running. In-flight deployments hold a pending
//! reservation that is never persisted: after a crash nothing was contracted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::world::World;
use crate::grid::{Capacity, GridNode, GridNodeId, NodeStatus};

/// cpu / memory / disk amounts, wide enough to sum a whole node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

impl Resources {
    fn add(&mut self, r: &Resources) {
        self.cpu += r.cpu;
        self.memory_mib += r.memory_mib;
        self.disk_gib += r.disk_gib;
    }

    fn sub(&mut self, r: &Resources) {
        // Saturating: a bookkeeping slip must not wrap into "huge free room".
        self.cpu = self.cpu.saturating_sub(r.cpu);
        self.memory_mib = self.memory_mib.saturating_sub(r.memory_mib);
        self.disk_gib = self.disk_gib.saturating_sub(r.disk_gib);
    }

    pub(super) fn from_capacity(c: &Capacity) -> Resources {
        Resources {
            cpu: u64::from(c.cpu),
            memory_mib: c.memory_mib,
            disk_gib: c.disk_gib,
        }
    }
}

/// One contract as the simulation remembers it (also its journal record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ContractRec {
    pub id: u64,
    pub twin: u32,
    pub node: u32,
    pub res: Resources,
    pub ipv4: Vec<String>,
    pub ipv6: Option<String>,
    pub mycelium: Option<String>,
    pub deployment_hash: String,
    #[serde(default)]
    pub deleted: bool,
    /// Set by fault injection: the workload reports this error.
    #[serde(default)]
    pub failure: Option<String>,
    /// In the grace period: the workloads are stopped, the capacity kept.
    #[serde(default)]
    pub paused: bool,
    /// Set by fault injection: the workload runs but the application in it
    /// fails its health check with this reason.
    #[serde(default)]
    pub app_failure: Option<String>,
    /// When the contract was made (unix seconds, the simulated chain's
    /// clock), where its chain started syncing from block 0; 0 in journals
    /// written before, read as a node synced long ago.
    #[serde(default)]
    pub created_at: u64,
}

/// A durable change; one JSON line in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event {
    Twin {
        id: u32,
        key: String,
    },
    Contract(ContractRec),
    Cancel {
        id: u64,
    },
    NodeStatus {
        node: u32,
        status: NodeStatus,
        pinned: bool,
    },
    WorkloadFailed {
        contract: u64,
        reason: String,
    },
    WorkloadRestored {
        contract: u64,
    },
    Paused {
        contract: u64,
        paused: bool,
    },
    AppFailed {
        contract: u64,
        reason: String,
    },
    AppRestored {
        contract: u64,
    },
}

pub(super) struct NodeState {
    pub status: NodeStatus,
    /// Set by the operator: churn leaves the node alone until set Up again.
    pub pinned: bool,
    pub used: Resources,
}

struct Pending {
    node: usize,
    res: Resources,
    ips: Vec<usize>,
}

pub(super) struct State {
    pub world: World,
    node_index: HashMap<u32, usize>,
    farm_index: HashMap<u32, usize>,
    pub nodes: Vec<NodeState>,
    /// Indices into each farm's `public_ips` currently taken.
    ips_used: Vec<BTreeSet<usize>>,
    pub twin_by_key: HashMap<[u8; 32], u32>,
    pub twin_keys: BTreeMap<u32, [u8; 32]>,
    pub contracts: BTreeMap<u64, ContractRec>,
    /// The live contract per (grid node, deployment hash), as TFChain's
    /// `ContractIDByNodeIDAndHash` keys them: a deploy asks it twice, and a
    /// scan of every contract made it slower with each one made.
    live: HashMap<(u32, String), u64>,
    pending: HashMap<u64, Pending>,
    next_pending: u64,
}

impl State {
    pub fn new(world: World) -> State {
        let node_index = world
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id, i))
            .collect();
        let farm_index = world
            .farms
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id, i))
            .collect();
        let nodes = world
            .nodes
            .iter()
            .map(|n| NodeState {
                status: n.initial_status,
                pinned: false,
                used: Resources::default(),
            })
            .collect();
        let ips_used = vec![BTreeSet::new(); world.farms.len()];
        State {
            world,
            node_index,
            farm_index,
            nodes,
            ips_used,
            twin_by_key: HashMap::new(),
            twin_keys: BTreeMap::new(),
            contracts: BTreeMap::new(),
            live: HashMap::new(),
            pending: HashMap::new(),
            next_pending: 0,
        }
    }

    /// The live contract for `hash` on grid node `node`, if any.
    pub fn live_contract(&self, node: u32, hash: &str) -> Option<&ContractRec> {
        let id = self.live.get(&(node, hash.to_owned()))?;
        self.contracts.get(id).filter(|r| !r.deleted)
    }

    pub fn node_idx(&self, id: u32) -> Option<usize> {
        self.node_index.get(&id).copied()
    }

    fn farm_idx_of(&self, node: usize) -> usize {
        // Every node's farm exists: both come from the same generated world.
        self.farm_index
            .get(&self.world.nodes[node].farm_id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self, node: usize) -> Resources {
        let n = &self.world.nodes[node];
        Resources {
            cpu: u64::from(n.cpu),
            memory_mib: n.memory_mib,
            disk_gib: n.disk_gib,
        }
    }

    pub fn free_ips(&self, node: usize) -> usize {
        let f = self.farm_idx_of(node);
        self.world.farms[f].public_ips.len() - self.ips_used[f].len()
    }

    /// Whether `node` is up and has room for `res` plus `ipv4` addresses.
    pub fn fits(&self, node: usize, res: &Resources, ipv4: usize) -> bool {
        let (total, used) = (self.total(node), &self.nodes[node].used);
        self.nodes[node].status == NodeStatus::Up
            && used.cpu + res.cpu <= total.cpu
            && used.memory_mib + res.memory_mib <= total.memory_mib
            && used.disk_gib + res.disk_gib <= total.disk_gib
            && self.free_ips(node) >= ipv4
    }

    pub fn grid_node(&self, node: usize) -> GridNode {
        let n = &self.world.nodes[node];
        GridNode {
            id: GridNodeId(n.id),
            farm_id: n.farm_id,
            farm_name: self.world.farms[self.farm_idx_of(node)].name.clone(),
            country: n.country.clone(),
            status: self.nodes[node].status,
        }
    }

    /// Takes room on `node` for an in-flight deployment; the caller checked
    /// `fits` under the same lock.
    pub fn reserve(&mut self, node: usize, res: Resources, ipv4: usize) -> u64 {
        let f = self.farm_idx_of(node);
        let free: Vec<usize> = (0..self.world.farms[f].public_ips.len())
            .filter(|i| !self.ips_used[f].contains(i))
            .take(ipv4)
            .collect();
        self.ips_used[f].extend(free.iter().copied());
        self.nodes[node].used.add(&res);
        let (used, total) = (self.nodes[node].used, self.total(node));
        debug_assert!(
            used.cpu <= total.cpu
                && used.memory_mib <= total.memory_mib
                && used.disk_gib <= total.disk_gib,
            "reserve called without room: {used:?} > {total:?}"
        );
        self.next_pending += 1;
        let ips = free;
        self.pending
            .insert(self.next_pending, Pending { node, res, ips });
        self.next_pending
    }

    /// Frees a pending reservation and returns the addresses it held.
    pub fn release(&mut self, id: u64) -> Vec<String> {
        let Some(p) = self.pending.remove(&id) else {
            return Vec::new();
        };
        self.nodes[p.node].used.sub(&p.res);
        let f = self.farm_idx_of(p.node);
        for i in &p.ips {
            self.ips_used[f].remove(i);
        }
        p.ips
            .iter()
            .map(|&i| self.world.farms[f].public_ips[i].clone())
            .collect()
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Twin { id, key } => {
                match hex::decode(key).ok().and_then(|k| k.try_into().ok()) {
                    Some(k) => {
                        self.twin_by_key.insert(k, *id);
                        self.twin_keys.insert(*id, k);
                    }
                    None => tracing::warn!(twin = id, "ignoring a journaled twin with a bad key"),
                }
            }
            Event::Contract(rec) => {
                if self.contracts.contains_key(&rec.id) {
                    return; // replayed twice (e.g. snapshot + journal): keep the first
                }
                if !rec.deleted {
                    self.take(rec, true);
                    self.live
                        .entry((rec.node, rec.deployment_hash.clone()))
                        .or_insert(rec.id);
                }
                self.contracts.insert(rec.id, rec.clone());
            }
            Event::Cancel { id } => {
                let Some(rec) = self.contracts.get(id).filter(|r| !r.deleted).cloned() else {
                    return;
                };
                self.take(&rec, false);
                let key = (rec.node, rec.deployment_hash.clone());
                if self.live.get(&key) == Some(id) {
                    self.live.remove(&key);
                }
                if let Some(r) = self.contracts.get_mut(id) {
                    r.deleted = true;
                }
            }
            Event::NodeStatus {
                node,
                status,
                pinned,
            } => {
                if let Some(i) = self.node_idx(*node) {
                    self.nodes[i].status = *status;
                    self.nodes[i].pinned = *pinned;
                }
            }
            Event::WorkloadFailed { contract, reason } => {
                if let Some(r) = self.contracts.get_mut(contract) {
                    r.failure = Some(reason.clone());
                }
            }
            Event::WorkloadRestored { contract } => {
                if let Some(r) = self.contracts.get_mut(contract) {
                    r.failure = None;
                }
            }
            // Pausing never touches the accounting: a contract in its grace
            // period keeps its capacity and addresses until it is cancelled.
            Event::Paused { contract, paused } => {
                if let Some(r) = self.contracts.get_mut(contract) {
                    r.paused = *paused;
                }
            }
            Event::AppFailed { contract, reason } => {
                if let Some(r) = self.contracts.get_mut(contract) {
                    r.app_failure = Some(reason.clone());
                }
            }
            Event::AppRestored { contract } => {
                if let Some(r) = self.contracts.get_mut(contract) {
                    r.app_failure = None;
                }
            }
        }
    }

    /// Adds (or removes) a live contract's resources and addresses.
    fn take(&mut self, rec: &ContractRec, add: bool) {
        let Some(node) = self.node_idx(rec.node) else {
            return;
        };
        let f = self.farm_idx_of(node);
        let pool = &self.world.farms[f].public_ips;
        for ip in &rec.ipv4 {
            if let Some(i) = pool.iter().position(|p| p == ip) {
                if add {
                    self.ips_used[f].insert(i);
                } else {
                    self.ips_used[f].remove(&i);
                }
            }
        }
        if add {
            self.nodes[node].used.add(&rec.res);
        } else {
            self.nodes[node].used.sub(&rec.res);
        }
    }

    /// Events that rebuild this state from the world alone (for compaction).
    pub fn events(&self) -> Vec<Event> {
        let twins = self.twin_keys.iter().map(|(id, k)| Event::Twin {
            id: *id,
            key: hex::encode(k),
        });
        let contracts = self.contracts.values().cloned().map(Event::Contract);
        let nodes = self
            .world
            .nodes
            .iter()
            .zip(&self.nodes)
            .filter(|(w, s)| s.pinned || s.status != w.initial_status)
            .map(|(w, s)| Event::NodeStatus {
                node: w.id,
                status: s.status,
                pinned: s.pinned,
            });
        twins.chain(contracts).chain(nodes).collect()
    }

    /// How many events [`State::events`] would return, without building them.
    pub fn event_count(&self) -> usize {
        self.twin_keys.len() + self.contracts.len() + self.nodes.len()
    }

    pub fn next_twin_id(&self) -> u32 {
        self.twin_keys.keys().next_back().map_or(1, |id| id + 1)
    }

    pub fn next_contract_id(&self) -> u64 {
        self.contracts.keys().next_back().map_or(1, |id| id + 1)
    }

    pub fn ips_in_use(&self) -> usize {
        self.ips_used.iter().map(BTreeSet::len).sum()
    }
}
