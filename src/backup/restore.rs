//! Restoring a snapshot into a directory: every blob is downloaded into a
//! sibling staging directory and checked (size and sha256) before anything
//! lands in the target, so a corrupt or missing object leaves the target as
//! it was.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};

use super::manifest::{FileEntry, sha256_hex};
use super::progress::Progress;
use super::{Backup, BackupError, blocking};
use crate::store::{LOCK_FILE, WAL_DIR, ensure_dir, sync_dir, try_lock, write_atomic};

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
    pub master_key: MasterKeyRestore,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeyRestore {
    /// Unsealed with the backup key and written here (mode 0600).
    Restored(PathBuf),
    /// The snapshot has it sealed, but no backup key was given.
    NeedsBackupKey,
    /// The snapshot was taken without a backup key: the operator must put
    /// the master key back from their own copy.
    NotInSnapshot,
}

impl Backup {
    /// Restores snapshot `id` into `to`. Refuses a non-empty `to` unless
    /// `force` (then files of the snapshot replace those in `to`, and other
    /// files stay), and always refuses a data dir a running Jukebox holds.
    pub async fn restore(
        &self,
        id: &str,
        to: &Path,
        force: bool,
    ) -> Result<RestoreReport, BackupError> {
        let manifest = self.remote.get_manifest(id).await?;
        let empty = check_target(to, force)?;
        let partial = partial_dir(to)?;
        {
            let partial = partial.clone();
            blocking(move || {
                super::snapshot::remove(&partial)?;
                ensure_dir(&partial).map_err(|e| BackupError::io(&partial, e))
            })
            .await?;
        }
        let mut by_blob: HashMap<&str, Vec<&FileEntry>> = HashMap::new();
        for entry in &manifest.files {
            by_blob.entry(&entry.sha256).or_default().push(entry);
        }
        let mut progress = Progress::start(
            self.progress,
            "restoring",
            manifest.files.len(),
            manifest.total_bytes(),
        );
        let downloads: Vec<_> = by_blob
            .into_iter()
            .map(|(sha256, entries)| self.fetch(&partial, sha256, entries))
            .collect();
        let mut downloads =
            futures_util::stream::iter(downloads).buffer_unordered(super::CONCURRENT_TRANSFERS);
        while let Some(written) = downloads.try_next().await? {
            for size in written {
                progress.advance(size);
            }
        }
        drop(downloads);
        progress.finish();
        // With the path of a restored key, relative to the target.
        let (master_key, key_rel) = match (&manifest.master_key, &self.backup_key) {
            (None, _) => (MasterKeyRestore::NotInSnapshot, None),
            (Some(_), None) => (MasterKeyRestore::NeedsBackupKey, None),
            (Some(sealed), Some(key)) => {
                let secret = key.open(&sealed.sealed).map_err(|e| BackupError::Corrupt {
                    what: "the sealed master key".into(),
                    why: format!("{e} (is this the backup key the snapshot was made with?)"),
                })?;
                let rel = sealed.path.clone().unwrap_or_else(|| "master.key".into());
                let path = partial.join(&rel);
                write_file(&path, &secret, 0o600)?;
                (MasterKeyRestore::Restored(to.join(&rel)), Some(rel))
            }
        };
        let to_owned = to.to_owned();
        let files: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
        blocking(move || move_into_place(&partial, &to_owned, empty, files, key_rel)).await?;
        Ok(RestoreReport {
            id: manifest.id.clone(),
            files: manifest.files.len(),
            bytes: manifest.total_bytes(),
            master_key,
        })
    }

    /// Downloads one blob, checks it, writes it wherever the snapshot had it.
    async fn fetch(
        &self,
        partial: &Path,
        sha256: &str,
        entries: Vec<&FileEntry>,
    ) -> Result<Vec<u64>, BackupError> {
        let bytes = self.remote.get_blob(sha256).await?;
        let actual = sha256_hex(&bytes);
        for entry in &entries {
            if bytes.len() as u64 != entry.size || actual != entry.sha256 {
                return Err(BackupError::Corrupt {
                    what: format!("the backup of {} (blob {sha256})", entry.path),
                    why: format!(
                        "expected {} bytes with sha256 {}, got {} bytes with sha256 {actual}",
                        entry.size,
                        entry.sha256,
                        bytes.len()
                    ),
                });
            }
        }
        let targets: Vec<(PathBuf, u32)> = entries
            .iter()
            .map(|e| (partial.join(&e.path), e.mode))
            .collect();
        let sizes = vec![bytes.len() as u64; targets.len()];
        blocking(move || {
            for (path, mode) in targets {
                write_file(&path, &bytes, mode)?;
            }
            Ok(())
        })
        .await?;
        Ok(sizes)
    }
}

/// Whether `to` is empty (or missing); errors if it must not be written.
fn check_target(to: &Path, force: bool) -> Result<bool, BackupError> {
    let mut entries = match fs::read_dir(to) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(BackupError::io(to, e)),
    };
    let empty = entries.next().is_none();
    let lock = to.join(LOCK_FILE);
    // Only a lock file we can open can be checked; a missing one means no
    // Jukebox has run there.
    if let Ok(file) = OpenOptions::new().write(true).open(&lock)
        && try_lock(file)
            .map_err(|e| BackupError::io(&lock, e))?
            .is_none()
    {
        return Err(BackupError::TargetInUse(to.to_owned()));
    }
    if !empty && !force {
        return Err(BackupError::TargetNotEmpty(to.to_owned()));
    }
    Ok(empty)
}

/// `<parent>/.<name>.restoring`, next to the target (same file system, so
/// the final step is renames).
fn partial_dir(to: &Path) -> Result<PathBuf, BackupError> {
    let name = to.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        BackupError::Config(format!("--to {} has no directory name", to.display()))
    })?;
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    ensure_dir(&parent).map_err(|e| BackupError::io(&parent, e))?;
    Ok(parent.join(format!(".{name}.restoring")))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BackupError> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir).map_err(|e| BackupError::io(dir, e))?;
    }
    write_atomic(path, bytes).map_err(|e| BackupError::io(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| BackupError::io(path, e))
}

/// The checked files become the target: one rename when the target is new
/// or empty, else one rename per file.
fn move_into_place(
    partial: &Path,
    to: &Path,
    empty: bool,
    files: Vec<String>,
    master_key: Option<String>,
) -> Result<(), BackupError> {
    if empty {
        match fs::remove_dir(to) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io(to, e)),
        }
        fs::rename(partial, to).map_err(|e| BackupError::io(to, e))?;
        let parent = to.parent().filter(|p| !p.as_os_str().is_empty());
        return sync_dir(parent.unwrap_or(Path::new("."))).map_err(|e| BackupError::io(to, e));
    }
    // The target's own write-ahead log belongs to its earlier life: replayed
    // at the next open, it would write its records over the restored ones.
    // The snapshot's log (if it has one) comes in with its other files.
    super::snapshot::remove(&to.join(WAL_DIR))?;
    for rel in files.iter().chain(master_key.iter()) {
        let (from, into) = (partial.join(rel), to.join(rel));
        if let Some(dir) = into.parent() {
            ensure_dir(dir).map_err(|e| BackupError::io(dir, e))?;
        }
        fs::rename(&from, &into).map_err(|e| BackupError::io(&into, e))?;
        if let Some(dir) = into.parent() {
            sync_dir(dir).map_err(|e| BackupError::io(dir, e))?;
        }
    }
    super::snapshot::remove(partial)
}
