//! What Jukebox stores per user: profile and money, nodes, orders.
//!
//! Each is one document in the user's directory (see `store`), so a
//! conversation step rewrites only the small conversation document and a
//! balance change never rewrites the node list.

pub mod chain_text;
pub mod link_text;
pub mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Generated, NodeType};
use crate::crypto::{Identity, Sealed};
use crate::dialogue::{Conversation, OrderDraft};
use crate::ids::UserId;
use crate::ledger::Account;
use crate::lifecycle::chain_state::NodeChain;
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
    /// What the monitor last read of the node's chain, and its confirmed
    /// episodes (`lifecycle::chain_state`); absent in records written
    /// before chains were read, and for chains the catalog does not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_health: Option<NodeChain>,
    /// What the node's network dashboard last said of it, read with the
    /// user's API key (`lifecycle::node_link`); absent without a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_link: Option<crate::lifecycle::node_link::NodeLink>,
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

    /// Whether [`burn_per_hour`](Self::burn_per_hour) needs the orders: only
    /// a pending node's order says whether it counts, so without one a
    /// caller may pass empty orders instead of reading them.
    pub fn burn_needs_orders(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.state, NodeState::Pending))
    }

    /// What all the user's nodes cost per hour together, as the one funding
    /// rule counts them (`lifecycle::funding::Plan`): running and paused ones
    /// (resuming costs that) and those of paid orders still being deployed, so
    /// a payment for an order is measured against the burn it paid for.
    pub fn burn_per_hour(&self, orders: &Orders) -> Tft {
        let deploying = |order: &str| {
            orders
                .get(order)
                .is_some_and(|o| o.state == OrderState::Deploying)
        };
        self.nodes
            .iter()
            .filter(|n| match n.state {
                NodeState::Running | NodeState::Paused | NodeState::Deploying => true,
                NodeState::Pending => deploying(&n.order),
                _ => false,
            })
            .fold(Tft::ZERO, |sum, n| sum.saturating_add(n.price_per_hour))
    }

    /// The hourly charge: every running node pays `account` for the whole
    /// hours it ran since `billed_until`, which moves forward by exactly
    /// those hours, so charging twice (or after a restart) never charges an
    /// hour twice. A charge takes at most the balance; the nodes it fell
    /// short for are named.
    pub fn charge_hours(&mut self, account: &mut Account, now: u64) -> HourlyCharge {
        let mut result = HourlyCharge::default();
        for node in self
            .nodes
            .iter_mut()
            .filter(|n| n.state == NodeState::Running)
        {
            let hours = hours_due(node.billed_until, now);
            if hours == 0 {
                continue;
            }
            let amount = node.price_per_hour.saturating_mul(hours as i64);
            let charged = account.charge(amount, &format!("{} for {hours} h", node.name), now);
            if charged.shortfall.is_positive() {
                result.short.push((node.name.clone(), charged.shortfall));
            }
            result.total = result.total.saturating_add(charged.charged);
            node.billed_until += hours * 3600;
            result.changed = true;
        }
        result
    }
}

/// What one hourly charge did ([`Nodes::charge_hours`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourlyCharge {
    /// Taken from the balance.
    pub total: Tft,
    /// Whether any node's `billed_until` moved (the nodes must be saved).
    pub changed: bool,
    /// Nodes the balance fell short for, and by how much.
    pub short: Vec<(String, Tft)>,
}

/// Whole hours between `billed_until` and `now`.
pub fn hours_due(billed_until: u64, now: u64) -> u64 {
    now.saturating_sub(billed_until) / 3600
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

/// The random and sealed parts of new node records, which the shell
/// supplies so that [`ordered_nodes`] itself stays pure (and testable with a
/// fixed mint).
pub trait NodeMint {
    /// A random index below `n` (node names).
    fn pick(&mut self, n: usize) -> usize;
    /// A random password of `length` characters.
    fn password(&mut self, length: usize) -> String;
    /// A fresh seed for a deployment's network keys, or `None` when the
    /// system has no randomness to give.
    fn seed(&mut self) -> Option<[u8; 32]>;
    /// Seals a secret value for the node record.
    fn seal(&self, plain: &str) -> Sealed;
}

/// The system gave no randomness for a node's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no randomness for a node's seed")]
pub struct NoRandomness;

/// The node records of a new order, waiting for payment: names unique
/// among `taken` and each other, the draft's settings (sealed where the
/// catalog marks them secret), the node type's generated values (always
/// sealed), a seed of their own, and `price_per_hour`, fixed for the node's
/// life at the price of the day.
pub fn ordered_nodes(
    draft: &OrderDraft,
    node_type: &NodeType,
    order: &str,
    price_per_hour: Tft,
    taken: &[String],
    now: u64,
    mint: &mut impl NodeMint,
) -> Result<Vec<NodeRecord>, NoRandomness> {
    let mut records: Vec<NodeRecord> = Vec::new();
    for _ in 0..draft.count {
        let mut used = taken.to_vec();
        used.extend(records.iter().map(|r| r.name.clone()));
        let name = node_name(&draft.chain, &draft.node_type, &used, &mut |n| mint.pick(n));
        let settings = draft
            .settings
            .iter()
            .map(|(key, value)| {
                let secret = node_type.setting(key).is_some_and(|s| s.secret);
                let value = if secret {
                    StoredValue::Sealed(mint.seal(value))
                } else {
                    StoredValue::Plain(value.clone())
                };
                (key.clone(), value)
            })
            .collect();
        let generated = node_type
            .generated
            .iter()
            .map(|g| {
                let value = match g {
                    Generated::Fixed { value, .. } => value.clone(),
                    Generated::Password { length, .. } => mint.password(*length),
                };
                (g.env().to_owned(), StoredValue::Sealed(mint.seal(&value)))
            })
            .collect();
        let seed = mint.seed().ok_or(NoRandomness)?;
        records.push(NodeRecord {
            name,
            chain: draft.chain.clone(),
            node_type: draft.node_type.clone(),
            order: order.to_owned(),
            state: NodeState::Pending,
            placement: draft.placement.clone(),
            ipv4: draft.ipv4,
            settings,
            generated,
            ssh_key: draft.ssh_key.clone(),
            seed: hex::encode(seed),
            placed: None,
            failed_on: Vec::new(),
            created_at: now,
            billed_until: now,
            price_per_hour,
            outage: None,
            autoheal: false,
            intent: None,
            retired: Vec::new(),
            chain_health: None,
            node_link: None,
        });
    }
    Ok(records)
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

/// Where test records run: contract `contract` on grid node 11 of farm 1 in
/// Belgium, up, without addresses.
#[cfg(test)]
pub(crate) fn test_placement(contract: u64) -> crate::model::Placed {
    use crate::model::{ContractId, GridNode, GridNodeId, NodeStatus, Placed};
    Placed {
        contract: ContractId(contract),
        node: GridNode {
            id: GridNodeId(11),
            farm_id: 1,
            farm_name: "farm".into(),
            country: "Belgium".into(),
            status: NodeStatus::Up,
        },
        ipv4: None,
        ipv6: None,
        mycelium: None,
    }
}

#[cfg(test)]
impl NodeRecord {
    /// A plain record for tests: chain `c`, type `t`, order `o1`, 1 TFT an
    /// hour, not placed; tests set what they look at.
    pub(crate) fn bare(name: &str, state: NodeState) -> NodeRecord {
        NodeRecord {
            name: name.into(),
            chain: "c".into(),
            node_type: "t".into(),
            order: "o1".into(),
            state,
            placement: Placement::Random,
            ipv4: false,
            settings: Default::default(),
            generated: Default::default(),
            ssh_key: None,
            seed: String::new(),
            placed: None,
            failed_on: Vec::new(),
            created_at: 0,
            billed_until: 0,
            price_per_hour: Tft::from_whole(1),
            outage: None,
            autoheal: false,
            intent: None,
            retired: Vec::new(),
            chain_health: None,
            node_link: None,
        }
    }
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

    fn running(name: &str, price: i64, billed_until: u64) -> NodeRecord {
        let draft = OrderDraft {
            chain: "dash".into(),
            node_type: "full".into(),
            count: 1,
            placement: Placement::Random,
            ipv4: false,
            settings: BTreeMap::new(),
            ssh_key: None,
            period: FundingPeriod::Month,
            price_per_node_month: Tft::ZERO,
            total: Tft::ZERO,
        };
        let catalog = crate::catalog::Catalog::parse(
            "catalog.yaml",
            include_str!("../dialogues/catalog.yaml"),
        )
        .unwrap();
        let (_, nt) = catalog.node_type("dash", "full").unwrap();
        let master = crate::crypto::MasterKey::from_bytes([3; 32]);
        let mut mint = FixedMint {
            master,
            seed: Some([1; 32]),
            next: 0,
        };
        let mut node = ordered_nodes(&draft, nt, "o1", Tft::from_whole(price), &[], 0, &mut mint)
            .unwrap()
            .remove(0);
        node.name = name.into();
        node.state = NodeState::Running;
        node.billed_until = billed_until;
        node
    }

    struct FixedMint {
        master: crate::crypto::MasterKey,
        seed: Option<[u8; 32]>,
        next: usize,
    }

    impl NodeMint for FixedMint {
        fn pick(&mut self, n: usize) -> usize {
            self.next += 1;
            self.next % n
        }
        fn password(&mut self, length: usize) -> String {
            "p".repeat(length)
        }
        fn seed(&mut self) -> Option<[u8; 32]> {
            self.seed
        }
        fn seal(&self, plain: &str) -> Sealed {
            self.master.seal_str(plain)
        }
    }

    #[test]
    fn only_whole_hours_are_due() {
        assert_eq!(hours_due(0, 3599), 0);
        assert_eq!(hours_due(0, 3600), 1);
        assert_eq!(hours_due(100, 7300), 2);
        assert_eq!(hours_due(5000, 10), 0);
    }

    #[test]
    fn the_hourly_charge_takes_whole_hours_once_and_names_shortfalls() {
        let mut nodes = Nodes {
            nodes: vec![running("a", 2, 0), running("b", 3, 5000)],
            used_names: vec![],
        };
        let mut paused = running("c", 100, 0);
        paused.state = NodeState::Paused;
        nodes.nodes.push(paused);
        let mut account = Account::default();
        account.credit("p1", Tft::from_whole(10), "payment", 0);

        // a: 2 hours (7300 s), b: 0 whole hours (2300 s), c paused: nothing.
        let first = nodes.charge_hours(&mut account, 7300);
        assert_eq!(first.total, Tft::from_whole(4));
        assert!(first.changed);
        assert!(first.short.is_empty());
        assert_eq!(nodes.get("a").unwrap().billed_until, 7200);
        assert_eq!(nodes.get("b").unwrap().billed_until, 5000);
        assert_eq!(nodes.get("c").unwrap().billed_until, 0);

        // The same moment again charges nothing.
        let again = nodes.charge_hours(&mut account, 7300);
        assert_eq!(again, HourlyCharge::default());

        // At 12,210 s: a owes one more hour (2), b its first two (6), and
        // only 6 are left, so b is short by 2.
        let short = nodes.charge_hours(&mut account, 5000 + 2 * 3600 + 10);
        assert_eq!(short.total, Tft::from_whole(6));
        assert_eq!(short.short, [("b".to_owned(), Tft::from_whole(2))]);
        assert_eq!(account.balance, Tft::ZERO);
    }

    #[test]
    fn burn_counts_running_paused_and_paid_deploying_nodes() {
        let mut nodes = Nodes {
            nodes: vec![
                running("a", 2, 0),
                running("b", 3, 0),
                running("c", 5, 0),
                running("d", 7, 0),
            ],
            used_names: vec![],
        };
        nodes.nodes[1].state = NodeState::Paused;
        nodes.nodes[2].state = NodeState::Pending;
        nodes.nodes[3].state = NodeState::Deleted;
        let mut orders = Orders::default();
        assert_eq!(nodes.burn_per_hour(&orders), Tft::from_whole(5));
        // c's order is paid and deploying: its burn counts now.
        orders.orders.push(Order {
            id: "o1".into(),
            state: OrderState::Deploying,
            chain: "dash".into(),
            node_type: "full".into(),
            nodes: vec!["c".into()],
            period: FundingPeriod::Month,
            price_per_node_month: Tft::ZERO,
            total: Tft::ZERO,
            payment: None,
            created_at: 0,
        });
        assert_eq!(nodes.burn_per_hour(&orders), Tft::from_whole(10));
    }

    /// Without a pending node the orders change nothing, so the service
    /// may skip reading them; with one they do.
    #[test]
    fn burn_needs_the_orders_only_for_a_pending_node() {
        let mut nodes = Nodes {
            nodes: vec![running("a", 2, 0), running("b", 3, 0)],
            used_names: vec![],
        };
        nodes.nodes[1].state = NodeState::Paused;
        assert!(!nodes.burn_needs_orders());
        assert!(!Nodes::default().burn_needs_orders());
        nodes.nodes[1].state = NodeState::Pending;
        assert!(nodes.burn_needs_orders());
        nodes.nodes[1].state = NodeState::Failed("no capacity".into());
        assert!(!nodes.burn_needs_orders());
        assert_eq!(nodes.burn_per_hour(&Orders::default()), Tft::from_whole(2));
    }

    #[test]
    fn ordered_nodes_seal_secrets_and_get_names_of_their_own() {
        let catalog = crate::catalog::Catalog::parse(
            "catalog.yaml",
            include_str!("../dialogues/catalog.yaml"),
        )
        .unwrap();
        let (_, nt) = catalog.node_type("dash", "masternode").unwrap();
        let mut settings = BTreeMap::new();
        settings.insert("bls_key".to_owned(), "00ff".to_owned());
        settings.insert("note".to_owned(), "hello".to_owned());
        let draft = OrderDraft {
            chain: "dash".into(),
            node_type: "masternode".into(),
            count: 3,
            placement: Placement::Country("Belgium".into()),
            ipv4: true,
            settings,
            ssh_key: Some("ssh-ed25519 AAAA".into()),
            period: FundingPeriod::Month,
            price_per_node_month: Tft::ZERO,
            total: Tft::ZERO,
        };
        let master = crate::crypto::MasterKey::from_bytes([3; 32]);
        let mut mint = FixedMint {
            master,
            seed: Some([9; 32]),
            next: 0,
        };
        let taken = vec!["dash-masternode-brave-bison".to_owned()];
        let nodes = ordered_nodes(
            &draft,
            nt,
            "o7-abc",
            Tft::from_whole(1),
            &taken,
            1000,
            &mut mint,
        )
        .unwrap();
        assert_eq!(nodes.len(), 3);
        let mut names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3, "names differ from each other");
        let open = |v: &StoredValue| match v {
            StoredValue::Sealed(s) => mint.master.open_string(s).unwrap().to_string(),
            StoredValue::Plain(p) => panic!("{p} is not sealed"),
        };
        for node in &nodes {
            assert!(!taken.contains(&node.name));
            assert!(node.name.starts_with("dash-masternode-"));
            assert_eq!(node.state, NodeState::Pending);
            assert_eq!(node.order, "o7-abc");
            assert_eq!((node.created_at, node.billed_until), (1000, 1000));
            assert_eq!(node.seed, hex::encode([9; 32]));
            assert_eq!(open(&node.settings["bls_key"]), "00ff");
            assert!(matches!(&node.settings["note"], StoredValue::Plain(p) if p == "hello"));
            assert_eq!(open(&node.generated["RPC_USER"]), "jukebox");
            assert_eq!(open(&node.generated["RPC_PASSWORD"]), "p".repeat(24));
            assert!(node.placed.is_none() && node.intent.is_none() && node.retired.is_empty());
        }
        mint.seed = None;
        assert_eq!(
            ordered_nodes(&draft, nt, "o8", Tft::ZERO, &[], 0, &mut mint).unwrap_err(),
            NoRandomness
        );
    }
}
