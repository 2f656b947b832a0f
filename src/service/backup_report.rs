//! How the service hears about backups: every run updates the backup
//! metrics; the first failure of a streak, and the success that ends it,
//! are alerts to every operator (`admin.operators`) through the queue.
//!
//! A component of its own (it needs only the metrics, the alerter and the
//! clock), handed to the backup worker as its `BackupObserver`.

use std::sync::Arc;

use super::alerter::Alerter;
use crate::backup::{BackupError, BackupObserver, BackupReport};
use crate::clock::Clock;
use crate::metrics::Metrics;

/// The backup worker's observer.
pub struct BackupReporter {
    metrics: Metrics,
    alerter: Arc<Alerter>,
    clock: Arc<dyn Clock>,
}

impl BackupReporter {
    pub(super) fn new(metrics: Metrics, alerter: Arc<Alerter>, clock: Arc<dyn Clock>) -> Self {
        BackupReporter {
            metrics,
            alerter,
            clock,
        }
    }
}

#[async_trait::async_trait]
impl BackupObserver for BackupReporter {
    async fn backup_succeeded(&self, report: &BackupReport, failed_before: u32) {
        self.metrics
            .backup_succeeded(self.clock.now(), report.uploaded_bytes);
        if failed_before > 0 {
            log_alert_failure(self.alerter.alert_operators(
                &format!("backup-ok:{}", report.id),
                format!(
                    "✅ Backups work again: snapshot {} is in the bucket after {failed_before} failed attempt(s).",
                    report.id
                ),
            ));
        }
    }

    async fn backup_failed(&self, error: &BackupError, failures_in_a_row: u32) {
        self.metrics.backup_failed();
        if failures_in_a_row == 1 {
            log_alert_failure(self.alerter.alert_operators(
                &format!("backup-failed:{}", self.clock.now()),
                format!(
                    "⚠️ The backup to S3 failed: {error}. Jukebox keeps running and tries again with backoff; jukebox_backup_failures_total counts the failures."
                ),
            ));
        }
    }
}

/// A backup alert that cannot be queued is logged: the backup itself is
/// unaffected.
fn log_alert_failure(queued: anyhow::Result<()>) {
    if let Err(e) = queued {
        tracing::error!(error = %format!("{e:#}"), "cannot queue the backup alert for operators");
    }
}
