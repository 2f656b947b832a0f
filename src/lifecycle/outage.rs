//! Outage detection: a node is declared down (or back) only when the same
//! verdict is seen `confirmations` times in a row, so a blip between two
//! checks never alerts anyone.

use serde::{Deserialize, Serialize};

use crate::model::grid::{ContractInfo, ContractState, GridError, NodeStatus, WorkloadState};

/// What one monitor check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    Healthy,
    /// Why it is not, in words for the owner ("grid node 12 is down").
    Unhealthy(String),
}

/// What the grid alone says about a node, before the application check:
/// the monitor probes only nodes the grid finds fine, and a grid that
/// could not answer gives no verdict (and so no alert).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GridVerdict {
    /// Fine on the grid; the application check decides.
    Fine,
    Bad(String),
    Unknown,
}

pub fn grid_verdict(answer: Result<ContractInfo, GridError>) -> GridVerdict {
    let info = match answer {
        Ok(info) => info,
        Err(GridError::UnknownContract(c)) => {
            return GridVerdict::Bad(format!("its contract {c} is gone from the grid"));
        }
        Err(_) => return GridVerdict::Unknown,
    };
    match (info.node_status, &info.state, &info.workload) {
        (NodeStatus::Down | NodeStatus::Standby, _, _) => {
            GridVerdict::Bad(format!("grid node {} is down", info.node))
        }
        (_, ContractState::Deleted, _) | (_, _, WorkloadState::Deleted) => {
            GridVerdict::Bad("its deployment was deleted on the grid".into())
        }
        (_, ContractState::GracePeriod, _) | (_, _, WorkloadState::Paused) => {
            GridVerdict::Bad("the grid paused it".into())
        }
        (_, _, WorkloadState::Error(e)) => GridVerdict::Bad(format!("its workload failed ({e})")),
        (_, _, WorkloadState::Init) => GridVerdict::Bad("its workload is not running".into()),
        (NodeStatus::Up, ContractState::Created, WorkloadState::Ok) => GridVerdict::Fine,
    }
}

/// A confirmed outage, kept in the node's record so a restart remembers it
/// (and the recovery message still knows how long it lasted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// When the first failing check of this outage ran (unix seconds).
    pub since: u64,
    pub reason: String,
}

/// A confirmed change, for the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    WentDown(Outage),
    /// `down_for` runs from the first failing check to the first passing one.
    CameBack {
        outage: Outage,
        down_for: u64,
    },
}

/// The monitor's memory of one node between checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    /// The confirmed state: `Some` while the node is down.
    pub outage: Option<Outage>,
    /// Consecutive checks that disagree with the confirmed state, and the
    /// first of them (time, and the reason when it says "down").
    streak: u32,
    streak_started: u64,
    streak_reason: String,
}

impl Tracker {
    /// Starts from what the node's record says (a restart keeps outages).
    pub fn new(outage: Option<Outage>) -> Tracker {
        Tracker {
            outage,
            ..Tracker::default()
        }
    }

    /// Feeds one check. Returns a transition when `confirmations` checks in a
    /// row (at least 1) disagree with the confirmed state.
    pub fn observe(
        &mut self,
        observation: Observation,
        now: u64,
        confirmations: u32,
    ) -> Option<Transition> {
        let agrees = matches!(
            (&self.outage, &observation),
            (None, Observation::Healthy) | (Some(_), Observation::Unhealthy(_))
        );
        if agrees {
            self.streak = 0;
            return None;
        }
        if self.streak == 0 {
            self.streak_started = now;
            self.streak_reason = match &observation {
                Observation::Unhealthy(why) => why.clone(),
                Observation::Healthy => String::new(),
            };
        }
        self.streak += 1;
        if self.streak < confirmations.max(1) {
            return None;
        }
        self.streak = 0;
        match self.outage.take() {
            None => {
                let outage = Outage {
                    since: self.streak_started,
                    reason: std::mem::take(&mut self.streak_reason),
                };
                self.outage = Some(outage.clone());
                Some(Transition::WentDown(outage))
            }
            Some(outage) => {
                let down_for = self.streak_started.saturating_sub(outage.since);
                Some(Transition::CameBack { outage, down_for })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(why: &str) -> Observation {
        Observation::Unhealthy(why.into())
    }

    #[test]
    fn a_blip_under_the_confirmation_window_says_nothing() {
        let mut t = Tracker::new(None);
        assert_eq!(t.observe(down("node down"), 100, 2), None);
        assert_eq!(t.observe(Observation::Healthy, 160, 2), None);
        assert_eq!(t.observe(down("node down"), 220, 2), None);
        assert_eq!(t.observe(Observation::Healthy, 280, 2), None);
        assert_eq!(t.outage, None);
    }

    #[test]
    fn an_outage_is_confirmed_then_recovery_measures_from_first_to_first() {
        let mut t = Tracker::new(None);
        assert_eq!(t.observe(down("grid node 7 is down"), 100, 2), None);
        let went = t.observe(down("still"), 160, 2);
        let outage = Outage {
            since: 100,
            reason: "grid node 7 is down".into(),
        };
        assert_eq!(went, Some(Transition::WentDown(outage.clone())));
        // Staying down says nothing more.
        assert_eq!(t.observe(down("x"), 220, 2), None);
        // One good check is not enough; a bad one resets the count.
        assert_eq!(t.observe(Observation::Healthy, 280, 2), None);
        assert_eq!(t.observe(down("x"), 340, 2), None);
        assert_eq!(t.observe(Observation::Healthy, 400, 2), None);
        assert_eq!(
            t.observe(Observation::Healthy, 460, 2),
            Some(Transition::CameBack {
                outage,
                down_for: 300
            })
        );
        assert_eq!(t.outage, None);
    }

    #[test]
    fn a_restart_keeps_the_outage_and_one_confirmation_acts_at_once() {
        let mut t = Tracker::new(Some(Outage {
            since: 10,
            reason: "r".into(),
        }));
        assert_eq!(t.observe(down("r"), 20, 1), None);
        assert!(matches!(
            t.observe(Observation::Healthy, 70, 1),
            Some(Transition::CameBack { down_for: 60, .. })
        ));
        assert!(matches!(
            t.observe(down("again"), 80, 0),
            Some(Transition::WentDown(Outage { since: 80, .. }))
        ));
    }

    fn info(state: ContractState, workload: WorkloadState, status: NodeStatus) -> ContractInfo {
        ContractInfo {
            contract: crate::model::grid::ContractId(5),
            node: crate::model::grid::GridNodeId(12),
            state,
            workload,
            node_status: status,
        }
    }

    #[test]
    fn the_grid_verdict_names_what_is_wrong_and_gives_none_when_unsure() {
        use ContractState as C;
        use NodeStatus as N;
        use WorkloadState as W;
        let verdict = |s, w, n| grid_verdict(Ok(info(s, w, n)));
        assert_eq!(verdict(C::Created, W::Ok, N::Up), GridVerdict::Fine);
        let bad = |why: &str| GridVerdict::Bad(why.to_owned());
        // A node that is down outweighs everything the contract says.
        assert_eq!(
            verdict(C::Deleted, W::Ok, N::Down),
            bad("grid node 12 is down")
        );
        assert_eq!(
            verdict(C::Created, W::Ok, N::Standby),
            bad("grid node 12 is down")
        );
        assert_eq!(
            verdict(C::Deleted, W::Ok, N::Up),
            bad("its deployment was deleted on the grid")
        );
        assert_eq!(
            verdict(C::Created, W::Deleted, N::Up),
            bad("its deployment was deleted on the grid")
        );
        assert_eq!(
            verdict(C::GracePeriod, W::Ok, N::Up),
            bad("the grid paused it")
        );
        assert_eq!(
            verdict(C::Created, W::Paused, N::Up),
            bad("the grid paused it")
        );
        assert_eq!(
            verdict(C::Created, W::Error("no disk".into()), N::Up),
            bad("its workload failed (no disk)")
        );
        assert_eq!(
            verdict(C::Created, W::Init, N::Up),
            bad("its workload is not running")
        );
        assert_eq!(
            grid_verdict(Err(GridError::UnknownContract(
                crate::model::grid::ContractId(5)
            ))),
            bad("its contract 5 is gone from the grid")
        );
        // Unreachable is no verdict: no alert from a grid that did not answer.
        assert_eq!(
            grid_verdict(Err(GridError::Unavailable("timeout".into()))),
            GridVerdict::Unknown
        );
    }
}
