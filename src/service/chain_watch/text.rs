//! What the chain alerts say, pure: one message per confirmed change, the
//! key that makes it once per episode, its kind (each muted on its own) and
//! its buttons. A stall is never answered with a redeploy by reflex: the
//! message says what was seen and offers the choices.

use crate::alerts::Priority;
use crate::catalog::Client;
use crate::command::{AlertAction, Command, NodeKey};
use crate::dialogue::{Button, Message};
use crate::grid::sim::chain::ChainFault;
use crate::lifecycle::chain::{ChainEvent, ClientVersion};
use crate::lifecycle::chain_state::{ChainAlertKind, LayerHeight};
use crate::lifecycle::{human_duration, utc_datetime};

/// One alert to raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChainAlert {
    pub kind: ChainAlertKind,
    pub priority: Priority,
    /// Unique per episode: the same episode raised twice is sent once.
    pub key: String,
    pub message: Message,
}

/// The end of the initial sync after a deploy or redeploy: once per
/// contract (the tracker starts afresh with a new contract and remembers
/// `ever_in_sync` across restarts), a notice muted as `Synced` or with
/// everything. `took_from` is when the node was first read.
pub(super) fn synced(
    name: &str,
    chain: &str,
    position: &str,
    took_from: u64,
    at: u64,
) -> ChainAlert {
    ChainAlert {
        kind: ChainAlertKind::Synced,
        priority: Priority::Notice,
        key: format!("chain-synced:{name}:{took_from}"),
        message: Message::text(format!(
            "✅ Your {chain} node {name} finished syncing: height {position}, level with the network, after {}. \
             From now on I tell you if it falls behind or stops syncing.",
            human_duration(at.saturating_sub(took_from).max(60))
        )),
    }
}

/// The height reached, as the end-of-sync notice says it: one figure, or
/// each layer's for a chain read in layers ("<layer> block 1, <layer> block 2").
pub(super) fn position(height: u64, layers: &[LayerHeight]) -> String {
    if layers.is_empty() {
        return crate::user::chain_text::blocks(height);
    }
    layers
        .iter()
        .map(|l| {
            format!(
                "{} block {}",
                l.name,
                crate::user::chain_text::blocks(l.height)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The versions of the clients the catalog's image runs.
pub(super) fn catalog_versions(clients: &[Client]) -> Vec<ClientVersion> {
    clients
        .iter()
        .filter_map(|c| ClientVersion::parse(&c.version.to_string()).ok())
        .collect()
}

/// The buttons of a chain alert (none when the name is too long for a
/// button's data: the text names the commands instead).
fn buttons(name: &str, kind: ChainAlertKind, redeploy: Option<&str>) -> Vec<Vec<Button>> {
    let Some(node) = NodeKey::node(name) else {
        return Vec::new();
    };
    let button = |action, label: &str| {
        Command::ChainAlert {
            action,
            node: node.clone(),
            kind,
        }
        .button(label)
    };
    let mut row = Vec::new();
    if let Some(label) = redeploy {
        row.push(button(AlertAction::Redeploy, label));
    }
    row.push(button(AlertAction::Status, "Status"));
    vec![row]
}

/// The alert for `event` on node `name`, confirmed at `at`; `newer` holds
/// the versions the catalog's image runs (a redeploy installs them). `None`
/// for changes not worth a message; the end of the initial sync, whose
/// words need the chain's name and the height reached, is [`synced`].
#[cfg(test)]
pub(super) fn alert(
    name: &str,
    event: &ChainEvent,
    newer: &[ClientVersion],
    at: u64,
) -> Option<ChainAlert> {
    alert_with_layers(name, event, newer, at, &[])
}

/// [`alert`] for a chain read in layers (`layers`: each layer's heights
/// in the reading that confirmed it): positions are said per layer, since
/// the episode keeps only their sum.
pub(super) fn alert_with_layers(
    name: &str,
    event: &ChainEvent,
    newer: &[ClientVersion],
    at: u64,
    layers: &[LayerHeight],
) -> Option<ChainAlert> {
    let position = |height: u64| -> String {
        if layers.is_empty() {
            return format!("block {height}");
        }
        let each: Vec<String> = layers
            .iter()
            .map(|l| format!("{} block {}", l.name, l.height))
            .collect();
        each.join(", ")
    };
    let (kind, priority, key, text, buttons) = match event {
        ChainEvent::Synced { .. } => return None,
        ChainEvent::StoppedSyncing(e) => (
            ChainAlertKind::Stall,
            Priority::Outage,
            format!("chain-stall:{name}:{}", e.since),
            format!(
                "⚠️ {name} stopped syncing: its chain has stayed at {} since {}, {} blocks behind the network. \
                 Redeploying would not fix this by itself: a new node starts syncing from block 0 again. \
                 Your choices: wait (I will tell you when it moves again), look at its logs over SSH, or /redeploy {name} anyway.",
                position(e.height),
                utc_datetime(e.since),
                e.lag
            ),
            buttons(name, ChainAlertKind::Stall, Some("Redeploy anyway")),
        ),
        ChainEvent::ResumedSyncing {
            episode,
            stalled_for,
        } => (
            ChainAlertKind::Stall,
            Priority::Recovery,
            format!("chain-resumed:{name}:{}", episode.since),
            format!(
                "✅ {name} is syncing again: its chain moved {} after being stuck for {}.",
                if layers.is_empty() {
                    format!("past {}", position(episode.height))
                } else {
                    format!("again (now at {})", position(episode.height))
                },
                human_duration(*stalled_for)
            ),
            Vec::new(),
        ),
        ChainEvent::FellBehind(e) => (
            ChainAlertKind::Behind,
            Priority::Outage,
            format!("chain-behind:{name}:{}", e.since),
            format!(
                "⚠️ {name} fell behind by {} blocks: it is at {}, the network at {}. It was in sync before; I will tell you when it is back in sync.",
                e.lag,
                position(e.height),
                if layers.is_empty() {
                    e.height.saturating_add(e.lag).to_string()
                } else {
                    layers
                        .iter()
                        .map(|l| match l.network_height {
                            Some(n) => format!("{} block {n}", l.name),
                            None => format!("{} block unknown", l.name),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            buttons(name, ChainAlertKind::Behind, None),
        ),
        ChainEvent::BackInSync { episode, after } => (
            ChainAlertKind::Behind,
            Priority::Recovery,
            format!("chain-back:{name}:{}", episode.since),
            format!(
                "✅ {name} is back in sync after {}.",
                human_duration(*after)
            ),
            Vec::new(),
        ),
        ChainEvent::ClientTooOld { version, min } => {
            let best = newer.iter().max().filter(|v| *v > version && *v >= min);
            let (more, redeploy) = match best {
                Some(v) => (
                    format!(
                        " A redeploy moves it to a fresh deployment running {v}, keeping its name and settings; its chain syncs again from block 0."
                    ),
                    Some("Redeploy to update"),
                ),
                None => (
                    " Jukebox has no newer image for it yet: ask the operator.".to_string(),
                    None,
                ),
            };
            (
                ChainAlertKind::Version,
                Priority::Outage,
                // A version episode has no start of its own: the moment it was
                // confirmed names it (the tracker confirms each once).
                format!("chain-old:{name}:{at}"),
                format!(
                    "⚠️ {name} runs client {version}, too old for the network (it needs {min} or later): redeploy to update.{more}"
                ),
                buttons(name, ChainAlertKind::Version, redeploy),
            )
        }
        ChainEvent::ClientUpdated { version } => (
            ChainAlertKind::Version,
            Priority::Recovery,
            format!("chain-updated:{name}:{at}"),
            format!("✅ {name} now runs client {version}, which the network accepts."),
            Vec::new(),
        ),
    };
    Some(ChainAlert {
        kind,
        priority,
        key,
        message: Message { text, buttons },
    })
}

/// How a fault reads in the operator's confirmation.
pub(super) fn fault_words(fault: &ChainFault) -> String {
    match fault {
        ChainFault::Stall => "stalls (its height stays where it is)".into(),
        ChainFault::Behind { blocks } => format!("keeps {blocks} blocks behind the network"),
        ChainFault::OldVersion => "reports a client too old for the network".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::chain::Episode;

    fn v(text: &str) -> ClientVersion {
        ClientVersion::parse(text).unwrap()
    }

    #[test]
    fn a_stall_offers_choices_not_a_reflex() {
        let e = Episode {
            since: 1_795_392_000,
            height: 1_000,
            lag: 120,
        };
        let a = alert("dgb-x", &ChainEvent::StoppedSyncing(e), &[], 0).unwrap();
        assert_eq!(a.kind, ChainAlertKind::Stall);
        assert!(
            a.message.text.contains("stopped syncing"),
            "{}",
            a.message.text
        );
        assert!(a.message.text.contains("Your choices"));
        let data: Vec<&str> = a
            .message
            .buttons
            .iter()
            .flatten()
            .map(|b| b.data.as_str())
            .collect();
        assert_eq!(data, ["cr:stall:dgb-x", "cs:stall:dgb-x"]);
        assert_eq!(
            Command::from_button("cr:stall:dgb-x"),
            Command::ChainAlert {
                action: AlertAction::Redeploy,
                node: NodeKey::node("dgb-x").unwrap(),
                kind: ChainAlertKind::Stall
            }
        );
    }

    #[test]
    fn the_version_notice_offers_a_redeploy_only_when_the_catalog_is_newer() {
        let event = ChainEvent::ClientTooOld {
            version: v("9.26.1"),
            min: v("9.26.2"),
        };
        let with = alert("n", &event, &[v("9.26.3")], 0).unwrap();
        assert!(with.message.text.contains("too old for the network"));
        assert!(with.message.text.contains("running 9.26.3"));
        assert_eq!(with.message.buttons[0][0].label, "Redeploy to update");
        let without = alert("n", &event, &[v("9.26.1")], 0).unwrap();
        assert!(without.message.text.contains("no newer image"));
        assert_eq!(without.message.buttons[0].len(), 1);
        assert_eq!(without.message.buttons[0][0].label, "Status");
        assert_eq!(
            alert("n", &ChainEvent::Synced { took_from: 0 }, &[], 0),
            None
        );
    }

    /// A chain read in layers says where each layer is, not their sum.
    #[test]
    fn a_layered_chain_is_worded_per_layer() {
        let layer = |name: &str, height, network| LayerHeight {
            name: name.into(),
            height,
            network_height: Some(network),
        };
        let layers = [
            layer("Heimdall", 31_000_120, 31_000_420),
            layer("Bor", 80_000_120, 80_000_420),
        ];
        let e = Episode {
            since: 0,
            height: 111_000_240,
            lag: 600,
        };
        let stall = ChainEvent::StoppedSyncing(e.clone());
        let text = alert_with_layers("p", &stall, &[], 0, &layers)
            .unwrap()
            .message
            .text;
        assert!(
            text.contains("stayed at Heimdall block 31000120, Bor block 80000120 since"),
            "{text}"
        );
        let behind = ChainEvent::FellBehind(e);
        let text = alert_with_layers("p", &behind, &[], 0, &layers)
            .unwrap()
            .message
            .text;
        assert!(
            text.contains("it is at Heimdall block 31000120, Bor block 80000120, the network at Heimdall block 31000420, Bor block 80000420."),
            "{text}"
        );
    }
}
