//! The grid's value types: plain data about twins, grid nodes, contracts,
//! capacity, places and what a deployment became.
//!
//! They sit at the bottom of the crate so the core (catalog, pricing, the
//! dialogue engine, user records) can speak about the grid without importing
//! the [`crate::grid::Grid`] boundary or its backends; `grid` re-exports them
//! for the adapters. Nothing here does IO or imports anything of the crate.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A twin: the on-grid account of one intermediate identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TwinId(pub u32);

/// A Zero-OS node of the grid (not to be confused with a blockchain node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GridNodeId(pub u32);

/// A contract paying for one deployment on one grid node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractId(pub u64);

impl fmt::Display for GridNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What one blockchain node needs from a grid node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capacity {
    pub cpu: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub public_ipv4: bool,
}

/// Where the user wants their nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    Random,
    /// A country by its English name, as the grid proxy names countries.
    Country(String),
    Farm(u32),
}

impl Placement {
    /// Whether a grid node in `country` and farm `farm_id` is in this place.
    /// Countries compare without regard to ASCII case or the asked name's
    /// surrounding spaces.
    pub fn admits(&self, country: &str, farm_id: u32) -> bool {
        match self {
            Placement::Random => true,
            Placement::Country(c) => country.eq_ignore_ascii_case(c.trim()),
            Placement::Farm(f) => farm_id == *f,
        }
    }
}

/// A country that currently has capacity, for the location menu.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryOption {
    pub name: String,
    /// Grid nodes in that country able to host one more node of the request.
    pub nodes: u32,
}

/// A farm that currently has capacity, for the location menu.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FarmOption {
    pub id: u32,
    pub name: String,
    pub country: String,
    pub nodes: u32,
}

/// Locations able to host at least one node of a request, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locations {
    pub countries: Vec<CountryOption>,
    pub farms: Vec<FarmOption>,
}

impl Locations {
    /// Counts grid nodes, each given as its country, farm id and farm name,
    /// per country and per farm: most nodes first, then by name (farms
    /// with the same name by id). A farm's name and country are those of
    /// its first node; a node without a country counts for its farm only.
    pub fn tally<'a>(nodes: impl IntoIterator<Item = (&'a str, u32, &'a str)>) -> Locations {
        let mut countries: BTreeMap<&str, u32> = BTreeMap::new();
        let mut farms: BTreeMap<u32, FarmOption> = BTreeMap::new();
        for (country, farm_id, farm_name) in nodes {
            if !country.is_empty() {
                *countries.entry(country).or_default() += 1;
            }
            farms
                .entry(farm_id)
                .or_insert_with(|| FarmOption {
                    id: farm_id,
                    name: farm_name.to_string(),
                    country: country.to_string(),
                    nodes: 0,
                })
                .nodes += 1;
        }
        let mut countries: Vec<CountryOption> = countries
            .into_iter()
            .map(|(name, nodes)| CountryOption {
                name: name.to_string(),
                nodes,
            })
            .collect();
        countries.sort_by(|a, b| b.nodes.cmp(&a.nodes).then_with(|| a.name.cmp(&b.name)));
        let mut farms: Vec<FarmOption> = farms.into_values().collect();
        farms.sort_by(|a, b| {
            b.nodes
                .cmp(&a.nodes)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.id.cmp(&b.id))
        });
        Locations { countries, farms }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Up,
    Down,
    Standby,
}

/// A grid node as discovery reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridNode {
    pub id: GridNodeId,
    pub farm_id: u32,
    pub farm_name: String,
    pub country: String,
    pub status: NodeStatus,
}

/// The outcome of a successful deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub contract: ContractId,
    pub node: GridNode,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// Mycelium / planetary overlay address, reachable from any mycelium peer.
    pub mycelium: Option<String>,
}

impl Placed {
    /// The node's addresses to reach it at, public IPv4 first, then IPv6,
    /// without the prefix length grid addresses come with ("1.2.3.4/24"
    /// gives "1.2.3.4").
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.ipv4
            .iter()
            .chain(self.ipv6.iter())
            .map(|ip| ip.split('/').next().unwrap_or(ip))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractState {
    Created,
    GracePeriod,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadState {
    Init,
    Ok,
    Paused,
    Error(String),
    Deleted,
}

/// A live (not cancelled) node contract as its owner's listing gives it:
/// what the reconciler compares with the node records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedContract {
    pub contract: ContractId,
    pub node: GridNodeId,
    /// The hex MD5 of the deployment it pays for (see
    /// `reservation::deployment_hash_hex`).
    pub deployment_hash: String,
}

/// What the grid says about one contract right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractInfo {
    pub contract: ContractId,
    pub node: GridNodeId,
    pub state: ContractState,
    pub workload: WorkloadState,
    pub node_status: NodeStatus,
}

/// Failures a grid reports, as data (the pure grid verdict reads them). The
/// service maps each to what the user sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("no grid node has room for this right now")]
    NoCapacity,
    #[error("the deployment signature does not verify for twin {0}")]
    BadSignature(u32),
    #[error("unknown twin {0}")]
    UnknownTwin(u32),
    #[error("grid node {0} is not up")]
    NodeNotUp(GridNodeId),
    #[error("grid node {0} does not exist")]
    UnknownNode(GridNodeId),
    #[error("contract {0} does not exist")]
    UnknownContract(ContractId),
    #[error("the deployment was rejected: {0}")]
    Rejected(String),
    #[error("the deployment failed on the grid node: {0}")]
    DeployFailed(String),
    #[error("the grid is unreachable: {0}")]
    Unavailable(String),
}

impl GridError {
    /// Whether trying another grid node may succeed where this one failed.
    pub fn try_elsewhere(&self) -> bool {
        matches!(
            self,
            GridError::NodeNotUp(_) | GridError::DeployFailed(_) | GridError::NoCapacity
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_tally_most_first_then_by_name() {
        let nodes = [
            ("Egypt", 2, "Nile"),
            ("Belgium", 1, "Gent"),
            ("Egypt", 2, "Nile"),
            ("", 3, "Nowhere"),
            ("Belgium", 4, "Antwerp"),
            ("Austria", 5, "Gent"),
        ];
        let menu = Locations::tally(nodes);
        let countries: Vec<(&str, u32)> = menu
            .countries
            .iter()
            .map(|c| (c.name.as_str(), c.nodes))
            .collect();
        assert_eq!(countries, [("Belgium", 2), ("Egypt", 2), ("Austria", 1)]);
        let farms: Vec<(u32, &str, &str, u32)> = menu
            .farms
            .iter()
            .map(|f| (f.id, f.name.as_str(), f.country.as_str(), f.nodes))
            .collect();
        assert_eq!(
            farms,
            [
                (2, "Nile", "Egypt", 2),
                (4, "Antwerp", "Belgium", 1),
                (1, "Gent", "Belgium", 1),
                (5, "Gent", "Austria", 1),
                (3, "Nowhere", "", 1),
            ]
        );
        assert_eq!(Locations::tally([]), Locations::default());
    }
}
