//! Read-only views the website's portal pages ask for: one node in full
//! (its page), the outages going on now (which alert buttons still act),
//! and the catalog with prices. Nothing here writes; every view is of the
//! asking account's own data, so a page can show only its visitor's nodes.

use std::sync::Arc;

use super::audit_trail::AuditTrail;
use super::repo::Repo;
use super::web::WebAccounts;
use crate::audit::Event;
use crate::catalog::Ipv4Policy;
use crate::clock::Clock;
use crate::dialogue::Engine;
use crate::ids::UserId;
use crate::lifecycle::Outage;
use crate::money::Tft;
use crate::user::NodeState;
use crate::user::chain_text::{self, WebChain};
use crate::user::view::state_word;

/// Audit events read back for a node page: enough for 30 days of outages
/// of a flapping node without reading a user's whole trail.
const NODE_EVENTS_READ: usize = 2_000;

/// One node as its page shows it.
#[derive(Clone, Debug)]
pub struct NodeDetails {
    pub name: String,
    /// The chain's and the node type's names.
    pub chain: String,
    pub node_type: String,
    pub state: &'static str,
    /// Running or paused: Redeploy makes sense.
    pub running: bool,
    pub created_at: u64,
    /// "2 vCPU, 4 GiB RAM, 50 GiB SSD", as the bot's order summary says it.
    pub resources: String,
    pub public_ipv4: bool,
    /// "grid node 12 · BE", once placed.
    pub location: Option<String>,
    /// (what, address): IPv4, IPv6, Mycelium.
    pub addresses: Vec<(&'static str, String)>,
    /// `ssh root@host` when a key was given and the node has an address.
    pub ssh: Option<String>,
    pub price_per_hour: Tft,
    pub price_per_month: Tft,
    /// The account's funding sentence (the balance pays for all nodes).
    pub runway: String,
    /// The outage going on now, if any.
    pub outage: Option<Outage>,
    /// The node's recorded events, newest first (outages: `node.down`,
    /// recoveries: `node.up`, chain alerts: `node.chain`, and its other
    /// changes).
    pub events: Vec<Event>,
    /// Its chain as the monitor last read it, once it has been.
    pub chain_health: Option<NodeChainDetails>,
}

/// A node's chain on its page, worded by `user::chain_text` as `/status`
/// and My nodes word it.
#[derive(Clone, Debug)]
pub struct NodeChainDetails {
    /// My nodes' summary, progress and problem badge.
    pub web: WebChain,
    /// `/status`'s chain lines: heights, sync and ETA or "in sync", a
    /// confirmed stall or fall behind, the client and its verdict, when read.
    pub lines: Vec<String>,
}

/// One node type of the catalog with its price, for the catalog page.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub chain_id: String,
    pub chain: String,
    pub chain_description: String,
    pub node_type_id: String,
    pub node_type: String,
    pub description: String,
    pub resources: String,
    pub ipv4: Ipv4Policy,
    /// Per month without a public IPv4 (with one when it is required).
    pub per_month: Tft,
    /// Per month with a public IPv4, when it is optional.
    pub per_month_with_ipv4: Option<Tft>,
}

/// The portal's read-only views, over the repository, the audit trail and
/// the web accounts' overview (for the funding sentence).
pub struct Portal {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    audit: Arc<AuditTrail>,
    web_accounts: Arc<WebAccounts>,
    clock: Arc<dyn Clock>,
}

impl Portal {
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        audit: Arc<AuditTrail>,
        web_accounts: Arc<WebAccounts>,
        clock: Arc<dyn Clock>,
    ) -> Portal {
        Portal {
            engine,
            repo,
            audit,
            web_accounts,
            clock,
        }
    }

    /// `user`'s live node `name` in full, or `None` when they have no such
    /// node (another user's node is "none" too).
    pub fn node_details(&self, user: &UserId, name: &str) -> anyhow::Result<Option<NodeDetails>> {
        let nodes = self.repo.load_nodes(user)?;
        let Some(node) = nodes.live().find(|n| n.name == name) else {
            return Ok(None);
        };
        let catalog = self.engine.catalog();
        let prices = self.engine.prices();
        let found = catalog.node_type(&node.chain, &node.node_type);
        let (chain, node_type) = found
            .map(|(c, t)| (c.name.clone(), t.name.clone()))
            .unwrap_or_else(|| (node.chain.clone(), node.node_type.clone()));
        let public_ipv4 = node.placed.as_ref().is_some_and(|p| p.ipv4.is_some());
        let resources = found
            .map(|(_, t)| crate::dialogue::describe_resources(t))
            .unwrap_or_default();
        let per_month = found
            .map(|(_, t)| prices.per_month(&t.capacity(public_ipv4)))
            .unwrap_or_else(|| {
                node.price_per_hour
                    .saturating_mul(crate::pricing::HOURS_PER_MONTH as i64)
            });
        let mut addresses = Vec::new();
        if let Some(p) = &node.placed {
            for (what, address) in [
                ("IPv4", &p.ipv4),
                ("IPv6", &p.ipv6),
                ("Mycelium", &p.mycelium),
            ] {
                if let Some(a) = address {
                    addresses.push((what, a.clone()));
                }
            }
        }
        let ssh = node.ssh_key.as_ref().and_then(|_| {
            let host = node.placed.as_ref()?.hosts().next()?.to_owned();
            Some(format!("ssh root@{host}"))
        });
        let runway = self.web_accounts.overview(user)?.runway;
        let events = self
            .audit
            .log()
            .recent_for(user, NODE_EVENTS_READ)?
            .into_iter()
            .filter(|e| e.node.as_deref() == Some(name))
            .collect();
        let now = self.clock.now();
        let chain_health =
            chain_text::node_view(catalog, node).map(|(chain, view)| NodeChainDetails {
                web: chain_text::web_chain(chain, &view, &node.name),
                lines: chain_text::status_lines(chain, &view, &node.name, now),
            });
        Ok(Some(NodeDetails {
            name: node.name.clone(),
            chain,
            node_type,
            state: state_word(&node.state),
            running: matches!(node.state, NodeState::Running | NodeState::Paused),
            created_at: node.created_at,
            resources,
            public_ipv4,
            location: node
                .placed
                .as_ref()
                .map(|p| format!("grid node {} · {}", p.node.id, p.node.country)),
            addresses,
            ssh,
            price_per_hour: node.price_per_hour,
            price_per_month: per_month,
            runway,
            outage: node.outage.clone(),
            events,
            chain_health,
        }))
    }

    /// `user`'s outages going on now: (node, when it started), the pair an
    /// outage alert's buttons name.
    pub fn current_outages(&self, user: &UserId) -> anyhow::Result<Vec<(String, u64)>> {
        let nodes = self.repo.load_nodes(user)?;
        Ok(nodes
            .live()
            .filter_map(|n| Some((n.name.clone(), n.outage.as_ref()?.since)))
            .collect())
    }

    /// Every node type of the catalog with its monthly price, from the
    /// same price list the bot quotes from.
    pub fn catalog_entries(&self) -> Vec<CatalogEntry> {
        let prices = self.engine.prices();
        let mut entries = Vec::new();
        for chain in &self.engine.catalog().chains {
            for t in &chain.node_types {
                entries.push(CatalogEntry {
                    chain_id: chain.id.clone(),
                    chain: chain.name.clone(),
                    chain_description: chain.description.clone(),
                    node_type_id: t.id.clone(),
                    node_type: t.name.clone(),
                    description: t.description.clone(),
                    resources: crate::dialogue::describe_resources(t),
                    ipv4: t.ipv4.clone(),
                    per_month: prices.per_month(&t.capacity(false)),
                    per_month_with_ipv4: (t.ipv4 == Ipv4Policy::Optional)
                        .then(|| prices.per_month(&t.capacity(true))),
                });
            }
        }
        entries
    }

    /// `tft` in USD at the configured TFT price ("$1.23", rounded up to
    /// the cent), and that price ("0.01").
    pub fn usd(&self, tft: Tft) -> (String, String) {
        let prices = self.engine.prices();
        let cents = prices.usd_cents(tft);
        (
            format!("${}.{:02}", cents / 100, cents % 100),
            prices.tft_price_usd().to_owned(),
        )
    }
}
