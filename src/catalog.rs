//! The chain catalog: what can be deployed, loaded from `dialogues/catalog.yaml`.
//!
//! Pure data plus its checks. Every problem is reported with file and line;
//! nothing else in Jukebox names a chain, so a new chain is a YAML edit.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostics::{Diagnostics, yaml_options};
use crate::model::Capacity;
use crate::validate::Validator;

mod facts;
pub mod notice;

pub use facts::{Client, Image, Minimum, Requires, Version};
pub use notice::{MoveNotice, OnMove, move_notice, move_notice_given};
pub mod chain_probe;
pub mod node_status;

pub use chain_probe::{
    ChainProbeSpec, CometBftSpec, EvmSpec, P2pSpec, ProbeProtocol, SimChainSpec,
};
pub use node_status::NodeStatusSpec;

/// Minimum memory a zmachine accepts on Zero-OS.
const MIN_MEMORY_MIB: u64 = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    pub chains: Vec<Chain>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The least machine the chain's documentation asks of any node.
    pub minimum: Minimum,
    pub node_types: Vec<NodeType>,
    /// How the monitor reads this chain's nodes and network; `None` for a
    /// service with no chain to follow.
    pub probe: Option<ChainProbeSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ipv4Policy {
    Required,
    Optional,
    None,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpu: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: String,
    pub port: u16,
    /// Whether the port is meant to be reached from the internet.
    pub public: bool,
}

/// A value Jukebox creates for each node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generated {
    Fixed { env: String, value: String },
    Password { env: String, length: usize },
}

impl Generated {
    pub fn env(&self) -> &str {
        match self {
            Generated::Fixed { env, .. } | Generated::Password { env, .. } => env,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub port: u16,
    pub path: String,
}

/// The application-level health check for a node type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default)]
    pub tcp: Option<u16>,
    #[serde(default)]
    pub http: Option<HttpCheck>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub key: String,
    pub label: String,
    /// The machine's environment variable that gets it; empty for a value
    /// Jukebox keeps for itself and never gives the machine (the API key a
    /// `node_status` block names, nothing else).
    #[serde(default)]
    pub env: String,
    pub secret: bool,
    pub prompt: String,
    pub validate: Validator,
    /// The user may skip it with a button (a node's existing keys, given
    /// only to move a node that already runs elsewhere). A setting whose
    /// `of_key` names a skipped one is skipped with it, and asked (without
    /// a Skip) when that one was given.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeType {
    pub id: String,
    pub name: String,
    pub description: String,
    pub resources: Resources,
    pub flist: String,
    pub entrypoint: String,
    pub ipv4: Ipv4Policy,
    pub ports: Vec<Port>,
    pub env: BTreeMap<String, String>,
    pub generated: Vec<Generated>,
    pub settings: Vec<Setting>,
    pub health: HealthCheck,
    /// At most this many per order (a validator: 1, as two on one signer
    /// key would double-sign); the operator's `max_nodes` otherwise.
    pub max_count: Option<u32>,
    /// What this role needs beyond its chain's minimum (a validator
    /// or sentry: 8 cores).
    pub minimum: Option<Minimum>,
    /// What the flist is made from: ThreeFold's own, or the operator's
    /// conversion of upstream images (docs/catalog.md).
    pub image: Image,
    /// The upstream clients the image runs, their versions and the oldest
    /// the network accepts.
    pub clients: Vec<Client>,
    /// Where the image expects its disk (e.g. /var/lib/docker for an flist that runs Docker inside).
    pub disk_mount: String,
    /// Another node type of the chain this one works only with.
    pub requires: Option<Requires>,
    /// What a redeploy keeps and what the user must do after it.
    pub on_move: OnMove,
    /// Where the node's network reports its status, read with the user's
    /// key (`node_status.rs`); `None` for most node types.
    pub node_status: Option<NodeStatusSpec>,
}

impl NodeType {
    /// What one node needs from a grid node, with or without a public IPv4.
    pub fn capacity(&self, with_ipv4: bool) -> Capacity {
        Capacity {
            cpu: self.resources.cpu,
            memory_mib: self.resources.memory_mib,
            disk_gib: self.resources.disk_gib,
            public_ipv4: with_ipv4 || self.ipv4 == Ipv4Policy::Required,
        }
    }

    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// Whether the node type has settings a user may give after the
    /// deploy (`/keys`).
    pub fn has_optional_settings(&self) -> bool {
        self.settings.iter().any(|s| s.optional && !s.is_kept())
    }

    /// Whether the node type has settings Jukebox keeps for itself (a
    /// dashboard API key, given with `/apikey`).
    pub fn has_kept_settings(&self) -> bool {
        self.settings.iter().any(Setting::is_kept)
    }
}

impl Setting {
    /// Kept by Jukebox and never given to the machine (no `env`): asked by
    /// `settings: kept`, not with the node's own optional settings.
    pub fn is_kept(&self) -> bool {
        self.env.is_empty()
    }
}

impl Catalog {
    pub fn chain(&self, id: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.id == id)
    }

    pub fn node_type(&self, chain: &str, node_type: &str) -> Option<(&Chain, &NodeType)> {
        let chain = self.chain(chain)?;
        let nt = chain.node_types.iter().find(|n| n.id == node_type)?;
        Some((chain, nt))
    }

    /// Parses and checks the catalog; `file` names it in diagnostics.
    pub fn parse(file: &str, text: &str) -> Result<Catalog, Diagnostics> {
        let mut diags = Diagnostics::default();
        let raw: RawCatalog = match serde_saphyr::from_str_with_options(text, yaml_options()) {
            Ok(raw) => raw,
            Err(e) => {
                diags.yaml_error(file, &e);
                return Err(diags);
            }
        };
        let catalog = check(file, raw, &mut diags);
        if diags.is_empty() {
            Ok(catalog)
        } else {
            Err(diags)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    chains: Vec<Spanned<RawChain>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    id: String,
    name: String,
    description: String,
    minimum: Minimum,
    node_types: Vec<Spanned<RawNodeType>>,
    #[serde(default)]
    chain_probe: Option<Spanned<chain_probe::RawChainProbe>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeType {
    id: String,
    name: String,
    description: String,
    resources: Resources,
    flist: String,
    entrypoint: String,
    ipv4: Ipv4Policy,
    ports: Vec<Port>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    generated: Vec<Generated>,
    #[serde(default)]
    settings: Vec<Spanned<Setting>>,
    health: HealthCheck,
    #[serde(default)]
    max_count: Option<u32>,
    #[serde(default)]
    minimum: Option<Minimum>,
    image: Image,
    clients: Vec<Client>,
    #[serde(default = "default_disk_mount")]
    disk_mount: String,
    #[serde(default)]
    requires: Option<Requires>,
    on_move: notice::RawOnMove,
    #[serde(default)]
    node_status: Option<node_status::RawNodeStatus>,
}

/// Where a node's disk is mounted unless its image expects it elsewhere.
fn default_disk_mount() -> String {
    "/data".into()
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 24
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn check(file: &str, raw: RawCatalog, diags: &mut Diagnostics) -> Catalog {
    let mut chains = Vec::new();
    let mut chain_ids = BTreeSet::new();
    if raw.chains.is_empty() {
        diags.push(file, 1, "the catalog lists no chains");
    }
    for chain in raw.chains {
        let line = chain.referenced.line() as usize;
        let chain = chain.value;
        if !is_identifier(&chain.id) {
            diags.push(
                file,
                line,
                format!("chain id {:?} must be 1-24 of a-z, 0-9, _", chain.id),
            );
        }
        if !chain_ids.insert(chain.id.clone()) {
            diags.push(file, line, format!("chain id {:?} is used twice", chain.id));
        }
        if chain.node_types.is_empty() {
            diags.push(
                file,
                line,
                format!("chain {:?} has no node types", chain.id),
            );
        }
        let mut type_ids = BTreeSet::new();
        let mut node_types = Vec::new();
        if chain.minimum.source.trim().is_empty() {
            diags.push(
                file,
                line,
                format!("chain {:?}: minimum needs a source", chain.id),
            );
        }
        let siblings: Vec<String> = chain
            .node_types
            .iter()
            .map(|n| n.value.id.clone())
            .collect();
        for nt in chain.node_types {
            let line = nt.referenced.line() as usize;
            let nt = nt.value;
            let at = format!("{}/{}", chain.id, nt.id);
            if !is_identifier(&nt.id) {
                diags.push(
                    file,
                    line,
                    format!("node type id {:?} must be 1-24 of a-z, 0-9, _", nt.id),
                );
            }
            if !type_ids.insert(nt.id.clone()) {
                diags.push(file, line, format!("node type {at} is defined twice"));
            }
            check_node_type(file, line, &at, &nt, diags);
            let setting_keys: Vec<String> =
                nt.settings.iter().map(|s| s.value.key.clone()).collect();
            facts::check_node_facts(
                file,
                line,
                &at,
                &chain.minimum,
                &siblings,
                &facts::Facts {
                    resources: &nt.resources,
                    minimum: nt.minimum.as_ref(),
                    image: &nt.image,
                    flist: &nt.flist,
                    clients: &nt.clients,
                    disk_mount: &nt.disk_mount,
                    requires: nt.requires.as_ref(),
                    settings: &setting_keys,
                },
                diags,
            );
            let status = nt.node_status.and_then(|raw| {
                let facts: Vec<node_status::SettingFacts<'_>> = nt
                    .settings
                    .iter()
                    .map(|s| node_status::SettingFacts {
                        key: &s.value.key,
                        env: &s.value.env,
                        secret: s.value.secret,
                        optional: s.value.optional,
                    })
                    .collect();
                raw.check(&facts)
                    .map_err(|e| diags.push(file, line, format!("{at}: {e}")))
                    .ok()
            });
            for s in nt.settings.iter().filter(|s| s.value.env.is_empty()) {
                if status
                    .as_ref()
                    .is_none_or(|st| st.key_setting != s.value.key)
                {
                    diags.push(
                        file,
                        s.referenced.line() as usize,
                        format!(
                            "{at}: setting {} has no env: only the key a node_status block names is kept from the machine",
                            s.value.key
                        ),
                    );
                }
            }
            let settings: Vec<Setting> = nt.settings.into_iter().map(|s| s.value).collect();
            let on_move = OnMove::parse(nt.on_move, &nt.ports, &settings).unwrap_or_else(|e| {
                diags.push(file, line, format!("{at}: {e}"));
                OnMove {
                    keeps: String::new(),
                    when: notice::When::Always,
                    notice: None,
                    given: None,
                }
            });
            node_types.push(NodeType {
                id: nt.id,
                name: nt.name,
                description: nt.description,
                resources: nt.resources,
                flist: nt.flist,
                entrypoint: nt.entrypoint,
                ipv4: nt.ipv4,
                ports: nt.ports,
                env: nt.env,
                generated: nt.generated,
                settings,
                health: nt.health,
                max_count: nt.max_count,
                minimum: nt.minimum,
                image: nt.image,
                clients: nt.clients,
                disk_mount: nt.disk_mount,
                requires: nt.requires,
                on_move,
                node_status: status,
            });
        }
        let probe = chain.chain_probe.and_then(|raw| {
            let line = raw.referenced.line() as usize;
            chain_probe::check(file, line, &chain.id, raw.value, diags)
        });
        chains.push(Chain {
            id: chain.id,
            name: chain.name,
            description: chain.description,
            minimum: chain.minimum,
            node_types,
            probe,
        });
    }
    Catalog { chains }
}

fn check_node_type(file: &str, line: usize, at: &str, nt: &RawNodeType, diags: &mut Diagnostics) {
    if nt.max_count == Some(0) {
        diags.push(file, line, format!("{at}: max_count must be at least 1"));
    }
    let r = &nt.resources;
    if r.cpu == 0 || r.cpu > 64 {
        diags.push(file, line, format!("{at}: cpu must be 1 to 64 cores"));
    }
    if r.memory_mib < MIN_MEMORY_MIB {
        diags.push(
            file,
            line,
            format!("{at}: memory_mib must be at least {MIN_MEMORY_MIB}"),
        );
    }
    if r.disk_gib == 0 {
        diags.push(file, line, format!("{at}: disk_gib must be at least 1"));
    }
    if !nt.flist.starts_with("https://") || !nt.flist.ends_with(".flist") {
        diags.push(
            file,
            line,
            format!("{at}: flist must be an https:// URL ending in .flist"),
        );
    }
    if nt.name.trim().is_empty() || nt.description.trim().is_empty() {
        diags.push(
            file,
            line,
            format!("{at}: name and description must not be empty"),
        );
    }
    // A node that publishes nothing (an official flist that runs its
    // container without a published port) has no check of its own from outside: the
    // grid's checks apply, and what its network knows of it comes from the
    // `node_status` block. Any other node type needs an application check.
    if nt.health.tcp.is_none() && nt.health.http.is_none() && nt.node_status.is_none() {
        diags.push(
            file,
            line,
            format!(
                "{at}: health needs a tcp port, an http check, or both \
                 (only a node type with a node_status block may have none)"
            ),
        );
    }
    if let Some(http) = &nt.health.http
        && !http.path.starts_with('/')
    {
        diags.push(
            file,
            line,
            format!("{at}: health http path must start with /"),
        );
    }
    let mut envs = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let all_envs = nt
        .env
        .keys()
        .map(String::as_str)
        .chain(nt.generated.iter().map(Generated::env))
        .chain(
            nt.settings
                .iter()
                .map(|s| s.value.env.as_str())
                // Kept by Jukebox (a `node_status` key): checked there.
                .filter(|env| !env.is_empty()),
        );
    for env in all_envs {
        if !is_env_name(env) {
            diags.push(
                file,
                line,
                format!("{at}: {env:?} is not a valid environment variable name"),
            );
        }
        if env == "SSH_KEY" || !envs.insert(env.to_owned()) {
            diags.push(
                file,
                line,
                format!("{at}: environment variable {env} is set twice"),
            );
        }
    }
    for g in &nt.generated {
        if let Generated::Password { length, .. } = g
            && !(12..=64).contains(length)
        {
            diags.push(
                file,
                line,
                format!("{at}: generated password length must be 12 to 64"),
            );
        }
    }
    for s in &nt.settings {
        let sline = s.referenced.line() as usize;
        if !is_identifier(&s.value.key) {
            diags.push(
                file,
                sline,
                format!(
                    "{at}: setting key {:?} must be 1-24 of a-z, 0-9, _",
                    s.value.key
                ),
            );
        }
        if !keys.insert(s.value.key.clone()) {
            diags.push(
                file,
                sline,
                format!("{at}: setting {} is defined twice", s.value.key),
            );
        }
        if let Err(e) = s.value.validate.sanity_check() {
            diags.push(file, sline, format!("{at}: setting {}: {e}", s.value.key));
        }
        // The key an address (or a public key) must belong to is asked
        // before it, so the answer is there to compare with.
        if let Some(of_key) = s.value.validate.of_key() {
            let wanted = match &s.value.validate {
                Validator::RsaPublicKey { .. } => Validator::RsaPrivateKey,
                _ => Validator::EthPrivateKey,
            };
            let earlier = nt
                .settings
                .iter()
                .take_while(|e| e.value.key != s.value.key)
                .find(|e| e.value.key == of_key);
            match earlier {
                Some(e) if e.value.validate == wanted => {
                    // Skipping the key skips what is checked against it, so
                    // that cannot be a required setting.
                    if e.value.optional && !s.value.optional {
                        diags.push(
                            file,
                            sline,
                            format!(
                                "{at}: setting {}: of_key {of_key:?} is optional, so this setting must be optional too",
                                s.value.key
                            ),
                        );
                    }
                }
                _ => diags.push(
                    file,
                    sline,
                    format!(
                        "{at}: setting {}: of_key {of_key:?} must name an earlier setting validated as {}",
                        s.value.key,
                        match wanted {
                            Validator::RsaPrivateKey => "rsa_private_key",
                            _ => "eth_private_key",
                        }
                    ),
                ),
            }
        }
        if s.value.prompt.trim().is_empty() {
            diags.push(
                file,
                sline,
                format!("{at}: setting {} has an empty prompt", s.value.key),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = include_str!("../dialogues/catalog.yaml");

    #[test]
    fn shipped_catalog_has_the_seven_node_types() {
        let catalog = Catalog::parse("catalog.yaml", CATALOG).unwrap();
        let all: Vec<String> = catalog
            .chains
            .iter()
            .flat_map(|c| {
                c.node_types
                    .iter()
                    .map(move |n| format!("{}/{}", c.id, n.id))
            })
            .collect();
        assert_eq!(
            all,
            [
                "dash/full",
                "dash/masternode",
                "digibyte/full",
                "polygon/sentry",
                "polygon/full",
                "polygon/validator",
                "presearch/node"
            ]
        );
        let (_, validator) = catalog.node_type("polygon", "validator").unwrap();
        assert_eq!(validator.ipv4, Ipv4Policy::Required);
        assert_eq!(validator.settings.len(), 6);
        assert!(validator.setting("eth_private_key").unwrap().secret);
        assert_eq!(
            validator.setting("signer_address").unwrap().validate,
            Validator::EthAddress {
                of_key: Some("eth_private_key".into())
            }
        );
        // A ProRegTx carries the masternode's IPv4:port: not optional.
        let (_, masternode) = catalog.node_type("dash", "masternode").unwrap();
        assert_eq!(masternode.ipv4, Ipv4Policy::Required);
        assert_eq!(
            masternode.setting("bls_key").unwrap().validate,
            Validator::BlsSecretKey
        );
        let (_, dash) = catalog.node_type("dash", "full").unwrap();
        assert_eq!(dash.ipv4, Ipv4Policy::Optional);
        assert!(!dash.capacity(false).public_ipv4);
        assert!(dash.capacity(true).public_ipv4);
    }

    #[test]
    fn the_shipped_catalog_states_images_clients_and_minimums() {
        let catalog = Catalog::parse("catalog.yaml", CATALOG).unwrap();
        for chain in &catalog.chains {
            for nt in &chain.node_types {
                let r = &nt.resources;
                let m = &chain.minimum;
                assert!(r.cpu >= m.cpu && r.memory_mib >= m.memory_mib && r.disk_gib >= m.disk_gib);
                assert!(!nt.clients.is_empty(), "{}/{}", chain.id, nt.id);
            }
        }
        let (_, presearch) = catalog.node_type("presearch", "node").unwrap();
        assert_eq!(presearch.image, Image::Official);
        assert_eq!(
            presearch.flist,
            "https://hub.grid.tf/tf-official-apps/presearch-v2.3.flist"
        );
        assert_eq!(presearch.disk_mount, "/var/lib/docker");
        // Its flist publishes no port: no application check, its status
        // comes from Presearch (node_status).
        assert_eq!(presearch.health, HealthCheck::default());
        assert!(presearch.node_status.is_some());
        assert_eq!(presearch.resources.disk_gib, 10);
        let code = presearch.setting("registration_code").unwrap();
        assert_eq!(code.env, "PRESEARCH_REGISTRATION_CODE");
        assert!(code.validate.check(&"a".repeat(32)).is_ok());
        assert!(code.validate.check(&"a".repeat(31)).is_err());
        let (_, dgb) = catalog.node_type("digibyte", "full").unwrap();
        let core = &dgb.clients[0];
        assert_eq!(core.min_version, Some(Version::parse("9.26.2").unwrap()));
        assert!(!core.accepts(&Version::parse("8.22.2").unwrap()));
        assert!(dgb.image.operator_made());
        let (_, validator) = catalog.node_type("polygon", "validator").unwrap();
        let requires = validator.requires.as_ref().unwrap();
        assert_eq!(requires.node_type, "sentry");
        assert_eq!(validator.minimum.as_ref().unwrap().cpu, 8);
        assert!(validator.resources.disk_gib >= 4657);
        let (_, dash) = catalog.node_type("dash", "masternode").unwrap();
        assert_eq!(
            dash.image,
            Image::Docker {
                from: vec!["dashpay/dashd:23".into()]
            }
        );
    }

    #[test]
    fn bad_facts_are_refused_with_their_line() {
        let cases = [
            (
                "requires:\n          node_type: sentry",
                "requires:\n          node_type: archive",
                "requires \"archive\", which must be another node type of the same chain",
            ),
            (
                "settings: [sentry_heimdall_id, sentry_bor_enode]",
                "settings: [sentry_heimdall_id, sentry_moniker]",
                "requires names setting \"sentry_moniker\"",
            ),
            (
                "flist: https://hub.grid.tf/tf-official-apps/presearch-v2.3.flist",
                "flist: https://hub.grid.tf/someone/presearch-v2.3.flist",
                "presearch/node: an official image is one ThreeFold publishes",
            ),
            (
                "from: [\"dashpay/dashd:23\"] }\n        clients:\n          - { name: Dash Core, version: \"23\" }\n        entrypoint: /sbin/zinit init\n        ipv4: optional",
                "from: [\"dashpay/dashd\"] }\n        clients:\n          - { name: Dash Core, version: \"23\" }\n        entrypoint: /sbin/zinit init\n        ipv4: optional",
                "\"dashpay/dashd\" is not a Docker image name with a tag",
            ),
            (
                "memory_mib: 6144",
                "memory_mib: 65536",
                "dash/full: resources are below its chain's documented minimum (memory_mib 8192 < 65536",
            ),
            (
                "{port.p2p}",
                "{port.p2p} {setting.bls_key}",
                "dash/masternode: on_move.notice names {setting.bls_key}, a secret setting",
            ),
            (
                "version: \"9.26.5\"",
                "version: \"nine\"",
                "version \"nine\" must be 1 to 4 numbers",
            ),
            // Only a node type whose network reports on it (node_status) may
            // go without an application check.
            (
                "health: { tcp: 12024 }",
                "health: {}",
                "digibyte/full: health needs a tcp port, an http check, or both",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(CATALOG.contains(from), "{from}");
            let text = Catalog::parse("c.yaml", &CATALOG.replacen(from, to, 1))
                .unwrap_err()
                .to_string();
            assert!(text.contains(expected), "{expected:?} not in {text}");
            assert!(text.starts_with("c.yaml:"), "{text}");
        }
        // A role's own minimum may not ask for less than its chain's.
        let lower = CATALOG.replacen(
            "cpu: 8\n          memory_mib: 32768",
            "cpu: 2\n          memory_mib: 32768",
            1,
        );
        let text = Catalog::parse("c.yaml", &lower).unwrap_err().to_string();
        assert!(
            text.contains("polygon/sentry: its minimum is below its chain's"),
            "{text}"
        );
    }

    #[test]
    fn an_address_must_name_an_earlier_private_key() {
        let later = CATALOG.replace("of_key: eth_private_key", "of_key: sentry_heimdall_id");
        let text = Catalog::parse("c.yaml", &later).unwrap_err().to_string();
        assert!(
            text.contains("of_key \"sentry_heimdall_id\" must name an earlier setting"),
            "{text}"
        );
    }

    #[test]
    fn a_public_key_checked_against_an_optional_key_is_optional_too() {
        let (_, presearch) = Catalog::parse("catalog.yaml", CATALOG)
            .unwrap()
            .node_type("presearch", "node")
            .map(|(c, n)| (c.clone(), n.clone()))
            .unwrap();
        assert!(presearch.has_optional_settings());
        let key = presearch.setting("node_private_key").unwrap();
        assert_eq!(key.env, "PRESEARCH_BACKUP_PRI_KEY");
        assert!(key.secret && key.optional);
        let public = presearch.setting("node_public_key").unwrap();
        assert_eq!(public.env, "PRESEARCH_BACKUP_PUB_KEY");
        let required = CATALOG.replacen(
            "secret: false\n            optional: true",
            "secret: false\n            optional: false",
            1,
        );
        assert_ne!(required, CATALOG);
        let text = Catalog::parse("c.yaml", &required).unwrap_err().to_string();
        assert!(
            text.contains(
                "of_key \"node_private_key\" is optional, so this setting must be optional too"
            ),
            "{text}"
        );
        let wrong = CATALOG.replace("of_key: node_private_key", "of_key: registration_code");
        let text = Catalog::parse("c.yaml", &wrong).unwrap_err().to_string();
        assert!(
            text.contains("must name an earlier setting validated as rsa_private_key"),
            "{text}"
        );
    }

    #[test]
    fn errors_carry_lines() {
        let bad = "chains:\n  - id: Bad!\n    name: x\n    description: y\n    minimum: { cpu: 1, memory_mib: 256, disk_gib: 1, source: s }\n    node_types: []\n";
        let diags = Catalog::parse("c.yaml", bad).unwrap_err();
        let text = diags.to_string();
        assert!(text.contains("c.yaml:2: chain id"), "{text}");
        assert!(text.contains("has no node types"), "{text}");
    }

    #[test]
    fn unknown_fields_and_bad_yaml_are_reported_with_a_line() {
        let bad = "chains:\n  - id: x\n    nmae: x\n";
        let diags = Catalog::parse("c.yaml", bad).unwrap_err();
        assert!(diags.0[0].line >= 2, "{diags}");
        let diags = Catalog::parse("c.yaml", "chains: [").unwrap_err();
        assert_eq!(diags.0.len(), 1);
    }
}
