//! What the ops listener asks the service: can it write, can it reach the
//! grid, and the gauges sampled at each `/metrics` scrape.
//!
//! `Probes` is its own component: it reads the repository, the grid and the
//! alert queue and writes nothing but its probe record, so `/readyz` and
//! `/metrics` need no part of the conversation shell.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OwnedMutexGuard;

use super::Service;
use super::alerter::Alerter;
use super::repo::Repo;
use crate::clock::Clock;
use crate::grid::{Capacity, Grid, Placement};
use crate::metrics::Metrics;
use crate::ops::Readiness;

/// The global record rewritten by each readiness check.
const PROBE_RECORD: &str = "readyz";

/// Nodes-by-state gauges come from a scan of every user's records; a scrape
/// reuses a scan this recent (at 100,000 users a scan takes seconds).
const STATS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// Answers the ops listener's readiness checks and samples the gauges.
pub struct Probes {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    /// Only its queue's depth is read.
    alerter: Arc<Alerter>,
    clock: Arc<dyn Clock>,
    /// The last whole-store scan for the metrics.
    stats_cache: std::sync::Mutex<Option<(std::time::Instant, crate::admin::Stats)>>,
    /// Held by the one scan refreshing `stats_cache`, so concurrent scrapes
    /// never start a scan each. In an Arc so the scan's task can own it.
    stats_refresh: Arc<tokio::sync::Mutex<()>>,
}

impl Probes {
    pub fn new(
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        alerter: Arc<Alerter>,
        clock: Arc<dyn Clock>,
    ) -> Probes {
        Probes {
            repo,
            grid,
            alerter,
            clock,
            stats_cache: std::sync::Mutex::new(None),
            stats_refresh: Arc::default(),
        }
    }

    /// The last store scan, refreshed in the background when stale; the
    /// very first one is made on the spot. One scan runs at a time: a
    /// scrape that finds one running keeps the stale value, or, when there
    /// is none yet, waits for that scan's result.
    async fn cached_stats(self: &Arc<Self>) -> Option<crate::admin::Stats> {
        let cached = self.stats_cache.lock().ok()?.clone();
        if let Some((at, stats)) = cached {
            if at.elapsed() >= STATS_MAX_AGE
                && let Ok(turn) = Arc::clone(&self.stats_refresh).try_lock_owned()
            {
                let probes = Arc::clone(self);
                tokio::task::spawn_blocking(move || probes.refresh_stats(turn));
            }
            return Some(stats);
        }
        let turn = Arc::clone(&self.stats_refresh).lock_owned().await;
        // The scan this caller waited for may have filled the cache.
        if self.stats_cache.lock().ok()?.is_none() {
            let probes = Arc::clone(self);
            let _ = tokio::task::spawn_blocking(move || probes.refresh_stats(turn)).await;
        }
        self.stats_cache
            .lock()
            .ok()?
            .as_ref()
            .map(|(_, s)| s.clone())
    }

    /// Scans the store into the cache; a failed scan keeps the old value.
    /// Takes the refresh turn so it is held until the scan ends, even if
    /// the scrape that started it is dropped.
    fn refresh_stats(&self, _turn: OwnedMutexGuard<()>) {
        match crate::admin::stats(self.repo.store(), self.clock.now()) {
            Ok(stats) => {
                if let Ok(mut cache) = self.stats_cache.lock() {
                    *cache = Some((std::time::Instant::now(), stats));
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "metrics: store scan failed")
            }
        }
    }
}

#[async_trait]
impl Readiness for Arc<Probes> {
    async fn store_writable(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        crate::store::blocking_io(|| self.repo.store().write_global(PROBE_RECORD, &now))?;
        Ok(())
    }

    async fn grid_reachable(&self) -> anyhow::Result<()> {
        // The smallest real question: any grid node with room for a tiny VM.
        let need = Capacity {
            cpu: 1,
            memory_mib: 256,
            disk_gib: 1,
            public_ipv4: false,
        };
        self.grid
            .candidates(&need, &Placement::Random, &[], 1)
            .await
            .map(|_| ())?;
        Ok(())
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
        let (watched, down) = self.repo.watch().counts();
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
            self.alerter.queue().depth() as f64,
        );
    }
}

/// The service answers for its probes, so the ops listener keeps taking a
/// `Service`.
#[async_trait]
impl Readiness for Service {
    async fn store_writable(&self) -> anyhow::Result<()> {
        self.inner.probes.store_writable().await
    }

    async fn grid_reachable(&self) -> anyhow::Result<()> {
        self.inner.probes.grid_reachable().await
    }

    async fn sample(&self, metrics: &Metrics) {
        self.inner.probes.sample(metrics).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;

    fn probes(data_dir: &Path) -> Arc<Probes> {
        let config = crate::config::Config {
            data_dir: data_dir.to_owned(),
            dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
            ..Default::default()
        };
        let outbox = Arc::new(crate::channel::MemoryOutbox::default());
        let clock = Arc::new(crate::clock::ManualClock::new(1_800_000_000));
        crate::app::build(&config, outbox, clock)
            .unwrap()
            .service
            .inner
            .probes
            .clone()
    }

    fn scanned_at(probes: &Probes) -> Option<Instant> {
        probes
            .stats_cache
            .lock()
            .unwrap()
            .as_ref()
            .map(|(at, _)| *at)
    }

    #[tokio::test]
    async fn concurrent_cold_scrapes_all_get_the_first_scan() {
        let dir = tempfile::tempdir().unwrap();
        let probes = probes(&dir.path().join("data"));
        let (a, b, c) = tokio::join!(
            probes.cached_stats(),
            probes.cached_stats(),
            probes.cached_stats()
        );
        assert!(a.is_some() && b.is_some() && c.is_some());
    }

    #[tokio::test]
    async fn stale_scrapes_start_no_scan_while_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let probes = probes(&dir.path().join("data"));
        // Cold: the first scrape scans on the spot.
        assert!(probes.cached_stats().await.is_some());
        let Some(stale) = Instant::now().checked_sub(2 * STATS_MAX_AGE) else {
            return; // the machine booted minutes ago: no such Instant
        };
        probes.stats_cache.lock().unwrap().as_mut().unwrap().0 = stale;
        // As if a scan were running: scrapes get the stale value and start
        // none of their own.
        let running = Arc::clone(&probes.stats_refresh).try_lock_owned().unwrap();
        for _ in 0..3 {
            assert!(probes.cached_stats().await.is_some());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(scanned_at(&probes), Some(stale));
        // Once it is done, the next stale scrape refreshes in the background.
        drop(running);
        assert!(probes.cached_stats().await.is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        while scanned_at(&probes) == Some(stale) {
            assert!(Instant::now() < deadline, "no refresh");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
