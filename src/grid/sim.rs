//! A SIMULATED ThreeFold Grid (`grid.kind = "sim"`, the default).
//!
//! Nothing here talks to the real grid. It is an honest stand-in with real
//! state: a seeded, reproducible world of farms and nodes in many countries,
//! twins with registered keys, contracts that hold node capacity and farm
//! public IPs, signature checks on every deployment, deploy latency and
//! failures, node churn, scheduled node outages and operator fault injection
//! (`faults`), and an application probe that reports those faults; `chain`
//! simulates each node's blockchain (sync, tip, chain faults). State is
//! persisted in `state_dir` (see `store`) so a restart sees the same grid.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};

use crate::grid::{GridError, GridNode, GridNodeId, NodeStatus};

mod api;
pub mod chain;
mod deploy;
mod faults;
pub mod node_status;
mod schedule;
mod state;
mod store;
#[cfg(test)]
mod tests;
mod world;

use schedule::Schedule;
// `[grid.sim]` is plain config data (`config/sim.rs`); re-exported here for
// the simulation's own callers.
pub use crate::config::{ScheduledFault, SimConfig};
use crate::store::Ticket;
pub use state::Resources;
use state::{Event, State};
use store::Store;

/// A summary for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    pub farms: usize,
    pub nodes_up: usize,
    pub nodes_down: usize,
    pub nodes_standby: usize,
    pub twins: usize,
    pub contracts_active: usize,
    pub contracts_deleted: usize,
    /// Deployments reserved but not yet settled.
    pub deploys_in_flight: usize,
    pub used: Resources,
    pub total: Resources,
    pub ipv4_used: usize,
    pub ipv4_total: usize,
}

/// One node's capacity and what is taken of it (pending deploys included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResources {
    pub total: Resources,
    pub used: Resources,
}

/// The simulated grid. Clones share one grid (the state sits behind an
/// `Arc`); all methods take `&self`.
#[derive(Clone)]
pub struct SimGrid {
    inner: Arc<Mutex<Inner>>,
    /// The journal's group commit, waited on without `inner`'s lock.
    journal: Arc<store::JournalSync>,
    cfg: SimConfig,
    /// The simulated chains of its contracts (in memory: computed from the
    /// clock and each contract's `created_at`).
    chain: Arc<chain::SimChain>,
    /// The simulated network dashboard's faults (`node_status.rs`).
    links: Arc<node_status::SimLinks>,
}

struct Inner {
    state: State,
    store: Store,
    rng: fastrand::Rng,
}

fn storage_error(e: std::io::Error) -> GridError {
    GridError::Unavailable(format!("simulated grid storage: {e}"))
}

impl Inner {
    /// Journals `event` (into the page cache), then applies it, and returns
    /// the ticket the caller must make durable with [`SimGrid::durable`]
    /// after releasing the lock and before telling anyone: the answer of a
    /// grid call never runs ahead of the disk, and the writes of concurrent
    /// calls share one fsync (`store.rs`).
    fn record(&mut self, event: Event) -> Result<Ticket, GridError> {
        let ticket =
            crate::store::blocking_io(|| self.store.append(&event)).map_err(storage_error)?;
        self.state.apply(&event);
        if self.store.should_compact(self.state.event_count()) {
            // A failed compaction only leaves a longer journal; keep going.
            let events = self.state.events();
            if let Err(e) = crate::store::blocking_io(|| self.store.compact(&events)) {
                tracing::warn!(error = %e, "simulated grid journal compaction failed");
            }
        }
        Ok(ticket)
    }
}

impl SimGrid {
    /// Opens (or on first start generates) the simulated grid in `state_dir`.
    pub fn open(state_dir: &Path, cfg: SimConfig) -> anyhow::Result<SimGrid> {
        ensure!(
            (1..=10_000).contains(&cfg.farms),
            "grid.sim.farms must be 1..=10000"
        );
        ensure!(
            (1..=1_000).contains(&cfg.nodes_per_farm),
            "grid.sim.nodes_per_farm must be 1..=1000"
        );
        ensure!(
            cfg.deploy_seconds.is_finite() && (0.0..=3600.0).contains(&cfg.deploy_seconds),
            "grid.sim.deploy_seconds must be between 0 and 3600"
        );
        ensure!(
            (0.0..=1.0).contains(&cfg.deploy_failure_rate),
            "grid.sim.deploy_failure_rate must be between 0 and 1"
        );
        ensure!(
            cfg.node_down_rate_per_hour.is_finite() && cfg.node_down_rate_per_hour >= 0.0,
            "grid.sim.node_down_rate_per_hour must be a non-negative number"
        );
        ensure!(
            cfg.mean_downtime_hours.is_finite() && cfg.mean_downtime_hours > 0.0,
            "grid.sim.mean_downtime_hours must be positive"
        );
        for fault in &cfg.faults {
            fault
                .validate()
                .map_err(|e| anyhow::anyhow!("grid.sim.faults: {e}"))?;
        }
        if cfg.public_ips_per_farm > world::MAX_IPS_PER_FARM {
            tracing::warn!("grid.sim.public_ips_per_farm is capped at 240 (one /24 per farm)");
        }
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;

        let world_path = state_dir.join("world.json");
        let world = if world_path.exists() {
            let text = std::fs::read(&world_path)
                .with_context(|| format!("reading {}", world_path.display()))?;
            let world: world::World = serde_json::from_slice(&text)
                .with_context(|| format!("parsing {}", world_path.display()))?;
            if world.seed != cfg.seed {
                tracing::warn!(
                    stored = world.seed,
                    configured = cfg.seed,
                    "keeping the stored simulated world; delete the state dir to regenerate"
                );
            }
            world
        } else {
            let world = world::generate(&cfg);
            let bytes = serde_json::to_vec_pretty(&world)?;
            crate::store::write_atomic(&state_dir.join("world.json"), &bytes)?;
            world
        };

        // Node ids have gaps, so a typo'd id is likely: refuse it rather than
        // run a demo whose outage silently never happens.
        for fault in &cfg.faults {
            if !world.nodes.iter().any(|n| n.id == fault.node) {
                bail!(
                    "grid.sim.faults: grid node {} does not exist in the simulated world \
                     (its nodes are numbered {} to {}, with gaps)",
                    fault.node,
                    world.nodes.first().map_or(0, |n| n.id),
                    world.nodes.last().map_or(0, |n| n.id),
                );
            }
        }

        let (store, events) = Store::open(state_dir)?;
        let mut state = State::new(world);
        for e in &events {
            state.apply(e);
        }
        let rng = fastrand::Rng::with_seed(cfg.seed ^ 0x9e37_79b9_7f4a_7c15 ^ events.len() as u64);
        tracing::info!(
            dir = %state_dir.display(),
            nodes = state.world.nodes.len(),
            contracts = state.contracts.len(),
            "simulated grid opened"
        );
        Ok(SimGrid {
            journal: store.sync(),
            inner: Arc::new(Mutex::new(Inner { state, store, rng })),
            cfg,
            chain: Arc::new(chain::SimChain::new(Arc::new(crate::clock::SystemClock))),
            links: Arc::default(),
        })
    }

    /// The same grid with its simulated chains on `clock` (the service's,
    /// so tests that move time move the chains too). Call before use:
    /// chains already read are forgotten.
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> SimGrid {
        self.chain = Arc::new(chain::SimChain::new(clock));
        self
    }

    /// The simulated chains, for operators' chain faults.
    pub fn chain(&self) -> &chain::SimChain {
        &self.chain
    }

    /// The simulated network dashboard, for operators' link faults.
    pub fn links(&self) -> &node_status::SimLinks {
        &self.links
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Returns once the event of `ticket` is on disk (see `Inner::record`).
    /// Call it after the lock is released.
    fn durable(&self, ticket: Ticket) -> Result<(), GridError> {
        self.journal.durable(ticket).map_err(storage_error)
    }

    /// Returns once every event recorded so far is on disk, for a reader
    /// whose answer someone may act on (it may have seen an event another
    /// call recorded a moment ago and is still syncing).
    fn settled(&self) -> Result<(), GridError> {
        self.durable(self.journal.latest())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("simulated grid lock poisoned: a panic happened while it was held")
    }

    /// Node churn over `elapsed_hours`: up nodes go down at
    /// `node_down_rate_per_hour`, churned-down nodes come back after about
    /// `mean_downtime_hours`. Operator-set and standby nodes are left alone.
    /// Returns the changes made.
    pub fn tick(&self, elapsed_hours: f64) -> Result<Vec<(GridNodeId, NodeStatus)>, GridError> {
        if !(elapsed_hours.is_finite() && elapsed_hours > 0.0) {
            return Ok(Vec::new());
        }
        let p_down = 1.0 - (-self.cfg.node_down_rate_per_hour * elapsed_hours).exp();
        let p_up = 1.0 - (-elapsed_hours / self.cfg.mean_downtime_hours).exp();
        let mut inner = self.lock();
        let mut changes = Vec::new();
        let mut last = None;
        for i in 0..inner.state.nodes.len() {
            let (status, pinned) = (inner.state.nodes[i].status, inner.state.nodes[i].pinned);
            let to = match status {
                _ if pinned => None,
                NodeStatus::Up if inner.rng.f64() < p_down => Some(NodeStatus::Down),
                NodeStatus::Down if inner.rng.f64() < p_up => Some(NodeStatus::Up),
                _ => None,
            };
            if let Some(status) = to {
                let node = inner.state.world.nodes[i].id;
                last = Some(inner.record(Event::NodeStatus {
                    node,
                    status,
                    pinned: false,
                })?);
                changes.push((GridNodeId(node), status));
            }
        }
        drop(inner);
        if let Some(ticket) = last {
            self.durable(ticket)?;
        }
        Ok(changes)
    }

    /// Runs [`SimGrid::tick`] every `every` and the scheduled faults
    /// (`cfg.faults`, timed from this call) at their minute, forever; spawn
    /// it as a task. A scheduled outage pins the node Down, as
    /// [`SimGrid::set_node_status`] does, then sets it Up. A restart replays
    /// the schedule from the start. The service runs the same steps as a
    /// worker ([`Churn`]).
    pub async fn run_churn(&self, every: Duration) {
        let mut churn = Churn::new(self.clone(), every);
        loop {
            let wake = churn.step();
            tokio::time::sleep_until(wake).await;
        }
    }

    pub fn node(&self, id: GridNodeId) -> Option<GridNode> {
        let inner = self.lock();
        let idx = inner.state.node_idx(id.0)?;
        Some(inner.state.grid_node(idx))
    }

    pub fn node_resources(&self, id: GridNodeId) -> Option<NodeResources> {
        let inner = self.lock();
        let idx = inner.state.node_idx(id.0)?;
        Some(NodeResources {
            total: inner.state.total(idx),
            used: inner.state.nodes[idx].used,
        })
    }

    /// Every node id, in generation order (for operators and tests).
    pub fn node_ids(&self) -> Vec<GridNodeId> {
        let inner = self.lock();
        inner
            .state
            .world
            .nodes
            .iter()
            .map(|n| GridNodeId(n.id))
            .collect()
    }

    pub fn stats(&self) -> SimStats {
        let inner = self.lock();
        let s = &inner.state;
        let mut stats = SimStats {
            farms: s.world.farms.len(),
            twins: s.twin_keys.len(),
            deploys_in_flight: s.pending_count(),
            ipv4_used: s.ips_in_use(),
            ipv4_total: s.world.farms.iter().map(|f| f.public_ips.len()).sum(),
            ..SimStats::default()
        };
        for (i, n) in s.nodes.iter().enumerate() {
            match n.status {
                NodeStatus::Up => stats.nodes_up += 1,
                NodeStatus::Down => stats.nodes_down += 1,
                NodeStatus::Standby => stats.nodes_standby += 1,
            }
            let total = s.total(i);
            stats.total.cpu += total.cpu;
            stats.total.memory_mib += total.memory_mib;
            stats.total.disk_gib += total.disk_gib;
            stats.used.cpu += n.used.cpu;
            stats.used.memory_mib += n.used.memory_mib;
            stats.used.disk_gib += n.used.disk_gib;
        }
        for c in s.contracts.values() {
            if c.deleted {
                stats.contracts_deleted += 1;
            } else {
                stats.contracts_active += 1;
            }
        }
        stats
    }
}

/// The simulated grid's churn and scheduled faults, one step at a time:
/// each step applies what is due and says when the next one is.
pub struct Churn {
    sim: SimGrid,
    schedule: Schedule,
    every: Duration,
    start: tokio::time::Instant,
    next_tick: tokio::time::Instant,
    /// How many of the schedule's changes are applied.
    applied: usize,
}

impl Churn {
    /// Churn every `every`, with the schedule timed from now.
    pub fn new(sim: SimGrid, every: Duration) -> Churn {
        // A zero interval would spin; the churn rate is per hour anyway.
        let every = every.max(Duration::from_millis(1));
        let schedule = Schedule::new(&sim.cfg.faults);
        let start = tokio::time::Instant::now();
        Churn {
            sim,
            schedule,
            every,
            start,
            next_tick: start + every,
            applied: 0,
        }
    }

    /// Ticks the churn if its interval is over, applies the scheduled
    /// changes now due, and returns when the next step is due.
    pub fn step(&mut self) -> tokio::time::Instant {
        if tokio::time::Instant::now() >= self.next_tick {
            self.next_tick += self.every;
            match self.sim.tick(self.every.as_secs_f64() / 3600.0) {
                Ok(changes) if !changes.is_empty() => {
                    tracing::info!(?changes, "simulated grid node churn");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "simulated grid churn failed"),
            }
        }
        let due = self.schedule.due(self.start.elapsed());
        for change in &self.schedule.changes()[self.applied..due] {
            match self.sim.set_node_status(change.node, change.status) {
                Ok(()) => tracing::info!(
                    node = %change.node,
                    status = ?change.status,
                    "simulated grid scheduled fault"
                ),
                Err(e) => tracing::warn!(error = %e, "simulated grid scheduled fault failed"),
            }
        }
        self.applied = due;
        self.schedule
            .at(self.applied)
            .map_or(self.next_tick, |at| self.next_tick.min(self.start + at))
    }
}
