//! SIMULATION: the network dashboard of nodes that report there (the
//! catalog's `node_status:`), answered through the same
//! [`NodeStatusProbe`] as the real dashboard, so the monitor decides the
//! same way on both.
//!
//! The simulated dashboard lists each node the request names at its first
//! address: connected while its contract runs and its application is
//! healthy, disconnected otherwise or while an operator's fault
//! (`/fault link <node> down`) holds. Any key is accepted (the simulation
//! has no accounts); statistics are whole: 100% uptime and reliability
//! while connected. The dashboard's own key for each node is `sim-<contract>`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::grid::ContractId;
use crate::probe::AppHealth;
use crate::probe::NodeStatusProbe;
use crate::probe::node_status::{DashboardNode, NodeStats, NodeStatusError, StatusRequest};

/// The operators' faults: contracts the dashboard shows disconnected.
#[derive(Default)]
pub struct SimLinks {
    down: Mutex<HashSet<ContractId>>,
}

impl SimLinks {
    /// Shows `contract` disconnected (`true`) or lifts that.
    pub fn set_down(&self, contract: ContractId, down: bool) {
        let mut set = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if down {
            set.insert(contract);
        } else {
            set.remove(&contract);
        }
    }

    fn is_down(&self, contract: ContractId) -> bool {
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&contract)
    }
}

#[async_trait]
impl NodeStatusProbe for super::SimGrid {
    async fn read(
        &self,
        request: &StatusRequest,
    ) -> Result<BTreeMap<String, DashboardNode>, NodeStatusError> {
        let inner = self.lock();
        Ok(request
            .nodes
            .iter()
            .map(|(contract, hosts)| {
                let healthy = matches!(
                    super::faults::app_health(&inner.state, *contract),
                    AppHealth::Healthy
                );
                let connected = healthy && !self.links.is_down(*contract);
                let node = DashboardNode {
                    remote_addr: hosts.first().cloned(),
                    version: Some("sim".into()),
                    connected,
                    blocked: false,
                    since: None,
                    stats: request.stats.then_some(NodeStats {
                        uptime_percent: Some(if connected { 100.0 } else { 0.0 }),
                        reliability_score: Some(if connected { 100.0 } else { 0.0 }),
                    }),
                };
                (format!("sim-{}", contract.0), node)
            })
            .collect())
    }
}
