//! A node's status as its network's dashboard reports it, read with the
//! user's personal API key (the catalog's `node_status:` block,
//! docs/chain-health.md "Nodes that show nothing from outside").
//!
//! Wire format (the upstream API document, `nodes/api.md` "Node Status API"
//! of the chain's docs repository, is cited beside the catalog's
//! `node_status` block): `GET <url><key>?include_inactive=true&stats=<bool>`; `200` answers `{"success": true, "start_at",
//! "end_at", "nodes": {<node public key>: {"meta": {…, "remote_addr",
//! "version"}, "status": {"connected", "blocked", "in_current_state_since",
//! "minutes_in_current_state"}, "period": {…}}}}`, where `period` is there
//! only with `stats=true` and holds `uptime_percentage` and
//! `avg_reliability_score` among others; any field may be `null`. `401`
//! means a missing or wrong key, `429` too many requests. One answer lists
//! every node of the key's account; ours is the one whose `remote_addr` is
//! one of our node's public addresses (the node connects out from its own
//! IPv4).
//!
//! The key is part of the URL's path, so no error here ever carries the URL
//! (reqwest's errors are stripped of it) and nothing logs the request.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::grid::ContractId;

/// The most an answer may hold (an account with thousands of nodes).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One read of an account's nodes.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusRequest {
    /// The catalog's `node_status.url` (the key is appended).
    pub url: String,
    /// The user's API key, unsealed in memory for this read only.
    pub key: String,
    /// Ask for the aggregated statistics too (rate-limited upstream).
    pub stats: bool,
    /// Our nodes on this key: the simulated network answers for these;
    /// the real API lists the whole account anyway.
    pub nodes: Vec<(ContractId, Vec<String>)>,
}

impl std::fmt::Debug for StatusRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("StatusRequest")
            .field("url", &self.url)
            .field("stats", &self.stats)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// One node of the account as the dashboard reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardNode {
    /// The address the node connects from.
    pub remote_addr: Option<String>,
    pub version: Option<String>,
    pub connected: bool,
    pub blocked: bool,
    /// Since when it is in its current state (unix seconds).
    pub since: Option<u64>,
    /// Present when statistics were asked for.
    pub stats: Option<NodeStats>,
}

/// The aggregated statistics over the API's period (24 hours by default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeStats {
    pub uptime_percent: Option<f64>,
    pub reliability_score: Option<f64>,
}

impl DashboardNode {
    /// Whether this is the node at one of `hosts` (addresses without prefix).
    pub fn is_at(&self, hosts: &[String]) -> bool {
        self.remote_addr
            .as_deref()
            .is_some_and(|addr| hosts.iter().any(|h| h == addr))
    }
}

/// Why a read failed: the error type of this boundary; its `Display` is
/// what `/status` says (never the key, never the URL).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeStatusError {
    #[error(
        "the dashboard refused the node API key (401): check it, and give it again with /apikey"
    )]
    BadKey,
    #[error("the dashboard asked us to slow down (429); the next check tries again")]
    RateLimited,
    #[error("the dashboard answered HTTP {0}")]
    Http(u16),
    #[error("the dashboard could not be reached ({0})")]
    Unreachable(String),
    #[error("the dashboard did not answer within {0}")]
    Silent(String),
    #[error("the dashboard's answer is not its status JSON ({0})")]
    Garbage(String),
    #[error("the dashboard answered success: false")]
    Refused,
}

#[derive(Deserialize)]
struct RawAnswer {
    success: bool,
    #[serde(default)]
    nodes: BTreeMap<String, RawNode>,
}

#[derive(Deserialize)]
struct RawNode {
    #[serde(default)]
    meta: Option<RawMeta>,
    status: RawStatus,
    #[serde(default)]
    period: Option<RawPeriod>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    remote_addr: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    connected: bool,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    in_current_state_since: Option<String>,
}

#[derive(Deserialize)]
struct RawPeriod {
    #[serde(default)]
    uptime_percentage: Option<f64>,
    #[serde(default)]
    avg_reliability_score: Option<f64>,
}

/// Parses a `200` answer into the account's nodes (keyed by public key).
pub fn parse_answer(body: &[u8]) -> Result<BTreeMap<String, DashboardNode>, NodeStatusError> {
    let raw: RawAnswer =
        serde_json::from_slice(body).map_err(|e| NodeStatusError::Garbage(e.to_string()))?;
    if !raw.success {
        return Err(NodeStatusError::Refused);
    }
    Ok(raw
        .nodes
        .into_iter()
        .map(|(key, n)| {
            let meta = n.meta.unwrap_or(RawMeta {
                remote_addr: None,
                version: None,
            });
            let node = DashboardNode {
                remote_addr: meta.remote_addr,
                version: meta.version,
                connected: n.status.connected,
                blocked: n.status.blocked.unwrap_or(false),
                since: n
                    .status
                    .in_current_state_since
                    .as_deref()
                    .and_then(super::cometbft::parse_rfc3339),
                stats: n.period.map(|p| NodeStats {
                    uptime_percent: p.uptime_percentage,
                    reliability_score: p.avg_reliability_score,
                }),
            };
            (key, node)
        })
        .collect())
}

/// Reads an account's nodes. The real one asks the dashboard; the
/// simulated grid answers for its own nodes (`grid::sim::node_status`).
#[async_trait]
pub trait NodeStatusProbe: Send + Sync {
    async fn read(
        &self,
        request: &StatusRequest,
    ) -> Result<BTreeMap<String, DashboardNode>, NodeStatusError>;
}

/// The real probe: one HTTPS GET per read, bounded by `timeout`.
#[derive(Clone, Debug)]
pub struct NetNodeStatusProbe {
    pub timeout: Duration,
}

fn client() -> Result<&'static reqwest::Client, NodeStatusError> {
    static CLIENT: OnceLock<Result<reqwest::Client, NodeStatusError>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("jukebox-monitor/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| NodeStatusError::Unreachable(e.to_string()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[async_trait]
impl NodeStatusProbe for NetNodeStatusProbe {
    async fn read(
        &self,
        request: &StatusRequest,
    ) -> Result<BTreeMap<String, DashboardNode>, NodeStatusError> {
        // `include_inactive=true`: upstream leaves out by default a node
        // with no activity in the period (24 hours), so a node disconnected
        // for longer would vanish from the answer instead of reading as
        // disconnected.
        let url = format!(
            "{}{}?include_inactive=true&stats={}",
            request.url,
            urlencode(&request.key),
            request.stats
        );
        let within = super::human(self.timeout);
        let go = async {
            let mut response = client()?
                .get(&url)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| NodeStatusError::Unreachable(super::innermost(&e.without_url())))?;
            match response.status().as_u16() {
                200 => {}
                401 => return Err(NodeStatusError::BadKey),
                429 => return Err(NodeStatusError::RateLimited),
                other => return Err(NodeStatusError::Http(other)),
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| NodeStatusError::Unreachable(super::innermost(&e.without_url())))?
            {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(NodeStatusError::Garbage(format!(
                        "the answer is over {} KiB",
                        MAX_BODY / 1024
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            parse_answer(&body)
        };
        tokio::time::timeout(self.timeout, go)
            .await
            .unwrap_or(Err(NodeStatusError::Silent(within)))
    }
}

/// Percent-encodes a path segment: a key is letters and digits, but a
/// stored one must never change the URL's shape.
fn urlencode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 200 example of the upstream document (PresearchOfficial/
    /// docs.presearch.io nodes/api.md), as JSON.
    const UPSTREAM_EXAMPLE: &str = r#"{
        "success": true,
        "start_at": "2021-01-01T00:00:00Z",
        "end_at": "2021-12-31T23:59:59Z",
        "nodes": {
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest": {
                "meta": {
                    "description": "your description",
                    "url": "your external url",
                    "server_description": "description provided during connect",
                    "server_url": "external url provided during connect",
                    "gateway_pool": "production",
                    "remote_addr": "127.0.0.1",
                    "version": "9.9.9"
                },
                "status": {
                    "connected": true,
                    "blocked": false,
                    "in_current_state_since": "2021-01-01T00:00:00Z",
                    "minutes_in_current_state": 999
                },
                "period": {
                    "period_start_date": "2021-01-01T00:00:00Z",
                    "period_end_date": "2021-12-31T23:59:59Z",
                    "period_seconds": 525600,
                    "connections": {"num_connections": 99, "most_recent_connection": "2021-01-01T00:00:00Z"},
                    "disconnections": {"num_disconnections": 99, "most_recent_disconnection": "2021-12-31T23:59:59Z"},
                    "total_uptime_seconds": 999,
                    "uptime_percentage": 99,
                    "avg_uptime_score": 99,
                    "avg_latency_ms": 99,
                    "avg_latency_score": 99,
                    "total_requests": 999,
                    "avg_success_rate": 99,
                    "avg_success_rate_score": 99,
                    "avg_reliability_score": 99,
                    "avg_staked_capacity_percent": 99,
                    "avg_utilization_percent": 99,
                    "total_pre_earned": 99.9999
                }
            }
        }
    }"#;

    #[test]
    fn the_upstream_example_reads() {
        let nodes = parse_answer(UPSTREAM_EXAMPLE.as_bytes()).unwrap();
        let node = nodes.values().next().unwrap();
        assert!(node.connected && !node.blocked);
        assert_eq!(node.remote_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(node.version.as_deref(), Some("9.9.9"));
        assert_eq!(node.since, Some(1_609_459_200));
        assert_eq!(
            node.stats,
            Some(NodeStats {
                uptime_percent: Some(99.0),
                reliability_score: Some(99.0)
            })
        );
        assert!(node.is_at(&["10.0.0.1".into(), "127.0.0.1".into()]));
        assert!(!node.is_at(&["10.0.0.1".into()]));
    }

    #[test]
    fn nulls_and_missing_periods_are_fine() {
        let body = r#"{"success": true, "nodes": {"k": {"meta": null,
            "status": {"connected": false, "blocked": null, "in_current_state_since": null}}}}"#;
        let node = parse_answer(body.as_bytes()).unwrap().remove("k").unwrap();
        assert!(!node.connected);
        assert_eq!(
            (node.since, node.stats, node.remote_addr),
            (None, None, None)
        );
    }

    #[test]
    fn garbage_and_refusals_are_errors() {
        assert_eq!(
            parse_answer(br#"{"success": false}"#),
            Err(NodeStatusError::Refused)
        );
        for bad in [
            &b"<html>"[..],
            b"{}",
            br#"{"success": true, "nodes": {"k": {}}}"#,
        ] {
            assert!(matches!(
                parse_answer(bad),
                Err(NodeStatusError::Garbage(_))
            ));
        }
    }

    #[test]
    fn the_key_never_shows() {
        let request = StatusRequest {
            url: "https://x/".into(),
            key: "SECRETKEY123".into(),
            stats: false,
            nodes: Vec::new(),
        };
        assert!(!format!("{request:?}").contains("SECRETKEY123"));
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }
}
