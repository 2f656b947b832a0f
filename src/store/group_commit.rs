//! Group commit: one fsync makes the writes of many callers durable at once.
//!
//! A journal shared by all users (the sandbox wallet's payments, the simulated
//! grid's events) used to append and fsync under its own lock, so with 100
//! users at once every payment waited for the fsyncs of all the payments
//! queued before it, one after the other. With a [`GroupCommit`] a writer
//! appends under its lock (a `write` into the page cache, microseconds), takes
//! a [`Ticket`] under the same lock, releases the lock and then waits in
//! [`GroupCommit::wait`] until a sync covers its ticket. The first waiter
//! finding no sync running becomes the leader: it notes how many writes are
//! registered, runs the sync once for all of them, and wakes them. Writers
//! that came while it synced are covered by the next leader's sync, which
//! starts as soon as the first one ends. So under load the number of fsyncs
//! follows the disk's pace, not the number of writers, and no writer returns
//! (no reply is sent) before its own write is durable.
//!
//! Why a write is covered: a writer takes its ticket only after its `write`
//! returned, and a leader reads the number of tickets before it calls the
//! sync, so every write whose ticket is at most that number is in the page
//! cache when the sync starts. The caller's lock makes ticket order the
//! order of the writes in the file, which the journal's recovery relies on
//! (a torn line can only be the last).
//!
//! A failed sync poisons the group for good: after a failed `fsync` Linux may
//! have dropped the dirty pages it could not write, so a later successful
//! sync proves nothing about them (the lesson of PostgreSQL's "fsyncgate").
//! Every write not yet known durable is then refused with the error, and
//! the owner is only usable again after a restart, whose recovery reads
//! what the disk really holds.
//!
//! Async waiters (a reply waiting for the store's barrier) must not hold a
//! thread each while the disk works: with 100 users at once that was a
//! blocked thread, a handed-off runtime worker and several futex wake-ups
//! per step. So a group can also be **served**: one thread ([`GroupCommit::serve`])
//! leads every sync an async waiter asks for ([`GroupCommit::wait_async`]),
//! and the waiters sleep on a `tokio::sync::watch` of the durable count, not
//! on threads. Blocking waiters and the serving thread share one leader
//! flag, so a group never runs two syncs at once.
//!
//! This is ours rather than a crate's: the crates that do group commit are
//! whole storage engines (sled, redb, fjall, okaywal) that would replace the
//! store's plain JSON records and journals, whose format the backup, the
//! crash test and operators read. The mechanism is a counter, a mutex and a
//! condition variable.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The position of one write in its group's order; see [`GroupCommit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Batches the syncs of concurrent writers to one file (or one directory).
#[derive(Debug)]
pub struct GroupCommit {
    progress: Mutex<Progress>,
    synced: Condvar,
    /// What async waiters sleep on: the durable count and whether a sync
    /// failed, sent after every sync.
    rounds: watch::Sender<Round>,
}

/// What a sync left: every ticket up to `durable` is durable; `failed` once
/// any sync failed (for good).
#[derive(Clone, Copy, Debug, Default)]
struct Round {
    durable: u64,
    failed: bool,
}

impl Default for GroupCommit {
    fn default() -> GroupCommit {
        GroupCommit {
            progress: Mutex::default(),
            synced: Condvar::new(),
            rounds: watch::Sender::new(Round::default()),
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    /// Tickets handed out so far: the newest one's number.
    written: u64,
    /// Every write whose ticket is at most this is durable.
    durable: u64,
    /// A leader is running a sync now.
    syncing: bool,
    /// Syncs run so far (for tests and the docs' claims).
    syncs: u64,
    /// Set by the first failed sync, for good (see the module doc).
    failed: Option<(io::ErrorKind, String)>,
    /// The newest ticket an async waiter waits for: the serving thread
    /// syncs while this is not durable.
    requested: u64,
    /// A thread is in [`GroupCommit::serve`].
    serving: bool,
    /// [`GroupCommit::stop_serving`] was called.
    stop: bool,
}

impl Progress {
    fn error(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|(kind, why)| {
            io::Error::new(
                *kind,
                format!("an earlier sync failed, so this write may not be durable: {why}"),
            )
        })
    }
}

impl GroupCommit {
    pub fn new() -> GroupCommit {
        GroupCommit::default()
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // Only counters and a flag, each set in one statement: a panic
        // cannot leave them half-changed.
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a write that has just been made (its `write` returned).
    /// Call it under the same lock as the write, so that tickets follow
    /// the order of the writes.
    pub fn ticket(&self) -> Ticket {
        let mut progress = self.progress();
        progress.written += 1;
        Ticket(progress.written)
    }

    /// A ticket covering every write registered so far, without
    /// registering one: for a reader that must not act on what is not yet
    /// durable. Waiting on it syncs only if some write is still pending.
    pub fn latest(&self) -> Ticket {
        Ticket(self.progress().written)
    }

    /// Whether the write of `ticket` is durable already.
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        self.progress().durable >= ticket.0
    }

    /// How many syncs have run (successful or not).
    pub fn syncs(&self) -> u64 {
        self.progress().syncs
    }

    /// Returns once the write of `ticket` is durable. When no sync is
    /// running and the write is not yet covered, this caller runs `sync`
    /// (which must make durable every write made before it is called: an
    /// `fdatasync` of the journal, an fsync of the directory) for all the
    /// writes registered so far; otherwise it waits for the running sync and
    /// leads the next one if that did not cover it. Blocking: call it off
    /// the async workers (`store::blocking_io`) and without the writer's
    /// lock, or the writers that would join the group cannot write.
    pub fn wait(&self, ticket: Ticket, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut sync = Some(sync);
        let mut progress = self.progress();
        loop {
            if progress.durable >= ticket.0 {
                return Ok(());
            }
            if let Some(e) = progress.error() {
                return Err(e);
            }
            if progress.syncing {
                progress = self
                    .synced
                    .wait(progress)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let result;
            (progress, result) = match sync.take() {
                Some(sync) => self.lead(progress, sync),
                // Unreachable: a caller leads at most once, because after its
                // sync `durable` covers its ticket or `failed` is set.
                None => return Err(io::Error::other("group commit led twice")),
            };
            result?;
        }
    }

    /// Runs one sync for everything registered so far, outside the lock so
    /// that the next writers can register meanwhile, and tells every kind
    /// of waiter. Called with no sync running.
    fn lead<'a>(
        &'a self,
        mut progress: MutexGuard<'a, Progress>,
        sync: impl FnOnce() -> io::Result<()>,
    ) -> (MutexGuard<'a, Progress>, io::Result<()>) {
        let target = progress.written;
        progress.syncing = true;
        drop(progress);
        let result = sync();
        let mut progress = self.progress();
        progress.syncing = false;
        progress.syncs += 1;
        match &result {
            Ok(()) => progress.durable = progress.durable.max(target),
            Err(e) => {
                if progress.failed.is_none() {
                    progress.failed = Some((e.kind(), e.to_string()));
                }
            }
        }
        self.rounds.send_replace(Round {
            durable: progress.durable,
            failed: progress.failed.is_some(),
        });
        self.synced.notify_all();
        (progress, result)
    }

    /// Leads the syncs async waiters ask for, with `sync` as in
    /// [`GroupCommit::wait`], until [`GroupCommit::stop_serving`]. Run it on
    /// a thread of its own; while it runs, [`GroupCommit::wait_async`]
    /// holds no thread.
    pub fn serve(&self, sync: impl Fn() -> io::Result<()>) {
        let mut progress = self.progress();
        progress.serving = true;
        loop {
            let pending = progress.requested > progress.durable && progress.failed.is_none();
            if pending && !progress.syncing {
                // A failed sync is kept in `failed` and told to the waiters.
                (progress, _) = self.lead(progress, &sync);
                continue;
            }
            // Stopping: only once no waiter that asked is left waiting.
            if progress.stop && !pending {
                progress.serving = false;
                self.synced.notify_all();
                return;
            }
            progress = self
                .synced
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Makes [`GroupCommit::serve`] return.
    pub fn stop_serving(&self) {
        self.progress().stop = true;
        self.synced.notify_all();
    }

    /// [`GroupCommit::wait`] for async code: asks the serving thread for a
    /// sync and sleeps until one covers `ticket`, holding no thread. With no
    /// thread serving the group (a store being closed, a test's bare log),
    /// it waits as [`GroupCommit::wait`] does, off the async workers.
    pub async fn wait_async(
        &self,
        ticket: Ticket,
        sync: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rounds = self.rounds.subscribe();
        {
            let mut progress = self.progress();
            if progress.durable >= ticket.0 {
                return Ok(());
            }
            if let Some(e) = progress.error() {
                return Err(e);
            }
            if progress.serving && !progress.stop {
                progress.requested = progress.requested.max(ticket.0);
                self.synced.notify_all();
            } else {
                drop(progress);
                return super::blocking_io(|| self.wait(ticket, sync));
            }
        }
        let woken = rounds
            .wait_for(|round| round.durable >= ticket.0 || round.failed)
            .await
            .map(|round| *round);
        match woken {
            Ok(round) if round.durable >= ticket.0 => Ok(()),
            // Failed, or (unreachable while `self` lives) the sender gone:
            // the blocking path reports the failure in its words.
            _ => super::blocking_io(|| self.wait(ticket, sync)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;

    #[test]
    fn a_lone_writer_syncs_once_and_is_durable() {
        let group = GroupCommit::new();
        let ticket = group.ticket();
        assert!(!group.is_durable(ticket));
        let mut calls = 0;
        group
            .wait(ticket, || {
                calls += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert!(group.is_durable(ticket));
        // Already covered: no second sync.
        group.wait(ticket, || panic!("synced again")).unwrap();
        assert_eq!(group.syncs(), 1);
    }

    #[test]
    fn the_latest_ticket_syncs_only_when_a_write_is_pending() {
        let group = GroupCommit::new();
        group
            .wait(group.latest(), || panic!("nothing written"))
            .unwrap();
        let ticket = group.ticket();
        let mut calls = 0;
        group
            .wait(group.latest(), || {
                calls += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert!(group.is_durable(ticket));
        group
            .wait(group.latest(), || panic!("all durable"))
            .unwrap();
    }

    #[test]
    fn one_sync_covers_every_write_registered_before_it() {
        let group = GroupCommit::new();
        let tickets: Vec<Ticket> = (0..5).map(|_| group.ticket()).collect();
        group.wait(tickets[0], || Ok(())).unwrap();
        for t in &tickets {
            assert!(group.is_durable(*t));
            group.wait(*t, || panic!("covered already")).unwrap();
        }
        assert_eq!(group.syncs(), 1);
    }

    #[test]
    fn a_write_after_the_sync_started_waits_for_the_next_one() {
        // The leader's sync is held open until a second writer registered;
        // that writer must not be released by the first sync.
        let group = Arc::new(GroupCommit::new());
        let first = group.ticket();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let leader = {
            let group = group.clone();
            std::thread::spawn(move || {
                group.wait(first, || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
            })
        };
        started_rx.recv().unwrap();
        let second = group.ticket();
        let (done_tx, done_rx) = mpsc::channel();
        let follower = {
            let group = group.clone();
            std::thread::spawn(move || {
                let mut led = false;
                let result = group.wait(second, || {
                    led = true;
                    Ok(())
                });
                done_tx.send(()).unwrap();
                (result, led)
            })
        };
        assert!(!group.is_durable(second));
        release_tx.send(()).unwrap();
        leader.join().unwrap().unwrap();
        done_rx.recv().unwrap();
        let (result, led) = follower.join().unwrap();
        result.unwrap();
        // The first sync did not cover it, so it led its own.
        assert!(led);
        assert!(group.is_durable(first) && group.is_durable(second));
        assert_eq!(group.syncs(), 2);
    }

    #[test]
    fn many_writers_share_few_syncs_and_none_returns_before_its_sync() {
        // Each writer "writes" (bumps `written`) then takes a ticket, like
        // a journal append under its lock; a sync records how many writes
        // were made when it started. Every writer must return only after a
        // sync that started after its write.
        let group = Arc::new(GroupCommit::new());
        let lock = Arc::new(Mutex::new(()));
        let written = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (group, lock, written, durable) = (
                    group.clone(),
                    lock.clone(),
                    written.clone(),
                    durable.clone(),
                );
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let (mine, ticket) = {
                            let _guard = lock.lock().unwrap();
                            (written.fetch_add(1, Ordering::SeqCst) + 1, group.ticket())
                        };
                        group
                            .wait(ticket, || {
                                let upto = written.load(Ordering::SeqCst);
                                std::thread::yield_now();
                                durable.fetch_max(upto, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                        assert!(durable.load(Ordering::SeqCst) >= mine);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(written.load(Ordering::SeqCst), 800);
        assert!(group.syncs() <= 800);
    }

    #[test]
    fn a_failed_sync_fails_its_writers_and_every_later_one() {
        let group = GroupCommit::new();
        let before = group.ticket();
        group.wait(before, || Ok(())).unwrap();
        let ticket = group.ticket();
        let err = group
            .wait(ticket, || Err(io::Error::other("disk on fire")))
            .unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        // Covered by the failed sync: refused without another try.
        let err = group.wait(ticket, || Ok(())).unwrap_err();
        assert!(err.to_string().contains("may not be durable"), "{err}");
        // Later writes too: the disk's state is unknown until a restart.
        let later = group.ticket();
        assert!(group.wait(later, || Ok(())).is_err());
        // What was durable before stays so.
        group.wait(before, || panic!("no sync needed")).unwrap();
    }

    /// A group served by a thread whose sync counts its calls and, when
    /// asked, fails.
    fn served(
        fail: bool,
    ) -> (
        Arc<GroupCommit>,
        Arc<AtomicU64>,
        std::thread::JoinHandle<()>,
    ) {
        let group = Arc::new(GroupCommit::new());
        let calls = Arc::new(AtomicU64::new(0));
        let thread = {
            let (group, calls) = (group.clone(), calls.clone());
            std::thread::spawn(move || {
                group.serve(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    if fail {
                        Err(io::Error::other("disk on fire"))
                    } else {
                        Ok(())
                    }
                })
            })
        };
        // `serve` has started once it is marked serving.
        while !group.progress().serving {
            std::thread::yield_now();
        }
        (group, calls, thread)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_waiters_share_the_serving_threads_syncs() {
        let (group, calls, thread) = served(false);
        // 200 waiters on a single-threaded runtime: they can only all be
        // waiting at once if none holds the thread while it waits.
        let waiters: Vec<_> = (0..200)
            .map(|_| {
                let group = group.clone();
                let ticket = group.ticket();
                tokio::spawn(async move {
                    group
                        .wait_async(ticket, || panic!("the serving thread syncs"))
                        .await
                        .unwrap();
                    assert!(group.is_durable(ticket));
                })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let syncs = calls.load(Ordering::SeqCst);
        assert!((1..200).contains(&syncs), "{syncs} syncs for 200 waiters");
        // Nothing pending: no sync.
        group
            .wait_async(group.latest(), || panic!("nothing written"))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), syncs);
        group.stop_serving();
        thread.join().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_serving_thread_an_async_waiter_leads_itself() {
        let group = GroupCommit::new();
        let ticket = group.ticket();
        let mut calls = 0;
        group
            .wait_async(ticket, || {
                calls += 1;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(calls, 1);
        assert!(group.is_durable(ticket));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_served_sync_fails_async_waiters_for_good() {
        let (group, _, thread) = served(true);
        let ticket = group.ticket();
        let err = group.wait_async(ticket, || Ok(())).await.unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
        let later = group.ticket();
        assert!(group.wait_async(later, || Ok(())).await.is_err());
        group.stop_serving();
        thread.join().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_serves_the_waiters_that_asked_first() {
        let group = Arc::new(GroupCommit::new());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = {
            let group = group.clone();
            std::thread::spawn(move || {
                group.serve(|| {
                    // The first sync holds until the test has asked to stop.
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
            })
        };
        while !group.progress().serving {
            std::thread::yield_now();
        }
        let first = group.ticket();
        let waiter = {
            let group = group.clone();
            tokio::spawn(async move { group.wait_async(first, || Ok(())).await })
        };
        started_rx.recv().unwrap();
        // Asked while the first sync runs: needs a second one.
        let second = group.ticket();
        let late = {
            let group = group.clone();
            tokio::spawn(async move { group.wait_async(second, || Ok(())).await })
        };
        while group.progress().requested < second.0 {
            tokio::task::yield_now().await;
        }
        group.stop_serving();
        drop(release_tx);
        waiter.await.unwrap().unwrap();
        late.await.unwrap().unwrap();
        thread.join().unwrap();
        assert!(group.is_durable(second));
    }
}
