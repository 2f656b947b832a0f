//! `[grid.sim]`: the embedded simulated grid's world, its churn and its
//! scheduled faults, as plain data the simulation (`grid::sim`) reads.

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[grid.sim]` in config.toml. Rates and durations are floats; no money here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seeds the world and the simulation's randomness.
    pub seed: u64,
    pub farms: u32,
    pub nodes_per_farm: u32,
    /// How long a deployment takes before it succeeds or fails.
    pub deploy_seconds: f64,
    /// Probability that a deployment fails on the node (0.0 to 1.0).
    pub deploy_failure_rate: f64,
    /// Per up node and hour, the chance it goes down (applied by `tick`).
    pub node_down_rate_per_hour: f64,
    /// Mean time a churned-down node stays down before `tick` revives it.
    pub mean_downtime_hours: f64,
    /// Public IPv4 addresses per farm (at most 240).
    pub public_ips_per_farm: u32,
    /// Node outages `run_churn` stages, timed from its start (for demos).
    pub faults: Vec<ScheduledFault>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            farms: 24,
            nodes_per_farm: 8,
            deploy_seconds: 3.0,
            deploy_failure_rate: 0.02,
            node_down_rate_per_hour: 0.001,
            mean_downtime_hours: 2.0,
            public_ips_per_farm: 16,
            faults: Vec::new(),
        }
    }
}

/// The longest delay or outage a schedule may name (about 19 years): far
/// beyond any demo, and small enough that every time fits a `Duration`.
const MAX_MINUTES: f64 = 10_000_000.0;

/// One planned outage of a grid node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    /// The grid node to take down.
    pub node: u32,
    /// Minutes after start when it goes down.
    pub after_minutes: f64,
    /// How long it stays down (then it comes back up).
    pub for_minutes: f64,
}

impl ScheduledFault {
    /// Checks the times; whether the node exists is up to the world.
    pub fn validate(&self) -> Result<(), Problem> {
        let ok = |m: f64| m.is_finite() && (0.0..=MAX_MINUTES).contains(&m);
        if !ok(self.after_minutes) || !ok(self.for_minutes) {
            return Err(format!(
                "the fault on grid node {}: after_minutes and for_minutes must be numbers \
                 from 0 to {MAX_MINUTES}",
                self.node
            )
            .into());
        }
        Ok(())
    }
}

/// Values the simulated grid cannot work with.
pub(super) fn validate_sim(sim: &SimConfig) -> Result<(), Problem> {
    let rate = |r: f64| r.is_finite() && (0.0..=1.0).contains(&r);
    if sim.farms == 0 || sim.nodes_per_farm == 0 {
        return Err("farms and nodes_per_farm must be at least 1".into());
    }
    if sim.farms.saturating_mul(sim.nodes_per_farm) > 100_000 {
        return Err("farms x nodes_per_farm must be at most 100000".into());
    }
    if !sim.deploy_seconds.is_finite() || !(0.0..=600.0).contains(&sim.deploy_seconds) {
        return Err("deploy_seconds must be 0 to 600".into());
    }
    if !rate(sim.deploy_failure_rate) || !rate(sim.node_down_rate_per_hour) {
        return Err("rates must be between 0 and 1".into());
    }
    if !sim.mean_downtime_hours.is_finite() || sim.mean_downtime_hours <= 0.0 {
        return Err("mean_downtime_hours must be positive".into());
    }
    if sim.public_ips_per_farm > 240 {
        return Err("public_ips_per_farm must be at most 240".into());
    }
    // Whether each fault's node exists depends on the stored world, so the
    // grid checks that when it opens.
    for fault in &sim.faults {
        fault.validate().map_err(|e| format!("faults: {e}"))?;
    }
    Ok(())
}
