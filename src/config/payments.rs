//! The `[payments.stellar]` section: which Stellar network real TFT payments
//! are watched on, where (Horizon), which asset counts as TFT, and the
//! operator's own deposit account. Defaults come from the ThreeFold
//! references (`tfgrid-v3.md`, section 4); only the deposit address has no
//! default, because it must be an account the operator controls.

use serde::Deserialize;

use super::Network;
use crate::model::strkey::{self, ACCOUNT_ID};

/// TFT issuer on the Stellar public network (mainnet).
pub const PUBLIC_TFT_ISSUER: &str = "GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47";
/// TFT issuer on the Stellar test network.
pub const TESTNET_TFT_ISSUER: &str = "GA47YZA3PKFUZMPLQ3B5F2E3CJIB57TGGU7SPCQT2WAEYKN766PWIMB3";
pub const PUBLIC_HORIZON: &str = "https://horizon.stellar.org";
pub const TESTNET_HORIZON: &str = "https://horizon-testnet.stellar.org";
/// The TFChain bridge vaults of main, test, dev and qa: a deposit there is
/// minted to the twin named by a `twin_<id>` memo, and refunded otherwise,
/// so Jukebox's own memos must never be sent to them. Main and test listen
/// on the public Stellar network, dev and qa on Stellar's testnet
/// (tfgrid-sdk-ts `packages/playground/scripts/build-env.sh`).
pub const BRIDGE_VAULTS: &[&str] = &[
    "GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC",
    "GA2CWNBUHX7NZ3B5GR4I23FMU7VY5RPA77IUJTIXTTTGKYSKDSV6LUA4",
    "GDHJP6TF3UXYXTNEZ2P36J5FH7W4BJJQ4AYYAXC66I2Q2AH5B6O6BCFG",
    "GAQH7XXFBRWXT2SBK6AHPOLXDCLXVFAKFSOJIRMRNCDINWKHGI6UYVKM",
];

/// The TFChain bridge a deposit goes through: its Stellar vault and the
/// issuer of the TFT it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeVault<'a> {
    pub vault: &'a str,
    pub issuer: &'static str,
}

/// The bridge of grid `network`, or `vault` when it is given (then on
/// the Stellar network of `stellar_network`), checked without contacting
/// anything: how `jukebox check` and the bridge wallet
/// (`payments/bridge.rs`) agree on which vault is used.
pub fn bridge_vault(
    network: Network,
    vault: &str,
    stellar_network: StellarNetwork,
) -> Result<BridgeVault<'_>, BadVault> {
    let (vault, issuer) = match (vault.trim(), network) {
        ("", Network::Main) => (BRIDGE_VAULTS[0], PUBLIC_TFT_ISSUER),
        ("", Network::Test) => (BRIDGE_VAULTS[1], PUBLIC_TFT_ISSUER),
        // Devnet's and QA net's bridges listen on the Stellar test network.
        ("", Network::Dev) => (BRIDGE_VAULTS[2], TESTNET_TFT_ISSUER),
        ("", Network::Qa) => (BRIDGE_VAULTS[3], TESTNET_TFT_ISSUER),
        (given, _) => {
            strkey::decode(ACCOUNT_ID, given).map_err(|reason| BadVault {
                given: given.to_owned(),
                reason,
            })?;
            (given, stellar_network.tft_issuer())
        }
    };
    Ok(BridgeVault { vault, issuer })
}

/// A `payments.bridge_vault` that is not a Stellar account id.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("payments.bridge_vault {given:?}: {reason}")]
pub struct BadVault {
    pub given: String,
    pub reason: strkey::StrKeyError,
}

/// `payments.stellar.network`: the Stellar network TFT payments are
/// watched on. serde refuses any other value, naming the key and the
/// allowed values (`config::keyed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StellarNetwork {
    /// Mainnet: real money.
    Public,
    Testnet,
}

impl StellarNetwork {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            StellarNetwork::Public => "public",
            StellarNetwork::Testnet => "testnet",
        }
    }

    /// The TFT issuer on this network.
    pub fn tft_issuer(self) -> &'static str {
        match self {
            StellarNetwork::Public => PUBLIC_TFT_ISSUER,
            StellarNetwork::Testnet => TESTNET_TFT_ISSUER,
        }
    }

    /// This network's public Horizon.
    pub fn horizon(self) -> &'static str {
        match self {
            StellarNetwork::Public => PUBLIC_HORIZON,
            StellarNetwork::Testnet => TESTNET_HORIZON,
        }
    }
}

impl std::fmt::Display for StellarNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `payments.kind`: how users pay. serde refuses any other value, naming
/// the key and the allowed values (`config::keyed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentsKind {
    /// Play money, a SIMULATION (the default).
    Sandbox,
    /// Real TFT paid to the operator's Stellar account.
    Stellar,
    /// Real TFT paid through the TFChain bridge into each user's twin.
    Bridge,
}

impl PaymentsKind {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentsKind::Sandbox => "sandbox",
            PaymentsKind::Stellar => "stellar",
            PaymentsKind::Bridge => "bridge",
        }
    }
}

impl PartialEq<&str> for PaymentsKind {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == *text
    }
}

impl std::fmt::Display for PaymentsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StellarConfig {
    /// "public" (mainnet, real money) or "testnet".
    pub network: StellarNetwork,
    /// Empty: the network's public Horizon.
    pub horizon_url: String,
    /// Empty: the network's TFT issuer.
    pub asset_issuer: String,
    /// The operator's own Stellar account (G...) that users pay into; it
    /// must hold a TFT trustline. Required when `payments.kind = "stellar"`.
    pub deposit_address: String,
    /// How often Horizon is asked for new payments.
    pub poll_interval_seconds: u64,
    /// One Horizon request may take this long before it counts as failed.
    pub request_timeout_seconds: u64,
    /// Records per Horizon page (Horizon allows 1 to 200).
    pub page_limit: u32,
    /// Attempts per Horizon request when it fails transiently (5xx, 429,
    /// timeouts, no connection), the first included.
    pub retry_attempts: u32,
    /// The wait after the first failed attempt; doubled after each.
    pub retry_first_ms: u64,
    /// The longest wait between attempts.
    pub retry_max_seconds: u64,
}

impl Default for StellarConfig {
    fn default() -> StellarConfig {
        StellarConfig {
            network: StellarNetwork::Public,
            horizon_url: String::new(),
            asset_issuer: String::new(),
            deposit_address: String::new(),
            poll_interval_seconds: 15,
            request_timeout_seconds: 20,
            page_limit: 200,
            retry_attempts: 5,
            retry_first_ms: 1000,
            retry_max_seconds: 60,
        }
    }
}

impl StellarConfig {
    /// The Horizon base URL to use (without a trailing slash).
    pub fn horizon(&self) -> String {
        let url = match self.horizon_url.as_str() {
            "" => self.network.horizon(),
            url => url,
        };
        url.trim_end_matches('/').to_owned()
    }

    /// The TFT issuer to accept.
    pub fn issuer(&self) -> &str {
        match self.asset_issuer.as_str() {
            "" => self.network.tft_issuer(),
            issuer => issuer,
        }
    }

    /// Every problem with this section, as `(key, message)`. `in_use` says
    /// whether `payments.kind` is "stellar": only then is the deposit
    /// address required.
    pub fn problems(&self, in_use: bool) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let horizon = self.horizon();
        if !(horizon.starts_with("https://") || horizon.starts_with("http://")) {
            problems.push((
                "horizon_url",
                format!("payments.stellar.horizon_url {horizon:?} must be an http(s) URL"),
            ));
        }
        if strkey::decode(ACCOUNT_ID, self.issuer()).is_err() {
            problems.push((
                "asset_issuer",
                format!(
                    "payments.stellar.asset_issuer {:?} is not a Stellar account id (G..., 56 characters)",
                    self.asset_issuer
                ),
            ));
        }
        if self.deposit_address.is_empty() {
            if in_use {
                problems.push((
                    "deposit_address",
                    "payments.kind = \"stellar\" needs payments.stellar.deposit_address: \
                     the operator's own Stellar account (G...) with a TFT trustline, \
                     that users will pay into"
                        .into(),
                ));
            }
        } else if strkey::decode(ACCOUNT_ID, &self.deposit_address).is_err() {
            problems.push((
                "deposit_address",
                format!(
                    "payments.stellar.deposit_address {:?} is not a Stellar account id \
                     (G..., 56 characters, valid checksum)",
                    self.deposit_address
                ),
            ));
        } else if BRIDGE_VAULTS.contains(&self.deposit_address.as_str()) {
            problems.push((
                "deposit_address",
                "payments.stellar.deposit_address is a TFChain bridge vault: it refunds \
                 Jukebox's memos; use your own account"
                    .into(),
            ));
        }
        if !(1..=3600).contains(&self.poll_interval_seconds) {
            problems.push((
                "poll_interval_seconds",
                "payments.stellar.poll_interval_seconds must be 1 to 3600".into(),
            ));
        }
        if !(1..=300).contains(&self.request_timeout_seconds) {
            problems.push((
                "request_timeout_seconds",
                "payments.stellar.request_timeout_seconds must be 1 to 300".into(),
            ));
        }
        if !(1..=200).contains(&self.page_limit) {
            problems.push((
                "page_limit",
                "payments.stellar.page_limit must be 1 to 200 (Horizon's limit)".into(),
            ));
        }
        if !(1..=20).contains(&self.retry_attempts) {
            problems.push((
                "retry_attempts",
                "payments.stellar.retry_attempts must be 1 to 20".into(),
            ));
        }
        if !(1..=600_000).contains(&self.retry_first_ms)
            || !(1..=3600).contains(&self.retry_max_seconds)
        {
            problems.push((
                "retry_first_ms",
                "payments.stellar.retry_first_ms must be 1 to 600000 and retry_max_seconds 1 to 3600"
                    .into(),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> String {
        strkey::encode(ACCOUNT_ID, &[7; 32])
    }

    fn keys(c: &StellarConfig, in_use: bool) -> Vec<&'static str> {
        c.problems(in_use).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn defaults_follow_the_network() {
        let mut c = StellarConfig::default();
        assert_eq!(c.horizon(), PUBLIC_HORIZON);
        assert_eq!(c.issuer(), PUBLIC_TFT_ISSUER);
        c.network = StellarNetwork::Testnet;
        assert_eq!(c.horizon(), TESTNET_HORIZON);
        assert_eq!(c.issuer(), TESTNET_TFT_ISSUER);
        c.horizon_url = "http://127.0.0.1:8000/".into();
        assert_eq!(c.horizon(), "http://127.0.0.1:8000");
        // The built-in issuers are valid account ids.
        assert!(keys(&c, false).is_empty());
    }

    #[test]
    fn the_deposit_address_is_required_only_in_use_and_checked() {
        let mut c = StellarConfig::default();
        assert!(keys(&c, false).is_empty());
        let problems = c.problems(true);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "deposit_address");
        assert!(problems[0].1.contains("operator's own Stellar account"));
        c.deposit_address = own();
        assert!(keys(&c, true).is_empty());
        // One changed character breaks the checksum.
        let mut broken = own().into_bytes();
        broken[10] = if broken[10] == b'A' { b'B' } else { b'A' };
        c.deposit_address = String::from_utf8(broken).unwrap();
        assert_eq!(keys(&c, true), ["deposit_address"]);
        c.deposit_address = BRIDGE_VAULTS[0].into();
        assert_eq!(keys(&c, true), ["deposit_address"]);
    }

    #[test]
    fn bad_values_are_named() {
        // An unknown network is refused when the file is read (serde), so
        // it never reaches `problems`; the key is named all the same.
        let text = "[payments.stellar]\nnetwork = \"mainnet\"\n";
        let d = crate::config::Config::parse("c.toml", text, &|_| None).unwrap_err();
        assert_eq!(d.0[0].line, 2, "{d}");
        assert!(
            d.0[0].message.starts_with("payments.stellar.network"),
            "{d}"
        );
        let c = StellarConfig {
            horizon_url: "ftp://x".into(),
            asset_issuer: "GNOPE".into(),
            poll_interval_seconds: 0,
            request_timeout_seconds: 0,
            page_limit: 201,
            ..StellarConfig::default()
        };
        assert_eq!(
            keys(&c, false),
            [
                "horizon_url",
                "asset_issuer",
                "poll_interval_seconds",
                "request_timeout_seconds",
                "page_limit"
            ]
        );
    }
}
