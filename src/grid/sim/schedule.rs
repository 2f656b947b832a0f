//! Scheduled node faults (`[grid.sim] faults`), for demos: "take grid node 3
//! down five minutes after start, for ten minutes".
//!
//! The schedule is pure: [`Schedule::new`] turns the configured faults into a
//! sorted list of status changes, merging overlapping faults on one node so a
//! node only comes back up when its last fault is over, and [`Schedule::due`]
//! says which of them are due at a given time since start. `run_churn` owns
//! the clock and applies them.

use std::time::Duration;

use crate::config::ScheduledFault;
use crate::model::{GridNodeId, NodeStatus};

/// One status change the schedule makes, `at` after start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Change {
    pub at: Duration,
    pub node: GridNodeId,
    pub status: NodeStatus,
}

/// The configured faults as status changes, sorted by time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Schedule {
    changes: Vec<Change>,
}

impl Schedule {
    /// Builds the changes of already validated faults. A fault lasting zero
    /// minutes changes nothing; overlapping or touching faults on one node
    /// make one longer outage instead of an up-and-down blip.
    pub fn new(faults: &[ScheduledFault]) -> Schedule {
        let minutes = |m: f64| Duration::from_secs_f64(m * 60.0);
        let mut outages: Vec<(GridNodeId, Duration, Duration)> = faults
            .iter()
            .filter(|f| f.for_minutes > 0.0)
            .map(|f| {
                let from = minutes(f.after_minutes);
                (GridNodeId(f.node), from, from + minutes(f.for_minutes))
            })
            .collect();
        outages.sort();
        let mut changes = Vec::new();
        let mut i = 0;
        while i < outages.len() {
            let (node, from, mut until) = outages[i];
            i += 1;
            while let Some(&(n, f, u)) = outages.get(i)
                && n == node
                && f <= until
            {
                until = until.max(u);
                i += 1;
            }
            changes.push(Change {
                at: from,
                node,
                status: NodeStatus::Down,
            });
            changes.push(Change {
                at: until,
                node,
                status: NodeStatus::Up,
            });
        }
        // Stable: at equal times the per-node order above is kept.
        changes.sort_by_key(|c| c.at);
        Schedule { changes }
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// How many changes are due `elapsed` after start (those at or before
    /// it). The caller applies `changes()[applied..due(elapsed)]`, so each
    /// change is applied exactly once however the wake-ups fall.
    pub fn due(&self, elapsed: Duration) -> usize {
        self.changes.partition_point(|c| c.at <= elapsed)
    }

    /// When the change at `index` is due, if there is one.
    pub fn at(&self, index: usize) -> Option<Duration> {
        self.changes.get(index).map(|c| c.at)
    }
}
