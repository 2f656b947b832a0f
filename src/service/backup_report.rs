//! How the service hears about backups: every run updates the backup
//! metrics; the first failure of a streak, and the success that ends it,
//! are alerts to every operator (`admin.operators`) through the queue.

use super::Service;
use crate::alerts::{Alert, Priority};
use crate::backup::{BackupError, BackupObserver, BackupReport};
use crate::dialogue::Message;

impl Service {
    fn alert_operators(&self, key: &str, text: String) {
        let now = self.now();
        let alerts: Vec<Alert> = self
            .inner
            .settings
            .operators
            .iter()
            .map(|operator| Alert {
                key: format!("{operator}:{key}"),
                user: operator.clone(),
                priority: Priority::Notice,
                message: Message::text(text.clone()),
                raised_at: now,
            })
            .collect();
        if alerts.is_empty() {
            return;
        }
        if let Err(e) = self.inner.alerts.enqueue(alerts) {
            tracing::error!(error = %format!("{e:#}"), "cannot queue the backup alert for operators");
        }
    }
}

#[async_trait::async_trait]
impl BackupObserver for Service {
    async fn backup_succeeded(&self, report: &BackupReport, failed_before: u32) {
        self.inner
            .metrics
            .backup_succeeded(self.now(), report.uploaded_bytes);
        if failed_before > 0 {
            self.alert_operators(
                &format!("backup-ok:{}", report.id),
                format!(
                    "✅ Backups work again: snapshot {} is in the bucket after {failed_before} failed attempt(s).",
                    report.id
                ),
            );
        }
    }

    async fn backup_failed(&self, error: &BackupError, failures_in_a_row: u32) {
        self.inner.metrics.backup_failed();
        if failures_in_a_row == 1 {
            self.alert_operators(
                &format!("backup-failed:{}", self.now()),
                format!(
                    "⚠️ The backup to S3 failed: {error}. Jukebox keeps running and tries again with backoff; jukebox_backup_failures_total counts the failures."
                ),
            );
        }
    }
}
