//! The operators' HTTP listener: `/healthz`, `/readyz`, `/metrics` and
//! `/workers` (the background workers' statuses, `runtime::Statuses`).
//!
//! It is a separate listener from anything users reach (default
//! 127.0.0.1:9090, `[ops] listen`), so probes and Prometheus scrapes never
//! compete with chat traffic and it can stay on loopback or a private network.
//! What "ready" means is behind the [`Readiness`] trait; this module knows
//! nothing of the store or the grid.
//!
//! It also holds the one way this process runs an HTTP listener
//! ([`HttpListener`], [`HttpServer`]), which the website and the Telegram
//! webhook use too: bind (port 0 picks a free port), then serve until a
//! stop future resolves and the requests in flight are answered.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::runtime::Statuses;

#[cfg(test)]
mod tests;

/// Longest a readiness check or a gauge sample may take. A hung grid must
/// turn into a failed check (and a scrape with stale gauges), not a hung
/// probe: Kubernetes and Prometheus both give up around 10 s by default.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The Prometheus text format's content type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What /readyz checks; each returns why it is not ready. The reason is
/// for the operator reading /readyz (no user sees it), so it is the
/// failure as it came (a `StoreError`, a `GridError`), whatever its type.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn store_writable(&self) -> anyhow::Result<()>;
    async fn grid_reachable(&self) -> anyhow::Result<()>;
    /// Called right before /metrics renders, to set sampled gauges (nodes by
    /// state, queue depth, users).
    async fn sample(&self, metrics: &Metrics);
}

/// A bound HTTP listener, not serving yet (the website needs the bound
/// address to make its state before it serves).
pub struct HttpListener {
    listener: TcpListener,
    addr: SocketAddr,
    /// What serves here, for errors: "the website", ...
    what: &'static str,
}

impl HttpListener {
    /// Binds `listen` (e.g. "127.0.0.1:8080"; port 0 picks a free port) for
    /// `what`; an error names both.
    pub async fn bind(
        listen: impl ToSocketAddrs + Debug,
        what: &'static str,
    ) -> anyhow::Result<HttpListener> {
        let listener = TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen:?} for {what}"))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("no local address for {listen:?}"))?;
        Ok(HttpListener {
            listener,
            addr,
            what,
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` until `stop` resolves and the requests in flight are
    /// answered.
    pub async fn serve(
        self,
        app: Router,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, app)
            .with_graceful_shutdown(stop)
            .await
            .with_context(|| format!("{} failed", self.what))
    }

    /// Serves `app` in a task of its own until `stop` resolves.
    pub fn spawn(self, app: Router, stop: impl Future<Output = ()> + Send + 'static) -> HttpServer {
        let (addr, what) = (self.addr, self.what);
        HttpServer {
            addr,
            what,
            task: tokio::spawn(self.serve(app, stop)),
        }
    }
}

/// A listener serving in its own task.
pub struct HttpServer {
    /// The address actually bound (the real port when asked for port 0).
    pub addr: SocketAddr,
    what: &'static str,
    task: JoinHandle<anyhow::Result<()>>,
}

impl HttpServer {
    /// Waits until the listener has stopped: `stop` resolved and the requests
    /// in flight were answered.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.task
            .await
            .with_context(|| format!("{} panicked", self.what))?
    }
}

/// The running ops listener.
pub type OpsServer = HttpServer;

#[derive(Clone)]
struct Ops {
    metrics: Metrics,
    readiness: Arc<dyn Readiness>,
    workers: Option<Statuses>,
}

/// Binds `listen` (e.g. "127.0.0.1:9090"; port 0 picks a free port) and
/// serves until `stop` resolves:
/// - `GET /healthz`: 200 "ok" as long as the process serves at all;
/// - `GET /readyz`: 200 "ready", or 503 with one line per failed check
///   ("store: <reason>", "grid: <reason>");
/// - `GET /metrics`: the Prometheus text format, gauges sampled first;
/// - anything else: 404.
pub async fn serve(
    listen: &str,
    metrics: Metrics,
    readiness: Arc<dyn Readiness>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<OpsServer> {
    serve_with_workers(listen, metrics, readiness, None, stop).await
}

/// [`serve`], plus `GET /workers`: one line per background worker (state,
/// last run, last success, runs and errors, the last error under it), or
/// 404 without `workers`.
pub async fn serve_with_workers(
    listen: &str,
    metrics: Metrics,
    readiness: Arc<dyn Readiness>,
    workers: Option<Statuses>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<OpsServer> {
    let listener = HttpListener::bind(listen, "the ops endpoints").await?;
    let server = listener.spawn(
        router(Ops {
            metrics,
            readiness,
            workers,
        }),
        stop,
    );
    tracing::info!(addr = %server.addr, "ops endpoints (/healthz, /readyz, /metrics, /workers) listening");
    Ok(server)
}

fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/workers", get(workers))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(ops)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, String) {
    match check(ops.readiness.as_ref()).await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(failures) => (StatusCode::SERVICE_UNAVAILABLE, failures.to_string()),
    }
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    let sampled = tokio::time::timeout(CHECK_TIMEOUT, ops.readiness.sample(&ops.metrics)).await;
    if sampled.is_err() {
        tracing::warn!("sampling gauges for /metrics timed out; they may be stale");
    }
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        ops.metrics.render(),
    )
}

async fn workers(State(ops): State<Ops>) -> (StatusCode, String) {
    match &ops.workers {
        Some(statuses) => (StatusCode::OK, statuses.render()),
        None => (StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The checks that failed, one line each (`store: <reason>`): the body of
/// a 503 from /readyz.
#[derive(Debug, PartialEq, Eq)]
struct NotReady(String);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for NotReady {
    fn eq(&self, text: &&str) -> bool {
        self.0 == *text
    }
}

/// Runs both checks at once, each bounded by [`CHECK_TIMEOUT`].
async fn check(readiness: &dyn Readiness) -> Result<(), NotReady> {
    let (store, grid) = tokio::join!(
        bounded(readiness.store_writable()),
        bounded(readiness.grid_reachable())
    );
    let mut failures = String::new();
    for (what, result) in [("store", store), ("grid", grid)] {
        if let Err(reason) = result {
            // One line per check, whatever the reason's text holds.
            let reason = reason.to_string().replace(['\r', '\n'], " ");
            failures.push_str(&format!("{what}: {reason}\n"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(NotReady(failures))
    }
}

async fn bounded(check: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "no answer within {}s",
                CHECK_TIMEOUT.as_secs()
            ))
        })
}
