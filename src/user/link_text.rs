//! What users read about a node whose network reports its status on a
//! dashboard (the catalog's `node_status:`): `/status`'s line and My nodes'
//! line, from the record's `lifecycle::node_link::NodeLink`. Without the
//! user's API key it says honestly that the node shows nothing from outside,
//! so only the grid's checks apply, and how to give the key.
//!
//! Pure: `now` is passed in; the chat and the website say the same words.

use crate::catalog::Catalog;
use crate::lifecycle::node_link::{LinkSnapshot, show_tenths};
use crate::lifecycle::{human_duration, utc_datetime};

use super::NodeRecord;

/// The line for `node`, or `None` when its node type has no `node_status`
/// or it is not placed.
pub fn status_line(catalog: &Catalog, node: &NodeRecord, now: u64) -> Option<String> {
    let (chain, nt) = catalog.node_type(&node.chain, &node.node_type)?;
    let spec = nt.node_status.as_ref()?;
    let contract = node.placed.as_ref()?.contract;
    let network = &chain.name;
    if !node.settings.contains_key(&spec.key_setting) {
        return Some(format!(
            "{network} network: the node shows nothing from outside (it connects out to {network}), so only the grid's checks apply here. \
             To see whether {network} has it connected, with its uptime and reliability, and be told when it disconnects, \
             give your node API key with /apikey {} (it is at the bottom of any node's page on {}).",
            node.name, spec.dashboard
        ));
    }
    let link = node.node_link.as_ref().filter(|l| l.contract == contract);
    let Some(last) = link.and_then(|l| l.last.as_ref()) else {
        let why = link
            .and_then(|l| l.unreadable.as_deref())
            .map(|e| format!(" The latest read failed: {e}."))
            .unwrap_or_default();
        return Some(format!(
            "{network} network: not read yet from your {network} dashboard (the monitor reads it at its next checks).{why}"
        ));
    };
    let mut line = format!("{network} network: {}", state_words(last, now));
    if let Some(down) = link.and_then(|l| l.down_since) {
        line.push_str(&format!(
            " ⚠️ Disconnected since {} ({} ago).",
            utc_datetime(down),
            human_duration(now.saturating_sub(down))
        ));
    }
    line.push_str(&format!(
        " Read from your {network} dashboard {} ago.",
        human_duration(now.saturating_sub(last.at).max(60))
    ));
    if let Some(e) = link.and_then(|l| l.unreadable.as_deref()) {
        line.push_str(&format!(" The latest read failed: {e}."));
    }
    Some(line)
}

/// "connected since …; uptime 99.9% and reliability score 99 over the
/// last day." and the like.
fn state_words(last: &LinkSnapshot, now: u64) -> String {
    if !last.listed {
        return "not on your dashboard (yet): a new node appears within minutes of connecting; if it stays away, check the registration code and the API key.".into();
    }
    let mut words = if last.connected {
        "connected".to_owned()
    } else {
        "disconnected".to_owned()
    };
    if let Some(since) = last.since {
        words.push_str(&format!(
            " for {}",
            human_duration(now.saturating_sub(since).max(60))
        ));
    }
    if last.blocked {
        words.push_str(", and blocked by the network");
    }
    let mut stats = Vec::new();
    if let Some(u) = last.uptime_permille {
        stats.push(format!("uptime {}%", show_tenths(u)));
    }
    if let Some(r) = last.reliability_tenths {
        stats.push(format!("reliability score {}", show_tenths(r)));
    }
    if !stats.is_empty() {
        words.push_str(&format!(
            "; {} over the dashboard's last day",
            stats.join(" and ")
        ));
    }
    if let Some(v) = &last.version {
        words.push_str(&format!("; node version {v}"));
    }
    words.push('.');
    words
}

/// `/status` with the line appended, when there is one.
pub fn with_status_line(text: String, catalog: &Catalog, node: &NodeRecord, now: u64) -> String {
    match status_line(catalog, node, now) {
        Some(line) => format!("{text}\n{line}"),
        None => text,
    }
}

/// `/list`'s mark: only a confirmed disconnection.
pub fn list_mark(catalog: &Catalog, node: &NodeRecord) -> Option<String> {
    let contract = node.placed.as_ref()?.contract;
    let (chain, _) = catalog.node_type(&node.chain, &node.node_type)?;
    node.node_link
        .as_ref()
        .filter(|l| l.contract == contract && l.down_since.is_some())
        .map(|_| format!("⚠️ disconnected from {}", chain.name))
}
