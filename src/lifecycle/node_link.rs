//! A node's link to its network as the network's dashboard reports it
//! (the catalog's `node_status:`, read with the user's API key): what the
//! node record keeps, and the rule that confirms a disconnection over
//! several checks and tells it once per episode, like outages.
//!
//! Pure: the monitor (`service::node_status`) feeds readings with the time
//! passed in. A node the dashboard does not list is no evidence either way
//! (a new node registers within minutes; one gone for a day drops off the
//! list): only a listed node's `connected` counts.

use serde::{Deserialize, Serialize};

use crate::model::ContractId;

/// What the record keeps: the confirmed episode and the latest reading, for
/// the node's current contract (a redeployed node starts afresh).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeLink {
    pub contract: ContractId,
    /// Confirmed disconnected since (the first check that saw it).
    #[serde(default)]
    pub down_since: Option<u64>,
    #[serde(default)]
    pub last: Option<LinkSnapshot>,
    /// Why the latest read failed, when it did (the reading before stands).
    #[serde(default)]
    pub unreadable: Option<String>,
}

/// One reading of the node on its dashboard.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkSnapshot {
    pub at: u64,
    /// Whether the dashboard lists the node at all.
    pub listed: bool,
    pub connected: bool,
    pub blocked: bool,
    /// In its current state since (the dashboard's own figure).
    #[serde(default)]
    pub since: Option<u64>,
    #[serde(default)]
    pub version: Option<String>,
    /// Uptime over the dashboard's period, in tenths of a percent.
    #[serde(default)]
    pub uptime_permille: Option<u32>,
    /// The dashboard's average reliability score, in tenths.
    #[serde(default)]
    pub reliability_tenths: Option<u32>,
}

/// A confirmed change, told once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    Disconnected { since: u64 },
    Reconnected { since: u64, after: u64 },
}

/// The monitor's memory of one node between checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkTracker {
    pub down_since: Option<u64>,
    streak: u32,
    streak_started: u64,
}

impl LinkTracker {
    /// Starts from the record (a restart neither forgets nor repeats).
    pub fn new(down_since: Option<u64>) -> LinkTracker {
        LinkTracker {
            down_since,
            ..LinkTracker::default()
        }
    }

    /// Feeds one reading: `Some(connected)` for a listed node, `None` when
    /// the dashboard does not list it (no evidence). A change is confirmed
    /// after `confirmations` checks in a row (at least 1) disagree.
    pub fn observe(
        &mut self,
        connected: Option<bool>,
        now: u64,
        confirmations: u32,
    ) -> Option<LinkEvent> {
        let connected = connected?;
        if connected == self.down_since.is_none() {
            self.streak = 0;
            return None;
        }
        if self.streak == 0 {
            self.streak_started = now;
        }
        self.streak += 1;
        if self.streak < confirmations.max(1) {
            return None;
        }
        self.streak = 0;
        match self.down_since.take() {
            None => {
                self.down_since = Some(self.streak_started);
                Some(LinkEvent::Disconnected {
                    since: self.streak_started,
                })
            }
            Some(since) => Some(LinkEvent::Reconnected {
                since,
                after: self.streak_started.saturating_sub(since),
            }),
        }
    }
}

/// A percentage or score as tenths (`99.94` → 999), for a record that
/// compares exactly; `None` for nothing sensible.
pub fn tenths(value: f64) -> Option<u32> {
    (value.is_finite() && (0.0..=1e6).contains(&value)).then(|| (value * 10.0).round() as u32)
}

/// Tenths as "99.9".
pub fn show_tenths(t: u32) -> String {
    if t.is_multiple_of(10) {
        (t / 10).to_string()
    } else {
        format!("{}.{}", t / 10, t % 10)
    }
}

impl NodeLink {
    /// A fresh record for `contract`, nothing read yet.
    pub fn new(contract: ContractId) -> NodeLink {
        NodeLink {
            contract,
            down_since: None,
            last: None,
            unreadable: None,
        }
    }

    /// Whether `new` is worth a write over `self`: a confirmed change, a
    /// connection flip, new statistics or version, a read error appearing or
    /// going, or a reading `refresh_secs` old.
    pub fn needs_write(&self, new: &NodeLink, refresh_secs: u64) -> bool {
        if self.contract != new.contract
            || self.down_since != new.down_since
            || self.unreadable != new.unreadable
        {
            return true;
        }
        match (&self.last, &new.last) {
            (Some(a), Some(b)) => {
                a.listed != b.listed
                    || a.connected != b.connected
                    || a.blocked != b.blocked
                    || a.version != b.version
                    || a.uptime_permille != b.uptime_permille
                    || a.reliability_tenths != b.reliability_tenths
                    || b.at.saturating_sub(a.at) >= refresh_secs
            }
            (None, None) => false,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disconnection_is_confirmed_then_told_once_and_its_end_too() {
        let mut t = LinkTracker::default();
        assert_eq!(t.observe(Some(false), 60, 3), None);
        assert_eq!(t.observe(Some(false), 120, 3), None);
        assert_eq!(
            t.observe(Some(false), 180, 3),
            Some(LinkEvent::Disconnected { since: 60 })
        );
        // Still down: nothing more.
        for at in [240, 300, 360, 420] {
            assert_eq!(t.observe(Some(false), at, 3), None);
        }
        assert_eq!(t.observe(Some(true), 480, 3), None);
        assert_eq!(t.observe(Some(true), 540, 3), None);
        assert_eq!(
            t.observe(Some(true), 600, 3),
            Some(LinkEvent::Reconnected {
                since: 60,
                after: 420
            })
        );
        assert_eq!(t.down_since, None);
    }

    #[test]
    fn no_flapping_and_unlisted_is_no_evidence() {
        let mut t = LinkTracker::default();
        // Down, up, down, down: never three in a row.
        for (at, c) in [
            (60, false),
            (120, true),
            (180, false),
            (240, false),
            (300, true),
        ] {
            assert_eq!(t.observe(Some(c), at, 3), None, "{at}");
        }
        // Not listed neither confirms nor breaks a streak.
        assert_eq!(t.observe(Some(false), 360, 3), None);
        assert_eq!(t.observe(None, 420, 3), None);
        assert_eq!(t.observe(Some(false), 480, 3), None);
        assert_eq!(
            t.observe(Some(false), 540, 3),
            Some(LinkEvent::Disconnected { since: 360 })
        );
        // A restart from the record does not tell it again.
        let mut again = LinkTracker::new(Some(360));
        assert_eq!(again.observe(Some(false), 600, 3), None);
    }

    #[test]
    fn tenths_and_writes() {
        assert_eq!(tenths(99.94), Some(999));
        assert_eq!(tenths(f64::NAN), None);
        assert_eq!(tenths(-1.0), None);
        assert_eq!(show_tenths(990), "99");
        assert_eq!(show_tenths(999), "99.9");
        let snap = |at, connected| LinkSnapshot {
            at,
            listed: true,
            connected,
            ..LinkSnapshot::default()
        };
        let old = NodeLink {
            last: Some(snap(0, true)),
            ..NodeLink::new(ContractId(1))
        };
        let same = NodeLink {
            last: Some(snap(60, true)),
            ..old.clone()
        };
        assert!(!old.needs_write(&same, 3600));
        let flipped = NodeLink {
            last: Some(snap(60, false)),
            ..old.clone()
        };
        assert!(old.needs_write(&flipped, 3600));
        let stale = NodeLink {
            last: Some(snap(3600, true)),
            ..old.clone()
        };
        assert!(old.needs_write(&stale, 3600));
    }
}
