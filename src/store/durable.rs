//! Crash-safe file primitives: atomic replace, durable mkdir, temp cleanup.
//!
//! A record is only ever replaced by renaming a fully written and fsynced
//! temp file over it, so after a crash a reader sees either the old or the
//! new content, never a mix. Temp files start with [`TEMP_PREFIX`] (a dot,
//! which no record name may contain) so readers can never mistake them for
//! records.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Prefix of every temp file the store creates.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Makes temp names unique within this process; the pid covers other ones.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Every durable write of this process ([`write_atomic`], [`append_synced`],
/// record deletion) holds this shared; a backup holds it exclusively while
/// it hard-links the data dir, so its copy is one instant of the disk (see
/// `crate::backup`). A std lock: nothing async happens while it is held.
static WRITE_GATE: RwLock<()> = RwLock::new(());

/// Held by a writer for the duration of one durable write.
pub(crate) fn hold_write() -> RwLockReadGuard<'static, ()> {
    // The guarded data is `()`: a panicking holder cannot leave it broken.
    WRITE_GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps every durable write of this process out until dropped (waits for
/// the writes in flight to finish). Hold it briefly: writers block.
pub fn pause_writes() -> RwLockWriteGuard<'static, ()> {
    WRITE_GATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `mutex` even if a panicking holder poisoned it. Only for data that
/// a panic cannot leave half-changed; each caller says why its data is so.
/// Giving up instead would turn one panic into a failure of every later
/// caller (every scrape, every append).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Atomically replaces `path` with `bytes`, durably.
///
/// Writes a unique temp file in the same directory (rename is only atomic
/// within one file system), fsyncs it, renames it over `path`, then fsyncs
/// the directory so the rename itself survives a power cut. The directory
/// must already exist. Files are created 0600: records may hold user data.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let _writing = hold_write();
    replace(path, bytes, File::sync_all)?;
    sync_dir(parent_dir(path))
}

/// Replaces `path` with `bytes` atomically but without any fsync: for the
/// store's checkpoints, whose one `syncfs` afterwards makes every file
/// durable at once, while the write-ahead log covers a crash before it.
pub fn replace_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, |_| Ok(()))
}

/// Writes `bytes` to a unique temp file beside `path`, runs `sync` on it and
/// renames it over `path`; on failure the temp file is removed.
fn replace(path: &Path, bytes: &[u8], sync: fn(&File) -> io::Result<()>) -> io::Result<()> {
    let (temp, mut file) = create_temp(parent_dir(path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| sync(&file))
        .and_then(|()| fs::rename(&temp, path));
    if let Err(err) = written {
        // Best effort: a leftover would be removed by the next Store::open.
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    Ok(())
}

/// Creates a fresh temp file in `dir`, retrying if a stale one from an
/// earlier process with the same pid happens to have the same name.
fn create_temp(dir: &Path) -> io::Result<(std::path::PathBuf, File)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Fsyncs a directory so entries created, renamed or removed in it persist.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing ancestors (mode 0700), fsyncing each
/// parent whose entries changed so a new record's directory survives a
/// power cut along with the record. Cheap when `dir` already exists.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    ensure_dir_then(dir, &sync_dir)
}

/// [`ensure_dir`] with the parents' syncs made by `sync_parent` (now, or
/// kept for the end of a deferred scope).
pub(crate) fn ensure_dir_then(
    dir: &Path,
    sync_parent: &dyn Fn(&Path) -> io::Result<()>,
) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = parent_dir(dir);
    if parent != dir {
        ensure_dir_then(parent, sync_parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => sync_parent(parent),
        // Lost a race with another writer creating the same directory.
        Err(err) if err.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(err) => Err(err),
    }
}

/// Appends whole lines to a journal and makes them durable with `sync`
/// (`File::sync_data`, or a sync kept for the end of a deferred scope). If
/// that fails, cuts the file back to `good_len` (its last complete line,
/// best effort) so the next append does not glue onto a fragment.
pub fn append_synced(
    file: &mut File,
    good_len: u64,
    bytes: &[u8],
    sync: impl FnOnce(&File) -> io::Result<()>,
) -> io::Result<()> {
    let _writing = hold_write();
    let written = file.write_all(bytes).and_then(|()| sync(file));
    if written.is_err() {
        let _ = file.set_len(good_len);
    }
    written
}

/// Whether a directory entry is a store temp file.
pub fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// Removes leftover temp files directly inside `dir`; returns how many.
///
/// Only safe while no writer is active in `dir`, i.e. during `Store::open`
/// while holding the data-dir lock.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(is_temp) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Runs blocking file IO (reads, and writes that fsync) without stalling an
/// async runtime: on a multi-thread runtime the worker hands its other tasks
/// to another thread while it waits for the disk. Elsewhere it just runs.
/// Every component that fsyncs from async code goes through here.
pub fn blocking_io<T>(io: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(io)
    } else {
        io()
    }
}

/// Takes a non-blocking exclusive `flock` on `file`; `Ok(None)` when it is
/// held elsewhere. Each caller opens the file its own way and names the
/// holder in its own error.
///
/// `flock` locks belong to the open file description, so a second open of
/// the same file conflicts even inside one process, and the kernel drops
/// the lock when the file is closed or the process dies, so a crash never
/// leaves a stale lock.
pub(crate) fn try_lock(file: File) -> io::Result<Option<File>> {
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Takes an exclusive `flock` on `<dir>/LOCK` ([`super::LOCK_FILE`]) for
/// a single-writer journal (alert queue, audit trail); `owner` names it in
/// the error when another process or handle holds it.
pub fn lock_dir(dir: &Path, owner: &str) -> anyhow::Result<File> {
    use anyhow::Context as _;
    let path = dir.join(super::LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match try_lock(file).with_context(|| format!("locking {}", path.display()))? {
        Some(file) => Ok(file),
        None => anyhow::bail!("{} is in use by another {owner}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("nope/a.json"), b"x").is_err());
    }

    #[test]
    fn ensure_dir_creates_nested_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        ensure_dir(&nested).unwrap();
        ensure_dir(&nested).unwrap();
        assert!(nested.is_dir());
    }

    #[test]
    fn stale_temps_are_removed_and_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp-1-2"), b"partial").unwrap();
        fs::write(dir.path().join("doc.json"), b"{}").unwrap();
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(dir.path().join("doc.json").exists());
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 0);
    }
}
