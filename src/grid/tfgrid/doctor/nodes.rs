//! `jukebox grid nodes`: the grid nodes Jukebox would pick from for one node
//! type, in a country or farm or anywhere, one line each, so an operator can
//! see why a location menu is empty.
//!
//! The listing asks the grid proxy exactly what discovery asks
//! ([`discovery::filter_for`]), page by page within the configured page
//! limits, and keeps what discovery's own check keeps ([`discovery::fits`]).
//! When nothing fits, it also counts the nodes that are up there at all,
//! which tells "no room" from "no nodes".

use std::fmt;

use super::Doctor;
use crate::grid::tfgrid::discovery::{self, ROOTFS_BYTES};
use crate::grid::tfgrid::proxy::{NodeFilter, ProxyNode};
use crate::grid::{Capacity, GridError, Placement};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The proxy's page size when listing.
const PAGE: u32 = 100;

/// One candidate node as `grid nodes` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLine {
    pub node_id: u32,
    pub farm_id: u32,
    pub farm_name: String,
    pub country: String,
    pub cpu: u64,
    pub free_memory_mib: u64,
    pub free_ssd_gib: u64,
    pub farm_free_ips: u32,
}

impl NodeLine {
    fn of(n: &ProxyNode) -> NodeLine {
        let free = n.free();
        NodeLine {
            node_id: n.node_id,
            farm_id: n.farm_id,
            farm_name: n.farm_name.clone(),
            country: n.country.clone(),
            cpu: n.total().cru,
            free_memory_mib: free.mru / MIB,
            free_ssd_gib: free.sru / GIB,
            farm_free_ips: n.farm_free_ips,
        }
    }
}

impl fmt::Display for NodeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {}  farm {} ({})  {}  {} cpu, {} MiB memory free, {} GiB SSD free, \
             {} public IPv4 free in the farm",
            self.node_id,
            self.farm_id,
            self.farm_name,
            if self.country.is_empty() {
                "(no country)"
            } else {
                &self.country
            },
            self.cpu,
            self.free_memory_mib,
            self.free_ssd_gib,
            self.farm_free_ips
        )
    }
}

/// The candidates, and how many nodes are up in the place at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub nodes: Vec<NodeLine>,
    /// Up nodes in the place whatever their room, when nothing fits (the
    /// proxy's `count`); `None` when something fits or it could not say.
    pub up_in_place: Option<u64>,
}

fn placed(mut filter: NodeFilter, place: &Placement) -> NodeFilter {
    match place {
        Placement::Random => {}
        Placement::Country(c) => filter.country = Some(c.clone()),
        Placement::Farm(f) => filter.farm_ids = vec![*f],
    }
    filter
}

impl Doctor {
    /// Every node discovery would offer for `need` in `place`, by node id.
    pub async fn nodes(&self, need: &Capacity, place: &Placement) -> Result<Listing, GridError> {
        let base = NodeFilter {
            size: PAGE,
            ..placed(discovery::filter_for(need), place)
        };
        let mut found = Vec::new();
        for page in 1..=self.setup.config.max_pages.max(1) {
            let got = self
                .proxy
                .nodes(&NodeFilter {
                    page,
                    ret_count: page == 1,
                    ..base.clone()
                })
                .await?;
            let last = got.nodes.len() < PAGE as usize
                || got
                    .count
                    .is_some_and(|count| u64::from(page) * u64::from(PAGE) >= count);
            found.extend(
                got.nodes
                    .iter()
                    .filter(|n| {
                        // As a new user's twin, which rents nothing.
                        discovery::fits(n, need, None) && place.admits(&n.country, n.farm_id)
                    })
                    .map(NodeLine::of),
            );
            if last {
                break;
            }
        }
        found.sort_by_key(|n| n.node_id);
        found.dedup_by_key(|n| n.node_id);
        let up_in_place = if found.is_empty() {
            let any = placed(
                NodeFilter {
                    up_only: true,
                    size: 1,
                    page: 1,
                    ret_count: true,
                    ..NodeFilter::default()
                },
                place,
            );
            self.proxy.nodes(&any).await.ok().and_then(|p| p.count)
        } else {
            None
        };
        Ok(Listing {
            nodes: found,
            up_in_place,
        })
    }
}

/// What a node needs free for `need`, as discovery checks it.
pub fn needs(need: &Capacity) -> String {
    format!(
        "{} cpu, {} MiB memory, {} GiB SSD (the data disk plus the machine's {} GiB root){}",
        need.cpu,
        need.memory_mib,
        need.disk_gib + ROOTFS_BYTES / GIB,
        ROOTFS_BYTES / GIB,
        if need.public_ipv4 {
            ", a free public IPv4 in the farm"
        } else {
            ""
        }
    )
}
