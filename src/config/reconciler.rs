//! The `[reconciler]` section: how often the grid's contracts are compared
//! with the node records, and how long an unreferenced contract is left
//! alone before it is cancelled (see `docs/reconciler.md`).

use super::Problem;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcilerConfig {
    /// A pass runs at start and then once per interval.
    pub interval_minutes: u64,
    /// An orphan (a contract of one of Jukebox's twins that no node record
    /// references) is cancelled only once it has been one for this long.
    pub orphan_delay_minutes: u64,
}

impl Default for ReconcilerConfig {
    fn default() -> ReconcilerConfig {
        ReconcilerConfig {
            interval_minutes: 15,
            orphan_delay_minutes: 60,
        }
    }
}

impl ReconcilerConfig {
    pub fn validate(&self) -> Result<(), Problem> {
        if !(1..=1440).contains(&self.interval_minutes) {
            return Err("interval_minutes must be 1 to 1440".into());
        }
        // Shorter than a slow deploy's round trip would race work in flight.
        if !(10..=10_080).contains(&self.orphan_delay_minutes) {
            return Err("orphan_delay_minutes must be 10 to 10080 (a week)".into());
        }
        Ok(())
    }
}
