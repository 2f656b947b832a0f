//! The simulated chain: what a simulated node's chain would say if it were
//! real, answered through the same [`ChainProbe`] trait as the real probe
//! so the monitor decides the same way on both.
//!
//! Each chain's network tip starts at the catalog's `sim.tip_height` when
//! the simulation starts and advances one block per `block_seconds`; each
//! node syncs from 0 at `sim.sync_blocks_per_second` from the moment it is
//! first seen (or [`SimChain::start_node`]) until it reaches the tip, then
//! follows it. Everything is computed from the clock, so a test moves time
//! and reads exact heights. Operators inject faults per node: `stall` (the
//! height freezes where it was), `behind` (the node keeps `blocks` behind
//! the tip) and `oldversion` (the client reports a version below the
//! catalog's `min_version`); lifting one resumes normal behaviour.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::catalog::{ChainProbeSpec, ProbeProtocol};
use crate::clock::Clock;
use crate::grid::ContractId;
use crate::lifecycle::chain::ClientVersion;
use crate::probe::evm::EvmStatus;
use crate::probe::{ChainProbe, ChainProbeError, ChainReading, ChainSource, ChainTarget};

/// A fault injected into one simulated node's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainFault {
    /// The height stops where it is.
    Stall,
    /// The node keeps this many blocks behind the tip.
    Behind { blocks: u64 },
    /// The client reports a version the network no longer accepts.
    OldVersion,
}

impl ChainFault {
    /// `stall`, `behind`, `behind 500`, `oldversion` (the operator's words).
    pub fn parse(text: &str, spec: &ChainProbeSpec) -> Result<ChainFault, String> {
        let mut words = text.split_whitespace();
        let fault = match (words.next(), words.next()) {
            (Some("stall"), None) => ChainFault::Stall,
            (Some("oldversion"), None) => ChainFault::OldVersion,
            (Some("behind"), None) => ChainFault::Behind {
                blocks: spec.behind_blocks * 2,
            },
            (Some("behind"), Some(n)) => ChainFault::Behind {
                blocks: n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{n:?} is not a number of blocks"))?,
            },
            _ => {
                return Err(format!(
                    "{text:?}: say stall, behind [blocks] or oldversion"
                ));
            }
        };
        if words.next().is_some() {
            return Err(format!(
                "{text:?}: say stall, behind [blocks] or oldversion"
            ));
        }
        Ok(fault)
    }
}

#[derive(Clone, Debug)]
struct SimNode {
    /// When it started syncing from block 0.
    started: u64,
    /// The fault and when it was injected.
    fault: Option<(ChainFault, u64)>,
}

/// The simulated chains of every simulated node.
pub struct SimChain {
    clock: Arc<dyn Clock>,
    /// When the simulation started: every tip is `tip_height` then.
    genesis: u64,
    nodes: Mutex<HashMap<u64, SimNode>>,
}

/// The version a simulated client reports without a fault: the catalog's
/// minimum (the network accepts it), or 1.0.0 where there is none.
fn current_version(spec: &ChainProbeSpec) -> ClientVersion {
    spec.min_version
        .clone()
        .unwrap_or_else(|| ClientVersion::parse("1.0.0").expect("valid"))
}

/// Synced from 0 at the catalog's rate since `started`, never past `tip`.
fn synced(spec: &ChainProbeSpec, started: u64, at: u64, tip: u64) -> u64 {
    at.saturating_sub(started)
        .saturating_mul(u64::from(spec.sim.sync_blocks_per_second))
        .min(tip)
}

/// Below any minimum a catalog could sensibly name.
fn old_version() -> ClientVersion {
    ClientVersion::parse("0.1.0").expect("valid")
}

impl SimChain {
    pub fn new(clock: Arc<dyn Clock>) -> SimChain {
        let genesis = clock.now();
        SimChain {
            clock,
            genesis,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, SimNode>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The clock's time (unix seconds).
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The network's height at `at`.
    pub fn tip(&self, spec: &ChainProbeSpec, at: u64) -> u64 {
        let blocks = at.saturating_sub(self.genesis) / u64::from(spec.block_seconds.max(1));
        spec.sim.tip_height.saturating_add(blocks)
    }

    /// A (re)deployed node starts syncing from 0 now.
    pub fn start_node(&self, contract: ContractId) {
        let now = self.clock.now();
        self.lock().insert(
            contract.0,
            SimNode {
                started: now,
                fault: None,
            },
        );
    }

    /// A node this process has not seen yet, made at `created` (unix
    /// seconds; 0 when its record predates that field: long synced).
    /// Known nodes keep their start, so a restart of the process does not
    /// make every node sync from 0 again.
    pub fn adopt_node(&self, contract: ContractId, created: u64) {
        self.lock().entry(contract.0).or_insert(SimNode {
            started: created,
            fault: None,
        });
    }

    /// A cancelled contract's chain is gone.
    pub fn forget(&self, contract: ContractId) {
        self.lock().remove(&contract.0);
    }

    /// Injects (`Some`) or lifts (`None`) a fault. A node not yet seen
    /// starts syncing now.
    pub fn set_fault(&self, contract: ContractId, fault: Option<ChainFault>) {
        let now = self.clock.now();
        let mut nodes = self.lock();
        let node = nodes.entry(contract.0).or_insert(SimNode {
            started: now,
            fault: None,
        });
        node.fault = fault.map(|f| (f, now));
    }

    pub fn fault(&self, contract: ContractId) -> Option<ChainFault> {
        self.lock()
            .get(&contract.0)
            .and_then(|n| n.fault.clone().map(|(f, _)| f))
    }

    /// The execution layer's height at `at` (chains with one, `sim.evm_tip_height`).
    pub fn evm_tip(&self, spec: &ChainProbeSpec, at: u64) -> Option<u64> {
        let ProbeProtocol::CometBft(c) = &spec.protocol else {
            return None;
        };
        c.evm.as_ref()?;
        let blocks = at.saturating_sub(self.genesis) / u64::from(spec.block_seconds.max(1));
        Some(spec.sim.evm_tip_height?.saturating_add(blocks))
    }

    /// A node's height on one layer whose tip `tip(at)` gives, under its
    /// fault: the same rules for both layers.
    fn layer_height(
        spec: &ChainProbeSpec,
        node: &SimNode,
        now: u64,
        tip: impl Fn(u64) -> u64,
    ) -> u64 {
        match &node.fault {
            Some((ChainFault::Stall, since)) => synced(spec, node.started, *since, tip(*since)),
            Some((ChainFault::Behind { blocks }, _)) => {
                synced(spec, node.started, now, tip(now)).min(tip(now).saturating_sub(*blocks))
            }
            _ => synced(spec, node.started, now, tip(now)),
        }
    }

    fn node_reading(&self, spec: &ChainProbeSpec, contract: ContractId) -> ChainReading {
        let now = self.clock.now();
        let node = self
            .lock()
            .entry(contract.0)
            .or_insert(SimNode {
                started: now,
                fault: None,
            })
            .clone();
        let version = match &node.fault {
            Some((ChainFault::OldVersion, _)) => old_version(),
            _ => current_version(spec),
        };
        let height = Self::layer_height(spec, &node, now, |at| self.tip(spec, at));
        let mut reading = self.reading(spec, height, now, version);
        if let Some(evm_tip) = self.evm_tip(spec, now) {
            let evm_height = Self::layer_height(spec, &node, now, |at| {
                self.evm_tip(spec, at).unwrap_or(evm_tip)
            });
            let syncing = evm_tip.saturating_sub(evm_height) > spec.in_sync_blocks;
            reading.evm = Some(EvmStatus {
                height: evm_height,
                syncing: syncing.then_some((evm_height, evm_tip)),
            });
        }
        reading
    }

    fn reading(
        &self,
        spec: &ChainProbeSpec,
        height: u64,
        now: u64,
        version: ClientVersion,
    ) -> ChainReading {
        let tip = self.tip(spec, now);
        match &spec.protocol {
            ProbeProtocol::P2p(p2p) => ChainReading {
                height,
                client: format!("/Jukebox simulated node:{version}/"),
                version: Some(version),
                protocol_version: Some(p2p.protocol_version),
                catching_up: None,
                latest_block_time: None,
                evm: None,
            },
            ProbeProtocol::CometBft(_) => ChainReading {
                height,
                client: version.to_string(),
                version: Some(version),
                protocol_version: None,
                catching_up: Some(tip.saturating_sub(height) > spec.in_sync_blocks),
                latest_block_time: Some(now),
                evm: None,
            },
        }
    }
}

#[async_trait]
impl ChainProbe for SimChain {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
        let spec = &target.spec;
        match &target.source {
            ChainSource::Node { contract, .. } => Ok(self.node_reading(spec, *contract)),
            ChainSource::Reference(_) => {
                let now = self.clock.now();
                Ok(self.reading(spec, self.tip(spec, now), now, current_version(spec)))
            }
            ChainSource::EvmReference(_) => {
                let now = self.clock.now();
                self.evm_tip(spec, now)
                    .map(ChainReading::of_evm_reference)
                    .ok_or(ChainProbeError::NoAddress)
            }
        }
    }
}

/// SIMULATION: the grid answers for its contracts' chains. A node whose
/// contract is gone, paused, on a grid node that is down, or whose
/// workload or application failed does not answer, as a real node's P2P
/// port would not; the others answer what their [`SimChain`] says. A
/// contract made before this process started keeps the start its record
/// holds (`created_at`), so a restart does not send every node back to
/// block 0.
#[async_trait]
impl ChainProbe for super::SimGrid {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
        if let ChainSource::Node { contract, .. } = &target.source {
            let created = {
                let inner = self.lock();
                if let crate::probe::AppHealth::Unhealthy(why) =
                    super::faults::app_health(&inner.state, *contract)
                {
                    return Err(ChainProbeError::Unreachable(why));
                }
                inner
                    .state
                    .contracts
                    .get(&contract.0)
                    .map_or(0, |r| r.created_at)
            };
            self.chain().adopt_node(*contract, created);
        }
        self.chain().read_chain(target).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::clock::ManualClock;
    use crate::lifecycle::chain::{
        ChainEvent, ChainObservation, ChainRules, ChainTracker, SyncView,
    };

    fn spec(chain: &str) -> Arc<ChainProbeSpec> {
        let catalog = Catalog::parse(
            "catalog.yaml",
            include_str!("../../../dialogues/catalog.yaml"),
        )
        .unwrap();
        Arc::new(catalog.chain(chain).unwrap().probe.clone().unwrap())
    }

    fn node(chain: &str, contract: u64) -> ChainTarget {
        ChainTarget {
            chain: chain.into(),
            source: ChainSource::Node {
                contract: ContractId(contract),
                hosts: vec![],
                mycelium: None,
            },
            spec: spec(chain),
        }
    }

    fn reference(chain: &str) -> ChainTarget {
        ChainTarget {
            source: ChainSource::Reference("sim".into()),
            ..node(chain, 0)
        }
    }

    #[tokio::test]
    async fn tips_advance_at_each_chains_block_time() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sim = SimChain::new(clock.clone());
        let start: Vec<u64> = {
            let mut v = Vec::new();
            for chain in ["dash", "digibyte", "polygon"] {
                v.push(sim.read_chain(&reference(chain)).await.unwrap().height);
            }
            v
        };
        clock.advance(600);
        for (chain, (before, blocks)) in ["dash", "digibyte", "polygon"]
            .into_iter()
            .zip(start.into_iter().zip([4, 40, 300]))
        {
            let after = sim.read_chain(&reference(chain)).await.unwrap().height;
            assert_eq!(after - before, blocks, "{chain}");
        }
    }

    #[tokio::test]
    async fn a_node_syncs_from_zero_then_follows_the_tip_and_the_rules_agree() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sim = SimChain::new(clock.clone());
        let target = node("dash", 7);
        let spec = spec("dash");
        let rules = ChainRules::from_spec(&spec, 1800, 2);
        let mut tracker = ChainTracker::default();
        let mut events = Vec::new();
        let mut views = Vec::new();
        assert_eq!(sim.read_chain(&target).await.unwrap().height, 0);
        for _ in 0..120 {
            clock.advance(60);
            let reading = sim.read_chain(&target).await.unwrap();
            let tip = sim.read_chain(&reference("dash")).await.unwrap().height;
            let obs = ChainObservation {
                at: clock.now(),
                height: reading.height,
                network_height: Some(tip),
                version: reading.version,
                layers: Vec::new(),
            };
            events.extend(tracker.observe(&obs, &rules));
            views.push(tracker.view(&obs, &rules));
        }
        // 2.6 M blocks at 60 blocks/s: in sync after about 12 hours, not 2.
        assert!(matches!(views[0], SyncView::Syncing { permille: 1, .. }));
        let SyncView::Syncing {
            eta_secs: Some(eta),
            ..
        } = &views[10]
        else {
            panic!("{:?}", views[10]);
        };
        assert!((40_000..48_000).contains(eta), "{eta}");
        assert!(events.is_empty(), "{events:?}");
        clock.advance(12 * 3600);
        for _ in 0..3 {
            clock.advance(60);
            let reading = sim.read_chain(&target).await.unwrap();
            let tip = sim.read_chain(&reference("dash")).await.unwrap().height;
            assert_eq!(reading.height, tip);
            events.extend(tracker.observe(
                &ChainObservation {
                    at: clock.now(),
                    height: reading.height,
                    network_height: Some(tip),
                    version: reading.version,
                    layers: Vec::new(),
                },
                &rules,
            ));
        }
        assert!(
            matches!(events.as_slice(), [ChainEvent::Synced { .. }]),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn faults_stall_lag_and_age_the_client_and_lift() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sim = SimChain::new(clock.clone());
        let target = node("digibyte", 9);
        let spec = spec("digibyte");
        sim.start_node(ContractId(9));
        clock.advance(7 * 86_400);
        let tip = |sim: &SimChain| sim.tip(&spec, clock.now());
        assert_eq!(sim.read_chain(&target).await.unwrap().height, tip(&sim));

        sim.set_fault(ContractId(9), Some(ChainFault::Stall));
        let stuck = sim.read_chain(&target).await.unwrap().height;
        clock.advance(3600);
        assert_eq!(sim.read_chain(&target).await.unwrap().height, stuck);
        assert_eq!(tip(&sim) - stuck, 240);

        sim.set_fault(
            ContractId(9),
            Some(ChainFault::parse("behind 500", &spec).unwrap()),
        );
        assert_eq!(
            sim.read_chain(&target).await.unwrap().height,
            tip(&sim) - 500
        );
        assert_eq!(
            ChainFault::parse("behind", &spec).unwrap(),
            ChainFault::Behind { blocks: 80 }
        );

        sim.set_fault(ContractId(9), Some(ChainFault::OldVersion));
        let old = sim.read_chain(&target).await.unwrap();
        assert!(old.version < spec.min_version);
        assert_eq!(old.client, "/Jukebox simulated node:0.1.0/");
        assert_eq!(ClientVersion::from_user_agent(&old.client), old.version);

        sim.set_fault(ContractId(9), None);
        let fine = sim.read_chain(&target).await.unwrap();
        assert_eq!(fine.height, tip(&sim));
        assert_eq!(fine.version, spec.min_version);
        for bad in ["", "stall now", "behind x", "behind 0", "explode"] {
            assert!(ChainFault::parse(bad, &spec).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_cometbft_node_says_it_is_catching_up_until_it_is_not() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sim = SimChain::new(clock.clone());
        let target = node("polygon", 3);
        clock.advance(60);
        let early = sim.read_chain(&target).await.unwrap();
        assert_eq!(early.catching_up, Some(true));
        clock.advance(2 * 86_400);
        let late = sim.read_chain(&target).await.unwrap();
        assert_eq!(late.catching_up, Some(false));
        sim.forget(ContractId(3));
        // Forgotten, then seen again: a fresh node.
        assert_eq!(sim.read_chain(&target).await.unwrap().height, 0);
    }

    /// A two-layer chain simulates its execution layer beside: syncing
    /// from 0 at the same rate towards its own tip, frozen by a stall.
    #[tokio::test]
    async fn the_execution_layer_syncs_beside() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sim = SimChain::new(clock.clone());
        let spec = spec("polygon");
        let target = node("polygon", 4);
        sim.read_chain(&target).await.unwrap();
        clock.advance(100);
        let reading = sim.read_chain(&target).await.unwrap();
        let evm = reading.evm.expect("the execution layer");
        let evm_tip = spec.sim.evm_tip_height.unwrap() + 50;
        assert_eq!(evm.height, 30_000);
        assert_eq!(evm.syncing, Some((30_000, evm_tip)));
        let reference = ChainTarget {
            source: ChainSource::EvmReference("https://rpc.example".into()),
            ..target.clone()
        };
        assert_eq!(sim.read_chain(&reference).await.unwrap().height, evm_tip);
        sim.set_fault(ContractId(4), Some(ChainFault::Stall));
        clock.advance(100);
        let stalled = sim.read_chain(&target).await.unwrap();
        assert_eq!(stalled.evm.unwrap().height, 30_000);
        assert_eq!(stalled.height, 30_000);
    }
}
