//! The Zero-OS node's deployment commands over RMB, typed: `deploy`, `get`,
//! `changes` (`tfgrid-v3.md`, "Talking to the node"), and the workload
//! results a node reports.
//!
//! There is no `delete`: current Zero-OS answers `zos.deployment.delete`
//! with an error whatever it is asked ("deletion over the api is disabled,
//! please cancel your contract instead", `deploymentDeleteHandler` in
//! threefoldtech/zosbase `pkg/zos_api/deployment.go`). Cancelling the
//! contract on TFChain is what makes the node remove the workloads.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Remote, RmbError, RmbPeer};
use crate::reservation::Deployment;

pub const DEPLOY: &str = "zos.deployment.deploy";
pub const GET: &str = "zos.deployment.get";
pub const CHANGES: &str = "zos.deployment.changes";

/// The body of `get` and `changes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractArg {
    pub contract_id: u64,
}

/// A workload's state as zos reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultState {
    /// Not reported yet (zos leaves the result empty at first).
    #[default]
    #[serde(rename = "")]
    Pending,
    Init,
    Unchanged,
    Error,
    Ok,
    Deleted,
    Paused,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadResult {
    pub created: i64,
    pub state: ResultState,
    pub message: String,
    /// Type-specific: zmachine `{id, ip, planetary_ip, mycelium_ip,
    /// console_url}`, ip `{ip, ip6, gateway}`.
    pub data: serde_json::Value,
}

/// One workload of a deployment as the node returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeWorkload {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub result: WorkloadResult,
}

/// A deployment as the node holds it; only what Jukebox reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDeployment {
    pub contract_id: u64,
    #[serde(default)]
    pub workloads: Vec<NodeWorkload>,
}

/// Where a deployment stands, from its workloads' results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Some workload has not reached a final state yet.
    Pending,
    /// Every workload is ok.
    Ready,
    /// This workload failed, with the node's message.
    Failed { workload: String, message: String },
}

/// How a deployment's progress reads in errors: a failure as
/// `workload: message`, in the node's own words.
impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Pending => f.write_str("pending"),
            Progress::Ready => f.write_str("ready"),
            Progress::Failed { workload, message } => write!(f, "{workload}: {message}"),
        }
    }
}

/// The addresses a ready deployment got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub mycelium: Option<String>,
    pub planetary: Option<String>,
}

impl NodeDeployment {
    pub fn progress(&self) -> Progress {
        if let Some(failed) = self
            .workloads
            .iter()
            .find(|w| matches!(w.result.state, ResultState::Error | ResultState::Deleted))
        {
            return Progress::Failed {
                workload: failed.name.clone(),
                message: failed.result.message.clone(),
            };
        }
        let ready = !self.workloads.is_empty()
            && self
                .workloads
                .iter()
                .all(|w| matches!(w.result.state, ResultState::Ok | ResultState::Unchanged));
        if ready {
            Progress::Ready
        } else {
            Progress::Pending
        }
    }

    /// What the zmachine and ip workloads report; absent fields stay `None`.
    pub fn addresses(&self) -> Addresses {
        let text = |w: &NodeWorkload, key: &str| {
            w.result
                .data
                .get(key)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut found = Addresses::default();
        for w in &self.workloads {
            match w.kind.as_str() {
                "zmachine" => {
                    found.mycelium = text(w, "mycelium_ip");
                    found.planetary = text(w, "planetary_ip");
                }
                "ip" => {
                    found.ipv4 = text(w, "ip");
                    found.ipv6 = text(w, "ip6");
                }
                _ => {}
            }
        }
        found
    }
}

/// A Zero-OS node reached through `peer`.
pub struct ZosNode<'a> {
    pub peer: &'a RmbPeer,
    pub node: Remote,
}

impl ZosNode<'_> {
    /// Hands the signed deployment (its `contract_id` set) to the node.
    pub async fn deploy(&self, deployment: &Deployment) -> Result<(), RmbError> {
        self.send(DEPLOY, body(deployment)?).await.map(|_| ())
    }

    pub async fn get(&self, contract_id: u64) -> Result<NodeDeployment, RmbError> {
        let reply = self.send(GET, body(&ContractArg { contract_id })?).await?;
        parse(&reply)
    }

    /// Every state change of every workload, oldest first.
    pub async fn changes(&self, contract_id: u64) -> Result<Vec<NodeWorkload>, RmbError> {
        let reply = self
            .send(CHANGES, body(&ContractArg { contract_id })?)
            .await?;
        parse(&reply)
    }

    async fn send(&self, command: &str, body: Vec<u8>) -> Result<Vec<u8>, RmbError> {
        self.peer.call(&self.node, command, body).await
    }
}

fn body(value: &impl Serialize) -> Result<Vec<u8>, RmbError> {
    serde_json::to_vec(value).map_err(|e| RmbError::Malformed(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(reply: &[u8]) -> Result<T, RmbError> {
    serde_json::from_slice(reply).map_err(|e| RmbError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(states: &[(&str, &str, &str)]) -> NodeDeployment {
        let workloads: Vec<serde_json::Value> = states
            .iter()
            .map(|(name, kind, state)| {
                serde_json::json!({"version": 0, "name": name, "type": kind,
                    "data": {}, "result": {"created": 1716200000, "state": state,
                    "message": if *state == "error" { "no space left" } else { "" },
                    "data": {"ip": "185.206.122.40/24", "ip6": "2a10::40/64",
                             "mycelium_ip": "5a1:7b2::1", "planetary_ip": ""}}})
            })
            .collect();
        let json = serde_json::json!({"version": 0, "twin_id": 42, "contract_id": 9,
                                      "workloads": workloads});
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn progress_follows_the_workloads() {
        let d = deployment(&[("net", "network", "ok"), ("vm", "zmachine", "init")]);
        assert_eq!(d.progress(), Progress::Pending);
        let d = deployment(&[("net", "network", "ok"), ("vm", "zmachine", "ok")]);
        assert_eq!(d.progress(), Progress::Ready);
        let d = deployment(&[("disk", "zmount", "error"), ("vm", "zmachine", "init")]);
        assert_eq!(
            d.progress(),
            Progress::Failed {
                workload: "disk".into(),
                message: "no space left".into()
            }
        );
        assert_eq!(deployment(&[]).progress(), Progress::Pending);
        let unreported: NodeDeployment = serde_json::from_str(
            r#"{"contract_id":9,"workloads":[{"name":"vm","type":"zmachine","result":{"state":""}}]}"#,
        )
        .unwrap();
        assert_eq!(unreported.progress(), Progress::Pending);
    }

    #[test]
    fn a_failure_reads_as_the_workload_and_the_nodes_message() {
        let d = deployment(&[("disk", "zmount", "error"), ("vm", "zmachine", "init")]);
        assert_eq!(d.progress().to_string(), "disk: no space left");
    }

    #[test]
    fn addresses_come_from_zmachine_and_ip_results() {
        let d = deployment(&[("vm", "zmachine", "ok"), ("vm_ip", "ip", "ok")]);
        let a = d.addresses();
        assert_eq!(a.ipv4.as_deref(), Some("185.206.122.40/24"));
        assert_eq!(a.ipv6.as_deref(), Some("2a10::40/64"));
        assert_eq!(a.mycelium.as_deref(), Some("5a1:7b2::1"));
        assert_eq!(a.planetary, None);
    }
}
