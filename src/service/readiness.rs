//! What the ops listener asks the service: can it write, can it reach the
//! grid, and the gauges sampled at each `/metrics` scrape.

use async_trait::async_trait;

use super::Service;
use crate::grid::{Capacity, Placement};
use crate::metrics::Metrics;
use crate::ops::Readiness;

/// The global record rewritten by each readiness check.
const PROBE_RECORD: &str = "readyz";

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
