//! The grid proxy's JSON, as `tfgrid-v3.md` section 1 shows it (upstream:
//! tfgrid-sdk-go `grid-proxy/pkg/types/nodes.go`). Only the fields Jukebox
//! reads are declared; serde ignores the rest, so the proxy may add fields
//! without breaking us.
//!
//! The node's `dedicated` field is deliberately not read: upstream computes
//! it (`grid-proxy/internal/explorer/converters.go`) as "farm dedicated OR
//! no contracts on the node OR rented OR extra fee", so it is true for every
//! idle node and says nothing about whether we may deploy there.
//! [`ProxyNode::available_for`] applies the chain's own rule instead.

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
    /// The node's farm is dedicated: its nodes are only for renters.
    #[serde(rename = "inDedicatedFarm", default)]
    pub in_dedicated_farm: bool,
    /// A rent contract holds the node; `rented_by_twin_id` is its twin.
    #[serde(default)]
    pub rented: bool,
    #[serde(rename = "rentedByTwinId", default)]
    pub rented_by_twin_id: u32,
    /// The farmer's extra fee for the node (set only on nodes meant for
    /// renting); any fee makes the node dedicated on chain.
    #[serde(rename = "extraFee", default)]
    pub extra_fee: u64,
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

    /// Whether TFChain lets `twin` (`None`: a twin that rents nothing) make
    /// a node contract here. The rule is pallet-smart-contract's
    /// `_create_node_contract` (`grid_contract.rs`): a rented node takes
    /// only its renter's contracts; any other node refuses them when its
    /// farm is dedicated or it carries an extra fee. It is the grid
    /// proxy's `available_for` filter too (`grid-proxy/internal/explorer/
    /// db/postgres.go`).
    pub fn available_for(&self, twin: Option<u32>) -> bool {
        if self.rented || self.rented_by_twin_id != 0 {
            return twin.is_some_and(|t| t != 0 && t == self.rented_by_twin_id);
        }
        !self.in_dedicated_farm && self.extra_fee == 0
    }
}

/// The proxy's error body: `{"error": "..."}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> ProxyNode {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_chain_decides_who_may_deploy_not_the_dedicated_field() {
        // An idle node in a shared farm: upstream says `dedicated: true`
        // (it has no contracts), yet any twin may deploy there.
        let idle = node(
            r#"{"nodeId":1,"farmId":1,"twinId":9,"dedicated":true,"inDedicatedFarm":false,
                "rented":false,"rentedByTwinId":0,"extraFee":0}"#,
        );
        assert!(idle.available_for(None) && idle.available_for(Some(42)));
        let mine = node(
            r#"{"nodeId":2,"farmId":1,"twinId":9,"inDedicatedFarm":true,
                "rented":true,"rentedByTwinId":42,"extraFee":5}"#,
        );
        assert!(mine.available_for(Some(42)));
        assert!(!mine.available_for(Some(43)) && !mine.available_for(None));
        let farm = node(r#"{"nodeId":3,"farmId":2,"twinId":9,"inDedicatedFarm":true}"#);
        assert!(!farm.available_for(None) && !farm.available_for(Some(42)));
        let fee = node(r#"{"nodeId":4,"farmId":1,"twinId":9,"extraFee":1}"#);
        assert!(!fee.available_for(Some(42)));
        // Rented with no renter named is not trusted for anyone.
        let odd = node(r#"{"nodeId":5,"farmId":1,"twinId":9,"rented":true}"#);
        assert!(!odd.available_for(None) && !odd.available_for(Some(0)));
    }
}
