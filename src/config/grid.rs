//! The real grid's settings: `grid.network` and the `[grid.tfgrid]` section.
//!
//! Each ThreeFold Grid network (main, test, qa, dev) has public hosts for the
//! grid proxy, TFChain, the RMB relay and GraphQL (`tfgrid-v3.md`, "Hosts per
//! network"); they are the defaults, and each can be overridden, e.g. to point
//! at a private mirror. Checking never contacts any of them.

use super::Problem;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::model::terms::{self, Terms};

/// The largest page we ask for. The proxy sets no upper bound (its default
/// is 50: tfgrid-sdk-go `grid-proxy/pkg/types/limit.go`, and `postgres.go`
/// takes `size` as given), so the bound is ours: a hundred nodes keep one
/// answer to a few hundred kilobytes.
pub const MAX_PAGE_SIZE: u32 = 100;

/// `grid.kind`: which grid nodes are deployed on. serde refuses any other
/// value, naming the key and the allowed values (`config::keyed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridKind {
    /// The embedded, simulated grid (the default).
    Sim,
    /// The real ThreeFold Grid v3, on `grid.network`.
    Tfgrid,
}

impl GridKind {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            GridKind::Sim => "sim",
            GridKind::Tfgrid => "tfgrid",
        }
    }
}

impl PartialEq<&str> for GridKind {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == *text
    }
}

impl fmt::Display for GridKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `grid.network`: a ThreeFold Grid v3 network. serde refuses any other
/// value, naming the key and the allowed values (`config::keyed`); the
/// `--network` flag goes through [`Network::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Main,
    Test,
    Qa,
    Dev,
}

/// A network name that is none of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("network {0:?} must be \"main\", \"test\", \"qa\" or \"dev\"")]
pub struct UnknownNetwork(pub String);

impl Network {
    pub fn parse(name: &str) -> Result<Network, UnknownNetwork> {
        match name {
            "main" => Ok(Network::Main),
            "test" => Ok(Network::Test),
            "qa" => Ok(Network::Qa),
            "dev" => Ok(Network::Dev),
            other => Err(UnknownNetwork(other.to_owned())),
        }
    }

    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Main => "main",
            Network::Test => "test",
            Network::Qa => "qa",
            Network::Dev => "dev",
        }
    }

    /// The network's public hosts.
    pub fn hosts(self) -> Endpoints {
        // Main has no network label in its host names; the others do.
        let label = match self {
            Network::Main => "",
            Network::Test => ".test",
            Network::Qa => ".qa",
            Network::Dev => ".dev",
        };
        Endpoints {
            proxy: format!("https://gridproxy{label}.grid.tf"),
            tfchain: format!("wss://tfchain{label}.grid.tf/ws"),
            relay: format!("wss://relay{label}.grid.tf"),
            graphql: format!("https://graphql{label}.grid.tf/graphql"),
        }
    }
}

impl std::str::FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(name: &str) -> Result<Network, UnknownNetwork> {
        Network::parse(name)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the grid's services are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub proxy: String,
    pub tfchain: String,
    pub relay: String,
    pub graphql: String,
}

/// `[grid.tfgrid]`: overrides of the network's hosts, and how patient to be.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TfgridConfig {
    /// Empty means the network's default host.
    pub proxy_url: String,
    pub tfchain_url: String,
    pub relay_url: String,
    pub graphql_url: String,
    /// One grid proxy request, connection included.
    pub request_timeout_seconds: u64,
    /// How long grid proxy answers (node details, listings) are reused.
    pub cache_seconds: u64,
    /// How long a location menu is reused.
    pub locations_cache_seconds: u64,
    /// Nodes per page, and pages at most, when listing every fitting node.
    pub page_size: u32,
    pub max_pages: u32,
    /// The relay written on each twin (nodes answer through it); empty
    /// means the relay URL's host.
    pub relay_domain: String,
    /// The terms and conditions every twin accepts on chain first: the
    /// document's link and its hash (1 to 50 of `A-Z a-z 0-9 - _`, as
    /// pallet-tfgrid demands; see `grid/tfgrid/chain/terms.rs`). Unset, the
    /// hash is the hex MD5 of the document fetched from the link.
    pub terms_link: String,
    pub terms_hash: Option<String>,
    /// How long a TFChain write may take to be finalized.
    pub finality_timeout_seconds: u64,
    /// How long one RMB call waits for the node's answer.
    pub rmb_timeout_seconds: u64,
    /// How long a deployment may take to come up, and how often it is polled.
    pub deploy_timeout_seconds: u64,
    pub poll_seconds: u64,
    /// TFT each new identity's TFChain account is topped up to, from the
    /// operator's account (its key in `JUKEBOX_TFCHAIN_FUNDER_SEED`), before
    /// its twin is created; "0" means the operator funds accounts by hand.
    pub twin_funding_tft: String,
    /// Where `jukebox grid doctor` looks up the catalog's flists that are on
    /// hub.grid.tf (same path, this host): a mirror of the hub, or a test's
    /// fake. Empty: hub.grid.tf itself. Deployments always name the
    /// catalog's URL as it is.
    pub flist_hub_url: String,
}

impl Default for TfgridConfig {
    fn default() -> TfgridConfig {
        TfgridConfig {
            proxy_url: String::new(),
            tfchain_url: String::new(),
            relay_url: String::new(),
            graphql_url: String::new(),
            request_timeout_seconds: 30,
            cache_seconds: 10,
            // The discovery's own defaults (`DiscoverySettings::default`,
            // checked equal in `grid/tfgrid/settings.rs`).
            locations_cache_seconds: 60,
            page_size: MAX_PAGE_SIZE,
            max_pages: 20,
            relay_domain: String::new(),
            terms_link: terms::DEFAULT_LINK.into(),
            terms_hash: None,
            finality_timeout_seconds: 60,
            rmb_timeout_seconds: 30,
            deploy_timeout_seconds: 600,
            poll_seconds: 5,
            twin_funding_tft: "2".into(),
            flist_hub_url: String::new(),
        }
    }
}

impl TfgridConfig {
    /// The hosts for `network`, overrides applied and checked.
    pub fn endpoints(&self, network: Network) -> Result<Endpoints, Problem> {
        let defaults = network.hosts();
        let pick = |over: &str, default: String, key: &str, schemes: &[&str]| {
            let url = if over.trim().is_empty() {
                default
            } else {
                over.trim().to_string()
            };
            check_url(&url, key, schemes).map(|()| url)
        };
        Ok(Endpoints {
            proxy: pick(&self.proxy_url, defaults.proxy, "proxy_url", HTTP)?,
            tfchain: pick(&self.tfchain_url, defaults.tfchain, "tfchain_url", WS)?,
            relay: pick(&self.relay_url, defaults.relay, "relay_url", WS)?,
            graphql: pick(&self.graphql_url, defaults.graphql, "graphql_url", HTTP)?,
        })
    }

    /// The configured flist hub override, checked (see `flist_hub_url`).
    pub fn flist_hub(&self) -> Option<String> {
        let hub = self.flist_hub_url.trim();
        (!hub.is_empty()).then(|| hub.to_owned())
    }

    /// Every value checked, for `jukebox check`.
    pub fn validate(&self, network: Network) -> Result<(), Problem> {
        self.endpoints(network)?;
        if let Some(hub) = self.flist_hub() {
            check_url(&hub, "flist_hub_url", HTTP)?;
        }
        if !(1..=300).contains(&self.request_timeout_seconds) {
            return Err("request_timeout_seconds must be 1 to 300".into());
        }
        if self.cache_seconds > 3600 || self.locations_cache_seconds > 3600 {
            return Err("cache_seconds and locations_cache_seconds must be at most 3600".into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) || !(1..=1000).contains(&self.max_pages) {
            return Err(
                format!("page_size must be 1 to {MAX_PAGE_SIZE} and max_pages 1 to 1000").into(),
            );
        }
        let timeouts = [
            self.finality_timeout_seconds,
            self.rmb_timeout_seconds,
            self.deploy_timeout_seconds,
            self.poll_seconds,
        ];
        if timeouts.iter().any(|t| !(1..=3600).contains(t)) {
            return Err(
                "finality_timeout_seconds, rmb_timeout_seconds, deploy_timeout_seconds \
                        and poll_seconds must be 1 to 3600"
                    .into(),
            );
        }
        self.twin_funding()?;
        self.terms_pair()?;
        if self.relay_domain.contains(['/', ':', ' ']) {
            return Err(format!(
                "relay_domain {:?} must be a host name like relay.grid.tf",
                self.relay_domain
            )
            .into());
        }
        Ok(())
    }

    /// The terms pair as configured, checked as TFChain would check it: a
    /// configured hash (even an empty one) must be well formed, and without
    /// one the link must be (its document is hashed when first needed).
    /// `Some` when the pair is fully configured.
    pub fn terms_pair(&self) -> Result<Option<Terms>, Problem> {
        let link = self.terms_link.trim();
        match self.terms_hash.as_deref().map(str::trim) {
            Some(hash) => Ok(Some(Terms::parse(link, hash)?)),
            None => Ok(terms::check_link(link).map(|()| None)?),
        }
    }

    /// `twin_funding_tft` in chain units (1 TFT = 10^7).
    pub fn twin_funding(&self) -> Result<u128, Problem> {
        let tft: crate::money::Tft = self
            .twin_funding_tft
            .parse()
            .map_err(|e| format!("twin_funding_tft {:?}: {e}", self.twin_funding_tft))?;
        u128::try_from(tft.units()).map_err(|_| {
            Problem::from(format!(
                "twin_funding_tft {:?} must not be negative",
                self.twin_funding_tft
            ))
        })
    }

    pub fn finality_timeout(&self) -> Duration {
        Duration::from_secs(self.finality_timeout_seconds)
    }
}

/// The environment variable holding the operator's funding account key:
/// the 32-byte ed25519 seed as 64 hex characters (optionally `0x`-prefixed).
/// Never in the config file.
pub const FUNDER_SEED_ENV: &str = "JUKEBOX_TFCHAIN_FUNDER_SEED";

/// The funding account's key from its seed's text.
pub fn funder_key(seed: &str) -> Result<ed25519_dalek::SigningKey, Problem> {
    let text = seed.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("must be the account's 32-byte ed25519 seed as 64 hex characters")?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&bytes))
}

/// Problems in `[grid]` as (key or section to point at, message).
pub(super) fn diagnose(grid: &super::GridConfig) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if let Err(e) = grid.tfgrid.validate(grid.network) {
        found.push(("[grid.tfgrid]", format!("grid.tfgrid: {e}")));
    }
    found
}

const HTTP: &[&str] = &["https", "http"];
const WS: &[&str] = &["wss", "ws"];

fn check_url(url: &str, key: &str, schemes: &[&str]) -> Result<(), Problem> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{key} {url:?}: {e}"))?;
    if !schemes.contains(&parsed.scheme()) || parsed.host_str().is_none() {
        return Err(format!(
            "{key} {url:?} must be a {} URL with a host",
            schemes.join(" or ")
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_network_has_the_reference_hosts() {
        let main = Network::Main.hosts();
        assert_eq!(main.proxy, "https://gridproxy.grid.tf");
        assert_eq!(main.tfchain, "wss://tfchain.grid.tf/ws");
        assert_eq!(main.relay, "wss://relay.grid.tf");
        assert_eq!(main.graphql, "https://graphql.grid.tf/graphql");
        let dev = Network::Dev.hosts();
        assert_eq!(dev.proxy, "https://gridproxy.dev.grid.tf");
        assert_eq!(dev.tfchain, "wss://tfchain.dev.grid.tf/ws");
        assert_eq!(dev.relay, "wss://relay.dev.grid.tf");
        assert_eq!(dev.graphql, "https://graphql.dev.grid.tf/graphql");
        for name in ["main", "test", "qa", "dev"] {
            assert_eq!(Network::parse(name).unwrap().to_string(), name);
        }
        assert!(
            Network::parse("mainnet")
                .unwrap_err()
                .to_string()
                .contains("\"main\"")
        );
    }

    #[test]
    fn overrides_replace_one_host_each_and_are_checked() {
        let config = TfgridConfig {
            proxy_url: " http://127.0.0.1:8080 ".into(),
            relay_url: "ws://127.0.0.1:9000".into(),
            ..TfgridConfig::default()
        };
        let e = config.endpoints(Network::Qa).unwrap();
        assert_eq!(e.proxy, "http://127.0.0.1:8080");
        assert_eq!(e.relay, "ws://127.0.0.1:9000");
        assert_eq!(e.tfchain, "wss://tfchain.qa.grid.tf/ws");
        let bad = TfgridConfig {
            tfchain_url: "https://tfchain.grid.tf".into(),
            ..TfgridConfig::default()
        };
        let err = bad.endpoints(Network::Main).unwrap_err();
        assert!(
            err.starts_with("tfchain_url") && err.contains("wss or ws"),
            "{err}"
        );
        let bad = TfgridConfig {
            proxy_url: "gridproxy.grid.tf".into(),
            ..TfgridConfig::default()
        };
        assert!(
            bad.validate(Network::Main)
                .unwrap_err()
                .starts_with("proxy_url")
        );
        // An unknown network cannot reach validate: it is refused when read.
        assert!("moon".parse::<Network>().is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert!(TfgridConfig::default().validate(Network::Test).is_ok());
        let zero = TfgridConfig {
            request_timeout_seconds: 0,
            ..TfgridConfig::default()
        };
        assert!(zero.validate(Network::Test).is_err());
        let pages = TfgridConfig {
            page_size: 500,
            ..TfgridConfig::default()
        };
        assert!(
            pages
                .validate(Network::Test)
                .unwrap_err()
                .contains("page_size")
        );
        let forever = TfgridConfig {
            deploy_timeout_seconds: 0,
            ..TfgridConfig::default()
        };
        assert!(
            forever
                .validate(Network::Test)
                .unwrap_err()
                .contains("deploy_timeout_seconds")
        );
        assert_eq!(TfgridConfig::default().twin_funding(), Ok(20_000_000));
        let funding = |v: &str| TfgridConfig {
            twin_funding_tft: v.into(),
            ..TfgridConfig::default()
        };
        assert_eq!(funding("0.5").twin_funding(), Ok(5_000_000));
        let err = funding("lots").validate(Network::Test).unwrap_err();
        assert!(err.contains("twin_funding_tft"), "{err}");
        assert!(funding("-1").validate(Network::Test).is_err());
    }

    #[test]
    fn check_takes_tfgrid_only_with_bridge_payments_and_points_at_lines() {
        use crate::config::Config;
        let no_env = |_: &str| None;
        let text = "[grid]\nkind = \"tfgrid\"\nnetwork = \"dev\"\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0.len(), 1, "{d}");
        assert_eq!(d.0[0].line, 2);
        assert!(d.0[0].message.contains("payments.kind = \"bridge\""), "{d}");
        let real = "[grid]\nkind = \"tfgrid\"\nnetwork = \"dev\"\n\
                    [payments]\nkind = \"bridge\"\n[web]\nsandbox_login = false\n";
        let c = Config::parse("c.toml", real, &no_env).unwrap();
        assert_eq!(c.payments.kind, crate::config::PaymentsKind::Bridge);
        let qa = real.replace("\"dev\"", "\"qa\"");
        assert!(Config::parse("c.toml", &qa, &no_env).is_ok());
        let open_login = "[grid]\nkind = \"tfgrid\"\n[payments]\nkind = \"bridge\"\n";
        let d = Config::parse("c.toml", open_login, &no_env).unwrap_err();
        assert!(d.0[0].message.contains("sandbox_login"), "{d}");
        let bridge_on_sim = "[payments]\nkind = \"bridge\"\n[web]\nsandbox_login = false\n";
        let d = Config::parse("c.toml", bridge_on_sim, &no_env).unwrap_err();
        assert!(d.0[0].message.contains("needs grid.kind"), "{d}");
        let d = Config::parse("c.toml", "[grid]\nnetwork = \"moon\"\n", &no_env).unwrap_err();
        assert_eq!((d.0[0].line, d.0.len()), (2, 1));
        assert!(d.0[0].message.starts_with("grid.network"), "{d}");
        let text = "[grid]\nkind = \"sim\"\n\n[grid.tfgrid]\nrelay_url = \"http://x\"\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 4);
        assert!(d.0[0].message.contains("relay_url"), "{d}");
        let text =
            "[grid]\nnetwork = \"main\"\n[grid.tfgrid]\nproxy_url = \"http://127.0.0.1:1\"\n";
        let c = Config::parse("c.toml", text, &no_env).unwrap();
        let e = c.grid.tfgrid.endpoints(c.grid.network).unwrap();
        assert_eq!(e.proxy, "http://127.0.0.1:1");
        assert_eq!(e.relay, "wss://relay.grid.tf");
        let d = Config::parse("c.toml", "[grid]\nkind = \"azure\"\n", &no_env).unwrap_err();
        assert!(
            d.0[0].message.contains("must be \"sim\" or \"tfgrid\""),
            "{d}"
        );
    }
}
