//! Freezing the data dir: a point-in-time copy in `backup-staging/` that
//! later steps read at leisure while the service goes on writing.
//!
//! Records (`*.json`) are only ever replaced by renaming a new file over
//! them, so a hard link keeps the version of the moment and costs no copy.
//! Everything else (journals, which grow in place) is copied. Either writers
//! are kept out while this runs ([`Freeze::PauseWrites`], in the process that
//! owns the data dir), or the tree is walked twice and the copy is accepted
//! only if nothing changed in between ([`Freeze::VerifyUnchanged`], from
//! another process). ARCHITECTURE.md has the whole consistency argument.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::BackupError;
use crate::chat::telegram::{INBOX_DIR, LEGACY_INBOX};
use crate::store::{CLEAN_MARKER, LOCK_FILE, is_temp};

/// The staging directory inside the data dir (same file system, so hard
/// links work); never itself backed up.
pub const STAGING_DIR: &str = "backup-staging";
/// Taken for a whole backup run, so two runs never share the staging dir.
pub const RUN_LOCK: &str = "backup.lock";

/// How the copy is made consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freeze {
    /// Hold the store's write gate (every durable write of this process
    /// waits) while linking. For the process that owns the data dir, or one
    /// that holds its lock so that nobody writes.
    PauseWrites,
    /// Another process may be writing: link, walk again, and accept only if
    /// every file is still the one linked (same inode, size and mtime);
    /// otherwise start over, at most `attempts` times.
    VerifyUnchanged { attempts: u32 },
}

/// One file of the frozen copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrozenFile {
    /// Relative, `/`-separated.
    pub rel: String,
    pub mode: u32,
}

/// What identifies one version of a live file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version {
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Version {
    fn of(meta: &fs::Metadata) -> Version {
        Version {
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// Files of the data dir that are never backed up: locks and markers that
/// describe the running process, temp files, the staging area, the
/// Telegram inbox (updates not handled yet, which may hold a secret a user
/// typed: sealed, and never meant to outlive their handling, so no copy is
/// made; an update that was in it is one a restored service never
/// confirmed to anyone), and the master key (handled separately, see
/// `backup::master_key`).
pub struct Exclusions {
    pub master_key: Option<PathBuf>,
}

impl Exclusions {
    fn skip(&self, root: &Path, rel: &str, name: &str) -> bool {
        let top_level = !rel.contains('/');
        name == LOCK_FILE
            || is_temp(name)
            || (top_level
                && matches!(
                    name,
                    CLEAN_MARKER | STAGING_DIR | RUN_LOCK | INBOX_DIR | LEGACY_INBOX
                ))
            || self
                .master_key
                .as_deref()
                .is_some_and(|key| root.join(rel) == key)
    }
}

/// Makes `staging` a frozen copy of `root` and lists its files, sorted.
pub fn freeze(
    root: &Path,
    staging: &Path,
    exclusions: &Exclusions,
    how: Freeze,
) -> Result<Vec<FrozenFile>, BackupError> {
    match how {
        Freeze::PauseWrites => {
            reset(staging)?;
            let _paused = crate::store::pause_writes();
            Ok(copy_tree(root, staging, exclusions)?.0)
        }
        Freeze::VerifyUnchanged { attempts } => {
            for attempt in 1..=attempts.max(1) {
                reset(staging)?;
                let (files, versions) = copy_tree(root, staging, exclusions)?;
                if walk_versions(root, exclusions)? == versions {
                    return Ok(files);
                }
                tracing::info!(
                    attempt,
                    "the data dir changed while it was copied; copying again"
                );
            }
            Err(BackupError::Busy {
                attempts: attempts.max(1),
            })
        }
    }
}

/// Removes the staging dir (a leftover of a crashed run, or the last one).
pub fn remove(staging: &Path) -> Result<(), BackupError> {
    match fs::remove_dir_all(staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::io(staging, e)),
    }
}

fn reset(staging: &Path) -> Result<(), BackupError> {
    remove(staging)?;
    fs::create_dir_all(staging).map_err(|e| BackupError::io(staging, e))
}

type Versions = BTreeMap<String, Version>;

/// Links or copies every file; returns them with the version captured.
fn copy_tree(
    root: &Path,
    staging: &Path,
    exclusions: &Exclusions,
) -> Result<(Vec<FrozenFile>, Versions), BackupError> {
    let mut files = Vec::new();
    let mut versions = Versions::new();
    for (rel, meta) in walk(root, exclusions)? {
        let from = root.join(&rel);
        let to = staging.join(&rel);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
        }
        let captured = if rel.ends_with(".json") {
            fs::hard_link(&from, &to).map(|()| Version::of(&meta))
        } else {
            // Copy, and describe what was copied by the copy's own length:
            // a journal may have grown since `walk` looked at it.
            fs::copy(&from, &to).map(|copied| Version {
                size: copied,
                ..Version::of(&meta)
            })
        };
        match captured {
            Ok(version) => {
                versions.insert(rel.clone(), version);
                files.push(FrozenFile {
                    rel,
                    mode: meta.permissions().mode() & 0o7777,
                });
            }
            // Deleted since it was listed: it is simply not in this instant.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io(&from, e)),
        }
    }
    Ok((files, versions))
}

fn walk_versions(root: &Path, exclusions: &Exclusions) -> Result<Versions, BackupError> {
    Ok(walk(root, exclusions)?
        .into_iter()
        .map(|(rel, meta)| (rel, Version::of(&meta)))
        .collect())
}

/// Regular files under `root` (relative paths, sorted), minus exclusions.
/// Symlinks and special files are skipped: the store makes none.
fn walk(root: &Path, exclusions: &Exclusions) -> Result<Vec<(String, fs::Metadata)>, BackupError> {
    let mut found = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(dir_rel) = dirs.pop() {
        let dir = if dir_rel.is_empty() {
            root.to_owned()
        } else {
            root.join(&dir_rel)
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound && !dir_rel.is_empty() => continue,
            Err(e) => return Err(BackupError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| BackupError::io(&dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(dir = %dir.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let rel = if dir_rel.is_empty() {
                name.clone()
            } else {
                format!("{dir_rel}/{name}")
            };
            if exclusions.skip(root, &rel, &name) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(BackupError::io(entry.path(), e)),
            };
            if meta.is_dir() {
                dirs.push(rel);
            } else if meta.is_file() {
                found.push((rel, meta));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}
