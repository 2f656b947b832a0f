//! Operator reports over the whole store: what `/stats`, `/user` and
//! `/nodes` show in chat. They only read, so they work on any data dir.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ids::UserId;
use crate::lifecycle::{human_duration, utc_datetime};
use crate::money::Tft;
use crate::store::Store;
use crate::user::{self, NodeRecord, NodeState, Nodes, Profile, StoredConversation};

/// Users who wrote within this long count as active.
const ACTIVE_SECS: u64 = 7 * 86_400;

/// The whole instance at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub users: u64,
    pub active_users: u64,
    pub blocked_users: u64,
    pub banned_users: u64,
    pub users_in_grace: u64,
    /// Every node ever ordered, by state word.
    pub nodes_by_state: BTreeMap<String, u64>,
    /// Live nodes (pending, deploying, running, paused) by chain.
    pub live_by_chain: BTreeMap<String, u64>,
    pub nodes_down: u64,
    pub total_balance: Tft,
    pub burn_per_day: Tft,
    /// Nodes created in the last 24 hours that run (or ran) and that failed.
    pub deployed_24h: u64,
    pub failed_24h: u64,
}

fn read_user(store: &Store, id: &UserId) -> anyhow::Result<(Option<Profile>, Nodes, u64)> {
    let profile: Option<Profile> = store.read(id, user::PROFILE)?;
    let nodes: Nodes = store.read(id, user::NODES)?.unwrap_or_default();
    let conversation: Option<StoredConversation> = store.read(id, user::CONVERSATION)?;
    let last_seen = conversation.map_or(0, |c| c.last_seen);
    Ok((profile, nodes, last_seen))
}

/// Folds over every user (one read of three small records each).
pub fn stats(store: &Store, now: u64) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    for id in store.list_users()? {
        let (profile, nodes, last_seen) = match read_user(store, &id) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(user = %id, error = %format!("{e:#}"), "stats: skipping an unreadable user");
                continue;
            }
        };
        s.users += 1;
        if now.saturating_sub(last_seen) < ACTIVE_SECS {
            s.active_users += 1;
        }
        if let Some(p) = &profile {
            s.blocked_users += u64::from(p.blocked);
            s.banned_users += u64::from(p.banned);
            s.users_in_grace += u64::from(p.funding.grace.is_some());
            s.total_balance = s.total_balance.saturating_add(p.account.balance);
        }
        for n in &nodes.nodes {
            *s.nodes_by_state.entry(n.state.key().into()).or_default() += 1;
            if n.is_live() {
                *s.live_by_chain.entry(n.chain.clone()).or_default() += 1;
            }
            if n.state == NodeState::Running {
                s.burn_per_day = s
                    .burn_per_day
                    .saturating_add(n.price_per_hour.saturating_mul(24));
                s.nodes_down += u64::from(n.outage.is_some());
            }
            if now.saturating_sub(n.created_at) < 86_400 {
                match n.state {
                    NodeState::Failed(_) => s.failed_24h += 1,
                    _ if n.placed.is_some() => s.deployed_24h += 1,
                    _ => {}
                }
            }
        }
    }
    Ok(s)
}

impl Stats {
    pub fn render(&self) -> String {
        let join = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        format!(
            "Users: {} ({} active in 7 days, {} blocked the bot, {} banned, {} in grace)\nNodes by state: {}\nLive nodes by chain: {}\nRunning nodes down now: {}\nBalances: {} in total; running nodes burn {} per day\nLast 24 h: {} deployed, {} failed",
            self.users,
            self.active_users,
            self.blocked_users,
            self.banned_users,
            self.users_in_grace,
            join(&self.nodes_by_state),
            join(&self.live_by_chain),
            self.nodes_down,
            self.total_balance,
            self.burn_per_day,
            self.deployed_24h,
            self.failed_24h
        )
    }
}

/// A user by id (`tg:123`), bare Telegram id (`123`) or display name
/// (`@alice` or `alice`, case-insensitive; the first match in id order).
pub fn find_user(store: &Store, query: &str) -> anyhow::Result<Option<UserId>> {
    let query = query.trim();
    let as_id = if query.contains(':') {
        UserId::parse(query).ok()
    } else if query.parse::<i64>().is_ok() {
        UserId::parse(&format!("tg:{query}")).ok()
    } else {
        None
    };
    if let Some(id) = as_id {
        return Ok(store.user_exists(&id).then_some(id));
    }
    // Telegram names are stored as "@name" when the user has one.
    let wanted = query.trim_start_matches('@').to_lowercase();
    for id in store.list_users()? {
        let profile: Option<Profile> = store.read(&id, user::PROFILE)?;
        if profile.is_some_and(|p| p.display_name.trim_start_matches('@').to_lowercase() == wanted)
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// One node as the operators' reports show it (`/user`, `/nodes`, and the
/// website's dashboard tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// Its owner.
    pub user: UserId,
    pub name: String,
    /// The state's key ("running", "paused", ...), as `/nodes` filters by.
    pub state: &'static str,
    /// The state in users' words, for the dashboard's colours.
    pub state_word: &'static str,
    /// "grid node 12 (BE)", once placed.
    pub place: Option<String>,
    pub contract: Option<String>,
    /// A confirmed outage is going on.
    pub down: bool,
    pub autoheal: bool,
}

impl NodeRow {
    pub fn of(user: &UserId, n: &NodeRecord) -> NodeRow {
        NodeRow {
            user: user.clone(),
            name: n.name.clone(),
            state: n.state.key(),
            state_word: user::view::state_word(&n.state),
            place: n
                .placed
                .as_ref()
                .map(|p| format!("grid node {} ({})", p.node.id, p.node.country)),
            contract: n.placed.as_ref().map(|p| p.contract.to_string()),
            down: n.outage.is_some(),
            autoheal: n.autoheal,
        }
    }

    /// The chat's line: "• name — state · grid node 12 (BE) · contract 7 · DOWN".
    pub fn line(&self) -> String {
        let mut line = format!("• {} — {}", self.name, self.state);
        if let (Some(place), Some(contract)) = (&self.place, &self.contract) {
            let _ = write!(line, " · {place} · contract {contract}");
        }
        if self.down {
            line.push_str(" · DOWN");
        }
        if self.autoheal {
            line.push_str(" · autoheal");
        }
        line
    }
}

/// One entry of a user's account, newest first in [`UserReport::money`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneyRow {
    pub at: String,
    pub kind: String,
    pub amount: Tft,
    pub note: String,
}

/// One user for the operators: profile, money, nodes and recent account
/// history (`/user` in chat, the dashboard's user panel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserReport {
    pub id: UserId,
    pub display_name: String,
    pub joined: String,
    /// "never" or "3 hours ago".
    pub last_seen: String,
    /// The twin id, or "none yet".
    pub twin: String,
    /// The first bytes of the identity key, in hex.
    pub identity: String,
    /// "BANNED", "blocked the bot", "in grace (nodes paused)".
    pub flags: Vec<&'static str>,
    pub balance: Tft,
    pub mute: String,
    /// How many nodes the user ever had.
    pub node_count: usize,
    /// The newest 20 of them.
    pub nodes: Vec<NodeRow>,
    /// The newest 5 account entries.
    pub money: Vec<MoneyRow>,
}

/// One user's report, `None` when they have no profile.
pub fn user_details(store: &Store, id: &UserId, now: u64) -> anyhow::Result<Option<UserReport>> {
    let (profile, nodes, last_seen) = read_user(store, id)?;
    let Some(p) = profile else {
        return Ok(None);
    };
    let flags: Vec<&'static str> = [
        (p.banned, "BANNED"),
        (p.blocked, "blocked the bot"),
        (p.funding.grace.is_some(), "in grace (nodes paused)"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    Ok(Some(UserReport {
        id: id.clone(),
        display_name: p.display_name.clone(),
        joined: utc_datetime(p.created_at),
        last_seen: if last_seen == 0 {
            "never".to_owned()
        } else {
            format!("{} ago", human_duration(now.saturating_sub(last_seen)))
        },
        twin: p.twin.map_or("none yet".to_owned(), |t| t.0.to_string()),
        identity: hex::encode(&p.identity.public_key[..8]),
        flags,
        balance: p.account.balance,
        mute: format!("{:?}", p.funding.mute),
        node_count: nodes.nodes.len(),
        nodes: nodes
            .nodes
            .iter()
            .rev()
            .take(20)
            .map(|n| NodeRow::of(id, n))
            .collect(),
        money: p
            .account
            .entries
            .iter()
            .rev()
            .take(5)
            .map(|e| MoneyRow {
                at: utc_datetime(e.at),
                kind: format!("{:?}", e.kind),
                amount: e.amount,
                note: e.note.clone(),
            })
            .collect(),
    }))
}

impl UserReport {
    /// The chat's `/user` text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} ({}) · joined {} · last seen {}\nTwin: {} · identity {}",
            self.id, self.display_name, self.joined, self.last_seen, self.twin, self.identity,
        );
        if !self.flags.is_empty() {
            let _ = write!(out, "\nFlags: {}", self.flags.join(", "));
        }
        let _ = write!(out, "\nBalance: {} · mute: {}", self.balance, self.mute);
        let _ = write!(out, "\nNodes ({}):", self.node_count);
        for n in &self.nodes {
            let _ = write!(out, "\n{}", n.line());
        }
        let recent: Vec<String> = self
            .money
            .iter()
            .map(|e| format!("• {} {} {} — {}", e.at, e.kind, e.amount, e.note))
            .collect();
        if !recent.is_empty() {
            let _ = write!(out, "\nRecent money:\n{}", recent.join("\n"));
        }
        out
    }
}

/// One user's profile, money, nodes and recent account history.
pub fn user_report(store: &Store, id: &UserId, now: u64) -> anyhow::Result<String> {
    Ok(match user_details(store, id, now)? {
        Some(report) => report.render(),
        None => format!("{id} has no profile."),
    })
}

/// The nodes `/nodes [filter]` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodesMatch {
    /// The filter, lower-cased, if any ("live" nodes without one).
    pub filter: Option<String>,
    /// How many matched.
    pub total: usize,
    /// The first `limit` of them.
    pub rows: Vec<NodeRow>,
}

/// Nodes of all users whose state, chain or name contains `filter`
/// ("down" matches nodes with an outage), the first `limit` of them.
pub fn nodes_matching(
    store: &Store,
    filter: Option<&str>,
    limit: usize,
) -> anyhow::Result<NodesMatch> {
    let filter = filter
        .map(|f| f.trim().to_lowercase())
        .filter(|f| !f.is_empty());
    let mut rows = Vec::new();
    let mut total = 0usize;
    for id in store.list_users()? {
        let nodes: Nodes = store.read(&id, user::NODES)?.unwrap_or_default();
        for n in &nodes.nodes {
            let hit = match filter.as_deref() {
                None => n.is_live(),
                Some("down") => n.outage.is_some() && n.state == NodeState::Running,
                Some(f) => n.state.key() == f || n.chain == f || n.name.contains(f),
            };
            if hit {
                total += 1;
                if rows.len() < limit {
                    rows.push(NodeRow::of(&id, n));
                }
            }
        }
    }
    Ok(NodesMatch {
        filter,
        total,
        rows,
    })
}

impl NodesMatch {
    /// "3 node(s) live" or "1 node(s) matching \"down\"".
    pub fn heading(&self) -> String {
        let what = self
            .filter
            .as_ref()
            .map_or("live".to_owned(), |f| format!("matching {f:?}"));
        let mut out = format!("{} node(s) {what}", self.total);
        if self.total > self.rows.len() {
            let _ = write!(out, " (first {} shown)", self.rows.len());
        }
        out
    }

    /// The chat's `/nodes` text.
    pub fn render(&self) -> String {
        let mut out = self.heading();
        if !self.rows.is_empty() {
            out.push_str(":\n");
            let lines: Vec<String> = self
                .rows
                .iter()
                .map(|r| format!("{}: {}", r.user, r.line()))
                .collect();
            out.push_str(&lines.join("\n"));
        }
        out
    }
}

/// Nodes of all users whose state, chain or name contains `filter`
/// ("down" matches nodes with an outage), at most `limit` lines.
pub fn nodes_report(store: &Store, filter: Option<&str>, limit: usize) -> anyhow::Result<String> {
    Ok(nodes_matching(store, filter, limit)?.render())
}

/// A user's recent audit events, newest first, one line each.
pub fn events_text(events: &[crate::audit::Event]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let mut text = "\nRecent events:".to_owned();
    for e in events {
        let node = e
            .node
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let _ = write!(
            text,
            "\n• {} {} {}{node} — {}",
            utc_datetime(e.at),
            e.actor,
            e.kind,
            e.detail
        );
    }
    text
}

/// The last day of the global audit trail's kinds the operators watch,
/// with their words: (what, how many).
pub fn audit_day_counts(counts: &BTreeMap<String, u64>) -> [(&'static str, u64); 5] {
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    [
        ("deployed", count("node.running")),
        ("failed", count("node.failed")),
        ("redeployed", count("node.redeployed")),
        ("down", count("node.down")),
        ("payments", count("payment.credited")),
    ]
}

/// The last day of the global audit trail, counted by kind.
pub fn audit_day_line(counts: &BTreeMap<String, u64>) -> String {
    audit_day_words(&audit_day_counts(counts))
}

/// `/stats`' audit line from [`audit_day_counts`].
pub fn audit_day_words(day: &[(&str, u64)]) -> String {
    let words: Vec<String> = day.iter().map(|(what, n)| format!("{n} {what}")).collect();
    format!("\nAudit, last 24 h: {}", words.join(", "))
}

/// What `jukebox admin` can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfflineReport {
    Stats,
    User(String),
    Nodes(Option<String>),
    /// Payments kept aside because they matched no request.
    Unmatched,
}

/// `jukebox admin ...`: a report read straight from `data_dir`, without
/// its lock, so it works whether or not the service is running.
pub fn offline(
    data_dir: &std::path::Path,
    report: &OfflineReport,
    now: u64,
) -> anyhow::Result<String> {
    let store = Store::open_read_only(data_dir)?;
    let audit_root = data_dir.join("audit");
    Ok(match report {
        OfflineReport::Stats => {
            let mut text = stats(&store, now)?.render();
            if audit_root.is_dir() {
                let day = crate::audit::read_count_since(&audit_root, now.saturating_sub(86_400))?;
                text.push_str(&audit_day_line(&day));
            }
            text
        }
        OfflineReport::User(query) => match find_user(&store, query)? {
            Some(id) => {
                let mut text = user_report(&store, &id, now)?;
                let trail = store.user_dir(&id).join(crate::audit::USER_TRAIL);
                if trail.is_file() {
                    text.push_str(&events_text(&crate::audit::read_recent(&trail, 10)?));
                }
                text
            }
            None => anyhow::bail!("no user matches {query:?}"),
        },
        OfflineReport::Nodes(filter) => nodes_report(&store, filter.as_deref(), usize::MAX)?,
        OfflineReport::Unmatched => crate::payments::unmatched::render(
            &crate::payments::unmatched::load_all(&store)?,
            usize::MAX,
        ),
    })
}
