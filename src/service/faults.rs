//! The operators' `/fault`: taking parts of the embedded (simulated) grid
//! down and up, so the monitor, alerts and auto-heal can be watched at work.
//! The command is parsed in the core (`command::Fault`).

use std::sync::Arc;

use super::chain_watch::ChainWatch;
use super::node_status::NodeStatusWatch;
use crate::channel::Outbox;
use crate::command::{Fault, FaultKind, FaultTarget};
use crate::grid::sim::SimGrid;
use crate::grid::{GridError, GridNodeId, NodeStatus};
use crate::ids::UserId;

/// Fault injection on the simulated grid, when it is the grid in use.
pub struct Faults {
    sim: Option<SimGrid>,
    /// `/fault chain ...`: the simulated chains' faults.
    chain_watch: Arc<ChainWatch>,
    /// `/fault link ...`: the simulated network dashboard's faults.
    links: Arc<NodeStatusWatch>,
    outbox: Arc<dyn Outbox>,
}

impl Faults {
    pub fn new(
        sim: Option<SimGrid>,
        chain_watch: Arc<ChainWatch>,
        links: Arc<NodeStatusWatch>,
        outbox: Arc<dyn Outbox>,
    ) -> Faults {
        Faults {
            sim,
            chain_watch,
            links,
            outbox,
        }
    }

    /// `/fault node <id> down|up`, `/fault workload|app <contract> down|up`,
    /// and `/fault chain|link ...` handed to the watches that read them.
    /// The caller checked that `operator` is one.
    pub async fn command(&self, operator: &UserId, arg: Option<&str>) {
        let Some(sim) = &self.sim else {
            self.outbox
                .say(
                    operator,
                    "Fault injection only exists on the embedded simulated grid.",
                )
                .await;
            return;
        };
        let words: Vec<&str> = arg.unwrap_or("").split_whitespace().collect();
        if let [first, rest @ ..] = words.as_slice() {
            let reply = match FaultKind::from_word(first) {
                Some(FaultKind::Chain) => Some(self.chain_watch.fault(operator, rest)),
                Some(FaultKind::Link) => Some(self.links.fault(operator, rest)),
                _ => None,
            };
            if let Some(reply) = reply {
                return self.outbox.say(operator, reply).await;
            }
        }
        let fault = match Fault::parse(arg) {
            Ok(fault) => fault,
            Err(usage) => return self.outbox.say(operator, usage.to_string()).await,
        };
        const WHY: &str = "fault injected by an operator";
        let result = match (fault.target, fault.down) {
            (FaultTarget::Node(number), down) => match u32::try_from(number) {
                Ok(n) => sim.set_node_status(
                    GridNodeId(n),
                    if down {
                        NodeStatus::Down
                    } else {
                        NodeStatus::Up
                    },
                ),
                Err(_) => Err(GridError::UnknownNode(GridNodeId(u32::MAX))),
            },
            (FaultTarget::Workload(contract), true) => sim.fail_workload(contract, WHY),
            (FaultTarget::Workload(contract), false) => sim.restore_workload(contract),
            (FaultTarget::App(contract), true) => sim.fail_app(contract, WHY),
            (FaultTarget::App(contract), false) => sim.restore_app(contract),
        };
        let ((target, number), direction) = (fault.describe(), fault.direction());
        match result {
            Ok(()) => {
                tracing::warn!(operator = %operator, target, id = number, direction, "fault injected on the simulated grid");
                self.outbox
                    .say(
                        operator,
                        format!("Done: {target} {number} is {direction} on the simulated grid."),
                    )
                    .await;
            }
            Err(e) => {
                self.outbox
                    .say(operator, format!("Could not do that: {e}."))
                    .await
            }
        }
    }
}
