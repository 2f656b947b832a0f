//! The global trail's writer: group commit and rotation.
//!
//! Every event goes to the global file, so its fsync is the one every
//! `record` waits for. Rather than queueing each caller behind the previous
//! caller's fsync, callers add their lines to a shared batch, and whoever
//! gets the file next writes and fsyncs the whole batch and acknowledges
//! everyone in it (group commit): under load, many events share one fsync.
//!
//! When the current file has grown past the rotation size it is renamed to
//! `global-<n>.jsonl` (n one more than the largest there) and a fresh
//! `global.jsonl` is started. Rotated files are kept.

use std::io;
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::tail::{GLOBAL_FILE, rotated_files};
use crate::store::{AppendFile, lock, sync_dir};

/// How one batch went; an error as text because every caller in the batch
/// gets a copy.
type Outcome = Result<(), String>;

pub(super) struct Global {
    root: PathBuf,
    rotate_bytes: u64,
    /// Lines waiting for the next write. A std mutex held only to move
    /// bytes, never across IO.
    batch: Mutex<Batch>,
    /// Held while writing and fsyncing; whoever holds it writes the batch.
    current: Mutex<Current>,
}

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    waiters: Vec<Arc<OnceLock<Outcome>>>,
}

struct Current {
    /// `None` after a rotation whose fresh file could not be opened yet.
    file: Option<AppendFile>,
    /// The number the next rotated file gets.
    next: u64,
}

impl Global {
    pub fn open(root: &Path, rotate_bytes: u64) -> io::Result<Global> {
        let next = rotated_files(root)?.last().map_or(1, |(n, _)| n + 1);
        let file = AppendFile::open(&root.join(GLOBAL_FILE))?;
        Ok(Global {
            root: root.to_owned(),
            rotate_bytes,
            batch: Mutex::new(Batch::default()),
            current: Mutex::new(Current {
                file: Some(file),
                next,
            }),
        })
    }

    /// Appends whole lines durably; returns once they are fsynced.
    ///
    /// Inside a `store::deferred` scope (one update's handling) the lines
    /// are written at once and their sync waits for the scope's end, with
    /// the rest of the scope's writes, instead of a group commit of its own.
    pub fn append(&self, bytes: &[u8]) -> anyhow::Result<()> {
        if crate::store::deferring() {
            let mut current = lock(&self.current);
            return self
                .write(&mut current, bytes, AppendFile::append_at_scope_end)
                .map_err(|e| anyhow::anyhow!("{e}"));
        }
        let mine = Arc::new(OnceLock::new());
        {
            let mut batch = lock(&self.batch);
            batch.bytes.extend_from_slice(bytes);
            batch.waiters.push(Arc::clone(&mine));
        }
        let mut current = lock(&self.current);
        // Whoever held the file before may have written our lines already.
        // If not, they are still in the batch: a writer acknowledges all it
        // took before letting go of the file.
        if mine.get().is_none() {
            let batch = mem::take(&mut *lock(&self.batch));
            let outcome = self.write(&mut current, &batch.bytes, AppendFile::append);
            for waiter in batch.waiters {
                let _ = waiter.set(outcome.clone());
            }
        }
        drop(current);
        match mine.get() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
            None => unreachable!("the batch holding these lines was written"),
        }
    }

    /// Appends `bytes` to the current file with `append` (synced now, or at
    /// the end of the caller's deferred scope), rotating when it is full.
    fn write(
        &self,
        current: &mut Current,
        bytes: &[u8],
        append: fn(&mut AppendFile, &[u8]) -> io::Result<()>,
    ) -> Outcome {
        let path = self.root.join(GLOBAL_FILE);
        let file = match &mut current.file {
            Some(file) => file,
            slot @ None => slot.insert(
                AppendFile::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?,
            ),
        };
        append(file, bytes).map_err(|e| format!("appending to {}: {e}", path.display()))?;
        if file.len() >= self.rotate_bytes
            && let Err(e) = self.rotate(current)
        {
            // The lines are durable; rotation is retried after the next append.
            tracing::warn!(root = %self.root.display(), error = %e,
                "cannot rotate the global audit trail");
        }
        Ok(())
    }

    fn rotate(&self, current: &mut Current) -> io::Result<()> {
        let Some(file) = &current.file else {
            return Ok(());
        };
        let to = self.root.join(format!("global-{}.jsonl", current.next));
        // Under the write gate, so a backup sees the file before or after.
        let writing = crate::store::hold_write();
        std::fs::rename(file.path(), &to)?;
        drop(writing);
        // From here on the open descriptor is the rotated file: never append
        // to it again.
        current.file = None;
        current.next += 1;
        sync_dir(&self.root)?;
        tracing::info!(to = %to.display(), "rotated the global audit trail");
        current.file = Some(AppendFile::open(&self.root.join(GLOBAL_FILE))?);
        Ok(())
    }
}
