//! Deferred durability: inside a scope, a record write returns as soon as it
//! is in the write-ahead log, and the scope waits once, at its end, for the
//! sync that covers them all.
//!
//! A conversation step used to wait for the disk once per record it wrote,
//! one after the other (a paid order writes the order, the payment request,
//! the ledger, the nodes, ...), so the last reply of a step waited for a
//! chain of syncs. What must hold is narrower: **nothing that leaves the
//! process may depend on a write that is not durable yet.** So within a
//! [`deferred`] scope (one update's handling, one background deployment)
//! writes only append; and every way out of the process waits first for a
//! barrier ([`super::Store::barrier`]) that covers every write made so far:
//!
//! - every message to a user (the service's outbox is wrapped in
//!   `service::barrier::BarrierOutbox`);
//! - every grid call that creates or cancels something (`grid::Barrier`),
//!   so a write-ahead intent is on disk before the contract it announces;
//! - the end of the scope itself, before the channel marks the update
//!   handled; the audit trails' lines (the global one's and the user's)
//!   appended in the scope are synced
//!   there too ([`sync_data_at_end`]), not one `fdatasync` per event.
//!
//! A `kill -9` loses nothing either way (the log's appends are in the page
//! cache, which outlives the process); a power cut may lose the last appends
//! of a scope that had not reached a barrier, and because the log is one
//! ordered file what it loses is a suffix: the store reads as it was a
//! moment earlier, a state a crash at that moment leaves, which recovery
//! handles, and no reply, contract or payment was built on the lost part.
//!
//! Outside a scope (operators' commands, the website's forms, the workers)
//! a write returns only once durable, as before.

use std::fs::File;
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{Store, lock};

tokio::task_local! {
    /// The scope's files whose `fdatasync` waits for its end.
    static DEFERRED: Arc<Mutex<Vec<File>>>;
}

/// Whether the current task is inside a [`deferred`] scope.
pub(crate) fn active() -> bool {
    DEFERRED.try_with(|_| ()).is_ok()
}

/// How many file syncs the current scope keeps for its end (tests).
#[cfg(test)]
pub(crate) fn kept_syncs() -> usize {
    DEFERRED.try_with(|files| lock(files).len()).unwrap_or(0)
}

/// Makes what was just appended to `file` durable: now outside a scope,
/// at the scope's end inside one. For the audit trails, a log of what
/// happened rather than state anything is decided on: a power cut can take
/// back the last lines of a scope that was cut short, never a line of a
/// scope that ended (and a `kill -9` none).
pub(crate) fn sync_data_at_end(file: &File) -> io::Result<()> {
    at_end_or(|| file.try_clone(), || file.sync_data())
}

/// Inside a scope, keeps the file `handle` gives for the scope's end (the
/// log's next sync makes it durable, see [`deferred`]); outside one, runs
/// `now`.
fn at_end_or(
    handle: impl FnOnce() -> io::Result<File>,
    now: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    match DEFERRED.try_with(Arc::clone) {
        Ok(files) => {
            let file = handle()?;
            lock(&files).push(file);
            Ok(())
        }
        Err(_) => now(),
    }
}

/// For a journal of its own with a group commit (the sandbox wallet's, the
/// simulated grid's): inside a scope, what was appended to `file` is made
/// durable by the log's sync at the scope's end (before the log's segment,
/// so a record written after the line is never durable without it), and
/// every barrier before that waits for it too; outside one, `wait` runs
/// now, off the async workers. Nothing leaves the process on a line that
/// is not durable either way: every way out waits for a barrier.
pub(crate) fn durable_at_scope_end(
    file: &File,
    wait: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    at_end_or(|| file.try_clone(), || super::blocking_io(wait))
}

/// Makes a directory's new entries durable: now outside a scope, with the
/// log's sync at the scope's end inside one (a new user's directory, the
/// name of a new audit trail).
pub(crate) fn sync_dir_at_end(dir: &Path) -> io::Result<()> {
    at_end_or(|| File::open(dir), || super::durable::sync_dir(dir))
}

/// Runs a single record's read or write: inline inside a deferred scope,
/// off the async workers outside one. Inside a scope a write only appends
/// to the log (a `write` into the page cache) and a read is served by the
/// log's overlay or a record file in the page cache, microseconds either
/// way; handing the worker's other tasks to another thread for that
/// (`block_in_place`) cost more than the IO: a thread wake-up and several
/// futex calls per record, at every step of every conversation
/// (docs/benchmarks.md). Outside a scope a write waits for its sync.
pub fn record_io<T>(io: impl FnOnce() -> T) -> T {
    if active() {
        io()
    } else {
        super::blocking_io(io)
    }
}

/// Runs `work` with deferred writes, then waits until every write made so
/// far is durable. An error of the barrier is returned as the scope's
/// error: the work's writes may then not be on disk, and nothing must say
/// they are.
pub async fn deferred<T>(
    store: &Store,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let files = Arc::new(Mutex::new(Vec::new()));
    let output = DEFERRED.scope(files.clone(), work).await;
    // The audit lines' files ride the log's next sync (before its segment).
    let files = std::mem::take(&mut *lock(&files));
    if !files.is_empty() {
        store.sync_with_next(files)?;
    }
    store.barrier().await?;
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_audit_lines_sync_waits_for_the_scopes_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("trail.jsonl");
        let mut file = super::super::AppendFile::open(&path).unwrap();
        deferred(&store, async {
            file.append_at_scope_end(b"{\"a\":1}\n").unwrap();
            file.append_at_scope_end(b"{\"a\":2}\n").unwrap();
            // Written (readable) now, its sync kept for the end.
            assert_eq!(std::fs::read(&path).unwrap().len(), 16);
            assert_eq!(DEFERRED.with(|files| lock(files).len()), 2);
            Ok(())
        })
        .await
        .unwrap();
        // Outside a scope it syncs at once and keeps nothing.
        file.append_at_scope_end(b"{\"a\":3}\n").unwrap();
        assert!(!active());
        assert_eq!(std::fs::read(&path).unwrap().len(), 24);
    }
}
