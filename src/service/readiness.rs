//! What the ops listener asks the service: can it write, can it reach the
//! grid, and the gauges sampled at each `/metrics` scrape.

use async_trait::async_trait;

use super::Service;
use crate::grid::{Capacity, Placement};
use crate::metrics::Metrics;
use crate::ops::Readiness;

/// The global record rewritten by each readiness check.
const PROBE_RECORD: &str = "readyz";

/// Nodes-by-state gauges come from a scan of every user's records; a scrape
/// reuses a scan this recent (at 100,000 users a scan takes seconds).
const STATS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

impl Service {
    /// The last store scan, refreshed in the background when stale; the
    /// very first one is made on the spot.
    async fn cached_stats(&self) -> Option<crate::admin::Stats> {
        let cached = self.inner.stats_cache.lock().ok()?.clone();
        let fresh = cached
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < STATS_MAX_AGE);
        if !fresh {
            let service = self.clone();
            let refresh = tokio::task::spawn_blocking(move || {
                let stats = crate::admin::stats(&service.inner.store, service.now());
                match stats {
                    Ok(stats) => {
                        if let Ok(mut cache) = service.inner.stats_cache.lock() {
                            *cache = Some((std::time::Instant::now(), stats));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "metrics: store scan failed")
                    }
                }
            });
            if cached.is_none() {
                let _ = refresh.await;
                return self
                    .inner
                    .stats_cache
                    .lock()
                    .ok()?
                    .as_ref()
                    .map(|(_, s)| s.clone());
            }
        }
        cached.map(|(_, s)| s)
    }
}

#[async_trait]
impl Readiness for Service {
    async fn store_writable(&self) -> Result<(), String> {
        let now = self.now();
        crate::store::blocking_io(|| self.inner.store.write_global(PROBE_RECORD, &now))
            .map_err(|e| e.to_string())
    }

    async fn grid_reachable(&self) -> Result<(), String> {
        // The smallest real question: any grid node with room for a tiny VM.
        let need = Capacity {
            cpu: 1,
            memory_mib: 256,
            disk_gib: 1,
            public_ipv4: false,
        };
        self.inner
            .grid
            .candidates(&need, &Placement::Random, &[], 1)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn sample(&self, metrics: &Metrics) {
        if let Some(stats) = self.cached_stats().await {
            for state in crate::user::NodeState::KEYS {
                let count = stats.nodes_by_state.get(state).copied().unwrap_or(0);
                metrics.set_gauge(
                    "jukebox_nodes",
                    "Nodes by state, from a scan of the store at most 5 minutes old.",
                    &[("state", state)],
                    count as f64,
                );
            }
            metrics.set_gauge(
                "jukebox_users",
                "Users with a profile.",
                &[],
                stats.users as f64,
            );
        }
        let (watched, down) = self.inner.watch.counts();
        metrics.set_gauge(
            "jukebox_nodes_watched",
            "Running nodes the monitor checks.",
            &[],
            watched as f64,
        );
        metrics.set_gauge(
            "jukebox_nodes_down",
            "Running nodes with a confirmed outage.",
            &[],
            down as f64,
        );
        metrics.set_gauge(
            "jukebox_alert_queue_depth",
            "Alerts waiting to be delivered.",
            &[],
            self.inner.alerts.depth() as f64,
        );
    }
}
