//! The service's background work as [`Worker`]s: each holds what its step
//! needs and calls one public entry point of the service (or of the backup
//! or the simulated grid). What to do on an error (log, back off, retry) is
//! the runner's; what a step means stays with the component it calls.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Next, Worker};
use crate::backup::{Backup, BackupObserver, Freeze};
use crate::clock::{Backoff, Clock};
use crate::grid::sim::Churn;
use crate::service::Service;

/// Backoff for work that runs once per `every`: first a minute (or `every`
/// if shorter), doubling, never later than the next regular run.
fn within_interval(every: Duration) -> Backoff {
    Backoff {
        first: every.min(Duration::from_secs(60)),
        max: every,
        attempts: u32::MAX,
    }
}

/// Hourly billing (`Service::bill_all`): charges are made once per hour
/// billed (`billed_until`), so a failed pass is simply run again.
pub struct Billing {
    pub service: Service,
    pub every: Duration,
}

#[async_trait]
impl Worker for Billing {
    fn name(&self) -> &'static str {
        "billing"
    }

    fn backoff(&self) -> Backoff {
        within_interval(self.every)
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        let charged = self.service.bill_all().await?;
        tracing::debug!(charged = %charged, "billing sweep done");
        Ok(Next::After(self.every))
    }
}

/// The payment watcher (`Service::poll_payments`): a full batch is followed
/// at once by the next (a backlog drains quickly); after a failure nothing
/// is lost, since the wallet's cursor only moves past processed payments.
pub struct Payments {
    pub service: Service,
    pub every: Duration,
}

#[async_trait]
impl Worker for Payments {
    fn name(&self) -> &'static str {
        "payments"
    }

    /// From the poll interval, doubling, up to 5 minutes.
    fn backoff(&self) -> Backoff {
        Backoff {
            first: self.every,
            max: self.every.max(Duration::from_secs(300)),
            attempts: u32::MAX,
        }
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        match self.service.poll_payments().await? {
            0 => Ok(Next::After(self.every)),
            handled => {
                tracing::debug!(handled, "payments handled");
                Ok(Next::Now)
            }
        }
    }
}

/// The monitor (`Service::sweep`); a sweep longer than the interval delays
/// the next one. A sweep reports per node and never fails as a whole.
pub struct Monitor {
    pub service: Service,
    pub every: Duration,
}

#[async_trait]
impl Worker for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        let started = tokio::time::Instant::now();
        let report = self.service.sweep().await;
        tracing::debug!(
            ?report,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "monitor sweep done"
        );
        Ok(Next::After(self.every))
    }
}

/// The contract reconciler (`Service::reconcile`, docs/reconciler.md): a
/// pass at start, then one per interval.
pub struct Reconciler {
    pub service: Service,
    pub every: Duration,
}

#[async_trait]
impl Worker for Reconciler {
    fn name(&self) -> &'static str {
        "reconciler"
    }

    fn backoff(&self) -> Backoff {
        within_interval(self.every)
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        let report = self.service.reconcile().await?;
        tracing::debug!(?report, "reconciler pass done");
        Ok(Next::After(self.every))
    }
}

/// The periodic backup: one run at start, then one per interval; a failed
/// run is tried again sooner (a minute, doubling, never later than the next
/// regular run). Every outcome goes to the observer (a metric and an
/// operator alert), with how many runs had failed in a row.
pub struct PeriodicBackup {
    pub backup: Arc<Backup>,
    pub every: Duration,
    pub first_retry: Duration,
    pub clock: Arc<dyn Clock>,
    pub observer: Arc<dyn BackupObserver>,
    /// Runs failed in a row so far (for the observer's words).
    pub failures: u32,
}

#[async_trait]
impl Worker for PeriodicBackup {
    fn name(&self) -> &'static str {
        "backup"
    }

    fn backoff(&self) -> Backoff {
        crate::backup::retry_backoff(self.first_retry, self.every)
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        match self.backup.run(Freeze::PauseWrites, self.clock.now()).await {
            Ok(report) => {
                tracing::info!(
                    id = %report.id,
                    files = report.files,
                    bytes = report.bytes,
                    uploaded_files = report.uploaded_files,
                    uploaded_bytes = report.uploaded_bytes,
                    pruned = report.pruned.len(),
                    "backup done"
                );
                self.observer.backup_succeeded(&report, self.failures).await;
                self.failures = 0;
                Ok(Next::After(self.every))
            }
            Err(error) => {
                self.failures += 1;
                self.observer.backup_failed(&error, self.failures).await;
                Err(anyhow::Error::new(error).context("backup failed"))
            }
        }
    }
}

/// The simulated grid's node churn and scheduled faults.
pub struct SimChurn(pub Churn);

#[async_trait]
impl Worker for SimChurn {
    fn name(&self) -> &'static str {
        "sim-churn"
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        Ok(Next::At(self.0.step()))
    }
}
