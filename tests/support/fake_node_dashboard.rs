//! A fake Presearch Node Status API on loopback, answering as upstream
//! documents it (PresearchOfficial/docs.presearch.io `nodes/api.md`):
//! `GET /api/nodes/status/:api_key` with `stats`, `connected`,
//! `disconnected` and `include_inactive` query parameters (a node disconnected
//! since before the 24-hour period is left out unless `include_inactive=true`); `200` with `{"success": true,
//! "start_at", "end_at", "nodes": {<public key>: {"meta", "status",
//! "period"}}}` where `period` is present only with `stats=true`; `401` with
//! an empty body for an unknown key; `429` past the rate limits, which are
//! per node: 4 requests a minute without statistics, 4 an hour with them.
//! Time is the test's manual clock, so the windows are exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jukebox::clock::{Clock, ManualClock};
use serde_json::json;
use tokio::net::TcpListener;

/// One node of an account, as the test sets it.
#[derive(Clone, Debug)]
pub struct FakeNode {
    pub public_key: String,
    pub remote_addr: String,
    pub connected: bool,
    /// Since when in its current state (unix seconds).
    pub since: u64,
    pub uptime_percentage: f64,
    pub reliability: f64,
}

#[derive(Default)]
struct Inner {
    /// API key -> the account's nodes.
    accounts: HashMap<String, Vec<FakeNode>>,
    /// Per node public key: the times of requests without and with stats.
    plain: HashMap<String, Vec<u64>>,
    stats: HashMap<String, Vec<u64>>,
    /// Every request's (key, stats) in order, for the test to read.
    log: Vec<(String, bool)>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<ManualClock>,
}

pub struct FakeDashboard {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    shared: Shared,
}

impl FakeDashboard {
    pub async fn start(clock: Arc<ManualClock>) -> FakeDashboard {
        let shared = Shared {
            inner: Arc::default(),
            clock,
        };
        let app = Router::new()
            .route("/api/nodes/status/{api_key}", get(status))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeDashboard {
            base: format!("http://{addr}"),
            shared,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// Sets the account behind `key` (replacing its nodes).
    pub fn set_account(&self, key: &str, nodes: Vec<FakeNode>) {
        self.inner().accounts.insert(key.to_owned(), nodes);
    }

    /// Changes one node's connection, as of the clock's now.
    pub fn set_connected(&self, key: &str, public_key: &str, connected: bool) {
        let now = self.shared.clock.now();
        let mut inner = self.inner();
        let node = inner
            .accounts
            .get_mut(key)
            .and_then(|nodes| nodes.iter_mut().find(|n| n.public_key == public_key))
            .expect("a node of the account");
        if node.connected != connected {
            node.connected = connected;
            node.since = now;
        }
    }

    /// Every request so far: (API key, with statistics).
    pub fn requests(&self) -> Vec<(String, bool)> {
        self.inner().log.clone()
    }
}

fn flag(query: &HashMap<String, String>, name: &str, default: bool) -> bool {
    match query.get(name).map(String::as_str) {
        Some("true") => true,
        Some("false") => false,
        _ => default,
    }
}

fn iso(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let (y, m, d) = jukebox::lifecycle::civil_from_days(days);
    let s = t % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

async fn status(
    State(shared): State<Shared>,
    Path(api_key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = shared.clock.now();
    let stats = flag(&query, "stats", false);
    let mut connected = flag(&query, "connected", true);
    let disconnected = flag(&query, "disconnected", true);
    if !connected && !disconnected {
        // Upstream: both false means the default (connected only).
        connected = true;
    }
    let mut inner = shared.inner.lock().unwrap();
    inner.log.push((api_key.clone(), stats));
    let Some(nodes) = inner.accounts.get(&api_key).cloned() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // Upstream's `include_inactive` (default false): a node with no activity
    // in the period (the last 24 hours by default) is left out, i.e. one
    // that has been disconnected since before the period began.
    let include_inactive = flag(&query, "include_inactive", false);
    let period_start = now.saturating_sub(86_400);
    let nodes: Vec<FakeNode> = nodes
        .into_iter()
        .filter(|n| if n.connected { connected } else { disconnected })
        .filter(|n| include_inactive || n.connected || n.since >= period_start)
        .collect();
    // The limits are per node: any node of the answer over its limit
    // blocks the request.
    let (window, limit, table) = if stats {
        (3600, 4, &mut inner.stats)
    } else {
        (60, 4, &mut inner.plain)
    };
    let over = nodes.iter().any(|n| {
        let seen = table.entry(n.public_key.clone()).or_default();
        seen.retain(|&t| now.saturating_sub(t) < window);
        seen.len() >= limit
    });
    if over {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"success": false, "error": "rate limited"})),
        )
            .into_response();
    }
    for n in &nodes {
        table.entry(n.public_key.clone()).or_default().push(now);
    }
    let start = now.saturating_sub(86_400);
    let mut out = serde_json::Map::new();
    for n in nodes {
        let mut node = json!({
            "meta": {
                "description": null,
                "url": null,
                "server_description": "jukebox",
                "server_url": null,
                "gateway_pool": "production",
                "remote_addr": n.remote_addr,
                "version": "1.0.26"
            },
            "status": {
                "connected": n.connected,
                "blocked": false,
                "in_current_state_since": iso(n.since),
                "minutes_in_current_state": now.saturating_sub(n.since) / 60
            }
        });
        if stats {
            node["period"] = json!({
                "period_start_date": iso(start),
                "period_end_date": iso(now),
                "period_seconds": 86_400,
                "connections": {"num_connections": 1, "most_recent_connection": iso(n.since)},
                "disconnections": {"num_disconnections": 0, "most_recent_disconnection": null},
                "total_uptime_seconds": (n.uptime_percentage * 864.0) as u64,
                "uptime_percentage": n.uptime_percentage,
                "avg_uptime_score": n.uptime_percentage,
                "avg_latency_ms": 120,
                "avg_latency_score": 90,
                "total_requests": 1500,
                "avg_success_rate": 99,
                "avg_success_rate_score": 99,
                "avg_reliability_score": n.reliability,
                "avg_staked_capacity_percent": 100,
                "avg_utilization_percent": 12,
                "total_pre_earned": 1.2345
            });
        }
        out.insert(n.public_key, node);
    }
    axum::Json(json!({
        "success": true,
        "start_at": iso(start),
        "end_at": iso(now),
        "nodes": out
    }))
    .into_response()
}
