//! A node type's `node_status:` block: where the network a node serves
//! reports that node's own status (connected or not, uptime, reliability)
//! to its operator, read with the user's personal API key.
//!
//! Some networks' nodes show nothing from outside (no port, no chain to
//! read): the node connects out to the network's gateway, and only the
//! network's dashboard knows whether it is connected. This block names that
//! dashboard's status API and which of the node type's optional settings
//! holds the user's key (kept by Jukebox, never given to the machine). The
//! catalog cites the upstream API document beside it.

use serde::Deserialize;

/// How the monitor reads a node's status from its network's dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatusSpec {
    /// The status endpoint without the key: the key is appended as the
    /// last path segment (`https://…/api/nodes/status/` + key).
    pub url: String,
    /// The page where the user finds the key and sees the node.
    pub dashboard: String,
    /// The optional, secret setting that holds the user's API key.
    pub key_setting: String,
    /// How often the aggregated statistics (uptime, reliability) are asked
    /// for: the API allows them a few times an hour only.
    pub stats_every_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNodeStatus {
    url: String,
    dashboard: String,
    key_setting: String,
    stats_every_minutes: u64,
}

/// Why a `node_status:` block is refused (one `jukebox check` line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadNodeStatus {
    #[error("node_status url must be an https URL ending with / (the key is appended)")]
    Url,
    #[error("node_status dashboard must be an https URL")]
    Dashboard,
    #[error(
        "node_status stats_every_minutes must be 15 to 1440 (the API allows statistics 4 times an hour)"
    )]
    StatsEvery,
    #[error(
        "node_status key_setting {0:?} must name an optional, secret setting of this node type without env (the key is Jukebox's, never the machine's)"
    )]
    KeySetting(String),
}

/// A setting as this check needs to see it.
pub(super) struct SettingFacts<'a> {
    pub key: &'a str,
    pub env: &'a str,
    pub secret: bool,
    pub optional: bool,
}

impl RawNodeStatus {
    pub(super) fn check(
        self,
        settings: &[SettingFacts<'_>],
    ) -> Result<NodeStatusSpec, BadNodeStatus> {
        let https = |u: &str| {
            u.strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        };
        if !https(&self.url) || !self.url.ends_with('/') {
            return Err(BadNodeStatus::Url);
        }
        if !https(&self.dashboard) {
            return Err(BadNodeStatus::Dashboard);
        }
        if !(15..=1440).contains(&self.stats_every_minutes) {
            return Err(BadNodeStatus::StatsEvery);
        }
        let fits = settings
            .iter()
            .any(|s| s.key == self.key_setting && s.env.is_empty() && s.secret && s.optional);
        if !fits {
            return Err(BadNodeStatus::KeySetting(self.key_setting));
        }
        Ok(NodeStatusSpec {
            url: self.url,
            dashboard: self.dashboard,
            key_setting: self.key_setting,
            stats_every_secs: self.stats_every_minutes * 60,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str, minutes: u64, key: &str) -> RawNodeStatus {
        RawNodeStatus {
            url: url.into(),
            dashboard: "https://nodes.example/dashboard".into(),
            key_setting: key.into(),
            stats_every_minutes: minutes,
        }
    }

    const KEY: SettingFacts<'static> = SettingFacts {
        key: "api_key",
        env: "",
        secret: true,
        optional: true,
    };

    #[test]
    fn a_good_block_is_kept() {
        let spec = raw("https://nodes.example/api/status/", 30, "api_key")
            .check(&[KEY])
            .unwrap();
        assert_eq!(spec.stats_every_secs, 1800);
    }

    #[test]
    fn each_mistake_is_refused() {
        let bad = |r: RawNodeStatus, s: &[SettingFacts<'_>]| r.check(s).unwrap_err();
        assert_eq!(
            bad(raw("http://x/", 30, "api_key"), &[KEY]),
            BadNodeStatus::Url
        );
        assert_eq!(
            bad(raw("https://x/s", 30, "api_key"), &[KEY]),
            BadNodeStatus::Url
        );
        assert_eq!(
            bad(raw("https://x/", 5, "api_key"), &[KEY]),
            BadNodeStatus::StatsEvery
        );
        assert!(matches!(
            bad(raw("https://x/", 30, "other"), &[KEY]),
            BadNodeStatus::KeySetting(_)
        ));
        // A key given to the machine, or not secret, or required: refused.
        for s in [
            SettingFacts {
                env: "API_KEY",
                ..KEY
            },
            SettingFacts {
                secret: false,
                ..KEY
            },
            SettingFacts {
                optional: false,
                ..KEY
            },
        ] {
            assert!(matches!(
                bad(raw("https://x/", 30, "api_key"), &[s]),
                BadNodeStatus::KeySetting(_)
            ));
        }
    }
}
