//! The simulated grid's fixed geography: farms, their public IPv4 pools and
//! their nodes, generated once from the seed and then persisted as-is.
//!
//! Addresses are not anyone's real servers: IPv4 pools come from the three
//! documentation ranges (RFC 5737: 192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24), IPv6 from the documentation prefix 2001:db8::/32
//! (RFC 3849), so a simulated address can never be mistaken for, or point a
//! user at, someone's real server.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::SimConfig;
use crate::grid::NodeStatus;

/// Countries (English names, as the grid proxy spells them) with a few cities.
const PLACES: &[(&str, &[&str])] = &[
    ("Belgium", &["Ghent", "Lochristi", "Brussels"]),
    ("Netherlands", &["Amsterdam", "Rotterdam"]),
    ("Germany", &["Frankfurt", "Berlin", "Munich"]),
    ("Austria", &["Vienna", "Salzburg"]),
    ("Switzerland", &["Zurich", "Geneva"]),
    ("Egypt", &["Cairo", "Alexandria"]),
    ("United States", &["New York", "Dallas", "San Jose"]),
    ("Canada", &["Toronto", "Montreal"]),
    ("Brazil", &["Sao Paulo", "Rio de Janeiro"]),
    ("India", &["Mumbai", "Bangalore"]),
    ("Japan", &["Tokyo", "Osaka"]),
    ("Tanzania", &["Dar es Salaam", "Arusha"]),
    ("Finland", &["Helsinki", "Tampere"]),
    ("Spain", &["Madrid", "Barcelona"]),
    ("Singapore", &["Singapore"]),
    ("United Kingdom", &["London", "Manchester"]),
    ("France", &["Paris", "Lyon"]),
    ("Italy", &["Milan", "Rome"]),
    ("Slovenia", &["Ljubljana"]),
    ("South Africa", &["Johannesburg", "Cape Town"]),
    ("United Arab Emirates", &["Dubai"]),
    ("Australia", &["Sydney", "Melbourne"]),
    ("Kenya", &["Nairobi"]),
    ("Portugal", &["Lisbon", "Porto"]),
    ("Sweden", &["Stockholm"]),
];

const NAME_HEADS: &[&str] = &[
    "Free", "Green", "Bright", "Solid", "Quiet", "Blue", "Terra", "Nova", "River", "Stone",
    "Cloud", "Sun", "North", "Cedar", "Iron", "Silver",
];
const NAME_TAILS: &[&str] = &[
    "farm", " Edge", " Grid", " Works", " Valley", " Nodes", " Harbor", " Field", " Forge",
];

const CPU_CHOICES: &[u32] = &[8, 12, 16, 24, 32, 48, 64];
const MEMORY_GIB_CHOICES: &[u64] = &[32, 64, 96, 128, 192, 256, 384, 512];
/// A "1 TB" SSD holds about 931 GiB.
const GIB_PER_TB: u64 = 931;
/// Each farm owns one /24, so its pool cannot exceed the usable host range.
pub(super) const MAX_IPS_PER_FARM: u32 = 240;

/// The IPv4 documentation ranges of RFC 5737, section 3.
const DOCUMENTATION_V4: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
/// Hosts .1 to .254 of each range.
pub(super) const DOCUMENTATION_V4_ADDRESSES: usize = 3 * 254;

/// The `n`th address of the documentation ranges. A world with more public
/// IPs than the ranges hold (only big benchmark worlds) reuses them from the
/// start: a farm's pool stays distinct within the farm, and the simulation
/// keys nothing by address.
pub(super) fn documentation_ipv4(n: usize) -> String {
    let n = n % DOCUMENTATION_V4_ADDRESSES;
    let [a, b, c] = DOCUMENTATION_V4[n / 254];
    format!("{a}.{b}.{c}.{}", 1 + n % 254)
}

/// Everything that does not change after generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct World {
    pub seed: u64,
    pub farms: Vec<Farm>,
    pub nodes: Vec<SimNode>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Farm {
    pub id: u32,
    pub name: String,
    pub country: String,
    /// Addresses without prefix length; the farm's network is a /24.
    pub public_ips: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct SimNode {
    pub id: u32,
    pub farm_id: u32,
    pub country: String,
    pub city: String,
    pub cpu: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub initial_status: NodeStatus,
}

/// Builds the world the seed describes; the same config always yields the
/// same world.
pub(super) fn generate(cfg: &SimConfig) -> World {
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    // Shuffled once, then dealt round-robin so small worlds still span many
    // countries.
    let mut places: Vec<usize> = (0..PLACES.len()).collect();
    rng.shuffle(&mut places);

    let mut farms = Vec::new();
    let mut nodes = Vec::new();
    let mut used_names = std::collections::HashSet::new();
    let mut node_id = 0u32;
    let mut next_ip = 0usize;
    for k in 0..cfg.farms {
        let (country, cities) = PLACES[places[k as usize % places.len()]];
        let id = k + 1;
        let mut name = format!(
            "{}{}",
            NAME_HEADS[rng.usize(..NAME_HEADS.len())],
            NAME_TAILS[rng.usize(..NAME_TAILS.len())]
        );
        if !used_names.insert(name.clone()) {
            name = format!("{name} {id}");
            used_names.insert(name.clone());
        }
        let ips = cfg.public_ips_per_farm.min(MAX_IPS_PER_FARM);
        let public_ips = (0..ips)
            .map(|_| {
                let ip = documentation_ipv4(next_ip);
                next_ip += 1;
                ip
            })
            .collect();
        farms.push(Farm {
            id,
            name,
            country: country.to_string(),
            public_ips,
        });
        for _ in 0..cfg.nodes_per_farm {
            // Real node ids have gaps (decommissioned nodes); mimic that.
            node_id += 1 + rng.u32(0..3);
            let roll = rng.f64();
            let initial_status = if roll < 0.04 {
                NodeStatus::Down
            } else if roll < 0.08 {
                NodeStatus::Standby
            } else {
                NodeStatus::Up
            };
            nodes.push(SimNode {
                id: node_id,
                farm_id: id,
                country: country.to_string(),
                city: cities[rng.usize(..cities.len())].to_string(),
                cpu: CPU_CHOICES[rng.usize(..CPU_CHOICES.len())],
                memory_mib: MEMORY_GIB_CHOICES[rng.usize(..MEMORY_GIB_CHOICES.len())] * 1024,
                disk_gib: rng.u64(1..=8) * GIB_PER_TB,
                initial_status,
            });
        }
    }
    World {
        seed: cfg.seed,
        farms,
        nodes,
    }
}

/// The public IPv6 a machine gets inside its node's /64 (documentation prefix).
pub(super) fn ipv6_for(node: u32, contract: u64) -> String {
    format!(
        "2001:db8:{:x}:{:x}::{:x}:{:x}",
        node >> 16,
        node & 0xffff,
        (contract >> 16) & 0xffff,
        contract & 0xffff
    )
}

/// The mycelium address of a machine: its node's /64 in 400::/7, then
/// `ff0f` and the 6-byte seed from the deployment, the way zos derives it.
pub(super) fn mycelium_for(node: u32, hex_seed: &str) -> Option<String> {
    let seed = hex::decode(hex_seed).ok().filter(|s| s.len() == 6)?;
    let prefix = node_prefix(node);
    Some(format!(
        "{:x}:{:x}:{:x}:{:x}:ff0f:{:x}:{:x}:{:x}",
        0x400 | u16::from(prefix[0]),
        u16::from_be_bytes([prefix[1], prefix[2]]),
        u16::from_be_bytes([prefix[3], prefix[4]]),
        u16::from_be_bytes([prefix[5], prefix[6]]),
        u16::from_be_bytes([seed[0], seed[1]]),
        u16::from_be_bytes([seed[2], seed[3]]),
        u16::from_be_bytes([seed[4], seed[5]]),
    ))
}

/// A stable pseudo-random mycelium /64 per node.
fn node_prefix(node: u32) -> [u8; 16] {
    Md5::digest(format!("jukebox-sim-mycelium-{node}").as_bytes()).into()
}
