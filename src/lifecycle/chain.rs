//! Chain health, pure: from successive readings of a node's chain (its
//! height, the network's height, its client version, the time) decide how
//! far it is synced, when it will be, and when something is wrong with it.
//!
//! Like [`super::outage::Tracker`], every verdict is confirmed over several
//! checks in a row and raised once per episode, and the confirmed episodes
//! are plain data the monitor keeps in the node's record, so a restart
//! neither forgets an episode nor raises it again. No IO and no clock: the
//! monitor passes what it read and when.
//!
//! The rules, each with its hysteresis so a node at an edge never flaps:
//! - **in sync**: within `in_sync_blocks` of the network's tip;
//! - **fell behind**: once in sync, then `behind_blocks` (more than
//!   `in_sync_blocks`) or more behind; **back in sync** when within
//!   `in_sync_blocks` again;
//! - **stopped syncing**: behind, and the height unchanged for
//!   `stall_after_secs`; **resumed** when the height moves past it;
//! - **client too old**: the client's version below the catalog's
//!   `min_version` (the network refuses it); **updated** when it is not.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A client's release, "22.1.0" or "9.26.3", compared part by part (a
/// missing part is 0, so "9.26" == "9.26.0").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientVersion {
    parts: [u32; 4],
    /// How many parts were written, to print it back as it came.
    shown: usize,
}

impl ClientVersion {
    /// "22.1.0", "v0.38.17": one to four dot-separated numbers.
    pub fn parse(text: &str) -> Result<ClientVersion, NotAVersion> {
        let text = text.trim();
        let digits = text.strip_prefix('v').unwrap_or(text);
        let pieces: Vec<&str> = digits.split('.').collect();
        let bad = || NotAVersion(text.to_owned());
        if pieces.is_empty() || pieces.len() > 4 {
            return Err(bad());
        }
        let mut parts = [0u32; 4];
        for (slot, piece) in parts.iter_mut().zip(&pieces) {
            if piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = piece.parse().map_err(|_| bad())?;
        }
        Ok(ClientVersion {
            parts,
            shown: pieces.len(),
        })
    }

    /// The version in a Bitcoin-family user agent (BIP 14:
    /// "/Name:version(comments)/", clientversion.cpp `FormatSubVersion`),
    /// e.g. "/Example Core:22.1.0/". The first
    /// component is the node's own client; later ones are wrappers.
    pub fn from_user_agent(agent: &str) -> Option<ClientVersion> {
        let first = agent.trim_start_matches('/').split('/').next()?;
        let (_, version) = first.rsplit_once(':')?;
        let version = version.split('(').next()?;
        ClientVersion::parse(version).ok()
    }
}

impl PartialEq for ClientVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for ClientVersion {}

impl PartialOrd for ClientVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClientVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.parts[..self.shown.max(1)]
            .iter()
            .map(u32::to_string)
            .collect();
        f.write_str(&shown.join("."))
    }
}

/// A text that is not a client version (the catalog's `min_version`, a
/// stored record).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a version like 22.1.0 (one to four numbers)")]
pub struct NotAVersion(pub String);

impl TryFrom<String> for ClientVersion {
    type Error = NotAVersion;
    fn try_from(text: String) -> Result<Self, NotAVersion> {
        ClientVersion::parse(&text)
    }
}

impl From<ClientVersion> for String {
    fn from(v: ClientVersion) -> String {
        v.to_string()
    }
}

/// One reading of a node's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainObservation {
    /// When it was read (unix seconds).
    pub at: u64,
    pub height: u64,
    /// The network's tip at that time, if it is known.
    pub network_height: Option<u64>,
    /// The node's client version, if it said.
    pub version: Option<ClientVersion>,
    /// A chain read in layers (a consensus and an execution layer): each layer's
    /// height and its own network's, `height` being their sum. Empty for a
    /// chain of one layer. The stall rule looks at each layer, since the sum
    /// keeps moving while only one of them is stuck.
    pub layers: Vec<(u64, Option<u64>)>,
}

/// The thresholds for one chain (from its catalog `chain_probe` block and
/// the monitor's settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainRules {
    pub block_seconds: u32,
    pub in_sync_blocks: u64,
    pub behind_blocks: u64,
    /// Height unchanged this long while behind is a stall.
    pub stall_after_secs: u64,
    /// Checks in a row that must agree before anything is raised (at least 1).
    pub confirmations: u32,
    pub min_version: Option<ClientVersion>,
}

impl ChainRules {
    pub fn from_spec(
        spec: &crate::catalog::ChainProbeSpec,
        stall_after_secs: u64,
        confirmations: u32,
    ) -> ChainRules {
        ChainRules {
            block_seconds: spec.block_seconds,
            in_sync_blocks: spec.in_sync_blocks,
            behind_blocks: spec.behind_blocks,
            stall_after_secs,
            confirmations,
            min_version: spec.min_version.clone(),
        }
    }
}

/// How synced a node is, for `/status`, `/list` and My nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncView {
    /// The network's tip is not known: nothing to compare with.
    Unknown,
    InSync,
    Syncing {
        /// Height / network height in tenths of a percent (999 at most
        /// while not in sync, so "100%" never shows on a node behind).
        permille: u32,
        /// Time to reach the tip at the rate measured over recent checks;
        /// `None` while there is no rate yet or the node is not gaining.
        eta_secs: Option<u64>,
    },
}

impl SyncView {
    /// "97.3%".
    pub fn percent(permille: u32) -> String {
        format!("{}.{}%", permille / 10, permille % 10)
    }
}

/// A confirmed problem, kept in the node's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// When the first check that showed it ran (for a stall: when the
    /// height last moved).
    pub since: u64,
    /// The node's height when it was confirmed.
    pub height: u64,
    /// Blocks behind the tip when it was confirmed (0 when not known).
    pub lag: u64,
}

/// What the monitor keeps of a node's chain across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEpisodes {
    /// Set once the node was confirmed in sync: only then can it fall behind.
    #[serde(default)]
    pub ever_in_sync: bool,
    #[serde(default)]
    pub behind: Option<Episode>,
    #[serde(default)]
    pub stalled: Option<Episode>,
    /// The version the network refused, while it runs.
    #[serde(default)]
    pub too_old: Option<ClientVersion>,
}

/// A confirmed change, for the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// In sync for the first time (the end of the initial sync).
    Synced {
        took_from: u64,
    },
    FellBehind(Episode),
    /// `after` runs from the first check behind to the first back in sync.
    BackInSync {
        episode: Episode,
        after: u64,
    },
    StoppedSyncing(Episode),
    /// The height moves again after a stall of `stalled_for` seconds.
    ResumedSyncing {
        episode: Episode,
        stalled_for: u64,
    },
    ClientTooOld {
        version: ClientVersion,
        min: ClientVersion,
    },
    ClientUpdated {
        version: ClientVersion,
    },
}

/// Consecutive checks that disagree with a confirmed state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Streak {
    count: u32,
    started: u64,
}

impl Streak {
    /// Counts one check; returns when the first of them ran once `needed`
    /// in a row agree.
    fn hit(&mut self, now: u64, needed: u32) -> Option<u64> {
        if self.count == 0 {
            self.started = now;
        }
        self.count += 1;
        if self.count < needed.max(1) {
            return None;
        }
        self.count = 0;
        Some(self.started)
    }

    fn reset(&mut self) {
        self.count = 0;
    }
}

/// How many recent readings the sync rate is measured over.
const RATE_WINDOW: usize = 12;

/// The monitor's memory of one node's chain between checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainTracker {
    pub episodes: ChainEpisodes,
    /// (time, height) of recent readings, oldest first.
    samples: VecDeque<(u64, u64)>,
    /// The height and when it was first seen at that height.
    last_move: Option<(u64, u64)>,
    /// The same per layer, for a chain read in layers.
    layer_moves: Vec<(u64, u64)>,
    first_seen: Option<u64>,
    synced: Streak,
    behind: Streak,
    stalled: Streak,
    resumed: Streak,
    too_old: Streak,
    updated: Streak,
}

impl ChainTracker {
    /// Starts from what the node's record says.
    pub fn new(episodes: ChainEpisodes) -> ChainTracker {
        ChainTracker {
            episodes,
            ..ChainTracker::default()
        }
    }

    /// How synced the node looks after `latest` (fed to [`Self::observe`]
    /// first, so the rate includes it).
    pub fn view(&self, latest: &ChainObservation, rules: &ChainRules) -> SyncView {
        let Some(network) = latest.network_height else {
            return SyncView::Unknown;
        };
        let lag = network.saturating_sub(latest.height);
        if lag <= rules.in_sync_blocks {
            return SyncView::InSync;
        }
        let permille = if network == 0 {
            0
        } else {
            ((u128::from(latest.height) * 1000 / u128::from(network)) as u32).min(999)
        };
        SyncView::Syncing {
            permille,
            eta_secs: self.eta(lag, rules),
        }
    }

    /// Seconds to close `lag` at the measured rate, net of the tip's own
    /// advance (one block per `block_seconds`).
    fn eta(&self, lag: u64, rules: &ChainRules) -> Option<u64> {
        let (&(t0, h0), &(t1, h1)) = (self.samples.front()?, self.samples.back()?);
        if t1 <= t0 || h1 <= h0 {
            return None;
        }
        let rate = (h1 - h0) as f64 / (t1 - t0) as f64;
        let gain = rate - 1.0 / f64::from(rules.block_seconds.max(1));
        if gain <= 0.0 {
            return None;
        }
        Some((lag as f64 / gain).ceil() as u64)
    }

    /// Feeds one reading; returns what it confirmed, in a stable order.
    pub fn observe(&mut self, obs: &ChainObservation, rules: &ChainRules) -> Vec<ChainEvent> {
        let mut events = Vec::new();
        let needed = rules.confirmations;
        let now = obs.at;
        self.first_seen.get_or_insert(now);
        // A height that moves (either way) is progress for the stall rule; a
        // node re-syncing from scratch after a redeploy is not stuck.
        match self.last_move {
            Some((h, _)) if h == obs.height => {}
            _ => self.last_move = Some((obs.height, now)),
        }
        if self.samples.back().is_some_and(|&(_, h)| obs.height < h) {
            self.samples.clear();
        }
        self.samples.push_back((now, obs.height));
        while self.samples.len() > RATE_WINDOW {
            self.samples.pop_front();
        }

        self.version_rules(obs, rules, &mut events);
        let Some(network) = obs.network_height else {
            // Nothing to compare with: no evidence either way.
            for s in [&mut self.synced, &mut self.behind, &mut self.stalled] {
                s.reset();
            }
            return events;
        };
        let lag = network.saturating_sub(obs.height);
        let in_sync = lag <= rules.in_sync_blocks;
        let episode = |since| Episode {
            since,
            height: obs.height,
            lag,
        };

        // In sync: ends a "behind" episode, or marks the first sync.
        if in_sync && (self.episodes.behind.is_some() || !self.episodes.ever_in_sync) {
            if let Some(started) = self.synced.hit(now, needed) {
                if let Some(episode) = self.episodes.behind.take() {
                    let after = started.saturating_sub(episode.since);
                    events.push(ChainEvent::BackInSync { episode, after });
                } else {
                    events.push(ChainEvent::Synced {
                        took_from: self.first_seen.unwrap_or(started),
                    });
                }
                self.episodes.ever_in_sync = true;
            }
        } else {
            self.synced.reset();
        }

        // Fell behind: only after being in sync, only from behind_blocks.
        if self.episodes.ever_in_sync
            && self.episodes.behind.is_none()
            && lag >= rules.behind_blocks
        {
            if let Some(started) = self.behind.hit(now, needed) {
                let e = episode(started);
                self.episodes.behind = Some(e.clone());
                events.push(ChainEvent::FellBehind(e));
            }
        } else {
            self.behind.reset();
        }

        // Stopped syncing: behind and the height has not moved for a while
        // (for a chain in layers: a layer behind its own network has not).
        let (moved_height, moved_at) = self.last_move.unwrap_or((obs.height, now));
        let held_since = self.held_layer_since(obs, rules);
        match &self.episodes.stalled {
            None => {
                let held = match held_since {
                    Some(since) => now.saturating_sub(since) >= rules.stall_after_secs,
                    None => {
                        moved_height == obs.height
                            && now.saturating_sub(moved_at) >= rules.stall_after_secs
                    }
                };
                let stuck = !in_sync && held;
                if stuck {
                    if self.stalled.hit(now, needed).is_some() {
                        self.resumed.reset();
                        let e = episode(held_since.unwrap_or(moved_at));
                        self.episodes.stalled = Some(e.clone());
                        events.push(ChainEvent::StoppedSyncing(e));
                    }
                } else {
                    self.stalled.reset();
                }
            }
            Some(stall) => {
                // Moving again: every layer behind its network moved in
                // this reading (one layer: the height passed the stall's).
                let moving = match held_since {
                    Some(since) => since == now,
                    None => obs.height > stall.height,
                };
                if moving {
                    if let Some(started) = self.resumed.hit(now, needed) {
                        self.stalled.reset();
                        let episode = self.episodes.stalled.take().expect("matched Some");
                        let stalled_for = started.saturating_sub(episode.since);
                        events.push(ChainEvent::ResumedSyncing {
                            episode,
                            stalled_for,
                        });
                    }
                } else {
                    self.resumed.reset();
                }
            }
        }
        events
    }

    /// For a chain read in layers: since when the longest-held layer still
    /// behind its own network has stayed at its height (`now` when each of
    /// them moved in this reading). `None` for one layer, or when no layer
    /// is behind: the whole height's rule applies.
    fn held_layer_since(&mut self, obs: &ChainObservation, rules: &ChainRules) -> Option<u64> {
        if obs.layers.is_empty() {
            self.layer_moves.clear();
            return None;
        }
        if self.layer_moves.len() != obs.layers.len() {
            self.layer_moves = obs.layers.iter().map(|&(h, _)| (h, obs.at)).collect();
        }
        let mut held: Option<u64> = None;
        for (&(height, network), moved) in obs.layers.iter().zip(self.layer_moves.iter_mut()) {
            if moved.0 != height {
                *moved = (height, obs.at);
            }
            let behind = network.is_some_and(|n| n.saturating_sub(height) > rules.in_sync_blocks);
            if behind {
                held = Some(held.map_or(moved.1, |h| h.min(moved.1)));
            }
        }
        held
    }

    fn version_rules(
        &mut self,
        obs: &ChainObservation,
        rules: &ChainRules,
        events: &mut Vec<ChainEvent>,
    ) {
        let (Some(version), Some(min)) = (&obs.version, &rules.min_version) else {
            return;
        };
        let needed = rules.confirmations;
        let too_old = version < min;
        match (&self.episodes.too_old, too_old) {
            (None, true) => {
                if self.too_old.hit(obs.at, needed).is_some() {
                    self.episodes.too_old = Some(version.clone());
                    events.push(ChainEvent::ClientTooOld {
                        version: version.clone(),
                        min: min.clone(),
                    });
                }
            }
            (Some(_), false) => {
                if self.updated.hit(obs.at, needed).is_some() {
                    self.episodes.too_old = None;
                    events.push(ChainEvent::ClientUpdated {
                        version: version.clone(),
                    });
                }
            }
            _ => {
                self.too_old.reset();
                self.updated.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests;
