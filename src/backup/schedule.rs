//! The service's periodic backup: one run at start, then one per interval
//! (the [`PeriodicBackup`] worker). A failed run is tried again sooner
//! (backoff from `first_retry`, doubling, never later than the next regular
//! run); every outcome goes to a [`BackupObserver`], which the service
//! implements with a metric and an operator alert, so this module knows
//! nothing of either.

use std::sync::Arc;
use std::time::Duration;

use super::{Backup, BackupError, BackupReport};
use crate::clock::{Backoff, Clock};
use crate::runtime::workers::PeriodicBackup;

/// Told about every backup run's outcome.
#[async_trait::async_trait]
pub trait BackupObserver: Send + Sync {
    /// `failed_before`: how many runs in a row had failed before this one.
    async fn backup_succeeded(&self, report: &BackupReport, failed_before: u32);
    /// `failures_in_a_row` is 1 for the first failure of a streak.
    async fn backup_failed(&self, error: &BackupError, failures_in_a_row: u32);
}

/// Runs backups forever (the caller aborts the task to stop it): the
/// service's [`PeriodicBackup`] worker under a runner of its own.
pub async fn run_periodically(
    backup: Arc<Backup>,
    every: Duration,
    first_retry: Duration,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn BackupObserver>,
) {
    let mut runner = crate::runtime::Runner::new(clock.clone(), None);
    runner.spawn(Box::new(PeriodicBackup {
        backup,
        every,
        first_retry,
        clock,
        observer,
        failures: 0,
    }));
    // Aborting this task drops the runner, whose tasks go with it.
    std::future::pending::<()>().await;
}

/// `first_retry` doubled per failure in a row, at most `every`; runs are
/// tried again for ever, so `attempts` is never reached.
pub fn retry_backoff(first_retry: Duration, every: Duration) -> Backoff {
    Backoff {
        first: first_retry,
        max: every,
        attempts: u32::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_interval() {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        let retry = retry_backoff(minute, hour);
        let waits: Vec<u64> = (1..=8).map(|n| retry.delay(n - 1).as_secs() / 60).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry.delay(500 - 1), hour);
    }
}
