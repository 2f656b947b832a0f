//! What a node's record keeps of its chain, and what the views read from it.
//!
//! The monitor (`service::chain_watch`) reads each running node's chain
//! every sweep and keeps the fine detail (the recent heights behind the
//! sync rate, the streaks that confirm a verdict) in memory; the record
//! keeps only the confirmed episodes and the latest reading, written when
//! something a user would see changed ([`NodeChain::needs_write`]), so a
//! sweep over many nodes does not rewrite every user's file. `/status`,
//! `/list` and My nodes read [`NodeChain::view`], pure: the same record
//! always shows the same way.

use serde::{Deserialize, Serialize};

use super::chain::{ChainEpisodes, ClientVersion, Episode, SyncView};
use crate::catalog::ChainProbeSpec;
use crate::model::ContractId;

/// A node's chain as its record keeps it (`NodeRecord::chain`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeChain {
    /// The contract these readings are of: a redeployed node starts again
    /// from block 0, so what an older contract said is not shown.
    pub contract: ContractId,
    /// The confirmed episodes (behind, stalled, client too old).
    #[serde(default)]
    pub episodes: ChainEpisodes,
    /// The latest reading that answered, if any did.
    #[serde(default)]
    pub last: Option<ChainSnapshot>,
    /// Why the latest attempt could not read the chain (cleared when one
    /// answers). The reading before it stays in `last`.
    #[serde(default)]
    pub unreadable: Option<String>,
}

/// One reading of a node's chain, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// When it was read (unix seconds).
    pub at: u64,
    pub height: u64,
    /// The network's tip at that time, when it was known.
    #[serde(default)]
    pub network_height: Option<u64>,
    /// The client as it names itself ("/Example Core:22.1.0/", "0.38.17").
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub version: Option<ClientVersion>,
    /// Time to reach the tip at the rate the monitor measured over its
    /// recent readings (not recomputable from one reading, hence stored).
    #[serde(default)]
    pub eta_secs: Option<u64>,
    /// A chain read in two layers (consensus, then execution) has each
    /// layer's heights here, and `height`/`network_height` are their sums,
    /// so the rules see one node that is in sync only when both are.
    /// Empty for a chain of one layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerHeight>,
}

/// One layer of a node's chain, as users read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerHeight {
    /// What users read (the catalog's `consensus_name` or `evm_name`).
    pub name: String,
    pub height: u64,
    #[serde(default)]
    pub network_height: Option<u64>,
}

/// Whether the network still accepts the node's client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionVerdict {
    /// The node did not say its version, or the chain names no minimum.
    Unknown,
    Accepted,
    /// Below the catalog's `min_version`: the network refuses it.
    TooOld {
        min: ClientVersion,
    },
}

/// What `/list` marks a node with (at most one, the most urgent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainMark {
    /// Confirmed stopped syncing.
    Stuck,
    /// Confirmed fallen behind after having been in sync.
    Behind,
    /// Its client is too old for the network.
    TooOld,
    /// Still catching up (the initial sync).
    Syncing,
}

/// The kinds of chain alerts, each muted on its own (`/mute`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainAlertKind {
    /// Stopped syncing, and syncing again.
    Stall,
    /// Fell behind, and back in sync.
    Behind,
    /// Client too old for the network, and updated.
    Version,
    /// The end of the initial sync after a deploy or redeploy (once).
    Synced,
    /// Disconnected from its network, as the network's dashboard says (the
    /// catalog's `node_status`), and connected again.
    Disconnected,
}

impl ChainAlertKind {
    pub const ALL: [ChainAlertKind; 5] = [
        ChainAlertKind::Stall,
        ChainAlertKind::Behind,
        ChainAlertKind::Version,
        ChainAlertKind::Synced,
        ChainAlertKind::Disconnected,
    ];

    /// The word `/mute` takes ("chain_stall" from its menu, or "stall").
    pub fn parse(word: &str) -> Option<ChainAlertKind> {
        let word = word.trim();
        let word = word.strip_prefix("chain_").unwrap_or(word);
        ChainAlertKind::ALL.into_iter().find(|k| k.word() == word)
    }

    pub fn word(self) -> &'static str {
        match self {
            ChainAlertKind::Stall => "stall",
            ChainAlertKind::Behind => "behind",
            ChainAlertKind::Version => "version",
            ChainAlertKind::Synced => "synced",
            ChainAlertKind::Disconnected => "link",
        }
    }

    /// What the alerts of this kind say, for the mute confirmation.
    pub fn describe(self) -> &'static str {
        match self {
            ChainAlertKind::Stall => "a node's chain stopped syncing (or moves again)",
            ChainAlertKind::Behind => "a node fell behind the network (or is back in sync)",
            ChainAlertKind::Version => {
                "a node's client is too old for the network (or was updated)"
            }
            ChainAlertKind::Synced => "a new or redeployed node finishes its initial sync",
            ChainAlertKind::Disconnected => {
                "a node's network dashboard says it disconnected (or connected again)"
            }
        }
    }

    /// Whether a user with these mutes gets this kind.
    pub fn muted(self, mute: super::Mute, chain_mutes: &[ChainAlertKind]) -> bool {
        mute == super::Mute::Everything || chain_mutes.contains(&self)
    }
}

/// Everything the views show about a node's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainView {
    /// When the reading was made.
    pub at: u64,
    pub height: u64,
    pub network_height: Option<u64>,
    /// Each layer's heights, for a chain read in two (see [`ChainSnapshot::layers`]).
    pub layers: Vec<LayerHeight>,
    pub sync: SyncView,
    pub client: String,
    pub version: Option<ClientVersion>,
    pub verdict: VersionVerdict,
    /// The confirmed stall, if the height stopped moving.
    pub stalled: Option<Episode>,
    /// The confirmed "fell behind" episode.
    pub behind: Option<Episode>,
    /// Why the latest attempt failed, when it did (the reading shown is
    /// the one before).
    pub unreadable: Option<String>,
    pub mark: Option<ChainMark>,
}

/// A stored reading older than this is written again even if nothing a
/// user sees changed, so `/status` heights are never much older.
pub const DEFAULT_REFRESH_SECS: u64 = 3600;

impl NodeChain {
    /// A fresh record for `contract`, nothing read yet.
    pub fn new(contract: ContractId) -> NodeChain {
        NodeChain {
            contract,
            episodes: ChainEpisodes::default(),
            last: None,
            unreadable: None,
        }
    }

    /// What the views show, for the node's current `contract` (`None`
    /// when the record is of another contract or nothing was ever read).
    pub fn view(&self, contract: ContractId, spec: &ChainProbeSpec) -> Option<ChainView> {
        if self.contract != contract {
            return None;
        }
        let last = self.last.as_ref()?;
        let sync = sync_view(last, spec.in_sync_blocks);
        let verdict = match (&last.version, &spec.min_version) {
            (Some(v), Some(min)) if v < min => VersionVerdict::TooOld { min: min.clone() },
            (Some(_), Some(_)) => VersionVerdict::Accepted,
            _ => VersionVerdict::Unknown,
        };
        let mark = if self.episodes.stalled.is_some() {
            Some(ChainMark::Stuck)
        } else if self.episodes.behind.is_some() {
            Some(ChainMark::Behind)
        } else if matches!(verdict, VersionVerdict::TooOld { .. }) {
            Some(ChainMark::TooOld)
        } else if matches!(sync, SyncView::Syncing { .. }) {
            Some(ChainMark::Syncing)
        } else {
            None
        };
        Some(ChainView {
            at: last.at,
            height: last.height,
            network_height: last.network_height,
            layers: last.layers.clone(),
            sync,
            client: last.client.clone(),
            version: last.version.clone(),
            verdict,
            stalled: self.episodes.stalled.clone(),
            behind: self.episodes.behind.clone(),
            unreadable: self.unreadable.clone(),
            mark,
        })
    }

    /// Whether `new` must be written over `self` (the stored one): when the
    /// contract, the episodes, the version or the read error changed, when
    /// the sync state, its whole percent or its ETA (to within a tenth)
    /// changed, or when the stored reading is `refresh_secs` old. Heights
    /// that merely follow the tip are not worth a write.
    pub fn needs_write(&self, new: &NodeChain, in_sync_blocks: u64, refresh_secs: u64) -> bool {
        if self.contract != new.contract
            || self.episodes != new.episodes
            || self.unreadable != new.unreadable
        {
            return true;
        }
        let (old, fresh) = match (&self.last, &new.last) {
            (None, None) => return false,
            (Some(old), Some(fresh)) => (old, fresh),
            _ => return true,
        };
        if old.version != fresh.version
            || old.network_height.is_some() != fresh.network_height.is_some()
            || fresh.at.saturating_sub(old.at) >= refresh_secs
        {
            return true;
        }
        match (
            sync_view(old, in_sync_blocks),
            sync_view(fresh, in_sync_blocks),
        ) {
            (
                SyncView::Syncing {
                    permille: a,
                    eta_secs: ea,
                },
                SyncView::Syncing {
                    permille: b,
                    eta_secs: eb,
                },
            ) => a / 10 != b / 10 || eta_moved(ea, eb),
            (a, b) => std::mem::discriminant(&a) != std::mem::discriminant(&b),
        }
    }
}

/// An ETA that appeared, vanished, or moved by more than a tenth.
fn eta_moved(old: Option<u64>, new: Option<u64>) -> bool {
    match (old, new) {
        (Some(a), Some(b)) => a.abs_diff(b) > a.max(b) / 10,
        (a, b) => a.is_some() != b.is_some(),
    }
}

/// The sync view of one stored reading (the same rule as
/// `ChainTracker::view`, with the ETA the monitor measured).
fn sync_view(last: &ChainSnapshot, in_sync_blocks: u64) -> SyncView {
    let Some(network) = last.network_height else {
        return SyncView::Unknown;
    };
    let lag = network.saturating_sub(last.height);
    if lag <= in_sync_blocks {
        return SyncView::InSync;
    }
    let permille = if network == 0 {
        0
    } else {
        ((u128::from(last.height) * 1000 / u128::from(network)) as u32).min(999)
    };
    SyncView::Syncing {
        permille,
        eta_secs: last.eta_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn spec(chain: &str) -> ChainProbeSpec {
        let catalog =
            Catalog::parse("catalog.yaml", include_str!("../../dialogues/catalog.yaml")).unwrap();
        catalog.chain(chain).unwrap().probe.clone().unwrap()
    }

    fn snapshot(height: u64, network: Option<u64>, version: &str) -> ChainSnapshot {
        ChainSnapshot {
            at: 1_000,
            height,
            network_height: network,
            client: format!("/Test:{version}/"),
            version: Some(ClientVersion::parse(version).unwrap()),
            eta_secs: Some(3_600),
            layers: vec![],
        }
    }

    fn chain_with(last: ChainSnapshot) -> NodeChain {
        NodeChain {
            last: Some(last),
            ..NodeChain::new(ContractId(7))
        }
    }

    #[test]
    fn the_view_says_how_synced_and_whether_the_client_is_accepted() {
        let dgb = spec("digibyte");
        let min = dgb.min_version.clone().unwrap();
        let syncing = chain_with(snapshot(500, Some(1_000), "9.26.3"));
        let view = syncing.view(ContractId(7), &dgb).unwrap();
        assert_eq!(
            view.sync,
            SyncView::Syncing {
                permille: 500,
                eta_secs: Some(3_600)
            }
        );
        assert_eq!(view.verdict, VersionVerdict::Accepted);
        assert_eq!(view.mark, Some(ChainMark::Syncing));

        let synced = chain_with(snapshot(1_000, Some(1_000), "9.26.1"));
        let view = synced.view(ContractId(7), &dgb).unwrap();
        assert_eq!(view.sync, SyncView::InSync);
        assert_eq!(view.verdict, VersionVerdict::TooOld { min });
        assert_eq!(view.mark, Some(ChainMark::TooOld));

        // No tip known: nothing to compare with.
        let unknown = chain_with(snapshot(1_000, None, "9.26.3"));
        assert_eq!(
            unknown.view(ContractId(7), &dgb).unwrap().sync,
            SyncView::Unknown
        );
        // Another contract's readings, or none at all: nothing shown.
        assert_eq!(synced.view(ContractId(8), &dgb), None);
        assert_eq!(
            NodeChain::new(ContractId(7)).view(ContractId(7), &dgb),
            None
        );
    }

    #[test]
    fn a_stall_outranks_the_other_marks() {
        let dgb = spec("digibyte");
        let mut chain = chain_with(snapshot(500, Some(1_000), "9.26.1"));
        chain.episodes.behind = Some(Episode {
            since: 10,
            height: 500,
            lag: 500,
        });
        assert_eq!(
            chain.view(ContractId(7), &dgb).unwrap().mark,
            Some(ChainMark::Behind)
        );
        chain.episodes.stalled = chain.episodes.behind.clone();
        assert_eq!(
            chain.view(ContractId(7), &dgb).unwrap().mark,
            Some(ChainMark::Stuck)
        );
    }

    #[test]
    fn only_what_a_user_sees_is_worth_a_write() {
        let in_sync = 2;
        let old = chain_with(snapshot(1_000, Some(1_000), "9.26.3"));
        // Following the tip while in sync: no write.
        let mut new = chain_with(ChainSnapshot {
            at: 1_060,
            height: 1_004,
            network_height: Some(1_005),
            ..snapshot(0, None, "9.26.3")
        });
        assert!(!old.needs_write(&new, in_sync, 3_600));
        // ...until the stored one is an hour old.
        new.last.as_mut().unwrap().at = 4_600;
        assert!(old.needs_write(&new, in_sync, 3_600));

        // Syncing: a new whole percent is written, a tenth is not.
        let syncing = chain_with(snapshot(500, Some(1_000), "9.26.3"));
        let tenth = chain_with(snapshot(501, Some(1_000), "9.26.3"));
        let percent = chain_with(snapshot(510, Some(1_000), "9.26.3"));
        assert!(!syncing.needs_write(&tenth, in_sync, 3_600));
        assert!(syncing.needs_write(&percent, in_sync, 3_600));
        // An ETA that moves by more than a tenth is.
        let mut later = tenth.clone();
        later.last.as_mut().unwrap().eta_secs = Some(7_200);
        assert!(syncing.needs_write(&later, in_sync, 3_600));

        // Episodes, errors, versions and contracts always are.
        let mut episode = old.clone();
        episode.episodes.ever_in_sync = true;
        assert!(old.needs_write(&episode, in_sync, 3_600));
        let mut error = old.clone();
        error.unreadable = Some("port 12024 refused".into());
        assert!(old.needs_write(&error, in_sync, 3_600));
        let upgraded = chain_with(snapshot(1_000, Some(1_000), "9.26.4"));
        assert!(old.needs_write(&upgraded, in_sync, 3_600));
        let mut moved = old.clone();
        moved.contract = ContractId(8);
        assert!(old.needs_write(&moved, in_sync, 3_600));
        assert!(!old.needs_write(&old.clone(), in_sync, 3_600));
    }

    #[test]
    fn old_records_and_new_fields_load() {
        let chain: NodeChain = serde_json::from_str(r#"{"contract":7}"#).unwrap();
        assert_eq!(chain, NodeChain::new(ContractId(7)));
        let full = chain_with(snapshot(500, Some(1_000), "9.26.3"));
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<NodeChain>(&text).unwrap(), full);
    }
}
