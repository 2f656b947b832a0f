//! Operator fault injection on the simulated grid, and the simulated
//! application probe that reports those faults.
//!
//! Every fault is a journaled event, so a restart sees the same broken grid.
//! The probe reaches no real host (there is none): it answers from the
//! simulation's state what a real probe would find.

use async_trait::async_trait;

use super::SimGrid;
use super::state::{Event, State};
use crate::grid::{ContractId, GridError, GridNodeId, NodeStatus};
use crate::probe::{AppHealth, AppProbe, ProbeTarget};

impl SimGrid {
    /// Forces a node's status. A node set Down or Standby stays so (churn
    /// skips it) until it is set Up again.
    pub fn set_node_status(&self, node: GridNodeId, status: NodeStatus) -> Result<(), GridError> {
        let mut inner = self.lock();
        inner
            .state
            .node_idx(node.0)
            .ok_or(GridError::UnknownNode(node))?;
        let pinned = status != NodeStatus::Up;
        let ticket = inner.record(Event::NodeStatus {
            node: node.0,
            status,
            pinned,
        })?;
        drop(inner);
        self.durable(ticket)
    }

    /// The contract's workload reports `reason`. On a paused contract the
    /// fault is kept and shows once it is resumed: a stopped workload has
    /// nothing to report, but whatever broke it is still broken.
    pub fn fail_workload(&self, contract: ContractId, reason: &str) -> Result<(), GridError> {
        self.record_for(
            contract,
            Event::WorkloadFailed {
                contract: contract.0,
                reason: reason.to_string(),
            },
        )
    }

    /// Undoes [`SimGrid::fail_workload`].
    pub fn restore_workload(&self, contract: ContractId) -> Result<(), GridError> {
        self.record_for(
            contract,
            Event::WorkloadRestored {
                contract: contract.0,
            },
        )
    }

    /// The workload keeps running (the grid reports it Ok) but the
    /// application in it fails its health check with `reason`, as a stuck or
    /// crashed node daemon would.
    pub fn fail_app(&self, contract: ContractId, reason: &str) -> Result<(), GridError> {
        self.record_for(
            contract,
            Event::AppFailed {
                contract: contract.0,
                reason: reason.to_string(),
            },
        )
    }

    /// Undoes [`SimGrid::fail_app`].
    pub fn restore_app(&self, contract: ContractId) -> Result<(), GridError> {
        self.record_for(
            contract,
            Event::AppRestored {
                contract: contract.0,
            },
        )
    }

    /// Records `event` if `contract` exists (deleted or not).
    fn record_for(&self, contract: ContractId, event: Event) -> Result<(), GridError> {
        let mut inner = self.lock();
        if !inner.state.contracts.contains_key(&contract.0) {
            return Err(GridError::UnknownContract(contract));
        }
        let ticket = inner.record(event)?;
        drop(inner);
        self.durable(ticket)
    }

    /// The active (not cancelled) contracts on a grid node, by id: what a
    /// node fault would hit. Paused contracts count; they still hold room.
    pub fn contracts_on(&self, node: GridNodeId) -> Vec<ContractId> {
        let inner = self.lock();
        inner
            .state
            .contracts
            .values()
            .filter(|c| c.node == node.0 && !c.deleted)
            .map(|c| ContractId(c.id))
            .collect()
    }

    /// [`AppProbe::probe`] for many targets under one lock hold, one answer
    /// per target in order.
    pub fn probe_many(&self, targets: &[ProbeTarget]) -> Vec<AppHealth> {
        let inner = self.lock();
        targets
            .iter()
            .map(|t| app_health(&inner.state, t.contract))
            .collect()
    }
}

/// SIMULATION: no host is reached. The application is healthy when its
/// contract is live and running on an up node with neither a workload nor
/// an application fault injected.
#[async_trait]
impl AppProbe for SimGrid {
    async fn probe(&self, target: &ProbeTarget) -> AppHealth {
        app_health(&self.lock().state, target.contract)
    }

    async fn probe_many(&self, targets: &[ProbeTarget], _concurrency: usize) -> Vec<AppHealth> {
        SimGrid::probe_many(self, targets)
    }
}

pub(super) fn app_health(s: &State, contract: ContractId) -> AppHealth {
    let unhealthy = |why: &str| AppHealth::Unhealthy(why.to_string());
    let Some(rec) = s.contracts.get(&contract.0) else {
        return unhealthy("the contract does not exist");
    };
    let node_status = s
        .node_idx(rec.node)
        .map_or(NodeStatus::Down, |i| s.nodes[i].status);
    if rec.deleted {
        unhealthy("the contract was cancelled")
    } else if rec.paused {
        unhealthy("the workload is paused (grace period)")
    } else if node_status == NodeStatus::Standby {
        unhealthy("the grid node is in standby")
    } else if node_status != NodeStatus::Up {
        unhealthy("the grid node is down")
    } else if let Some(reason) = &rec.failure {
        AppHealth::Unhealthy(format!("the workload failed: {reason}"))
    } else if let Some(reason) = &rec.app_failure {
        AppHealth::Unhealthy(reason.clone())
    } else {
        AppHealth::Healthy
    }
}
