//! The zos reservation: the deployment document a grid node executes.
//!
//! The types mirror the zos JSON wire format field for field (see
//! `tfgrid-v3.md` section 2) so a real grid backend can send a [`Deployment`]
//! as-is. [`build_deployment`] turns a [`WorkloadSpec`] into a deployment;
//! [`challenge`], [`sign`] and [`verify`] implement the signing scheme zos and
//! TFChain check (MD5 over a field concatenation, ed25519 over the 16 raw
//! digest bytes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod build;
mod challenge;
#[cfg(test)]
mod tests;

pub use build::{BuildError, WorkloadSpec, build_deployment, sanitize_name};
pub use challenge::{
    SignatureError, challenge, challenge_hash, deployment_hash_ascii, deployment_hash_hex, sign,
    verify,
};

/// A zos deployment: every workload one contract pays for on one grid node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub version: u32,
    pub twin_id: u32,
    /// Set once the node contract exists; not part of the signed challenge.
    #[serde(default)]
    pub contract_id: u64,
    #[serde(default)]
    pub metadata: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub expiration: i64,
    pub signature_requirement: SignatureRequirement,
    pub workloads: Vec<Workload>,
}

/// Who must sign a deployment and the signatures collected so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRequirement {
    pub requests: Vec<SignatureRequest>,
    pub weight_required: u32,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    #[serde(default)]
    pub signature_style: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRequest {
    pub twin_id: u32,
    pub required: bool,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub twin_id: u32,
    /// Lowercase hex of the 64-byte signature.
    pub signature: String,
    /// "ed25519" or "sr25519".
    pub signature_type: String,
}

/// One workload; `type` and `data` come from the flattened [`WorkloadData`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub version: u32,
    pub name: String,
    #[serde(flatten)]
    pub data: WorkloadData,
    // zos omits these on some workloads (see the zmount in the reference).
    #[serde(default)]
    pub metadata: String,
    #[serde(default)]
    pub description: String,
}

/// The typed payload of a workload, tagged by the zos `type` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum WorkloadData {
    Zmachine(Zmachine),
    Network(Network),
    Zmount(Zmount),
    Ip(PublicIp),
}

impl WorkloadData {
    /// The zos type name, as it appears in JSON and in the challenge.
    pub fn type_name(&self) -> &'static str {
        match self {
            WorkloadData::Zmachine(_) => "zmachine",
            WorkloadData::Network(_) => "network",
            WorkloadData::Zmount(_) => "zmount",
            WorkloadData::Ip(_) => "ip",
        }
    }
}

/// A virtual machine (or container, depending on the flist).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zmachine {
    pub flist: String,
    pub network: MachineNetwork,
    /// Root filesystem size in bytes; 0 lets zos pick its default.
    #[serde(default)]
    pub size: u64,
    pub compute_capacity: ComputeCapacity,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub entrypoint: String,
    /// Sorted by key, which is also the order the challenge needs.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub corex: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineNetwork {
    /// Name of the `ip` workload giving this machine public addresses, or "".
    #[serde(default)]
    pub public_ip: String,
    #[serde(default)]
    pub planetary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mycelium: Option<MachineMycelium>,
    pub interfaces: Vec<Interface>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineMycelium {
    /// zos spells this key with a capital N.
    #[serde(rename = "Network")]
    pub network: String,
    /// 6 bytes as 12 lowercase hex characters.
    pub hex_seed: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub network: String,
    pub ip: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeCapacity {
    pub cpu: u32,
    /// Bytes.
    pub memory: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub name: String,
    pub mountpoint: String,
}

/// A private network (wireguard + mycelium) the machine joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub ip_range: String,
    pub subnet: String,
    pub wireguard_private_key: String,
    pub wireguard_listen_port: u16,
    #[serde(default)]
    pub peers: Vec<Peer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mycelium: Option<NetworkMycelium>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub subnet: String,
    pub wireguard_public_key: String,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub endpoint: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkMycelium {
    /// 32-byte mycelium node key as 64 lowercase hex characters.
    pub hex_key: String,
    /// zos accepts null here, meaning "use the node's defaults".
    pub peers: Option<Vec<String>>,
}

/// A raw disk, mounted into the machine by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zmount {
    /// Bytes.
    pub size: u64,
}

/// Public addresses for a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIp {
    pub v4: bool,
    pub v6: bool,
}

impl Deployment {
    /// The first zmachine workload, the one Jukebox deployments revolve around.
    pub fn zmachine(&self) -> Option<(&str, &Zmachine)> {
        self.workloads.iter().find_map(|w| match &w.data {
            WorkloadData::Zmachine(z) => Some((w.name.as_str(), z)),
            _ => None,
        })
    }
}
