//! What Jukebox stores per user: profile and money, nodes, orders.
//!
//! Each is one document in the user's directory (see `store`), so a
//! conversation step rewrites only the small conversation document and a
//! balance change never rewrites the node list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crypto::{Identity, Sealed};
use crate::dialogue::Conversation;
use crate::ids::UserId;
use crate::ledger::Account;
use crate::lifecycle::{FundingState, Outage};
use crate::model::PaymentRequest;
use crate::model::{ContractId, GridNodeId, Placed, Placement, TwinId};
use crate::money::Tft;
use crate::pricing::FundingPeriod;

pub const PROFILE: &str = "profile";
pub const CONVERSATION: &str = "conversation";
pub const NODES: &str = "nodes";
pub const ORDERS: &str = "orders";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub id: UserId,
    pub display_name: String,
    pub created_at: u64,
    /// The user's intermediate identity; its secret key is sealed.
    pub identity: Identity,
    pub twin: Option<TwinId>,
    pub account: Account,
    /// The user blocked the bot (Telegram said so); cleared when they write.
    #[serde(default)]
    pub blocked: bool,
    /// Reminders sent, grace period, muted alerts.
    #[serde(default)]
    pub funding: FundingState,
    /// An operator suspended this user: every input is refused politely.
    #[serde(default)]
    pub banned: bool,
}

/// The conversation document: engine state plus input de-duplication.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoredConversation {
    pub state: Conversation,
    /// The highest channel input id handled (e.g. Telegram's update_id), so a
    /// redelivered input is ignored.
    #[serde(default)]
    pub last_input_id: Option<u64>,
    /// When the user last wrote (unix seconds), for "active users".
    #[serde(default)]
    pub last_seen: u64,
}

/// A value kept for a node: plain, or sealed when secret.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoredValue {
    Plain(String),
    Sealed(Sealed),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum NodeState {
    /// Ordered; waits for payment or for its turn to deploy.
    Pending,
    Deploying,
    Running,
    /// The balance ran out: stopped on the grid (capacity kept) until a
    /// top-up, or until the grace period ends.
    Paused,
    /// Could not be deployed; the reason is for the user.
    Failed(String),
    Deleted,
    /// Deleted because the grace period ended without a top-up.
    Expired,
}

impl NodeState {
    /// Every state's short key, as [`NodeState::key`] gives them.
    pub const KEYS: [&'static str; 7] = [
        "pending",
        "deploying",
        "running",
        "paused",
        "failed",
        "deleted",
        "expired",
    ];

    /// The state's short key, for operator reports and metric labels.
    pub fn key(&self) -> &'static str {
        match self {
            NodeState::Pending => "pending",
            NodeState::Deploying => "deploying",
            NodeState::Running => "running",
            NodeState::Paused => "paused",
            NodeState::Failed(_) => "failed",
            NodeState::Deleted => "deleted",
            NodeState::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    pub chain: String,
    pub node_type: String,
    pub order: String,
    pub state: NodeState,
    pub placement: Placement,
    pub ipv4: bool,
    /// Setting key -> value (sealed when the catalog marks it secret).
    pub settings: BTreeMap<String, StoredValue>,
    /// Generated env values (e.g. RPC_PASSWORD), always sealed.
    pub generated: BTreeMap<String, StoredValue>,
    pub ssh_key: Option<String>,
    /// Seed for the deployment's network keys, so a rebuild is identical.
    pub seed: String,
    pub placed: Option<Placed>,
    /// Grid nodes this node failed on, never chosen again for it.
    #[serde(default)]
    pub failed_on: Vec<GridNodeId>,
    pub created_at: u64,
    /// Charged up to this time (unix seconds).
    pub billed_until: u64,
    pub price_per_hour: Tft,
    /// Set while the monitor has confirmed the node down.
    #[serde(default)]
    pub outage: Option<Outage>,
    /// Redeploy automatically when an outage is confirmed (`/autoheal`).
    #[serde(default)]
    pub autoheal: bool,
    /// The deployment in flight, written before the grid is asked
    /// (write-ahead): a deploy or move resumed after a crash looks for the
    /// contract this may already have made and adopts it.
    #[serde(default)]
    pub intent: Option<DeployIntent>,
    /// Contracts this node gave up (the old one of a move, the one of a
    /// deleted or expired node), written in the same save that gives them up and
    /// removed once the grid confirmed the cancel: a crash in between
    /// leaves them here to be cancelled at the next start.
    #[serde(default)]
    pub retired: Vec<ContractId>,
}

/// Which deployment a node is being put on which grid node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployIntent {
    pub grid_node: GridNodeId,
    /// The deployment's hex MD5, which the grid keys its contract by.
    pub deployment_hash: String,
    /// When it was written (unix seconds).
    pub at: u64,
}

impl NodeRecord {
    pub fn contract(&self) -> Option<ContractId> {
        self.placed.as_ref().map(|p| p.contract)
    }

    pub fn is_live(&self) -> bool {
        !matches!(
            self.state,
            NodeState::Deleted | NodeState::Failed(_) | NodeState::Expired
        )
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Nodes {
    pub nodes: Vec<NodeRecord>,
    /// Names ever used, so a deleted node's name is never reused.
    #[serde(default)]
    pub used_names: Vec<String>,
}

impl Nodes {
    pub fn get(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut NodeRecord> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    pub fn live(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes.iter().filter(|n| n.is_live())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    AwaitingPayment,
    /// Paid (or covered by the balance): its nodes are being deployed.
    Deploying,
    Done,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub state: OrderState,
    pub chain: String,
    pub node_type: String,
    pub nodes: Vec<String>,
    pub period: FundingPeriod,
    pub price_per_node_month: Tft,
    /// What the balance must hold to deploy: all the user's nodes, old and
    /// new, funded for `period` from the order (`lifecycle::funding::Plan`).
    pub total: Tft,
    pub payment: Option<PaymentRequest>,
    pub created_at: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Orders {
    pub orders: Vec<Order>,
}

impl Orders {
    pub fn get(&self, id: &str) -> Option<&Order> {
        self.orders.iter().find(|o| o.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Order> {
        self.orders.iter_mut().find(|o| o.id == id)
    }

    /// Whether an order is still waiting for payment or deploying.
    pub fn has_open(&self) -> bool {
        self.orders
            .iter()
            .any(|o| matches!(o.state, OrderState::AwaitingPayment | OrderState::Deploying))
    }
}

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "coral", "crisp", "dusty", "eager", "fancy", "gentle",
    "golden", "happy", "jolly", "keen", "lucky", "mellow", "misty", "noble", "plucky", "quiet",
    "rapid", "rosy", "silver", "sunny", "swift", "tidy", "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "badger", "bison", "crane", "dolphin", "eagle", "falcon", "fox", "gecko", "heron", "ibis",
    "jaguar", "koala", "lynx", "marten", "newt", "otter", "panda", "quail", "raven", "seal",
    "tiger", "viper", "walrus", "yak", "zebra",
];

/// A readable node name unique among `taken`: `<chain>-<type>-<adjective>-<noun>`,
/// with a number appended in the rare case every pair is used. `pick(n)`
/// returns a random index below n.
pub fn node_name(
    chain: &str,
    node_type: &str,
    taken: &[String],
    pick: &mut dyn FnMut(usize) -> usize,
) -> String {
    let prefix = format!("{chain}-{node_type}");
    for _ in 0..64 {
        let name = format!(
            "{prefix}-{}-{}",
            ADJECTIVES[pick(ADJECTIVES.len())],
            NOUNS[pick(NOUNS.len())]
        );
        if !taken.contains(&name) {
            return name;
        }
    }
    (2..)
        .map(|n| {
            format!(
                "{prefix}-{}-{}-{n}",
                ADJECTIVES[pick(ADJECTIVES.len())],
                NOUNS[pick(NOUNS.len())]
            )
        })
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| format!("{prefix}-{}", taken.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_list_every_state_once() {
        let states = [
            NodeState::Pending,
            NodeState::Deploying,
            NodeState::Running,
            NodeState::Paused,
            NodeState::Failed("x".into()),
            NodeState::Deleted,
            NodeState::Expired,
        ];
        let keys: Vec<&str> = states.iter().map(NodeState::key).collect();
        assert_eq!(keys, NodeState::KEYS);
    }

    #[test]
    fn names_are_unique_even_when_pairs_run_out() {
        let mut taken = Vec::new();
        let mut always_zero = |_: usize| 0;
        for _ in 0..5 {
            let name = node_name("dash", "full", &taken, &mut always_zero);
            assert!(!taken.contains(&name));
            taken.push(name);
        }
        assert_eq!(taken[0], "dash-full-amber-badger");
        assert_eq!(taken[1], "dash-full-amber-badger-2");
    }
}
