//! Application health probes: is the blockchain node's daemon answering?
//!
//! The grid only knows whether a workload runs; a node whose daemon crashed
//! or hangs still reports `Ok` there. The monitor therefore also asks an
//! [`AppProbe`] about each running node, using the catalog's `health` check.
//! [`NetProbe`] reaches the node over the network; the simulated grid
//! implements the same trait from its own state (`grid::sim`), since its
//! addresses belong to no real machine.
//!
//! A [`ChainProbe`] reads a node's chain through the chain's own protocol
//! (the catalog's `chain_probe`): the Bitcoin-family P2P handshake (`p2p`)
//! or CometBFT's `/status` (`cometbft`) with an execution layer's
//! Ethereum JSON-RPC beside it (`evm`); [`NetChainProbe`] is the real one,
//! the simulated chain (`grid::sim::chain`) answers the same trait, and
//! `tip` reads the network's height from the references and our nodes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpStream;

use crate::catalog::{HealthCheck, HttpCheck};
use crate::grid::ContractId;

mod chain;
pub mod cometbft;
pub mod evm;
pub mod node_status;
pub mod p2p;
#[cfg(test)]
mod tests;
pub mod tip;

pub use chain::{
    ChainProbe, ChainProbeError, ChainReading, ChainSource, ChainTarget, NetChainProbe,
};
pub use node_status::{NetNodeStatusProbe, NodeStatusProbe};

/// What the monitor asks about one running node's application (the
/// catalog's `health` check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub contract: ContractId,
    /// Addresses to try in order (public IPv4 first, then IPv6), without
    /// prefix length ("1.2.3.4", "2a02::1"). May be empty.
    pub hosts: Vec<String>,
    pub check: HealthCheck,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppHealth {
    Healthy,
    /// A short reason for the user, e.g. "port 9999 refused the connection".
    Unhealthy(String),
}

#[async_trait]
pub trait AppProbe: Send + Sync {
    async fn probe(&self, target: &ProbeTarget) -> AppHealth;

    /// Probes many targets, at most `concurrency` at once; answers in the
    /// order asked. A probe that answers a batch in one go overrides this.
    async fn probe_many(&self, targets: &[ProbeTarget], concurrency: usize) -> Vec<AppHealth> {
        use futures_util::StreamExt as _;
        // Made up front: mapping inside the stream trips the compiler's
        // higher-ranked lifetime check for Send futures.
        let probes: Vec<_> = targets.iter().map(|t| self.probe(t)).collect();
        futures_util::stream::iter(probes)
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
}

/// The real probe: a TCP connect to the check's `tcp` port and/or an HTTP
/// GET on its `http` port and path (2xx = healthy, redirects not followed)
/// on the first host that answers; each attempt is bounded by `timeout`.
///
/// A host "answers" once its TCP port accepts or its HTTP port returns a
/// status; a host that refuses or stays silent is skipped for the next one,
/// and if none answers the first host's failure is reported. A target with
/// no host or no check is `Healthy`: nothing can be observed from here, so
/// nothing is known to be wrong (the grid's workload state still covers it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetProbe {
    pub timeout: Duration,
}

/// How one host did.
enum Outcome {
    Healthy,
    /// The host answered and the check failed: this is the verdict.
    Failed(ProbeFailure),
    /// Nothing answered; another address may do better.
    Unreachable(ProbeFailure),
}

/// Why a probe failed: the error type of the probes' boundary. Its
/// `Display` is the short reason a user reads in an outage alert ("port
/// 9999 refused the connection"), kept as text in `AppHealth::Unhealthy`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    #[error("port {0} refused the connection")]
    Refused(u16),
    #[error("port {port} is unreachable ({reason})")]
    Unreachable { port: u16, reason: String },
    /// Nothing came back within the probe's timeout (said as `within`).
    #[error("port {port} did not answer within {within}")]
    Silent { port: u16, within: String },
    #[error("GET {path} on port {port} did not answer within {within}")]
    HttpSilent {
        path: String,
        port: u16,
        within: String,
    },
    #[error("GET {path} on port {port} failed: {reason}")]
    HttpFailed {
        path: String,
        port: u16,
        reason: String,
    },
    /// An answer that is not 2xx.
    #[error("GET {path} on port {port} answered {status}")]
    HttpStatus {
        path: String,
        port: u16,
        status: reqwest::StatusCode,
    },
    #[error("the HTTP probe could not start: {0}")]
    NoClient(String),
}

#[async_trait]
impl AppProbe for NetProbe {
    async fn probe(&self, target: &ProbeTarget) -> AppHealth {
        let check = &target.check;
        if check.tcp.is_none() && check.http.is_none() {
            return AppHealth::Healthy;
        }
        let mut first_failure = None;
        for host in &target.hosts {
            match self.check_host(host, check).await {
                Outcome::Healthy => return AppHealth::Healthy,
                Outcome::Failed(why) => return AppHealth::Unhealthy(why.to_string()),
                Outcome::Unreachable(why) => {
                    first_failure.get_or_insert(why);
                }
            }
        }
        first_failure.map_or(AppHealth::Healthy, |why| {
            AppHealth::Unhealthy(why.to_string())
        })
    }
}

impl NetProbe {
    async fn check_host(&self, host: &str, check: &HealthCheck) -> Outcome {
        let host = host.trim();
        let mut answered = false;
        if let Some(port) = check.tcp {
            match self.connect(host, port).await {
                Ok(()) => answered = true,
                Err(why) => return Outcome::Unreachable(why),
            }
        }
        if let Some(http) = &check.http {
            match self.get(host, http).await {
                Ok(status) if status.is_success() => {}
                Ok(status) => {
                    return Outcome::Failed(ProbeFailure::HttpStatus {
                        path: http_path(http),
                        port: http.port,
                        status,
                    });
                }
                Err(why) if answered => return Outcome::Failed(why),
                Err(why) => return Outcome::Unreachable(why),
            }
        }
        Outcome::Healthy
    }

    /// Opens (and at once drops) a TCP connection to `host:port`.
    async fn connect(&self, host: &str, port: u16) -> Result<(), ProbeFailure> {
        let attempt = async {
            match host.parse::<IpAddr>() {
                Ok(ip) => TcpStream::connect(SocketAddr::new(ip, port)).await,
                Err(_) => TcpStream::connect((host, port)).await,
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(_stream)) => Ok(()),
            Ok(Err(e)) => Err(connect_failure(port, &e)),
            Err(_) => Err(ProbeFailure::Silent {
                port,
                within: human(self.timeout),
            }),
        }
    }

    /// The HTTP status of `GET http://host:port/path`.
    async fn get(&self, host: &str, http: &HttpCheck) -> Result<reqwest::StatusCode, ProbeFailure> {
        let client = client()?;
        let url = url_for(host, http);
        let sent = client.get(&url).timeout(self.timeout).send().await;
        match sent {
            Ok(response) => Ok(response.status()),
            Err(e) if e.is_timeout() => Err(ProbeFailure::HttpSilent {
                path: http_path(http),
                port: http.port,
                within: human(self.timeout),
            }),
            Err(e) => Err(match io_cause(&e) {
                Some(io) => connect_failure(http.port, io),
                None => ProbeFailure::HttpFailed {
                    path: http_path(http),
                    port: http.port,
                    reason: innermost(&e),
                },
            }),
        }
    }
}

/// One client for every probe: building one is costly (TLS roots) and the
/// monitor probes up to 100,000 nodes per interval. No proxy (the probe
/// must reach the node itself), no redirects (a health endpoint answers
/// directly), no idle connections kept (each probe is a fresh look).
pub(crate) fn client() -> Result<&'static reqwest::Client, ProbeFailure> {
    static CLIENT: OnceLock<Result<reqwest::Client, ProbeFailure>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .user_agent(concat!("jukebox-monitor/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ProbeFailure::NoClient(e.to_string()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The URL of an HTTP check on `host`; IPv6 literals go in brackets.
fn url_for(host: &str, http: &HttpCheck) -> String {
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host.to_string(),
    };
    format!("http://{host}:{}{}", http.port, http_path(http))
}

fn http_path(http: &HttpCheck) -> String {
    if http.path.starts_with('/') {
        http.path.clone()
    } else {
        format!("/{}", http.path)
    }
}

pub(crate) fn connect_failure(port: u16, e: &io::Error) -> ProbeFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ProbeFailure::Refused(port),
        _ => ProbeFailure::Unreachable {
            port,
            reason: e.to_string(),
        },
    }
}

/// The IO error under a reqwest error, if one caused it (connection refused
/// arrives as reqwest -> hyper -> io).
fn io_cause(e: &reqwest::Error) -> Option<&io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = err.source();
    }
    None
}

/// The deepest cause's message: reqwest's own text repeats the URL.
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// "5 s", "200 ms": short enough for a chat message.
pub(crate) fn human(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
