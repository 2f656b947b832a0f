//! What users are told about their nodes, as pure functions of the records:
//! the state words, `/list`, `/status`, the rules that refuse a delete or a
//! redeploy, a stale alert button's explanation, `/mute` and `/autoheal`
//! replies, a running node's description (`describe_running`), and the
//! website's "My nodes" rows (`node_rows`). The service's components
//! (`service/views.rs`, `alerting.rs`, `web.rs`) load the records, call
//! these and send the words; nothing here reads a clock, a disk or a grid.

use crate::catalog::{Catalog, NodeType};
use crate::dialogue::NodeBrief;
use crate::lifecycle::{Mute, human_duration, utc_datetime};
use crate::model::grid::GridError;
use crate::model::{ContractInfo, ContractState, NodeStatus, WorkloadState};
use crate::money::Tft;

use super::{NodeRecord, NodeState, Nodes};

/// A node state as users read it.
pub fn state_word(state: &NodeState) -> &'static str {
    match state {
        NodeState::Pending => "waiting for payment",
        NodeState::Deploying => "deploying",
        NodeState::Running => "running",
        NodeState::Paused => "paused until a top-up",
        NodeState::Failed(_) => "failed",
        NodeState::Deleted => "deleted",
        NodeState::Expired => "deleted (funds ran out)",
    }
}

/// The live nodes as the conversation engine offers them on buttons.
pub fn node_briefs(nodes: &Nodes) -> Vec<NodeBrief> {
    nodes
        .live()
        .map(|n| NodeBrief {
            name: n.name.clone(),
            label: format!("{} · {}", n.name, state_word(&n.state)),
            chain: n.chain.clone(),
            node_type: n.node_type.clone(),
        })
        .collect()
}

/// The user's live node called `name`: only their own records are given.
pub fn live_node<'a>(nodes: &'a Nodes, name: &str) -> Option<&'a NodeRecord> {
    nodes.get(name).filter(|n| n.is_live())
}

/// The reply when a user names a node they do not have.
pub fn no_such_node(name: &str) -> String {
    format!("You have no node named {name}. Send /list to see your nodes.")
}

/// The `/list` reply.
pub fn nodes_list(nodes: &Nodes) -> String {
    nodes_list_marked(nodes, &|_| None)
}

/// `/list` with a mark after the nodes that need a look (`mark`: the
/// chain's, `chain_text::list_mark`).
pub fn nodes_list_marked(nodes: &Nodes, mark: &dyn Fn(&NodeRecord) -> Option<String>) -> String {
    let live: Vec<&NodeRecord> = nodes.live().collect();
    if live.is_empty() {
        return "You have no nodes yet. Send /deploy to run one.".to_owned();
    }
    let mut lines = vec![format!("Your nodes ({}):", live.len())];
    for n in live {
        let place = n
            .placed
            .as_ref()
            .map(|p| format!(" · grid node {} ({})", p.node.id, p.node.country))
            .unwrap_or_default();
        let mark = mark(n).map(|m| format!(" · {m}")).unwrap_or_default();
        lines.push(format!(
            "• {} — {}{place}{mark}",
            n.name,
            state_word(&n.state)
        ));
    }
    lines.push(String::new());
    lines.push("/status <name> for details, /delete <name>, /redeploy <name>.".into());
    lines.join("\n")
}

/// The `/balance` reply, from the balance and the runway sentence
/// (`Funding::runway_text`).
pub fn balance_text(balance: Tft, runway: &str, mute: Mute) -> String {
    let mut text = format!("Balance: {balance}\n{runway}");
    text.push_str("\n/topup adds funds.");
    if mute != Mute::Nothing {
        text.push_str(" (Reminders are muted; /unmute turns them back on.)");
    }
    text
}

/// How a placed node's contract looks on the grid, in one phrase.
pub fn contract_health(info: &ContractInfo) -> String {
    match (&info.state, &info.workload, info.node_status) {
        (ContractState::Created, WorkloadState::Ok, NodeStatus::Up) => "healthy".to_owned(),
        (_, _, NodeStatus::Down) => "its grid node is down; /redeploy moves it".to_owned(),
        (_, WorkloadState::Error(e), _) => format!("workload error: {e}; /redeploy moves it"),
        (ContractState::GracePeriod, _, _) => "paused: funds ran out; top up to resume".to_owned(),
        (state, workload, status) => {
            format!("contract {state:?}, workload {workload:?}, grid node {status:?}")
        }
    }
}

/// Where a running node is and how to reach it: its grid node, addresses,
/// the catalog's ports for its type (`node_type`, when the catalog still
/// has it) and SSH. `simulated` when it runs on the embedded grid, whose
/// addresses reach nothing.
pub fn describe_running(
    node: &NodeRecord,
    node_type: Option<&NodeType>,
    simulated: bool,
) -> String {
    let Some(placed) = &node.placed else {
        return format!("{} is not placed on the grid.", node.name);
    };
    let mut lines = vec![
        format!("{} is running", node.name),
        format!(
            "Grid node {} · farm {} · {}",
            placed.node.id, placed.node.farm_name, placed.node.country
        ),
    ];
    if simulated {
        lines.push(
            "SIMULATED: this node runs on the simulated grid, not on a real server; its addresses are documentation addresses that reach nothing."
                .to_owned(),
        );
    }
    if let Some(ip) = &placed.ipv4 {
        lines.push(format!("IPv4: {ip}"));
    }
    if let Some(ip) = &placed.ipv6 {
        lines.push(format!("IPv6: {ip}"));
    }
    if let Some(ip) = &placed.mycelium {
        lines.push(format!("Mycelium: {ip}"));
    }
    if let Some(nt) = node_type {
        let ports: Vec<String> = nt
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{} {}{}",
                    p.name,
                    p.port,
                    if p.public { "" } else { " (inside the node)" }
                )
            })
            .collect();
        if !ports.is_empty() {
            lines.push(format!("Ports: {}", ports.join(", ")));
        }
    }
    let host = placed.hosts().next();
    match (&node.ssh_key, host) {
        (Some(_), Some(host)) => lines.push(format!("SSH: ssh root@{host}")),
        (None, _) => lines.push("SSH: off (no key was given at /deploy).".into()),
        _ => {}
    }
    lines.join("\n")
}

/// What the grid said about a placed node for `/status`.
pub struct OnGrid<'a> {
    /// The contract as the grid reports it, or why it could not be asked.
    pub contract: Result<&'a ContractInfo, &'a GridError>,
    /// The node's description (addresses, ports; `describe_running`).
    pub description: &'a str,
}

/// The `/status` reply for one node; `on_grid` is given when it is placed.
pub fn status_text(node: &NodeRecord, now: u64, on_grid: Option<OnGrid<'_>>) -> String {
    let mut text = format!("{} — {}", node.name, state_word(&node.state));
    if let Some(outage) = &node.outage {
        text.push_str(&format!(
            "\nDown since {} ({} ago): {}. /redeploy moves it.",
            utc_datetime(outage.since),
            human_duration(now.saturating_sub(outage.since)),
            outage.reason
        ));
    }
    if node.state == NodeState::Running {
        text.push_str(if node.autoheal {
            "\nAuto-heal: on (/autoheal to change)"
        } else {
            "\nAuto-heal: off (/autoheal to change)"
        });
    }
    match on_grid {
        Some(on_grid) => {
            match on_grid.contract {
                Ok(info) => text.push_str(&format!("\nHealth: {}", contract_health(info))),
                Err(e) => text.push_str(&format!("\nThe grid could not be asked right now ({e}).")),
            }
            text.push('\n');
            text.push_str(on_grid.description);
        }
        None => {
            if let NodeState::Failed(why) = &node.state {
                text.push_str(&format!("\nReason: {why}"));
            }
        }
    }
    text.push_str(&format!("\nCosts {} per hour.", node.price_per_hour));
    text
}

/// Why `node` cannot be deleted now, if it cannot.
pub fn delete_refusal(node: &NodeRecord) -> Option<String> {
    (node.state == NodeState::Deploying).then(|| {
        format!(
            "{} is being deployed right now; delete it once it is running.",
            node.name
        )
    })
}

/// The reply once a node is deleted; `confirmed` when the grid confirmed
/// its contract's cancellation.
pub fn deleted_text(name: &str, confirmed: bool) -> String {
    if confirmed {
        format!("Deleted {name}. It no longer costs anything.")
    } else {
        format!(
            "Deleted {name}. The grid has not confirmed the cancellation yet; Jukebox keeps trying until it does, and nothing is charged for {name} meanwhile."
        )
    }
}

/// Why `node` cannot be redeployed now, if it cannot: only running nodes
/// move, and one move at a time.
pub fn redeploy_refusal(node: &NodeRecord) -> Option<String> {
    let name = &node.name;
    if node.state != NodeState::Running {
        return Some(format!(
            "{name} is {} right now; only running nodes can be redeployed.",
            state_word(&node.state)
        ));
    }
    node.intent
        .is_some()
        .then(|| format!("{name} is being moved already; you will hear when it is done."))
}

/// Whether an outage alert's button, sent for the outage that began at
/// `since` (`None`: an old alert that did not say), still applies to
/// `node` (the presser's live node of that name, if any).
pub fn alert_applies(node: Option<&NodeRecord>, since: Option<u64>) -> bool {
    let current = node.and_then(|n| n.outage.as_ref()).map(|o| o.since);
    match since {
        Some(since) => current == Some(since),
        None => current.is_some(),
    }
}

/// What a user is told when an alert's button no longer applies
/// ([`alert_applies`] said no).
pub fn stale_alert_text(name: &str, node: Option<&NodeRecord>) -> String {
    let current = node.and_then(|n| n.outage.as_ref());
    let why = match (node, current) {
        (None, _) => format!("{name} no longer exists"),
        (Some(_), Some(_)) => format!(
            "{name} is down again, but this alert was about an earlier outage; use the newest alert, or /redeploy {name}"
        ),
        (Some(_), None) => {
            format!("that outage of {name} is over (it came back, or it was already moved)")
        }
    };
    let more = if node.is_some() {
        format!(" /status {name} shows how it is now.")
    } else {
        String::new()
    };
    format!("That alert's button no longer applies: {why}. Nothing was done.{more}")
}

/// What `/mute <what>` (and `/unmute`) set, and the reply.
pub fn mute_choice(what: &str) -> (Mute, &'static str) {
    match what {
        "reminders" => (
            Mute::Reminders,
            "Low-funds reminders are off. I still tell you when a node goes down or comes back, and when nodes are paused or deleted. /unmute turns reminders back on.",
        ),
        "everything" => (
            Mute::Everything,
            "Reminders and outage alerts are off. I still tell you when nodes are paused or deleted for lack of funds. /unmute turns everything back on.",
        ),
        _ => (
            Mute::Nothing,
            "You will get every reminder and outage alert again.",
        ),
    }
}

/// The reply to `/autoheal <name> on|off`.
pub fn autoheal_text(name: &str, on: bool) -> String {
    if on {
        format!(
            "Auto-heal is on for {name}: when it goes down I move it to another grid node and tell you its new addresses."
        )
    } else {
        format!(
            "Auto-heal is off for {name}: when it goes down I tell you, with a button to redeploy it."
        )
    }
}

/// A user's money and nodes, for the website's "My nodes" page.
#[derive(Clone, Debug)]
pub struct Overview {
    pub balance: Tft,
    /// Burn and funded-until, or the grace deadline (as `/balance` says).
    pub runway: String,
    pub nodes: Vec<NodeRow>,
}

/// One live node in the overview.
#[derive(Clone, Debug)]
pub struct NodeRow {
    pub name: String,
    /// The chain's and the node type's names, e.g. "<Chain> · <Type>".
    pub kind: String,
    pub state: &'static str,
    /// Running (or paused/deploying): the actions that make sense.
    pub running: bool,
    pub location: String,
    pub address: Option<String>,
    pub price_per_day: Tft,
    /// "down for 12 minutes" while an outage is confirmed.
    pub down: Option<String>,
    pub autoheal: bool,
    /// The node's chain as the monitor last read it (`user::chain_text`).
    pub chain: Option<super::chain_text::WebChain>,
    /// What the node's network dashboard says of it (`user::link_text`).
    pub link: Option<String>,
}

/// The overview's rows: one per live node, as of `now`.
pub fn node_rows(nodes: &Nodes, catalog: &Catalog, now: u64) -> Vec<NodeRow> {
    nodes
        .live()
        .map(|n| NodeRow {
            name: n.name.clone(),
            kind: catalog
                .node_type(&n.chain, &n.node_type)
                .map(|(c, t)| format!("{} · {}", c.name, t.name))
                .unwrap_or_else(|| format!("{} · {}", n.chain, n.node_type)),
            state: state_word(&n.state),
            running: matches!(n.state, NodeState::Running | NodeState::Paused),
            location: n
                .placed
                .as_ref()
                .map(|p| format!("grid node {} · {}", p.node.id, p.node.country))
                .unwrap_or_default(),
            address: n.placed.as_ref().and_then(|p| {
                p.ipv4
                    .clone()
                    .or_else(|| p.ipv6.clone())
                    .or_else(|| p.mycelium.clone())
            }),
            price_per_day: n.price_per_hour.saturating_mul(24),
            down: n
                .outage
                .as_ref()
                .map(|o| format!("down for {}", human_duration(now.saturating_sub(o.since)))),
            autoheal: n.autoheal,
            chain: super::chain_text::node_view(catalog, n)
                .map(|(c, v)| super::chain_text::web_chain(c, &v, &n.name)),
            link: super::link_text::status_line(catalog, n, now),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Outage;
    use crate::model::{ContractId, GridNodeId, Placed};

    fn record(name: &str, state: NodeState) -> NodeRecord {
        NodeRecord::bare(name, state)
    }

    fn placed() -> Placed {
        crate::user::test_placement(7)
    }

    #[test]
    fn the_list_names_only_live_nodes_and_where_they_run() {
        let mut nodes = Nodes::default();
        assert_eq!(
            nodes_list(&nodes),
            "You have no nodes yet. Send /deploy to run one."
        );
        let mut running = record("a", NodeState::Running);
        running.placed = Some(placed());
        nodes.nodes.push(running);
        nodes.nodes.push(record("gone", NodeState::Deleted));
        nodes.nodes.push(record("b", NodeState::Pending));
        let text = nodes_list(&nodes);
        assert!(text.starts_with("Your nodes (2):\n"), "{text}");
        assert!(
            text.contains("• a — running · grid node 11 (Belgium)"),
            "{text}"
        );
        assert!(text.contains("• b — waiting for payment\n"), "{text}");
        assert!(!text.contains("gone"), "{text}");
        let briefs = node_briefs(&nodes);
        assert_eq!(briefs.len(), 2);
        assert_eq!(briefs[0].label, "a · running");
    }

    #[test]
    fn status_says_health_or_why_the_grid_could_not_be_asked() {
        let mut node = record("a", NodeState::Running);
        node.outage = Some(Outage {
            since: 0,
            reason: "no answer".into(),
        });
        let info = ContractInfo {
            contract: ContractId(7),
            node: GridNodeId(11),
            state: ContractState::Created,
            workload: WorkloadState::Ok,
            node_status: NodeStatus::Down,
        };
        let text = status_text(
            &node,
            3600,
            Some(OnGrid {
                contract: Ok(&info),
                description: "a is running",
            }),
        );
        assert!(text.contains("(60 minutes ago): no answer."), "{text}");
        assert!(text.contains("Auto-heal: off"), "{text}");
        assert!(
            text.contains("Health: its grid node is down; /redeploy moves it\na is running"),
            "{text}"
        );
        let unreachable = GridError::Unavailable("timed out".into());
        let text = status_text(
            &node,
            3600,
            Some(OnGrid {
                contract: Err(&unreachable),
                description: "",
            }),
        );
        assert!(
            text.contains(
                "The grid could not be asked right now (the grid is unreachable: timed out)."
            ),
            "{text}"
        );
        let failed = record("f", NodeState::Failed("no capacity".into()));
        let text = status_text(&failed, 0, None);
        assert!(text.contains("Reason: no capacity"), "{text}");
        assert!(!text.contains("Auto-heal"), "{text}");
    }

    #[test]
    fn a_description_says_where_and_how_to_reach_a_node() {
        let mut node = record("a", NodeState::Running);
        assert_eq!(
            describe_running(&node, None, false),
            "a is not placed on the grid."
        );
        let mut at = placed();
        at.ipv4 = Some("203.0.113.5/24".into());
        node.placed = Some(at);
        node.ssh_key = Some("ssh-ed25519 AAAA".into());
        let text = describe_running(&node, None, true);
        assert!(
            text.starts_with("a is running\nGrid node 11 · farm farm · Belgium\nSIMULATED:"),
            "{text}"
        );
        assert!(text.contains("\nIPv4: 203.0.113.5/24\n"), "{text}");
        assert!(text.ends_with("SSH: ssh root@203.0.113.5"), "{text}");
        node.ssh_key = None;
        assert!(
            describe_running(&node, None, false)
                .ends_with("SSH: off (no key was given at /deploy).")
        );
    }

    #[test]
    fn only_running_nodes_not_moving_already_are_redeployed() {
        let mut node = record("a", NodeState::Running);
        assert_eq!(redeploy_refusal(&node), None);
        node.intent = Some(crate::user::DeployIntent {
            grid_node: GridNodeId(1),
            deployment_hash: String::new(),
            at: 0,
        });
        assert!(
            redeploy_refusal(&node)
                .unwrap()
                .contains("being moved already")
        );
        let paused = record("p", NodeState::Paused);
        assert!(
            redeploy_refusal(&paused)
                .unwrap()
                .contains("p is paused until a top-up right now")
        );
        assert!(delete_refusal(&record("d", NodeState::Deploying)).is_some());
        assert!(delete_refusal(&paused).is_none());
    }

    #[test]
    fn an_alert_button_applies_only_to_the_outage_it_was_sent_for() {
        let mut node = record("a", NodeState::Running);
        assert!(!alert_applies(Some(&node), None));
        assert!(!alert_applies(None, Some(5)));
        node.outage = Some(Outage {
            since: 5,
            reason: String::new(),
        });
        assert!(alert_applies(Some(&node), Some(5)));
        assert!(alert_applies(Some(&node), None));
        assert!(!alert_applies(Some(&node), Some(4)));
        assert!(stale_alert_text("a", Some(&node)).contains("earlier outage"));
        assert!(stale_alert_text("a", None).contains("a no longer exists. Nothing was done."));
    }

    #[test]
    fn mute_words_map_to_mutes() {
        assert_eq!(mute_choice("reminders").0, Mute::Reminders);
        assert_eq!(mute_choice("everything").0, Mute::Everything);
        assert_eq!(mute_choice("").0, Mute::Nothing);
        assert!(balance_text(Tft::ZERO, "r", Mute::Reminders).contains("muted"));
        assert!(!balance_text(Tft::ZERO, "r", Mute::Nothing).contains("muted"));
    }
}
