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
    pub node_types: Vec<NodeType>,
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
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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
    pub env: String,
    pub secret: bool,
    pub prompt: String,
    pub validate: Validator,
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
    node_types: Vec<Spanned<RawNodeType>>,
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
                settings: nt.settings.into_iter().map(|s| s.value).collect(),
                health: nt.health,
                max_count: nt.max_count,
            });
        }
        chains.push(Chain {
            id: chain.id,
            name: chain.name,
            description: chain.description,
            node_types,
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
    if nt.health.tcp.is_none() && nt.health.http.is_none() {
        diags.push(
            file,
            line,
            format!("{at}: health needs a tcp port, an http check, or both"),
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
        .chain(nt.settings.iter().map(|s| s.value.env.as_str()));
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
        // The key an address must belong to is asked before the address, so
        // the answer is there to compare with.
        if let Validator::EthAddress {
            of_key: Some(of_key),
        } = &s.value.validate
        {
            let earlier = nt
                .settings
                .iter()
                .take_while(|e| e.value.key != s.value.key)
                .find(|e| &e.value.key == of_key);
            if !earlier.is_some_and(|e| e.value.validate == Validator::EthPrivateKey) {
                diags.push(
                    file,
                    sline,
                    format!(
                        "{at}: setting {}: of_key {of_key:?} must name an earlier setting validated as eth_private_key",
                        s.value.key
                    ),
                );
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
    fn an_address_must_name_an_earlier_private_key() {
        let later = CATALOG.replace("of_key: eth_private_key", "of_key: sentry_heimdall_id");
        let text = Catalog::parse("c.yaml", &later).unwrap_err().to_string();
        assert!(
            text.contains("of_key \"sentry_heimdall_id\" must name an earlier setting"),
            "{text}"
        );
    }

    #[test]
    fn errors_carry_lines() {
        let bad = "chains:\n  - id: Bad!\n    name: x\n    description: y\n    node_types: []\n";
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
