//! Backups of the data dir to S3, and restores from them.
//!
//! A backup run freezes the data dir into a point-in-time copy
//! ([`snapshot`]), hashes every file, uploads the blobs the bucket does not
//! have yet (`<prefix>/blobs/<sha256>`, so an unchanged file is never sent
//! twice), then the manifest (`<prefix>/snapshots/<id>.json`) last: a
//! snapshot exists only once all it needs is there. Retention then deletes
//! manifests ([`retention`]) and, after that, the blobs no kept manifest
//! names. Restore checks every blob's size and sha256 before anything lands
//! in the target ([`restore`]).
//!
//! The master key is never uploaded in clear: with a backup key
//! (`JUKEBOX_BACKUP_KEY` or `[backup] key_file`) it is sealed with it into
//! the manifest; without one it is left out. The periodic loop and its
//! reporting are in [`schedule`]. The bucket is reached through
//! object_store's `ObjectStore` trait ([`remote`]).

pub mod command;
mod manifest;
mod progress;
mod remote;
mod restore;
mod retention;
mod schedule;
mod snapshot;

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use crate::crypto::MasterKey;

pub use manifest::{FileEntry, MANIFEST_FORMAT, Manifest, SealedMasterKey, snapshot_id};
pub use progress::{ProgressOutput, human_bytes};
pub use remote::Remote;
pub use restore::{MasterKeyRestore, RestoreReport};
pub use retention::{RetentionPolicy, to_keep};
pub use schedule::{BackupObserver, retry_backoff, run_periodically};
pub use snapshot::{Freeze, RUN_LOCK, STAGING_DIR};

use progress::Progress;

/// Blobs uploaded or downloaded at the same time.
const CONCURRENT_TRANSFERS: usize = 8;

/// Everything that can go wrong backing up or restoring.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("S3: {what} failed after {attempts} attempt(s): {source}")]
    Remote {
        what: String,
        attempts: u32,
        source: object_store::Error,
    },
    #[error("{what} is corrupt: {why}")]
    Corrupt { what: String, why: String },
    #[error("no snapshot {0:?} in the bucket (`jukebox backup list` shows them)")]
    NoSuchSnapshot(String),
    #[error(
        "the data dir kept changing while it was copied ({attempts} attempts); the service's own periodic backup pauses writes for a moment instead: enable [backup] in config.toml, or stop the service and run this again"
    )]
    Busy { attempts: u32 },
    #[error("another backup of this data dir is running")]
    AlreadyRunning,
    #[error(
        "{} is not empty; restore into an empty or new directory, or add --force to write over it",
        .0.display()
    )]
    TargetNotEmpty(PathBuf),
    #[error("{} is in use by a running Jukebox; stop it before restoring over it", .0.display())]
    TargetInUse(PathBuf),
    #[error("backup configuration: {0}")]
    Config(String),
}

impl BackupError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.into(),
            source,
        }
    }
}

/// What one backup run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
    /// Blobs the bucket did not have (unchanged files are not sent again).
    pub uploaded_files: usize,
    pub uploaded_bytes: u64,
    pub master_key_included: bool,
    /// Snapshots removed by retention.
    pub pruned: Vec<String>,
    pub deleted_blobs: usize,
}

/// One line of `jukebox backup list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub id: String,
    pub created_at: u64,
    pub files: usize,
    pub bytes: u64,
    pub master_key_included: bool,
}

/// Backs up one data dir to one bucket prefix.
pub struct Backup {
    remote: Remote,
    data_dir: PathBuf,
    master_key_file: PathBuf,
    backup_key: Option<MasterKey>,
    retention: RetentionPolicy,
    progress: ProgressOutput,
}

impl Backup {
    pub fn new(
        remote: Remote,
        data_dir: &Path,
        master_key_file: &Path,
        backup_key: Option<MasterKey>,
        retention: RetentionPolicy,
    ) -> Backup {
        Backup {
            remote,
            data_dir: data_dir.to_owned(),
            master_key_file: master_key_file.to_owned(),
            backup_key,
            retention,
            progress: ProgressOutput::Quiet,
        }
    }

    /// The S3 bucket, backup key and retention from the configuration;
    /// `env` reads `JUKEBOX_BACKUP_KEY` (and object_store reads the AWS
    /// variables itself).
    pub fn from_config(
        config: &crate::config::Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Backup, BackupError> {
        let b = &config.backup;
        if b.bucket.is_empty() {
            return Err(BackupError::Config(
                "no bucket: set [backup] bucket in config.toml".into(),
            ));
        }
        Ok(Backup::new(
            Remote::s3(b)?,
            &config.data_dir,
            &config.master_key_path(),
            backup_key(&b.key_file, env)?,
            RetentionPolicy {
                keep_last: b.keep_last,
                keep_daily_days: b.keep_daily_days,
            },
        ))
    }

    /// Print progress to stderr (the command line).
    pub fn with_progress(mut self, output: ProgressOutput) -> Backup {
        self.progress = output;
        self
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Takes a snapshot at `now` (unix seconds), uploads it and applies
    /// retention. Safe to repeat after any failure: blobs already uploaded
    /// are reused, and a snapshot without its manifest does not exist.
    pub async fn run(&self, how: Freeze, now: u64) -> Result<BackupReport, BackupError> {
        let _run = lock_run(&self.data_dir)?;
        let root = std::fs::canonicalize(&self.data_dir)
            .map_err(|e| BackupError::io(&self.data_dir, e))?;
        let master_key = std::fs::canonicalize(&self.master_key_file).ok();
        let staging = root.join(STAGING_DIR);
        let result = self.run_frozen(&root, &staging, master_key, how, now).await;
        // The staging dir is only links and journal copies: always removable.
        let removed = blocking(move || snapshot::remove(&staging)).await;
        let report = result?;
        removed?;
        Ok(report)
    }

    async fn run_frozen(
        &self,
        root: &Path,
        staging: &Path,
        master_key: Option<PathBuf>,
        how: Freeze,
        now: u64,
    ) -> Result<BackupReport, BackupError> {
        let files = {
            let (root, staging) = (root.to_owned(), staging.to_owned());
            let exclusions = snapshot::Exclusions {
                master_key: master_key.clone(),
            };
            blocking(move || snapshot::freeze(&root, &staging, &exclusions, how)).await?
        };
        let entries = {
            let staging = staging.to_owned();
            blocking(move || hash_files(&staging, files)).await?
        };
        let mut report = BackupReport {
            id: String::new(),
            files: entries.len(),
            bytes: entries.iter().map(|e| e.size).sum(),
            uploaded_files: 0,
            uploaded_bytes: 0,
            master_key_included: false,
            pruned: Vec::new(),
            deleted_blobs: 0,
        };
        let known = self.remote.blobs().await?;
        let mut missing: HashMap<&str, &FileEntry> = HashMap::new();
        for entry in &entries {
            if !known.contains(&entry.sha256) {
                missing.entry(&entry.sha256).or_insert(entry);
            }
        }
        let missing_bytes = missing.values().map(|e| e.size).sum();
        let mut progress =
            Progress::start(self.progress, "uploading", missing.len(), missing_bytes);
        let uploads: Vec<_> = missing
            .into_values()
            .map(|entry| self.upload(staging, entry))
            .collect();
        let mut uploads =
            futures_util::stream::iter(uploads).buffer_unordered(CONCURRENT_TRANSFERS);
        while let Some(size) = uploads.try_next().await? {
            report.uploaded_files += 1;
            report.uploaded_bytes += size;
            progress.advance(size);
        }
        drop(uploads);
        progress.finish();
        let sealed_key = self.seal_master_key(root, master_key.as_deref())?;
        report.master_key_included = sealed_key.is_some();
        let existing = self.remote.snapshot_ids().await?;
        // Ids are times; never reuse one, even twice in a second.
        let after_last = existing
            .last()
            .and_then(|id| manifest::parse_snapshot_id(id))
            .map_or(0, |t| t + 1);
        let created_at = now.max(after_last);
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: snapshot_id(created_at),
            created_at,
            files: entries,
            master_key: sealed_key,
        };
        self.remote.put_manifest(&manifest).await?;
        report.id = manifest.id.clone();
        let mut all = existing;
        all.push(manifest.id.clone());
        let (pruned, deleted_blobs) = self.prune(all, &manifest, now).await?;
        report.pruned = pruned;
        report.deleted_blobs = deleted_blobs;
        Ok(report)
    }

    async fn upload(&self, staging: &Path, entry: &FileEntry) -> Result<u64, BackupError> {
        let path = staging.join(&entry.path);
        let bytes =
            blocking(move || std::fs::read(&path).map_err(|e| BackupError::io(&path, e))).await?;
        let size = bytes.len() as u64;
        self.remote.put_blob(&entry.sha256, bytes).await?;
        Ok(size)
    }

    fn seal_master_key(
        &self,
        root: &Path,
        master_key: Option<&Path>,
    ) -> Result<Option<SealedMasterKey>, BackupError> {
        let (Some(backup_key), Some(path)) = (&self.backup_key, master_key) else {
            return Ok(None);
        };
        let secret =
            zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| BackupError::io(path, e))?);
        let rel = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(str::to_owned);
        Ok(Some(SealedMasterKey {
            path: rel,
            sealed: backup_key.seal(&secret),
        }))
    }

    /// Applies retention to `ids` (every snapshot, including `new`, the one
    /// just uploaded): deletes the manifests it drops, then the blobs no
    /// kept one needs.
    async fn prune(
        &self,
        ids: Vec<String>,
        new: &Manifest,
        now: u64,
    ) -> Result<(Vec<String>, usize), BackupError> {
        let times: Vec<u64> = ids
            .iter()
            .map(|id| manifest::parse_snapshot_id(id).unwrap_or(u64::MAX))
            .collect();
        let keep = to_keep(&times, now, self.retention);
        let dropped: Vec<String> = (0..ids.len())
            .filter(|i| !keep.contains(i))
            .map(|i| ids[i].clone())
            .collect();
        if dropped.is_empty() {
            return Ok((dropped, 0));
        }
        for id in &dropped {
            self.remote.delete_manifest(id).await?;
        }
        // Only now, with the manifests gone, find what is unreferenced. A
        // failure here leaves extra blobs, never a kept snapshot without one.
        let mut needed = BTreeSet::new();
        for i in keep {
            // The new manifest is in memory; the others are downloaded.
            if ids[i] == new.id {
                needed.extend(new.files.iter().map(|f| f.sha256.clone()));
                continue;
            }
            let manifest = self.remote.get_manifest(&ids[i]).await?;
            needed.extend(manifest.files.into_iter().map(|f| f.sha256));
        }
        let garbage: Vec<String> = self
            .remote
            .blobs()
            .await?
            .into_iter()
            .filter(|b| !needed.contains(b))
            .collect();
        let deleted = garbage.len();
        let deletions: Vec<_> = garbage.iter().map(|b| self.remote.delete_blob(b)).collect();
        futures_util::stream::iter(deletions)
            .buffer_unordered(CONCURRENT_TRANSFERS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok((dropped, deleted))
    }

    /// Every snapshot in the bucket, oldest first.
    pub async fn list(&self) -> Result<Vec<SnapshotSummary>, BackupError> {
        let mut summaries = Vec::new();
        for id in self.remote.snapshot_ids().await? {
            let m = self.remote.get_manifest(&id).await?;
            summaries.push(SnapshotSummary {
                id,
                created_at: m.created_at,
                files: m.files.len(),
                bytes: m.total_bytes(),
                master_key_included: m.master_key.is_some(),
            });
        }
        Ok(summaries)
    }
}

/// The backup key from `JUKEBOX_BACKUP_KEY` or the key file, if any.
fn backup_key(
    key_file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<MasterKey>, BackupError> {
    let (text, from) = match env(crate::config::BACKUP_KEY_ENV) {
        Some(text) => (
            zeroize::Zeroizing::new(text),
            crate::config::BACKUP_KEY_ENV.to_owned(),
        ),
        None if key_file.is_empty() => return Ok(None),
        None => (
            zeroize::Zeroizing::new(
                std::fs::read_to_string(key_file).map_err(|e| BackupError::io(key_file, e))?,
            ),
            key_file.to_owned(),
        ),
    };
    parse_backup_key(text.trim())
        .map(Some)
        .ok_or_else(|| BackupError::Config(format!("{from} must hold exactly 64 hex characters")))
}

pub fn parse_backup_key(text: &str) -> Option<MasterKey> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, &mut bytes[..]).ok()?;
    Some(MasterKey::from_bytes(*bytes))
}

/// Takes `<data dir>/backup.lock` for the whole run.
fn lock_run(data_dir: &Path) -> Result<File, BackupError> {
    let path = data_dir.join(RUN_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BackupError::io(&path, e))?;
    crate::store::try_lock(file)
        .map_err(|e| BackupError::io(&path, e))?
        .ok_or(BackupError::AlreadyRunning)
}

/// Hashes the frozen files (streaming, so a big journal is not held).
fn hash_files(
    staging: &Path,
    files: Vec<snapshot::FrozenFile>,
) -> Result<Vec<FileEntry>, BackupError> {
    let mut buffer = vec![0u8; 64 * 1024];
    files
        .into_iter()
        .map(|f| {
            let path = staging.join(&f.rel);
            let mut file = File::open(&path).map_err(|e| BackupError::io(&path, e))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            loop {
                let n = file
                    .read(&mut buffer)
                    .map_err(|e| BackupError::io(&path, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                size += n as u64;
            }
            Ok(FileEntry {
                path: f.rel,
                size,
                sha256: hex::encode(hasher.finalize()),
                mode: f.mode,
            })
        })
        .collect()
}

/// Runs file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(BackupError::io(
            "backup worker",
            std::io::Error::other(e.to_string()),
        )),
    }
}
