//! The grid proxy's JSON, as `tfgrid-v3.md` section 1 shows it. Only the
//! fields Jukebox reads are declared; serde ignores the rest, so the proxy
//! may add fields without breaking us.

use serde::Deserialize;

use crate::grid::NodeStatus;

/// Resource amounts: bytes for memory and disks, cores for cpu.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub cru: u64,
    pub sru: u64,
    pub hru: u64,
    pub mru: u64,
}

impl Resources {
    /// What is left of `self` (total) once `used` is taken.
    pub fn minus(&self, used: &Resources) -> Resources {
        Resources {
            cru: self.cru.saturating_sub(used.cru),
            sru: self.sru.saturating_sub(used.sru),
            hru: self.hru.saturating_sub(used.hru),
            mru: self.mru.saturating_sub(used.mru),
        }
    }
}

/// `GET /nodes/{id}` nests the two resource objects under `"capacity"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NestedCapacity {
    pub total_resources: Resources,
    pub used_resources: Resources,
}

/// The node status string; anything unknown reads as down, the safe side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyNodeStatus {
    Up,
    Standby,
    #[default]
    #[serde(other)]
    Down,
}

impl From<ProxyNodeStatus> for NodeStatus {
    fn from(s: ProxyNodeStatus) -> NodeStatus {
        match s {
            ProxyNodeStatus::Up => NodeStatus::Up,
            ProxyNodeStatus::Standby => NodeStatus::Standby,
            ProxyNodeStatus::Down => NodeStatus::Down,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PublicConfig {
    pub ipv4: String,
    pub ipv6: String,
    pub domain: String,
}

/// One node, from `GET /nodes` or `GET /nodes/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProxyNode {
    #[serde(rename = "nodeId")]
    pub node_id: u32,
    #[serde(rename = "farmId")]
    pub farm_id: u32,
    #[serde(rename = "farmName", default)]
    pub farm_name: String,
    #[serde(rename = "twinId")]
    pub twin_id: u32,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub status: ProxyNodeStatus,
    #[serde(default)]
    pub healthy: bool,
    #[serde(default)]
    pub total_resources: Option<Resources>,
    #[serde(default)]
    pub used_resources: Option<Resources>,
    #[serde(default)]
    pub capacity: Option<NestedCapacity>,
    #[serde(rename = "publicConfig", default)]
    pub public_config: PublicConfig,
    #[serde(default)]
    pub dedicated: bool,
    #[serde(default)]
    pub rented: bool,
    #[serde(rename = "certificationType", default)]
    pub certification_type: String,
    #[serde(default)]
    pub farm_free_ips: u32,
    #[serde(default)]
    pub features: Vec<String>,
}

impl ProxyNode {
    /// Total resources, wherever this route put them.
    pub fn total(&self) -> Resources {
        self.total_resources
            .or(self.capacity.as_ref().map(|c| c.total_resources))
            .unwrap_or_default()
    }

    pub fn used(&self) -> Resources {
        self.used_resources
            .or(self.capacity.as_ref().map(|c| c.used_resources))
            .unwrap_or_default()
    }

    pub fn free(&self) -> Resources {
        self.total().minus(&self.used())
    }
}

/// The proxy's error body: `{"error": "..."}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub error: String,
}
