//! A chain's `chain_probe:` block: how the monitor reads a node's chain from
//! outside (protocol, network magic or id, port), what counts as in sync,
//! the oldest client the network still accepts, where the network's tip is
//! read, and how the simulated chain behaves.
//!
//! Every figure comes from the chain's own source; the YAML names the file
//! beside each. Checked with file:line like the rest of the catalog.

use serde::Deserialize;

use crate::diagnostics::Diagnostics;
use crate::lifecycle::chain::ClientVersion;

/// How to read one chain's nodes and network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainProbeSpec {
    pub protocol: ProbeProtocol,
    /// The chain's target block interval (the tip advances by one block per
    /// this many seconds).
    pub block_seconds: u32,
    /// A node this close to the network's tip (in blocks) is in sync.
    pub in_sync_blocks: u64,
    /// A node that was in sync and is now this far behind "fell behind"
    /// (larger than `in_sync_blocks`, so a node at the edge does not flap).
    pub behind_blocks: u64,
    /// The oldest client the network still accepts, if it refuses some.
    pub min_version: Option<ClientVersion>,
    /// Public places the network's tip is read from: `host:port` peers for
    /// `p2p`, `/status` base URLs for `cometbft`.
    pub references: Vec<String>,
    pub sim: SimChainSpec,
}

/// The wire protocol a node is read through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeProtocol {
    /// The Bitcoin-family P2P `version` handshake (Bitcoin-derived chains).
    P2p(P2pSpec),
    /// CometBFT's RPC `/status` (a CometBFT consensus layer).
    CometBft(CometBftSpec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P2pSpec {
    /// `pchMessageStart` of the chain's mainnet.
    pub magic: [u8; 4],
    pub port: u16,
    /// The protocol version our `version` message claims: peers drop one
    /// below their `MIN_PEER_PROTO_VERSION`.
    pub protocol_version: i32,
    /// Upstream's `MAX_PROTOCOL_MESSAGE_LENGTH`: a longer frame is refused.
    pub max_message_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CometBftSpec {
    /// CometBFT's RPC port (`/status`).
    pub rpc_port: u16,
    /// `node_info.network`, the chain id a node must report.
    pub network: String,
    /// The execution layer read beside the consensus layer (an EVM client
    /// beside a CometBFT chain), if the chain has one.
    pub evm: Option<EvmSpec>,
    /// What users read for the consensus layer's heights (the catalog's word).
    pub consensus_name: String,
}

/// An execution client (an Ethereum JSON-RPC node) read beside the
/// consensus layer: its height is part of the node's reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmSpec {
    /// Its JSON-RPC port, reached over the node's Mycelium address only,
    /// never its public ones (docs/chain-health.md).
    pub rpc_port: u16,
    /// What users read for its heights (the catalog's word).
    pub name: String,
    /// Public JSON-RPC URLs its network's tip is read from.
    pub references: Vec<String>,
}

/// How the simulated chain of this kind behaves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimChainSpec {
    /// The network's height when the simulation starts.
    pub tip_height: u64,
    /// How fast a fresh node catches up (blocks per second).
    pub sync_blocks_per_second: u32,
    /// The execution layer's height when the simulation starts (chains
    /// with `evm_rpc_port`; it advances and syncs like the other).
    #[serde(default)]
    pub evm_tip_height: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChainProbe {
    protocol: String,
    #[serde(default)]
    magic: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    protocol_version: Option<i32>,
    #[serde(default)]
    max_message_bytes: Option<u32>,
    #[serde(default)]
    rpc_port: Option<u16>,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    evm_rpc_port: Option<u16>,
    #[serde(default)]
    consensus_name: Option<String>,
    #[serde(default)]
    evm_name: Option<String>,
    #[serde(default)]
    evm_references: Vec<String>,
    block_seconds: u32,
    in_sync_blocks: u64,
    behind_blocks: u64,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    sim: SimChainSpec,
}

/// Checks one chain's block; `None` (with diagnostics) when it is unusable.
pub(super) fn check(
    file: &str,
    line: usize,
    chain: &str,
    raw: RawChainProbe,
    diags: &mut Diagnostics,
) -> Option<ChainProbeSpec> {
    let before = diags.0.len();
    let mut problem =
        |message: String| diags.push(file, line, format!("{chain}: chain_probe: {message}"));
    let protocol = match raw.protocol.as_str() {
        "p2p" => {
            for (name, set) in [
                ("rpc_port", raw.rpc_port.is_some()),
                ("network", raw.network.is_some()),
                ("evm_rpc_port", raw.evm_rpc_port.is_some()),
                ("consensus_name", raw.consensus_name.is_some()),
                ("evm_name", raw.evm_name.is_some()),
                ("evm_references", !raw.evm_references.is_empty()),
            ] {
                if set {
                    problem(format!("{name} belongs to protocol cometbft, not p2p"));
                }
            }
            let magic = match raw.magic.as_deref().map(parse_magic) {
                Some(Ok(magic)) => Some(magic),
                Some(Err(e)) => {
                    problem(e);
                    None
                }
                None => {
                    problem("protocol p2p needs magic (8 hexadecimal digits)".into());
                    None
                }
            };
            if raw.port.is_none_or(|p| p == 0) {
                problem("protocol p2p needs a nonzero port".into());
            }
            // Below 209 (INIT_PROTO_VERSION) no peer would talk at all.
            if raw.protocol_version.is_none_or(|v| v < 209) {
                problem("protocol p2p needs protocol_version (at least 209)".into());
            }
            // A version message is a few hundred bytes; a limit below 1 KiB
            // would refuse real peers.
            if raw.max_message_bytes.is_none_or(|m| m < 1024) {
                problem("protocol p2p needs max_message_bytes (at least 1024)".into());
            }
            magic.map(|magic| {
                ProbeProtocol::P2p(P2pSpec {
                    magic,
                    port: raw.port.unwrap_or(0),
                    protocol_version: raw.protocol_version.unwrap_or(0),
                    max_message_bytes: raw.max_message_bytes.unwrap_or(0),
                })
            })
        }
        "cometbft" => {
            for (name, set) in [
                ("magic", raw.magic.is_some()),
                ("port", raw.port.is_some()),
                ("protocol_version", raw.protocol_version.is_some()),
                ("max_message_bytes", raw.max_message_bytes.is_some()),
            ] {
                if set {
                    problem(format!("{name} belongs to protocol p2p, not cometbft"));
                }
            }
            if raw.rpc_port.is_none_or(|p| p == 0) {
                problem("protocol cometbft needs a nonzero rpc_port".into());
            }
            let network = raw.network.unwrap_or_default();
            if network.trim().is_empty() {
                problem("protocol cometbft needs network (the chain id nodes report)".into());
            }
            if raw.evm_rpc_port == Some(0) {
                problem("evm_rpc_port must not be 0".into());
            }
            let named =
                |name: &Option<String>| name.as_deref().is_some_and(|n| !n.trim().is_empty());
            if !named(&raw.consensus_name) {
                problem(
                    "protocol cometbft needs consensus_name (what users read for its heights)"
                        .into(),
                );
            }
            let evm = match raw.evm_rpc_port {
                Some(port) => {
                    if !named(&raw.evm_name) {
                        problem(
                            "evm_rpc_port needs evm_name (what users read for its heights)".into(),
                        );
                    }
                    for url in &raw.evm_references {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            problem(format!("evm reference {url:?} must be an http(s):// URL"));
                        }
                    }
                    Some(EvmSpec {
                        rpc_port: port,
                        name: raw.evm_name.clone().unwrap_or_default(),
                        references: raw.evm_references.clone(),
                    })
                }
                None => {
                    if raw.evm_name.is_some() || !raw.evm_references.is_empty() {
                        problem("evm_name and evm_references need evm_rpc_port".into());
                    }
                    None
                }
            };
            Some(ProbeProtocol::CometBft(CometBftSpec {
                rpc_port: raw.rpc_port.unwrap_or(0),
                network,
                evm,
                consensus_name: raw.consensus_name.clone().unwrap_or_default(),
            }))
        }
        other => {
            problem(format!("protocol {other:?} is not p2p or cometbft"));
            None
        }
    };
    if raw.block_seconds == 0 {
        problem("block_seconds must be at least 1".into());
    }
    if raw.in_sync_blocks == 0 {
        problem("in_sync_blocks must be at least 1".into());
    }
    if raw.behind_blocks <= raw.in_sync_blocks {
        problem(format!(
            "behind_blocks ({}) must be more than in_sync_blocks ({}), or a node at the edge would flap",
            raw.behind_blocks, raw.in_sync_blocks
        ));
    }
    let min_version = match raw.min_version.as_deref().map(ClientVersion::parse) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            problem(format!("min_version: {e}"));
            None
        }
    };
    for reference in &raw.references {
        // By the protocol named, so a reference is checked even when
        // another field of the block is wrong.
        let ok = match raw.protocol.as_str() {
            "p2p" => reference.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            }),
            "cometbft" => reference.starts_with("https://") || reference.starts_with("http://"),
            _ => true,
        };
        if !ok {
            problem(format!(
                "reference {reference:?} must be host:port for p2p, an http(s):// URL for cometbft"
            ));
        }
    }
    if raw.sim.sync_blocks_per_second == 0 {
        problem("sim.sync_blocks_per_second must be at least 1".into());
    }
    if diags.0.len() > before {
        return None;
    }
    Some(ChainProbeSpec {
        protocol: protocol?,
        block_seconds: raw.block_seconds,
        in_sync_blocks: raw.in_sync_blocks,
        behind_blocks: raw.behind_blocks,
        min_version,
        references: raw.references,
        sim: raw.sim,
    })
}

/// "bf0c6bbd" -> the four bytes in wire order.
fn parse_magic(text: &str) -> Result<[u8; 4], String> {
    let bytes = hex::decode(text).ok().filter(|b| b.len() == 4);
    bytes
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or_else(|| {
            format!("magic {text:?} must be 8 hexadecimal digits (the 4 bytes in wire order)")
        })
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Catalog, ProbeProtocol};

    const CATALOG: &str = include_str!("../../dialogues/catalog.yaml");

    #[test]
    fn every_chain_but_presearch_is_probed() {
        let catalog = Catalog::parse("catalog.yaml", CATALOG).unwrap();
        let probed: Vec<(&str, bool)> = catalog
            .chains
            .iter()
            .map(|c| (c.id.as_str(), c.probe.is_some()))
            .collect();
        assert_eq!(
            probed,
            [
                ("dash", true),
                ("digibyte", true),
                ("polygon", true),
                ("presearch", false)
            ]
        );
        let dash = catalog.chain("dash").unwrap().probe.as_ref().unwrap();
        assert!(
            matches!(&dash.protocol, ProbeProtocol::P2p(p) if p.magic == [0xbf, 0x0c, 0x6b, 0xbd])
        );
    }

    #[test]
    fn mistakes_are_reported_with_the_blocks_line() {
        let bad = CATALOG
            .replace("magic: bf0c6bbd", "magic: bf0c6b")
            .replace(
                "in_sync_blocks: 8\n      behind_blocks: 40",
                "in_sync_blocks: 8\n      behind_blocks: 8",
            )
            // The chain_probe block's own line (the clients' `min_version`
            // further down is another rule's).
            .replace(
                "\n      min_version: \"9.26.2\"",
                "\n      min_version: \"nine\"",
            )
            .replace(
                "network: heimdallv2-137",
                "network: heimdallv2-137\n      magic: bf0c6bbd",
            )
            .replace(
                "references: [\"dnsseed.dash.org:9999\"]",
                "references: [\"dnsseed.dash.org\"]",
            );
        let text = Catalog::parse("c.yaml", &bad).unwrap_err().to_string();
        // The block's line: where `chain_probe:` or its first key is.
        let block = bad
            .lines()
            .position(|l| l.contains("chain_probe:"))
            .unwrap()
            + 1;
        let at_block = |message: &str| {
            [block, block + 1]
                .iter()
                .any(|line| text.contains(&format!("c.yaml:{line}: {message}")))
        };
        assert!(
            at_block("dash: chain_probe: magic \"bf0c6b\" must be 8 hexadecimal digits"),
            "{text}"
        );
        assert!(
            at_block("dash: chain_probe: reference \"dnsseed.dash.org\" must be host:port"),
            "{text}"
        );
        for expected in [
            "digibyte: chain_probe: behind_blocks (8) must be more than in_sync_blocks (8)",
            "digibyte: chain_probe: min_version: \"nine\" is not a version",
            "polygon: chain_probe: magic belongs to protocol p2p, not cometbft",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        let unknown = CATALOG.replace("protocol: p2p", "protocol: carrier-pigeon");
        let text = Catalog::parse("c.yaml", &unknown).unwrap_err().to_string();
        assert!(
            text.contains("protocol \"carrier-pigeon\" is not p2p or cometbft"),
            "{text}"
        );
    }
}
