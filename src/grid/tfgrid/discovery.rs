//! Discovery on the real grid: which nodes can host a node type, where they
//! are (the location menus), and the status of many nodes at once for the
//! monitor (whose batch reads the contracts themselves from TFChain).
//!
//! Everything comes from the grid proxy. A node is a candidate when it is up,
//! healthy, open to our twins, and has free memory and SSD for the request
//! and, when a public IPv4 is needed, a free address left in its farm. The
//! proxy filters; each answer is checked again here, so a proxy that ignores
//! a filter cannot make us deploy on a full node.
//!
//! "Open to our twins" is TFChain's rule ([`ProxyNode::available_for`]): not
//! rented by another twin, and when not rented, neither in a dedicated farm
//! nor carrying an extra fee. Jukebox's twins are made from keys only
//! Jukebox holds and Jukebox never rents a node, so listings ask for what is
//! open to a twin that rents nothing (`in_dedicated_farm=false&rented=false`;
//! the proxy has no extra-fee filter, so those nodes are dropped here), and
//! one location menu serves every user. Before a contract, the node is
//! checked once more for the deploying twin itself.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, stream};

use super::cache::TtlCache;
use super::proxy::{GridProxy, NodeFilter, ProxyError, ProxyNode, ProxyNodeStatus};
use crate::grid::{Capacity, GridError, GridNode, GridNodeId, Locations, NodeStatus, Placement};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The root filesystem zos gives a machine whose `size` is 0 (ours are):
/// it comes out of the node's SSD on top of the data disk.
pub const ROOTFS_BYTES: u64 = 2 * GIB;
/// The largest page we ask for: a bound on a setting, so config holds it.
pub use crate::config::MAX_PAGE_SIZE;
/// Extra nodes asked for on top of what a candidate pick needs, for those
/// the local check drops (extra-fee nodes, which the proxy cannot filter
/// out, or answers a careless proxy got wrong).
const CANDIDATE_HEADROOM: usize = 16;
/// Node reads in flight at once for a batch's node statuses: the proxy is
/// a shared public service, and a batch needs at most one read per node.
const CONCURRENT_NODE_READS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Nodes per page when listing every node that fits (location menus).
    pub page_size: u32,
    /// At most this many pages per listing, so one menu costs a bounded
    /// number of requests however large the grid grows.
    pub max_pages: u32,
    /// How long a computed location menu is reused.
    pub locations_ttl: Duration,
}

impl Default for DiscoverySettings {
    fn default() -> DiscoverySettings {
        DiscoverySettings {
            page_size: MAX_PAGE_SIZE,
            max_pages: 20,
            locations_ttl: Duration::from_secs(60),
        }
    }
}

pub struct Discovery {
    proxy: Arc<GridProxy>,
    settings: DiscoverySettings,
    locations: Mutex<TtlCache<Capacity, Locations>>,
}

impl Discovery {
    pub fn new(proxy: Arc<GridProxy>, settings: DiscoverySettings) -> Discovery {
        Discovery {
            locations: Mutex::new(TtlCache::new(settings.locations_ttl, 64)),
            proxy,
            settings,
        }
    }

    /// The proxy discovery reads, for the other lists it serves (a twin's
    /// contracts).
    pub fn proxy(&self) -> &GridProxy {
        &self.proxy
    }

    /// Countries and farms with at least one node able to host `need`, the
    /// ones with most such nodes first.
    pub async fn locations(&self, need: &Capacity) -> Result<Locations, GridError> {
        if let Some(hit) = self.lock_locations().get(need, Instant::now()) {
            return Ok(hit);
        }
        let fitting = self
            .every_page(filter_for(need), |n| fits(n, need, None))
            .await?;
        let locations = Locations::tally(
            fitting
                .iter()
                .map(|n| (n.country.as_str(), n.farm_id, n.farm_name.as_str())),
        );
        self.lock_locations()
            .put(need.clone(), locations.clone(), Instant::now());
        Ok(locations)
    }

    /// Up to `limit` nodes in `place` able to host `need`, in the proxy's
    /// random order, none of them in `avoid`.
    pub async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = filter_for(need);
        match place {
            Placement::Random => {}
            Placement::Country(country) => filter.country = Some(country.clone()),
            Placement::Farm(farm) => filter.farm_ids = vec![*farm],
        }
        filter.excluded = avoid.iter().map(|n| n.0).collect();
        filter.randomize = true;
        // Room for those the local check may still drop.
        let wanted = limit
            .saturating_add(avoid.len())
            .saturating_add(CANDIDATE_HEADROOM);
        filter.size = u32::try_from(wanted)
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        let keep = |n: &ProxyNode| {
            fits(n, need, None)
                && !avoid.contains(&GridNodeId(n.node_id))
                && place.admits(&n.country, n.farm_id)
        };
        let page = self.proxy.nodes(&filter).await?;
        let sample_was_full = page.nodes.len() >= filter.size as usize;
        let mut found: Vec<ProxyNode> = page.nodes.into_iter().filter(|n| keep(n)).collect();
        if found.len() < limit && sample_was_full {
            // The local check dropped most of a full random sample (e.g. a
            // farm of extra-fee nodes, which the proxy cannot filter out):
            // more may fit further on, so walk the whole listing.
            filter.randomize = false;
            found = self.every_page(filter, keep).await?;
            fastrand::shuffle(&mut found);
        }
        Ok(found.iter().take(limit).map(grid_node).collect())
    }

    /// Every node matching `base`, page after page (at most
    /// `max_pages`), that `keep` keeps.
    async fn every_page(
        &self,
        base: NodeFilter,
        keep: impl Fn(&ProxyNode) -> bool,
    ) -> Result<Vec<ProxyNode>, GridError> {
        let size = self.settings.page_size.clamp(1, MAX_PAGE_SIZE);
        let mut kept = Vec::new();
        for page in 1..=self.settings.max_pages.max(1) {
            let filter = NodeFilter {
                page,
                size,
                ret_count: page == 1,
                ..base.clone()
            };
            let got = self.proxy.nodes(&filter).await?;
            let last = got.nodes.len() < size as usize
                || got
                    .count
                    .is_some_and(|count| u64::from(page) * u64::from(size) >= count);
            kept.extend(got.nodes.into_iter().filter(|n| keep(n)));
            if last {
                break;
            }
        }
        Ok(kept)
    }

    /// One grid node as discovery reports it.
    pub async fn node(&self, id: GridNodeId) -> Result<ProxyNode, GridError> {
        self.proxy.node(id).await.map_err(|e| match e {
            ProxyError::NotFound(_) => GridError::UnknownNode(id),
            other => other.into(),
        })
    }

    /// One grid node, or `None` when the proxy does not know it: the proxy
    /// forgets nodes removed from the grid, so such a node is down for good.
    pub async fn known_node(&self, id: GridNodeId) -> Result<Option<ProxyNode>, GridError> {
        match self.proxy.node(id).await {
            Ok(node) => Ok(Some(node)),
            Err(ProxyError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The status of each of `nodes`, each read once (from the proxy, or
    /// its short cache) however many contracts it hosts. A node the proxy
    /// does not know is `Down` ([`Self::known_node`]). An error means the
    /// proxy could not say.
    pub async fn node_statuses(
        &self,
        nodes: &BTreeSet<GridNodeId>,
    ) -> HashMap<GridNodeId, Result<NodeStatus, GridError>> {
        stream::iter(nodes.iter().copied())
            .map(|id| async move {
                let status = self
                    .known_node(id)
                    .await
                    .map(|node| node.map_or(NodeStatus::Down, |n| n.status.into()));
                (id, status)
            })
            .buffer_unordered(CONCURRENT_NODE_READS)
            .collect()
            .await
    }

    fn lock_locations(&self) -> std::sync::MutexGuard<'_, TtlCache<Capacity, Locations>> {
        self.locations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The proxy filter for nodes able to host `need`.
pub fn filter_for(need: &Capacity) -> NodeFilter {
    NodeFilter {
        up_only: true,
        healthy_only: true,
        free_mru: Some(need.memory_mib.saturating_mul(MIB)),
        free_sru: Some(sru_bytes(need)),
        free_ips: need.public_ipv4.then_some(1),
        in_dedicated_farm: Some(false),
        rented: Some(false),
        ..NodeFilter::default()
    }
}

fn sru_bytes(need: &Capacity) -> u64 {
    need.disk_gib
        .saturating_mul(GIB)
        .saturating_add(ROOTFS_BYTES)
}

/// The same test the proxy's filter makes, on the node it returned, with
/// the chain's rule for who may deploy: `twin` is the deploying twin, or
/// `None` for a twin that rents nothing (listings).
pub fn fits(node: &ProxyNode, need: &Capacity, twin: Option<u32>) -> bool {
    let free = node.free();
    node.status == ProxyNodeStatus::Up
        && node.healthy
        && node.available_for(twin)
        && node.total().cru >= u64::from(need.cpu)
        && free.mru >= need.memory_mib.saturating_mul(MIB)
        && free.sru >= sru_bytes(need)
        && (!need.public_ipv4 || node.farm_free_ips > 0)
}

pub fn grid_node(n: &ProxyNode) -> GridNode {
    GridNode {
        id: GridNodeId(n.node_id),
        farm_id: n.farm_id,
        farm_name: n.farm_name.clone(),
        country: n.country.clone(),
        status: n.status.into(),
    }
}
