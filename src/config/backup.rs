//! The `[backup]` section: where and how often the data dir is backed up to
//! S3, and how many snapshots are kept.

use super::Problem;
use serde::Deserialize;

/// Environment variable holding the operator's backup key (64 hex
/// characters): when set, the master key is sealed with it and stored with
/// each snapshot; when not, the master key is left out of backups.
pub const BACKUP_KEY_ENV: &str = "JUKEBOX_BACKUP_KEY";

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// On by default exactly when a bucket is configured.
    pub enabled: Option<bool>,
    pub interval_minutes: u64,
    /// An S3-compatible endpoint URL; empty means AWS itself.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Every object lives under `<prefix>/` in the bucket.
    pub prefix: String,
    /// The newest snapshots kept whatever their age.
    pub keep_last: u32,
    /// Also keep the newest snapshot of each of the last days.
    pub keep_daily_days: u32,
    /// Allow a plain-http endpoint (a local test server; never in production).
    pub allow_http: bool,
    /// Attempts per S3 request before a backup run counts as failed.
    pub request_attempts: u32,
    /// A file holding the backup key (64 hex characters), instead of the
    /// `JUKEBOX_BACKUP_KEY` variable. Keep it off this machine's data dir.
    pub key_file: String,
}

impl Default for BackupConfig {
    fn default() -> BackupConfig {
        BackupConfig {
            enabled: None,
            interval_minutes: 60,
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: "jukebox".into(),
            keep_last: 24,
            keep_daily_days: 30,
            allow_http: false,
            request_attempts: 6,
            key_file: String::new(),
        }
    }
}

impl BackupConfig {
    /// Whether the service runs periodic backups.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(!self.bucket.is_empty())
    }

    pub fn validate(&self) -> Result<(), Problem> {
        if self.is_enabled() && self.bucket.is_empty() {
            return Err("enabled = true needs a bucket".into());
        }
        if !(1..=7 * 24 * 60).contains(&self.interval_minutes) {
            return Err("interval_minutes must be 1 to 10080 (a week)".into());
        }
        if !(1..=1000).contains(&self.keep_last) {
            return Err("keep_last must be 1 to 1000".into());
        }
        if self.keep_daily_days > 3650 {
            return Err("keep_daily_days must be at most 3650".into());
        }
        if !(1..=20).contains(&self.request_attempts) {
            return Err("request_attempts must be 1 to 20".into());
        }
        let prefix_ok = self.prefix.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        if !prefix_ok {
            return Err(format!(
                "prefix {:?} must be non-empty path segments of letters, digits, '-', '_', '.'",
                self.prefix
            )
            .into());
        }
        if !self.endpoint.is_empty() {
            let plain = self.endpoint.starts_with("http://");
            if !plain && !self.endpoint.starts_with("https://") {
                return Err(format!("endpoint {:?} must be an http(s) URL", self.endpoint).into());
            }
            if plain && !self.allow_http {
                return Err("an http:// endpoint needs allow_http = true".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_follows_the_bucket_unless_said() {
        let mut c = BackupConfig::default();
        assert!(!c.is_enabled());
        assert!(c.validate().is_ok());
        c.bucket = "b".into();
        assert!(c.is_enabled());
        c.enabled = Some(false);
        assert!(!c.is_enabled());
        c.bucket.clear();
        c.enabled = Some(true);
        assert!(c.validate().unwrap_err().contains("bucket"));
    }

    #[test]
    fn bad_values_are_named() {
        let check = |f: &dyn Fn(&mut BackupConfig)| {
            let mut c = BackupConfig {
                bucket: "b".into(),
                ..BackupConfig::default()
            };
            f(&mut c);
            c.validate()
        };
        assert!(check(&|_| {}).is_ok());
        assert!(
            check(&|c| c.keep_last = 0)
                .unwrap_err()
                .contains("keep_last")
        );
        assert!(check(&|c| c.interval_minutes = 0).is_err());
        assert!(check(&|c| c.prefix = "a//b".into()).is_err());
        assert!(check(&|c| c.prefix = "../x".into()).is_err());
        assert!(check(&|c| c.prefix = "team/jukebox-1".into()).is_ok());
        assert!(
            check(&|c| c.endpoint = "http://127.0.0.1:9000".into())
                .unwrap_err()
                .contains("allow_http")
        );
        assert!(
            check(&|c| {
                c.endpoint = "http://127.0.0.1:9000".into();
                c.allow_http = true;
            })
            .is_ok()
        );
        assert!(check(&|c| c.endpoint = "s3.example.com".into()).is_err());
    }
}
