//! The `[billing]`, `[monitor]`, `[alerts]` and `[admin]` sections: how
//! nodes are watched, charged, reminded about and who may operate Jukebox.

use super::Problem;
use serde::Deserialize;

use crate::ids::UserId;
use crate::lifecycle::FundingRules;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    pub interval_minutes: u64,
    /// Runway (hours of balance left) at which a reminder goes out.
    pub reminder_hours: Vec<u64>,
    /// Paused nodes are kept this long once the balance ran out.
    pub grace_days: u64,
}

impl Default for BillingConfig {
    fn default() -> BillingConfig {
        BillingConfig {
            interval_minutes: 60,
            reminder_hours: vec![168, 72, 24, 6],
            grace_days: 14,
        }
    }
}

impl BillingConfig {
    pub fn rules(&self) -> FundingRules {
        FundingRules {
            reminder_thresholds: self.reminder_hours.iter().map(|h| h * 3600).collect(),
            grace_secs: self.grace_days * 86_400,
            grace_reminder_secs: 86_400,
        }
    }

    pub fn validate(&self) -> Result<(), Problem> {
        if !(1..=24 * 60).contains(&self.interval_minutes) {
            return Err("interval_minutes must be 1 to 1440".into());
        }
        if self.reminder_hours.len() > 10
            || self.reminder_hours.iter().any(|h| *h == 0 || *h > 24 * 90)
        {
            return Err("reminder_hours takes at most 10 values of 1 to 2160 hours".into());
        }
        if !(1..=90).contains(&self.grace_days) {
            return Err("grace_days must be 1 to 90".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Every running node is checked once per interval.
    pub interval_seconds: u64,
    /// Checks in a row that must agree before a node counts as down or back.
    pub confirmations: u32,
    /// Contracts asked about per grid request.
    pub batch_size: usize,
    /// Application checks (the catalog's tcp/http health) running at once.
    pub probe_concurrency: usize,
    pub probe_timeout_seconds: u64,
    /// A grid node a node failed on is avoided by redeploys for this long.
    pub avoid_failed_hours: u64,
    /// A node behind the network whose height has not moved for this long
    /// "stopped syncing" (docs/chain-health.md).
    pub chain_stall_minutes: u64,
    /// Chain checks in a row that must agree before a chain alert (stopped
    /// syncing, fell behind, back in sync, client too old).
    pub chain_confirmations: u32,
    /// Chain reads (P2P handshakes, CometBFT `/status`) running at once.
    pub chain_probe_concurrency: usize,
    /// Each chain read (connect and exchange) gives up after this long.
    pub chain_probe_timeout_seconds: u64,
    /// A sweep starts no chain read after this long; the nodes not reached
    /// are read first next sweep (docs/chain-health.md, "Cost").
    pub chain_sweep_budget_seconds: u64,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            interval_seconds: 60,
            confirmations: 2,
            batch_size: 1000,
            probe_concurrency: 256,
            probe_timeout_seconds: 5,
            avoid_failed_hours: 24,
            chain_stall_minutes: 30,
            chain_confirmations: 3,
            chain_probe_concurrency: 128,
            chain_probe_timeout_seconds: 10,
            chain_sweep_budget_seconds: 30,
        }
    }
}

impl MonitorConfig {
    pub fn validate(&self) -> Result<(), Problem> {
        if !(5..=3600).contains(&self.interval_seconds) {
            return Err("interval_seconds must be 5 to 3600".into());
        }
        if !(1..=10).contains(&self.confirmations) {
            return Err("confirmations must be 1 to 10".into());
        }
        if !(1..=100_000).contains(&self.batch_size)
            || !(1..=10_000).contains(&self.probe_concurrency)
        {
            return Err("batch_size must be 1 to 100000 and probe_concurrency 1 to 10000".into());
        }
        if !(1..=60).contains(&self.probe_timeout_seconds) {
            return Err("probe_timeout_seconds must be 1 to 60".into());
        }
        if !(5..=1440).contains(&self.chain_stall_minutes) {
            return Err("chain_stall_minutes must be 5 to 1440".into());
        }
        if !(1..=10).contains(&self.chain_confirmations) {
            return Err("chain_confirmations must be 1 to 10".into());
        }
        if !(1..=10_000).contains(&self.chain_probe_concurrency) {
            return Err("chain_probe_concurrency must be 1 to 10000".into());
        }
        if !(1..=60).contains(&self.chain_probe_timeout_seconds) {
            return Err("chain_probe_timeout_seconds must be 1 to 60".into());
        }
        if !(1..=3600).contains(&self.chain_sweep_budget_seconds) {
            return Err("chain_sweep_budget_seconds must be 1 to 3600".into());
        }
        Ok(())
    }
}

/// How fast alerts go out; below Telegram's limits, leaving room for replies.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub global_per_second: f64,
    pub global_burst: f64,
    pub per_user_per_second: f64,
    pub per_user_burst: f64,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            global_per_second: 20.0,
            global_burst: 20.0,
            per_user_per_second: 0.5,
            per_user_burst: 3.0,
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), Problem> {
        let ok = |v: f64, max: f64| v.is_finite() && v > 0.0 && v <= max;
        if !ok(self.global_per_second, 30.0) || !ok(self.per_user_per_second, 1.0) {
            return Err("global_per_second must be above 0 and at most 30 (Telegram's limit), per_user_per_second at most 1".into());
        }
        if !ok(self.global_burst, 30.0) || !ok(self.per_user_burst, 5.0) {
            return Err("global_burst must be 1 to 30 and per_user_burst 1 to 5".into());
        }
        if self.global_burst < 1.0 || self.per_user_burst < 1.0 {
            return Err("bursts must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// User ids allowed to run operator commands, e.g. "tg:123456" or
    /// "term:alice". Everyone else gets the ordinary "unknown command".
    pub operators: Vec<String>,
}

impl AdminConfig {
    pub fn operator_ids(&self) -> Result<Vec<UserId>, Problem> {
        self.operators
            .iter()
            .map(|o| UserId::parse(o).map_err(|e| Problem::from(format!("operators: {o:?}: {e}"))))
            .collect()
    }
}
