//! What users read about a node's chain (issue 19 item 4): `/status`'s
//! lines (height and network height, sync percentage and ETA, "in sync",
//! the client and whether the network still accepts it, a confirmed stall
//! or fall behind), `/list`'s mark, and the website's progress bar.
//!
//! Pure functions of the node's record and the catalog: the monitor stores
//! what it read (`lifecycle::chain_state::NodeChain`), `NodeChain::view`
//! turns it into a `ChainView`, and this module only words it, so the chat
//! and the website say the same thing. Nothing here reads a clock (`now` is
//! passed in), a disk or a grid.

use crate::catalog::{Catalog, Chain};
use crate::lifecycle::chain::SyncView;
use crate::lifecycle::chain_state::{ChainMark, ChainView, VersionVerdict};
use crate::lifecycle::{human_duration, utc_datetime};

use super::NodeRecord;

/// The chain view of `node`, with its chain: `None` when the chain is not
/// read (no `chain_probe`), the node is not placed, or nothing was read for
/// its current contract yet (a redeployed node starts again from block 0).
pub fn node_view<'c>(catalog: &'c Catalog, node: &NodeRecord) -> Option<(&'c Chain, ChainView)> {
    let chain = catalog.chain(&node.chain)?;
    let spec = chain.probe.as_ref()?;
    let contract = node.placed.as_ref()?.contract;
    let view = node.chain_health.as_ref()?.view(contract, spec)?;
    Some((chain, view))
}

/// `1234567` as "1,234,567": heights are long.
pub fn blocks(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where the node is: "block 1,234", or each layer of a chain read in two
/// ("<consensus> block 30,000,000, <execution> block 1,000", the catalog's names).
fn position(view: &ChainView) -> String {
    layered(view, |height, _| format!("block {}", blocks(height)))
}

/// "block 1,234 of 2,000", or each layer with its own network height.
fn progress(view: &ChainView, network: u64) -> String {
    if view.layers.is_empty() {
        return format!("block {} of {}", blocks(view.height), blocks(network));
    }
    layered(view, |height, network| match network {
        Some(n) => format!("block {} of {}", blocks(height), blocks(n)),
        None => format!("block {}", blocks(height)),
    })
}

/// "block 1,234 (network 1,236)", or each layer with its own.
fn in_sync_at(view: &ChainView, network: u64) -> String {
    if view.layers.is_empty() {
        return format!(
            "block {} (network {})",
            blocks(view.height),
            blocks(network)
        );
    }
    layered(view, |height, network| match network {
        Some(n) => format!("block {} (network {})", blocks(height), blocks(n)),
        None => format!("block {}", blocks(height)),
    })
}

/// `say(height, network)` for the node, or for each of its layers, named.
fn layered(view: &ChainView, say: impl Fn(u64, Option<u64>) -> String) -> String {
    if view.layers.is_empty() {
        return say(view.height, view.network_height);
    }
    view.layers
        .iter()
        .map(|l| format!("{} {}", l.name, say(l.height, l.network_height)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a confirmed stall froze the node: its layers while it still sits
/// there (the episode keeps the summed height only).
fn stuck_at(view: &ChainView, height: u64) -> String {
    if view.height == height {
        position(view)
    } else {
        format!("block {}", blocks(height))
    }
}

/// The client as it names itself, without the P2P user agent's slashes
/// ("/Name:1.2.3/" reads "Name:1.2.3").
fn client_name(view: &ChainView) -> String {
    let name = view.client.trim().trim_matches('/').trim();
    match (&view.version, name.is_empty()) {
        (Some(v), true) => v.to_string(),
        (_, false) => name.to_owned(),
        (None, true) => "not named".to_owned(),
    }
}

/// The sync line: where the node is against the network.
pub fn sync_line(chain: &str, view: &ChainView) -> String {
    match (&view.sync, view.network_height) {
        (SyncView::InSync, Some(network)) => {
            format!("{chain} chain: in sync, {}.", in_sync_at(view, network))
        }
        (SyncView::Syncing { permille, eta_secs }, Some(network)) => {
            let eta = match eta_secs {
                Some(secs) => format!(
                    "about {} to go at the rate measured",
                    human_duration((*secs).max(60))
                ),
                None => "no estimate yet: it is not gaining on the network".to_owned(),
            };
            format!(
                "{chain} chain: syncing, {} ({}); {eta}.",
                progress(view, network),
                SyncView::percent(*permille)
            )
        }
        _ => format!(
            "{chain} chain: {} (the network's height is not known right now, so no sync percentage).",
            position(view)
        ),
    }
}

/// The client line: its version and whether the network accepts it.
pub fn client_line(view: &ChainView, node: &str) -> String {
    let client = client_name(view);
    match &view.verdict {
        VersionVerdict::Accepted => format!("Client: {client}, accepted by the network."),
        VersionVerdict::TooOld { min } => format!(
            "Client: {client}, too old: the network no longer accepts it (it needs {min} or later). /redeploy {node} starts it on the catalog's current image."
        ),
        VersionVerdict::Unknown => format!("Client: {client}."),
    }
}

/// Every line `/status` adds about the chain, `now` being the time of the
/// request (for "read N minutes ago").
pub fn status_lines(chain: &Chain, view: &ChainView, node: &str, now: u64) -> Vec<String> {
    let mut lines = vec![sync_line(&chain.name, view)];
    if let Some(stall) = &view.stalled {
        lines.push(format!(
            "⛔ Stopped syncing: still at {} since {} ({} ago).",
            stuck_at(view, stall.height),
            utc_datetime(stall.since),
            human_duration(now.saturating_sub(stall.since))
        ));
    } else if let Some(behind) = &view.behind {
        lines.push(format!(
            "⚠️ Fell behind the network by {} blocks at {} (it had been in sync).",
            blocks(behind.lag),
            utc_datetime(behind.since)
        ));
    }
    lines.push(client_line(view, node));
    let age = now.saturating_sub(view.at);
    let mut read = if age < 60 {
        "Read just now.".to_owned()
    } else {
        format!("Read {} ago.", human_duration(age))
    };
    if let Some(why) = &view.unreadable {
        read.push_str(&format!(
            " The latest check could not read it ({why}); this is the reading before."
        ));
    }
    lines.push(read);
    lines
}

/// `/status` with the chain's lines after it, when the node's chain is read.
pub fn with_status_lines(text: String, catalog: &Catalog, node: &NodeRecord, now: u64) -> String {
    match node_view(catalog, node) {
        Some((chain, view)) => {
            let lines = status_lines(chain, &view, &node.name, now);
            format!("{text}\n{}", lines.join("\n"))
        }
        None => text,
    }
}

/// `/list`'s mark for `node`, when its chain needs a look.
pub fn node_mark(catalog: &Catalog, node: &NodeRecord) -> Option<String> {
    node_view(catalog, node).and_then(|(_, view)| list_mark(&view))
}

/// `/list`'s mark for a node whose chain needs a look, or `None`.
pub fn list_mark(view: &ChainView) -> Option<String> {
    Some(match view.mark? {
        ChainMark::Stuck => format!("⛔ stuck at {}", position(view)),
        ChainMark::Behind => match view.behind.as_ref().map(|b| b.lag) {
            Some(lag) if lag > 0 => format!("⚠️ behind by {} blocks", blocks(lag)),
            _ => "⚠️ behind".to_owned(),
        },
        ChainMark::TooOld => "⚠️ client too old".to_owned(),
        ChainMark::Syncing => match &view.sync {
            SyncView::Syncing { permille, .. } => {
                format!("⏳ syncing {}", SyncView::percent(*permille))
            }
            _ => "⏳ syncing".to_owned(),
        },
    })
}

/// What the website's My nodes shows of a node's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebChain {
    /// One line: "in sync, block …", "syncing 47.4%, about 6 hours to go".
    pub summary: String,
    /// Sync progress in tenths of a percent, while syncing: the page's
    /// `<progress max="1000">`.
    pub progress_permille: Option<u32>,
    /// A confirmed problem, shown as a badge: stuck, behind, client too old.
    pub problem: Option<String>,
    /// The client line, as `/status` says it.
    pub client: String,
}

impl WebChain {
    /// The progress as a percentage ("47.3%"), empty when not syncing.
    pub fn percent(&self) -> String {
        self.progress_permille
            .map(SyncView::percent)
            .unwrap_or_default()
    }
}

/// The website's row data for a node's chain.
pub fn web_chain(chain: &Chain, view: &ChainView, node: &str) -> WebChain {
    let (summary, progress_permille) = match (&view.sync, view.network_height) {
        (SyncView::InSync, Some(_)) => (format!("in sync, {}", position(view)), None),
        (SyncView::Syncing { permille, eta_secs }, Some(network)) => (
            format!(
                "syncing {} ({}){}",
                SyncView::percent(*permille),
                progress(view, network),
                eta_secs
                    .map(|s| format!(", about {} to go", human_duration(s.max(60))))
                    .unwrap_or_default()
            ),
            Some(*permille),
        ),
        _ => (position(view), None),
    };
    let problem = match view.mark {
        Some(ChainMark::Syncing) | None => None,
        Some(_) => list_mark(view),
    };
    WebChain {
        summary: format!("{}: {summary}", chain.name),
        progress_permille,
        problem,
        client: client_line(view, node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::lifecycle::chain::{ChainEpisodes, ClientVersion, Episode};
    use crate::lifecycle::chain_state::{ChainSnapshot, NodeChain};
    use crate::model::grid::ContractId;

    const CATALOG: &str = include_str!("../../dialogues/catalog.yaml");

    fn view(chain: &str, snapshot: ChainSnapshot, episodes: ChainEpisodes) -> (Chain, ChainView) {
        let catalog = Catalog::parse("catalog.yaml", CATALOG).unwrap();
        let chain = catalog.chain(chain).unwrap().clone();
        let record = NodeChain {
            contract: ContractId(5),
            episodes,
            last: Some(snapshot),
            unreadable: None,
        };
        let view = record
            .view(ContractId(5), chain.probe.as_ref().unwrap())
            .unwrap();
        (chain, view)
    }

    fn reading(height: u64, network: Option<u64>, client: &str, v: &str) -> ChainSnapshot {
        ChainSnapshot {
            at: 1_000_000,
            height,
            network_height: network,
            client: client.to_owned(),
            version: Some(ClientVersion::parse(v).unwrap()),
            eta_secs: Some(6 * 3600),
            layers: vec![],
        }
    }

    #[test]
    fn heights_read_with_thousands_separators() {
        assert_eq!(blocks(0), "0");
        assert_eq!(blocks(999), "999");
        assert_eq!(blocks(1000), "1,000");
        assert_eq!(blocks(24_900_000), "24,900,000");
    }

    #[test]
    fn a_syncing_node_shows_percentage_eta_and_a_mark() {
        let (chain, v) = view(
            "dash",
            reading(1_230_000, Some(2_600_000), "/Dash Core:23.0.0/", "23.0.0"),
            ChainEpisodes::default(),
        );
        let lines = status_lines(&chain, &v, "dash-full-x", 1_000_000 + 120);
        assert_eq!(
            lines[0],
            "Dash chain: syncing, block 1,230,000 of 2,600,000 (47.3%); about 6 hours to go at the rate measured."
        );
        assert_eq!(lines[1], "Client: Dash Core:23.0.0.");
        assert_eq!(lines[2], "Read 2 minutes ago.");
        assert_eq!(list_mark(&v).unwrap(), "⏳ syncing 47.3%");
        let web = web_chain(&chain, &v, "dash-full-x");
        assert_eq!(web.progress_permille, Some(473));
        assert_eq!(web.problem, None);
        assert!(
            web.summary.contains("about 6 hours to go"),
            "{}",
            web.summary
        );
    }

    #[test]
    fn in_sync_within_a_few_blocks_and_no_mark() {
        let (chain, v) = view(
            "digibyte",
            reading(24_900_000, Some(24_900_005), "/DigiByte:9.26.3/", "9.26.3"),
            ChainEpisodes::default(),
        );
        let lines = status_lines(&chain, &v, "n", 1_000_000);
        assert_eq!(
            lines[0],
            "DigiByte chain: in sync, block 24,900,000 (network 24,900,005)."
        );
        assert_eq!(
            lines[1],
            "Client: DigiByte:9.26.3, accepted by the network."
        );
        assert_eq!(list_mark(&v), None);
        assert_eq!(web_chain(&chain, &v, "n").progress_permille, None);
    }

    #[test]
    fn too_old_stuck_and_behind_say_what_was_seen() {
        let (chain, v) = view(
            "digibyte",
            reading(24_000_000, Some(24_900_000), "/DigiByte:8.22.2/", "8.22.2"),
            ChainEpisodes {
                stalled: Some(Episode {
                    since: 1_000_000 - 7200,
                    height: 24_000_000,
                    lag: 900_000,
                }),
                ..ChainEpisodes::default()
            },
        );
        let lines = status_lines(&chain, &v, "dgb-1", 1_000_000);
        assert!(lines[1].starts_with("⛔ Stopped syncing: still at block 24,000,000 since "));
        assert!(lines[1].ends_with("(2 hours ago)."), "{}", lines[1]);
        assert_eq!(
            lines[2],
            "Client: DigiByte:8.22.2, too old: the network no longer accepts it (it needs 9.26.2 or later). /redeploy dgb-1 starts it on the catalog's current image."
        );
        assert_eq!(list_mark(&v).unwrap(), "⛔ stuck at block 24,000,000");
        let web = web_chain(&chain, &v, "dgb-1");
        assert_eq!(web.problem.as_deref(), Some("⛔ stuck at block 24,000,000"));

        let (_, behind) = view(
            "dash",
            reading(2_599_000, Some(2_600_000), "", "23"),
            ChainEpisodes {
                ever_in_sync: true,
                behind: Some(Episode {
                    since: 999_000,
                    height: 2_599_000,
                    lag: 1_000,
                }),
                ..ChainEpisodes::default()
            },
        );
        assert_eq!(list_mark(&behind).unwrap(), "⚠️ behind by 1,000 blocks");
        assert_eq!(client_line(&behind, "d"), "Client: 23.");
    }

    #[test]
    fn an_unknown_tip_and_a_failed_check_are_said_plainly() {
        let (chain, mut v) = view(
            "dash",
            reading(100, None, "/Dash Core:23.0.0/", "23.0.0"),
            ChainEpisodes::default(),
        );
        v.unreadable = Some("no answer within 10 seconds".into());
        let lines = status_lines(&chain, &v, "n", 1_000_000 + 3600);
        assert!(lines[0].contains("the network's height is not known"));
        assert!(lines[2].contains("Read 60 minutes ago."), "{}", lines[2]);
        assert!(lines[2].contains("(no answer within 10 seconds)"));
        assert_eq!(list_mark(&v), None);
    }

    /// Polygon is read in two layers: each shown with its own heights; the
    /// percentage is of both together.
    #[test]
    fn polygon_shows_heimdall_and_bor() {
        use crate::lifecycle::chain_state::LayerHeight;
        let layer = |name: &str, height, network| LayerHeight {
            name: name.into(),
            height,
            network_height: network,
        };
        let syncing = ChainSnapshot {
            layers: vec![
                layer("Heimdall", 30_000_000, Some(30_000_005)),
                layer("Bor", 40_000_000, Some(80_000_000)),
            ],
            ..reading(70_000_000, Some(110_000_005), "0.38.17", "0.38.17")
        };
        let (chain, v) = view("polygon", syncing, ChainEpisodes::default());
        let lines = status_lines(&chain, &v, "polygon-x", 1_000_000);
        assert_eq!(
            lines[0],
            "Polygon chain: syncing, Heimdall block 30,000,000 of 30,000,005, Bor block 40,000,000 of 80,000,000 (63.6%); about 6 hours to go at the rate measured."
        );
        let web = web_chain(&chain, &v, "polygon-x");
        assert!(
            web.summary.contains(
                "(Heimdall block 30,000,000 of 30,000,005, Bor block 40,000,000 of 80,000,000)"
            ),
            "{}",
            web.summary
        );
        let synced = ChainSnapshot {
            layers: vec![
                layer("Heimdall", 30_000_004, Some(30_000_005)),
                layer("Bor", 80_000_000, Some(80_000_002)),
            ],
            ..reading(110_000_004, Some(110_000_007), "0.38.17", "0.38.17")
        };
        let stalled = ChainEpisodes {
            stalled: Some(Episode {
                since: 1_000_000 - 7200,
                height: 110_000_004,
                lag: 3,
            }),
            ..ChainEpisodes::default()
        };
        let (chain, v) = view("polygon", synced.clone(), ChainEpisodes::default());
        assert_eq!(
            sync_line(&chain.name, &v),
            "Polygon chain: in sync, Heimdall block 30,000,004 (network 30,000,005), Bor block 80,000,000 (network 80,000,002)."
        );
        let (chain, v) = view("polygon", synced, stalled);
        let lines = status_lines(&chain, &v, "polygon-x", 1_000_000);
        assert!(
            lines[1].starts_with("⛔ Stopped syncing: still at Heimdall block 30,000,004, Bor block 80,000,000 since "),
            "{}",
            lines[1]
        );
        assert_eq!(
            list_mark(&v).unwrap(),
            "⛔ stuck at Heimdall block 30,000,004, Bor block 80,000,000"
        );
    }
}
