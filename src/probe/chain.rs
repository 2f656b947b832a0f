//! The chain probe: what the monitor asks about a node's chain, the answer,
//! the one error type of this boundary, and the real probe over the
//! network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::net::TcpStream;

use super::evm::{self, EvmStatus};
use super::{cometbft, p2p};
use crate::catalog::{ChainProbeSpec, ProbeProtocol};
use crate::grid::ContractId;
use crate::lifecycle::chain::ClientVersion;

/// Whose chain is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainSource {
    /// One of Jukebox's nodes: its contract and its addresses (public IPv4
    /// first, then IPv6, without prefix length).
    Node {
        contract: ContractId,
        hosts: Vec<String>,
        /// Its Mycelium address: the only path to an execution client's
        /// JSON-RPC, which is never open on a public address.
        mycelium: Option<String>,
    },
    /// A public reference from the catalog: `host:port` for `p2p`, a base
    /// URL for `cometbft`.
    Reference(String),
    /// A public JSON-RPC URL of the chain's execution layer (`evm_references`):
    /// its height is that layer's tip.
    EvmReference(String),
}

/// One chain reading to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTarget {
    /// The catalog's chain id.
    pub chain: String,
    pub source: ChainSource,
    /// Shared: the monitor reads many nodes of few chains.
    pub spec: Arc<ChainProbeSpec>,
}

impl ChainTarget {
    /// For logs and the tip's report names.
    pub fn label(&self) -> String {
        match &self.source {
            ChainSource::Node { contract, .. } => format!("contract {}", contract.0),
            ChainSource::Reference(r) | ChainSource::EvmReference(r) => r.clone(),
        }
    }
}

/// What a node said about its chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReading {
    /// Its best block.
    pub height: u64,
    /// Its client as it names itself ("/Example Core:22.1.0/", CometBFT
    /// "0.38.17").
    pub client: String,
    pub version: Option<ClientVersion>,
    /// The P2P protocol version it speaks (p2p only).
    pub protocol_version: Option<i32>,
    /// Whether it says it is still catching up (CometBFT only).
    pub catching_up: Option<bool>,
    /// Unix seconds of its latest block (CometBFT only).
    pub latest_block_time: Option<u64>,
    /// Its execution layer (an EVM client beside the CometBFT chain), when the chain
    /// has one: read with the rest, or the whole reading fails.
    pub evm: Option<EvmStatus>,
}

/// Why a chain could not be read, in words for the owner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainProbeError {
    #[error("no address to reach the node")]
    NoAddress,
    #[error("{what} did not answer within {after}")]
    TimedOut { what: String, after: String },
    #[error("{0}")]
    Unreachable(String),
    #[error("the peer closed the connection {during}")]
    Closed { during: &'static str },
    #[error("the peer speaks another network (magic {got}, expected {expected})")]
    WrongMagic { got: String, expected: String },
    #[error("the {command} message's checksum is wrong")]
    BadChecksum { command: String },
    #[error(
        "the peer announced a {length}-byte {command} message, over the protocol's limit of {max}"
    )]
    Oversize {
        command: String,
        length: u32,
        max: u32,
    },
    #[error("the peer sent {0:?} before its version")]
    NotVersionFirst(String),
    #[error("the answer is not the chain's protocol: {0}")]
    Garbage(String),
    #[error("the node is on network {got:?}, not {expected:?}")]
    WrongNetwork { got: String, expected: String },
    #[error("the node answered HTTP {0}")]
    HttpStatus(u16),
    #[error("the node answered an error: {0}")]
    Rpc(String),
    /// The execution layer failed; its name first ("<evm_name>: …").
    #[error("{layer}: {error}")]
    Layer {
        layer: String,
        error: Box<ChainProbeError>,
    },
}

impl ChainProbeError {
    /// Whether the node (or one of its layers) did not answer in time: the
    /// costly failure the monitor backs off from.
    pub fn is_time_out(&self) -> bool {
        match self {
            ChainProbeError::TimedOut { .. } => true,
            ChainProbeError::Layer { error, .. } => error.is_time_out(),
            _ => false,
        }
    }
}

#[async_trait]
pub trait ChainProbe: Send + Sync {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError>;

    /// Reads many targets, at most `concurrency` at once; answers in the
    /// order asked.
    async fn read_many(
        &self,
        targets: &[ChainTarget],
        concurrency: usize,
    ) -> Vec<Result<ChainReading, ChainProbeError>> {
        use futures_util::StreamExt as _;
        let reads: Vec<_> = targets.iter().map(|t| self.read_chain(t)).collect();
        futures_util::stream::iter(reads)
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
}

/// The real chain probe. Each attempt (connect and exchange) is bounded by
/// `timeout`; a node's addresses are tried in order and the first that
/// connects gives the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetChainProbe {
    pub timeout: Duration,
}

#[async_trait]
impl ChainProbe for NetChainProbe {
    async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
        match &target.spec.protocol {
            ProbeProtocol::P2p(spec) => {
                let endpoints: Vec<(String, u16)> = match &target.source {
                    ChainSource::Node { hosts, .. } => hosts
                        .iter()
                        .map(|h| (h.trim().to_string(), spec.port))
                        .collect(),
                    ChainSource::Reference(r) => split_host_port(r).into_iter().collect(),
                    ChainSource::EvmReference(_) => vec![],
                };
                let mut first = None;
                for (host, port) in endpoints {
                    match self.p2p(&host, port, spec).await {
                        Ok(reading) => return Ok(reading),
                        // Connected, then failed: that host's verdict.
                        Err((true, e)) => return Err(e),
                        Err((false, e)) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                Err(first.unwrap_or(ChainProbeError::NoAddress))
            }
            ProbeProtocol::CometBft(spec) => {
                let urls: Vec<String> = match &target.source {
                    ChainSource::EvmReference(url) => {
                        let height = self.evm_block_number(url).await?;
                        return Ok(ChainReading::of_evm_reference(height));
                    }
                    ChainSource::Node { hosts, .. } => hosts
                        .iter()
                        .map(|h| format!("{}/status", base_url(h.trim(), spec.rpc_port)))
                        .collect(),
                    ChainSource::Reference(r) => {
                        vec![format!("{}/status", r.trim_end_matches('/'))]
                    }
                };
                let consensus = async {
                    let mut first = None;
                    for url in urls {
                        match self.status(&url, &spec.network).await {
                            Ok(reading) => return Ok(reading),
                            Err(
                                e @ (ChainProbeError::Unreachable(_)
                                | ChainProbeError::TimedOut { .. }),
                            ) => {
                                first.get_or_insert(e);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(first.unwrap_or(ChainProbeError::NoAddress))
                };
                // Our node's execution layer, over Mycelium, at the same time.
                let execution = async {
                    let (Some(evm), ChainSource::Node { mycelium, .. }) =
                        (&spec.evm, &target.source)
                    else {
                        return Ok(None);
                    };
                    let layer = |error| ChainProbeError::Layer {
                        layer: evm.name.clone(),
                        error: Box::new(error),
                    };
                    // A machine deployed without Mycelium has no private
                    // path: its consensus layer is read alone, as it
                    // always will be (the address never appears later).
                    let Some(host) = mycelium.as_deref().map(str::trim).filter(|m| !m.is_empty())
                    else {
                        return Ok(None);
                    };
                    let url = base_url(host.split('/').next().unwrap_or(host), evm.rpc_port);
                    self.evm_status(&url).await.map(Some).map_err(layer)
                };
                let (consensus, execution) = tokio::join!(consensus, execution);
                let mut reading = consensus?;
                // `catching_up` stays CometBFT's own flag; the EVM client's is `evm.syncing`.
                reading.evm = execution?;
                Ok(reading)
            }
        }
    }
}

impl NetChainProbe {
    /// The handshake with `host:port`; the flag says whether it connected.
    async fn p2p(
        &self,
        host: &str,
        port: u16,
        spec: &crate::catalog::P2pSpec,
    ) -> Result<ChainReading, (bool, ChainProbeError)> {
        let after = super::human(self.timeout);
        let what = format!("port {port}");
        let connect = async {
            match host.parse::<IpAddr>() {
                Ok(ip) => TcpStream::connect(SocketAddr::new(ip, port)).await,
                Err(_) => TcpStream::connect((host, port)).await,
            }
        };
        let mut stream = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err((
                    false,
                    ChainProbeError::Unreachable(super::connect_failure(port, &e).to_string()),
                ));
            }
            Err(_) => return Err((false, ChainProbeError::TimedOut { what, after })),
        };
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], port)));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let ours = p2p::our_version(spec, peer, now, fastrand::u64(1..));
        let theirs = tokio::time::timeout(self.timeout, p2p::handshake(&mut stream, spec, &ours))
            .await
            .map_err(|_| {
                (
                    true,
                    ChainProbeError::TimedOut {
                        what: format!("the peer on port {port}"),
                        after: after.clone(),
                    },
                )
            })?
            .map_err(|e| (true, e))?;
        Ok(ChainReading {
            height: theirs.start_height as u64,
            version: ClientVersion::from_user_agent(&theirs.user_agent),
            client: theirs.user_agent,
            protocol_version: Some(theirs.protocol),
            catching_up: None,
            latest_block_time: None,
            evm: None,
        })
    }

    async fn status(&self, url: &str, network: &str) -> Result<ChainReading, ChainProbeError> {
        let client = super::client().map_err(|e| ChainProbeError::Unreachable(e.to_string()))?;
        let body = self.exchange("GET /status", client.get(url)).await?;
        let status = cometbft::parse_status(&body, network)?;
        Ok(ChainReading {
            height: status.height,
            version: status.client_version(),
            client: status.version,
            protocol_version: None,
            catching_up: Some(status.catching_up),
            latest_block_time: status.latest_block_time,
            evm: None,
        })
    }

    /// Sends `request` and reads its body within the probe's time-out;
    /// `what` names the exchange in errors.
    async fn exchange(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, ChainProbeError> {
        let exchange = async {
            let response = request.send().await.map_err(|e| {
                ChainProbeError::Unreachable(format!("{what} failed: {}", super::innermost(&e)))
            })?;
            cometbft::read_body(response).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ChainProbeError::TimedOut {
                what: what.into(),
                after: super::human(self.timeout),
            })?
    }

    /// An execution client's height: `eth_blockNumber` at `url` (a public
    /// reference: nothing else is asked of someone else's node).
    pub async fn evm_block_number(&self, url: &str) -> Result<u64, ChainProbeError> {
        let client = super::client().map_err(|e| ChainProbeError::Unreachable(e.to_string()))?;
        let request = client.post(url).json(&evm::block_number_request());
        let body = self.exchange("eth_blockNumber", request).await?;
        evm::parse_block_number(&body)
    }

    /// Our node's execution client: `eth_blockNumber` and `eth_syncing` in
    /// one batch at `url` (its Mycelium address, docs/chain-health.md).
    pub async fn evm_status(&self, url: &str) -> Result<EvmStatus, ChainProbeError> {
        let client = super::client().map_err(|e| ChainProbeError::Unreachable(e.to_string()))?;
        let request = client.post(url).json(&evm::status_request());
        let body = self.exchange("the JSON-RPC port", request).await?;
        evm::parse_status(&body)
    }
}

impl ChainReading {
    /// What a public execution-layer reference said: its height only.
    pub fn of_evm_reference(height: u64) -> ChainReading {
        ChainReading {
            height,
            client: String::new(),
            version: None,
            protocol_version: None,
            catching_up: None,
            latest_block_time: None,
            evm: None,
        }
    }
}

/// `http://host:port` with IPv6 literals in brackets.
pub fn base_url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("http://[{ip}]:{port}"),
        _ => format!("http://{host}:{port}"),
    }
}

/// "seed.example:9999", "[2001:db8::1]:9999", "192.0.2.1:9999".
fn split_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok().filter(|&p| p > 0)?;
    (!host.is_empty()).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_urls() {
        assert_eq!(
            split_host_port("seed.digibyte.io:12024"),
            Some(("seed.digibyte.io".into(), 12024))
        );
        assert_eq!(
            split_host_port("[2001:db8::1]:9999"),
            Some(("2001:db8::1".into(), 9999))
        );
        assert_eq!(split_host_port("nohost"), None);
        assert_eq!(split_host_port(":9999"), None);
        assert_eq!(base_url("2001:db8::1", 26657), "http://[2001:db8::1]:26657");
        assert_eq!(base_url("192.0.2.1", 26657), "http://192.0.2.1:26657");
    }
}
