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
//!   handled.
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

use std::future::Future;

use super::{Store, StoreError};

tokio::task_local! {
    static DEFERRED: ();
}

/// Whether the current task is inside a [`deferred`] scope.
pub(crate) fn active() -> bool {
    DEFERRED.try_with(|()| ()).is_ok()
}

/// Runs `work` with deferred writes, then waits until every write made so
/// far is durable. An error of the barrier is returned as the scope's
/// error: the work's writes may then not be on disk, and nothing must say
/// they are.
pub async fn deferred<T>(
    store: &Store,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let output = DEFERRED.scope((), work).await;
    barrier(store).await?;
    output
}

/// Waits (off the async workers) until every write made so far is durable.
pub async fn barrier(store: &Store) -> Result<(), StoreError> {
    super::blocking_io(|| store.barrier())
}
