//! How the service hears about backups: every run updates the backup
//! metrics; the first failure of a streak, and the success that ends it,
//! are alerts to every operator (`admin.operators`) through the queue.

use super::Service;
use crate::backup::{BackupError, BackupObserver, BackupReport};

#[async_trait::async_trait]
impl BackupObserver for Service {
    async fn backup_succeeded(&self, report: &BackupReport, failed_before: u32) {
        self.inner
            .metrics
            .backup_succeeded(self.now(), report.uploaded_bytes);
        if failed_before > 0 {
            log_alert_failure(self.inner.alerter.alert_operators(
                &format!("backup-ok:{}", report.id),
                format!(
                    "✅ Backups work again: snapshot {} is in the bucket after {failed_before} failed attempt(s).",
                    report.id
                ),
            ));
        }
    }

    async fn backup_failed(&self, error: &BackupError, failures_in_a_row: u32) {
        self.inner.metrics.backup_failed();
        if failures_in_a_row == 1 {
            log_alert_failure(self.inner.alerter.alert_operators(
                &format!("backup-failed:{}", self.now()),
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
