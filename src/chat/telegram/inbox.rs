//! Received updates, kept durably until handled, and per-user queues.
//!
//! Polling confirms a batch to Telegram with the next `getUpdates` call. To
//! poll again at once instead of waiting for the whole batch (which made all
//! users move in lockstep), every update of a batch is first appended to the
//! inbox's journal, and marked handled as soon as it has been handled (per
//! update, whatever the other users' queues hold). A restart therefore
//! replays exactly the updates that were received and not marked handled,
//! oldest first; replaying one whose handling a crash cut short is harmless
//! because the service ignores an update id it has seen for that user and
//! every step that moves money is idempotent.
//!
//! The journal (`telegram-inbox/segment-<n>.jsonl`, see `journal.rs`) is a
//! few append-only segment files of JSON lines: a received update (sealed),
//! "answered" (its callback query was answered) and "done" (handled).
//!
//! - **A batch is durable before it is confirmed**: its entries go out in one
//!   `write` and one `fdatasync` (plus a directory fsync when the batch
//!   starts a new segment), and [`Inbox::append`] returns only then.
//! - **Markers are not synced**: "answered" and "done" are one small `write`
//!   each, made durable by the next batch's sync if nothing else. Losing one
//!   in a power cut only replays a handled update into the service's
//!   update-id de-duplication, or answers a callback query a second time,
//!   which Telegram refuses harmlessly ("query is too old", teloxide-core's
//!   `ApiError::InvalidQueryId`), so no fsync is
//!   spent on them and the hot path never waits for the disk after a reply.
//! - **A torn tail is dropped**: the append it belongs to never returned, so
//!   its batch was not confirmed and Telegram sends it again. A damaged line,
//!   or an update sealed under another master key, is skipped with a warning.
//! - **Bounded**: a batch that finds the current segment at 4 MiB starts a
//!   new one and carries into it, in the same write and sync, the updates
//!   still pending (with their answered flag); the older segments are
//!   deleted once that sync returned. Carrying costs a copy of the few
//!   updates in flight once per 4 MiB, where keeping old segments until
//!   their last update is handled would let one slow handling pin a whole
//!   segment and make recovery merge many. When every update received has
//!   been handled the segments are deleted (nothing is needed from them), so
//!   an idle inbox is an empty directory and nothing typed lingers on disk.
//! - At load, everything left (the segments of the previous run, and the
//!   formats of earlier versions, `legacy.rs`) is read, the updates not
//!   handled are written into one new segment (synced), and the old files
//!   are deleted.
//!
//! A message may answer a secret question (a private key, a passphrase), so
//! each update is sealed with the master key like every other secret at rest;
//! only its update id is in clear. The directory is left out of backups (a
//! copy there would outlive the handling).
//!
//! Disk cost, counted with `strace -f -c` on the `file_operations_per_update`
//! test (500 updates in 50 batches, every other one answered, handled by 4
//! threads, the inbox never empty between batches as under load). One file
//! per update (before): 500 new inodes, 700 renames, 500 unlinks (and 500
//! failed ones), 879 fsyncs (file and directory) and 510 writes. This
//! journal: 1 new inode, no rename, 1 unlink, 50 `fdatasync`s (one per
//! batch) and 1 directory fsync, 759 small writes (a batch, an "answered",
//! a "done"). Per update: 1 inode, 1.4 renames, 1 unlink and
//! 1.8 syncs before; 0.002, 0, 0.002 and 0.1 now.

mod journal;
mod legacy;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use teloxide::types::Update;

use crate::crypto::{MasterKey, Sealed};
use crate::ids::UserId;
use crate::store::{blocking_io, sync_dir};
use journal::{Record, Segment};

/// The directory of the inbox, in the data dir (not backed up).
pub const INBOX_DIR: &str = "telegram-inbox";
/// The journal earlier versions kept (raw JSON lines); read once, then removed.
pub use legacy::JOURNAL as LEGACY_JOURNAL;

/// A batch that finds the current segment this big starts a new one.
const SEGMENT_LIMIT: u64 = 4 * 1024 * 1024;

/// An update left from a previous run.
pub struct Leftover {
    pub update: Update,
    /// Its callback query was answered then; do not answer it again.
    pub answered: bool,
}

/// The received, not yet handled, updates, in an append-only journal.
pub struct Inbox {
    dir: PathBuf,
    master: Arc<MasterKey>,
    /// Segments numbered below this one are from earlier runs (`load`).
    first_seq: u64,
    segment_limit: u64,
    state: Mutex<State>,
    /// One batch at a time (the poll loop is the only writer anyway), so a
    /// batch's segment is the newest until its sync returned.
    appending: Mutex<()>,
    /// Makes the next batch's sync fail, as a disk would.
    #[cfg(test)]
    fail_sync: std::sync::atomic::AtomicBool,
}

/// What the journal of this run holds.
struct State {
    /// Segments written to in this run, by number; the last is current.
    segments: BTreeMap<u64, Segment>,
    next_seq: u64,
    /// Updates received and not handled, by update id.
    pending: HashMap<u32, Pending>,
    /// Receipt order, to carry and replay oldest first.
    next_order: u64,
    /// `fdatasync`s and directory fsyncs run (for the tests).
    syncs: u64,
}

struct Pending {
    /// The segment holding it, where its markers go.
    seq: u64,
    order: u64,
    answered: bool,
    /// Kept to carry it into a new segment without reading the old one.
    sealed: Sealed,
}

/// One update to write: id, answered, sealed.
type Entry = (u32, bool, Sealed);

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change to the state completes in a few statements without a
    // call that may panic in between; a poisoned lock still holds whole data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inbox {
    /// Opens (or creates) the inbox in `data_dir`, removing temp files a
    /// crash of an earlier version left behind. Call [`Inbox::load`] next.
    pub fn open(data_dir: &Path, master: Arc<MasterKey>) -> io::Result<Inbox> {
        let dir = data_dir.join(INBOX_DIR);
        crate::store::ensure_dir(&dir)?;
        crate::store::remove_stale_temps(&dir)?;
        let first_seq = journal::segments(&dir)?
            .last()
            .map_or(1, |(seq, _)| seq.saturating_add(1));
        Ok(Inbox {
            dir,
            master,
            first_seq,
            segment_limit: SEGMENT_LIMIT,
            state: Mutex::new(State {
                segments: BTreeMap::new(),
                next_seq: first_seq,
                pending: HashMap::new(),
                next_order: 0,
                syncs: 0,
            }),
            appending: Mutex::new(()),
            #[cfg(test)]
            fail_sync: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        guard(&self.state)
    }

    fn seal(&self, update: &Update) -> io::Result<Sealed> {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(update).map_err(io::Error::other)?);
        Ok(self.master.seal(&json))
    }

    fn unseal(&self, sealed: &Sealed) -> Option<Update> {
        let plain = self.master.open(sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// The updates left from a previous run (or an earlier version's
    /// inbox), oldest first, now kept in a new segment of this run; the old
    /// files are removed. An entry that does not open (sealed under another
    /// master key, or damaged) is dropped with a warning. Blocking.
    pub fn load(&self) -> Vec<Leftover> {
        let mut replay = Replay::default();
        let mut old_files: Vec<PathBuf> = Vec::new();
        if let Some(journal) = self.dir.parent().map(|d| d.join(LEGACY_JOURNAL))
            && let Some(updates) = legacy::journal_updates(&journal)
        {
            for update in updates {
                match self.seal(&update) {
                    Ok(sealed) => replay.received(update.id.0, false, sealed, update),
                    Err(e) => {
                        tracing::warn!(error = %e, "dropping an update of the old Telegram inbox journal")
                    }
                }
            }
            old_files.push(journal);
        }
        for file in legacy::update_files(&self.dir) {
            match file
                .sealed
                .as_ref()
                .and_then(|s| Some((s, self.unseal(s)?)))
            {
                Some((sealed, update)) => {
                    replay.received(file.id, file.answered, sealed.clone(), update)
                }
                None => {
                    tracing::warn!(file = %file.path.display(), "dropping an unreadable Telegram inbox file")
                }
            }
            old_files.push(file.path);
        }
        let segments = journal::segments(&self.dir).unwrap_or_default();
        for (_, path) in segments
            .into_iter()
            .filter(|(seq, _)| *seq < self.first_seq)
        {
            let records = match journal::read_segment(&path) {
                Ok(records) => records,
                Err(e) => {
                    // Kept for the next start: it may hold updates.
                    tracing::warn!(file = %path.display(), error = %e, "cannot read a Telegram inbox segment");
                    continue;
                }
            };
            for record in records {
                match record {
                    Record::Update {
                        id,
                        answered,
                        sealed,
                    } => match self.unseal(&sealed) {
                        Some(update) => replay.received(id, answered, sealed, update),
                        None => {
                            tracing::warn!(update = id, file = %path.display(), "dropping an unreadable Telegram inbox entry")
                        }
                    },
                    Record::Answered { id } => replay.answered(id),
                    Record::Done { id } => replay.done(id),
                }
            }
            old_files.push(path);
        }
        let left = replay.into_ordered();
        let entries: Vec<Entry> = left
            .iter()
            .map(|r| (r.update.id.0, r.answered, r.sealed.clone()))
            .collect();
        match self.write_batch(entries, true) {
            Ok(()) => self.remove_old(&old_files),
            // Then the old files stay, and the next start replays them again
            // (into the service's de-duplication).
            Err(e) => {
                tracing::warn!(error = %e, "could not move the Telegram inbox's leftovers into a new segment")
            }
        }
        left.into_iter()
            .map(|r| Leftover {
                update: r.update,
                answered: r.answered,
            })
            .collect()
    }

    fn remove_old(&self, files: &[PathBuf]) {
        if files.is_empty() {
            return;
        }
        for path in files {
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "could not remove an old Telegram inbox file");
            }
        }
        // Once, so that the next start does not read them again (which would
        // only replay into the de-duplication).
        if let Err(e) = blocking_io(|| sync_dir(&self.dir)) {
            tracing::warn!(error = %e, "could not sync the Telegram inbox");
        }
    }

    /// Keeps `updates` durably (sealed), before they are confirmed to
    /// Telegram: one write and one sync for the batch. Blocking (the sync
    /// runs through `store::blocking_io`). On an error nothing of the batch
    /// counts as kept: the caller handles it before confirming it.
    pub fn append(&self, updates: &[Update]) -> io::Result<()> {
        let entries = updates
            .iter()
            .map(|update| Ok((update.id.0, false, self.seal(update)?)))
            .collect::<io::Result<Vec<Entry>>>()?;
        self.write_batch(entries, false)
    }

    /// Appends `entries` to the current segment, or to a new one (with every
    /// pending update carried over) when there is none, it is full or
    /// broken, or `fresh`; then syncs. Returns once they are durable.
    fn write_batch(&self, entries: Vec<Entry>, fresh: bool) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let _one_batch = guard(&self.appending);
        let ids: Vec<u32> = entries.iter().map(|(id, _, _)| *id).collect();
        let (file, seq, name_it) = {
            let mut state = self.state();
            let current = state.segments.last_key_value().map(|(seq, s)| (*seq, s));
            let (seq, created) = match current {
                Some((seq, s)) if !fresh && !s.broken && s.len < self.segment_limit => (seq, false),
                _ => (state.next_seq, true),
            };
            let mut bytes = Vec::new();
            let mut carried: Vec<(u32, u64)> = Vec::new();
            if created {
                let mut pending: Vec<(&u32, &Pending)> = state.pending.iter().collect();
                pending.sort_by_key(|(_, p)| p.order);
                for (id, p) in pending {
                    bytes.extend(
                        Record::Update {
                            id: *id,
                            answered: p.answered,
                            sealed: p.sealed.clone(),
                        }
                        .line()?,
                    );
                    carried.push((*id, p.seq));
                }
            }
            for (id, answered, sealed) in &entries {
                bytes.extend(
                    Record::Update {
                        id: *id,
                        answered: *answered,
                        sealed: sealed.clone(),
                    }
                    .line()?,
                );
            }
            if created {
                let segment = Segment::create(&self.dir, seq)?;
                state.next_seq = seq.saturating_add(1);
                state.segments.insert(seq, segment);
            }
            let Some(segment) = state.segments.get_mut(&seq) else {
                return Err(io::Error::other("the inbox segment vanished"));
            };
            // On failure nothing moved: the carried updates are still
            // counted in their old segments, which stay.
            segment.write(&bytes)?;
            let (file, name_it) = (segment.file.clone(), !segment.named);
            for (id, from) in carried {
                state.move_pending(id, from, seq);
            }
            for (id, answered, sealed) in entries {
                state.add_pending(id, seq, answered, sealed);
            }
            (file, seq, name_it)
        };
        let synced = blocking_io(|| {
            #[cfg(test)]
            if self
                .fail_sync
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                return Err(io::Error::other("injected sync failure"));
            }
            file.sync_data()?;
            if name_it {
                // So the new segment's name survives a power cut.
                sync_dir(&self.dir)?;
            }
            Ok::<(), io::Error>(())
        });
        let mut state = self.state();
        state.syncs += 1 + u64::from(name_it);
        if let Err(e) = synced {
            // After a failed sync the file's pages may be lost: write no more
            // to it; the next batch starts a new segment and carries over.
            if let Some(segment) = state.segments.get_mut(&seq) {
                segment.broken = true;
            }
            // The caller handles the batch before confirming it, without
            // marking it done here: it must not stay pending.
            for id in ids {
                if let Some(p) = state.pending.remove(&id)
                    && let Some(segment) = state.segments.get_mut(&p.seq)
                {
                    segment.pending = segment.pending.saturating_sub(1);
                }
            }
            return Err(e);
        }
        if let Some(segment) = state.segments.get_mut(&seq) {
            segment.named = true;
        }
        // An older segment with nothing pending is not needed: its updates
        // are handled or were carried into this one, durable now.
        let spent: Vec<u64> = state
            .segments
            .range(..seq)
            .filter(|(_, s)| s.pending == 0)
            .map(|(s, _)| *s)
            .collect();
        let paths: Vec<PathBuf> = spent
            .into_iter()
            .filter_map(|s| state.segments.remove(&s).map(|s| s.path))
            .collect();
        drop(state);
        remove_files(&paths);
        Ok(())
    }

    /// Notes that update `id`'s callback query was answered. Best effort,
    /// not synced: if this is lost, a replay answers once more, which
    /// Telegram refuses harmlessly. The update may be handled already.
    pub fn answered(&self, id: u32) {
        let mut state = self.state();
        let State {
            segments, pending, ..
        } = &mut *state;
        let Some(p) = pending.get_mut(&id) else {
            return;
        };
        p.answered = true;
        if let Some(segment) = segments.get_mut(&p.seq)
            && let Err(e) = (Record::Answered { id })
                .line()
                .and_then(|line| segment.write(&line))
        {
            tracing::debug!(error = %e, "could not mark a callback query answered");
        }
    }

    /// Forgets update `id`: it has been handled. Not synced (see the module
    /// doc): one small write, or, when it was the last update pending, the
    /// removal of the segments.
    pub fn done(&self, id: u32) {
        let mut state = self.state();
        let Some(p) = state.pending.remove(&id) else {
            return;
        };
        if state.pending.is_empty() {
            // Everything received is handled. A batch being synced is
            // pending, so its segment is never among these.
            let paths: Vec<PathBuf> = std::mem::take(&mut state.segments)
                .into_values()
                .map(|s| s.path)
                .collect();
            drop(state);
            remove_files(&paths);
            return;
        }
        if let Some(segment) = state.segments.get_mut(&p.seq) {
            segment.pending = segment.pending.saturating_sub(1);
            if let Err(e) = (Record::Done { id })
                .line()
                .and_then(|line| segment.write(&line))
            {
                tracing::debug!(error = %e, update = id, "could not mark an update handled in the Telegram inbox");
            }
        }
    }

    #[cfg(test)]
    fn with_segment_limit(mut self, bytes: u64) -> Inbox {
        self.segment_limit = bytes;
        self
    }

    #[cfg(test)]
    fn syncs(&self) -> u64 {
        self.state().syncs
    }
}

impl State {
    fn add_pending(&mut self, id: u32, seq: u64, answered: bool, sealed: Sealed) {
        let order = self.next_order;
        self.next_order += 1;
        let before = self.pending.insert(
            id,
            Pending {
                seq,
                order,
                answered,
                sealed,
            },
        );
        if let Some(before) = before
            && let Some(segment) = self.segments.get_mut(&before.seq)
        {
            segment.pending = segment.pending.saturating_sub(1);
        }
        if let Some(segment) = self.segments.get_mut(&seq) {
            segment.pending += 1;
        }
    }

    fn move_pending(&mut self, id: u32, from: u64, to: u64) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.seq = to;
        }
        if let Some(segment) = self.segments.get_mut(&from) {
            segment.pending = segment.pending.saturating_sub(1);
        }
        if let Some(segment) = self.segments.get_mut(&to) {
            segment.pending += 1;
        }
    }
}

/// Unlinks files no longer needed, without a directory sync: if a crash
/// loses the removal, their updates replay into the de-duplication.
fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "could not remove a Telegram inbox segment");
        }
    }
}

/// The updates of old files, read in the order they were written: an
/// update stays in its first place, its flag set by any "answered", and
/// leaves at a "done" (a later receipt of the same id is new).
#[derive(Default)]
struct Replay {
    entries: HashMap<u32, Replayed>,
    next: u64,
}

struct Replayed {
    order: u64,
    answered: bool,
    sealed: Sealed,
    update: Update,
}

impl Replay {
    fn received(&mut self, id: u32, answered: bool, sealed: Sealed, update: Update) {
        if let Some(entry) = self.entries.get_mut(&id) {
            // A copy carried into a newer segment whose older one was not
            // removed yet: the same update.
            entry.answered |= answered;
            return;
        }
        self.next += 1;
        self.entries.insert(
            id,
            Replayed {
                order: self.next,
                answered,
                sealed,
                update,
            },
        );
    }

    fn answered(&mut self, id: u32) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.answered = true;
        }
    }

    fn done(&mut self, id: u32) {
        self.entries.remove(&id);
    }

    fn into_ordered(self) -> Vec<Replayed> {
        let mut left: Vec<Replayed> = self.entries.into_values().collect();
        left.sort_by_key(|r| r.order);
        left
    }
}

/// Per-user FIFO queues: one user's updates run in order, users in parallel.
pub struct Queues<T> {
    queues: Mutex<HashMap<UserId, VecDeque<T>>>,
    idle: tokio::sync::Notify,
}

impl<T: Send + 'static> Queues<T> {
    pub fn new() -> Arc<Queues<T>> {
        Arc::new(Queues {
            queues: Mutex::new(HashMap::new()),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// Queues `item`; starts a worker for the user unless one is running.
    /// `work` handles one item; the worker started by the first push keeps
    /// using its `work` for every item queued while it runs (a later push's
    /// `work` is dropped), so `work` must take all it needs from the item.
    pub fn push<F, Fut>(self: &Arc<Self>, user: UserId, item: T, work: F)
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let Ok(mut queues) = self.queues.lock() else {
            return;
        };
        if let Some(queue) = queues.get_mut(&user) {
            queue.push_back(item);
            return;
        }
        queues.insert(user.clone(), VecDeque::from([item]));
        let this = self.clone();
        tokio::spawn(async move {
            // The user's entry stays (maybe empty) while an item is being
            // handled, so a push meanwhile joins this worker's queue.
            loop {
                let next = {
                    let Ok(mut queues) = this.queues.lock() else {
                        return;
                    };
                    match queues.get_mut(&user).and_then(VecDeque::pop_front) {
                        Some(item) => item,
                        None => {
                            queues.remove(&user);
                            if queues.is_empty() {
                                this.idle.notify_waiters();
                            }
                            return;
                        }
                    }
                };
                work(next).await;
            }
        });
    }

    pub fn is_idle(&self) -> bool {
        self.queues.lock().map(|q| q.is_empty()).unwrap_or(true)
    }

    /// Waits until every queue has drained.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.is_idle() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_users_items_run_in_order_and_users_in_parallel() {
        let queues: Arc<Queues<(usize, u32)>> = Queues::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicUsize::new(0));
        for i in 0..20u32 {
            for user in 0..3usize {
                let (seen, running) = (seen.clone(), running.clone());
                let id = UserId::parse(&format!("tg:{user}")).unwrap();
                queues.push(id, (user, i), move |(u, n)| {
                    let (seen, running) = (seen.clone(), running.clone());
                    async move {
                        running.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        seen.lock().unwrap().push((u, n));
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        }
        queues.wait_idle().await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 60);
        for user in 0..3 {
            let order: Vec<u32> = seen
                .iter()
                .filter(|(u, _)| *u == user)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(order, (0..20).collect::<Vec<_>>());
        }
        assert!(queues.is_idle());
    }

    fn update(id: u32, text: &str) -> Update {
        serde_json::from_value(serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": 1,
                "from": {"id": 7, "is_bot": false, "first_name": "A"},
                "chat": {"id": 7, "type": "private", "first_name": "A"},
                "date": 1754000000,
                "text": text
            }
        }))
        .unwrap()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(INBOX_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The poll loop's pattern under load, for counting file operations
    /// per update (`strace -f -c` on this test; see the module doc): 50
    /// batches of 10 updates, every other one answered, handled by 4
    /// threads, the last of each batch only after the next batch arrived
    /// (so the inbox is never empty between batches, as under load).
    fn busy_workload(inbox: &Arc<Inbox>) {
        let mut late = None;
        for batch in 0..50u32 {
            let ids: Vec<u32> = (batch * 10 + 1..=batch * 10 + 10).collect();
            let updates: Vec<Update> = ids.iter().map(|&i| update(i, "/help")).collect();
            inbox.append(&updates).unwrap();
            if let Some(id) = late.replace(ids[9]) {
                inbox.done(id);
            }
            std::thread::scope(|s| {
                for worker in 0..4 {
                    let ids = ids[..9].to_vec();
                    s.spawn(move || {
                        for id in ids.into_iter().skip(worker).step_by(4) {
                            if id % 2 == 0 {
                                inbox.answered(id);
                            }
                            inbox.done(id);
                        }
                    });
                }
            });
        }
        if let Some(id) = late {
            inbox.done(id);
        }
    }

    #[test]
    fn file_operations_per_update() {
        let dir = tempfile::tempdir().unwrap();
        let inbox =
            Arc::new(Inbox::open(dir.path(), Arc::new(MasterKey::from_bytes([7; 32]))).unwrap());
        busy_workload(&inbox);
        // One fdatasync per batch, and one directory fsync for the only
        // segment: the inbox was never empty between batches.
        assert_eq!(inbox.syncs(), 51);
        assert!(files(dir.path()).is_empty());
        assert!(inbox.load().is_empty());
    }

    /// Every file of the inbox, read as text.
    fn disk_text(dir: &Path) -> String {
        files(dir)
            .iter()
            .map(|name| {
                let bytes = std::fs::read(dir.join(INBOX_DIR).join(name)).unwrap();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    fn ids(left: &[Leftover]) -> Vec<u32> {
        left.iter().map(|l| l.update.id.0).collect()
    }

    fn flags(left: &[Leftover]) -> Vec<bool> {
        left.iter().map(|l| l.answered).collect()
    }

    fn key(byte: u8) -> Arc<MasterKey> {
        Arc::new(MasterKey::from_bytes([byte; 32]))
    }

    fn segment_path(dir: &Path) -> PathBuf {
        let names = files(dir);
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(journal::segment_seq(&names[0]).is_some(), "{names:?}");
        dir.join(INBOX_DIR).join(&names[0])
    }

    /// The first 30 characters of each line of a segment: enough to see
    /// which update a line carries and its answered flag.
    fn line_starts(segment: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(segment).unwrap();
        text.lines().map(|l| l[..30].to_owned()).collect()
    }

    /// A callback query update (a button press). From text: teloxide reads
    /// an update's fields in Telegram's order (`update_id` first), which a
    /// `json!` map (sorted keys) does not keep.
    fn press(id: u32) -> Update {
        serde_json::from_str(&format!(
            r#"{{"update_id":{id},"callback_query":{{"id":"{id}","from":{{"id":7,"is_bot":false,"first_name":"A"}},"chat_instance":"1","data":"pay"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn updates_are_sealed_and_leave_one_by_one_when_handled() {
        let dir = tempfile::tempdir().unwrap();
        let master = key(7);
        let inbox = Inbox::open(dir.path(), master.clone()).unwrap();
        let secret = "correct horse battery staple";
        inbox
            .append(&[update(5, secret), update(6, "/start"), update(7, "/help")])
            .unwrap();
        // Sealed: neither the text nor the JSON around it is on disk.
        let text = disk_text(dir.path());
        assert!(
            !text.contains("correct horse") && !text.contains("update_id"),
            "{text}"
        );
        inbox.answered(6);
        inbox.done(5);
        // One segment: the batch and its two markers, appended.
        let lines = std::fs::read_to_string(segment_path(dir.path())).unwrap();
        assert_eq!(lines.lines().count(), 5, "{lines}");
        assert!(
            lines.ends_with("{\"answered\":{\"id\":6}}\n{\"done\":{\"id\":5}}\n"),
            "{lines}"
        );
        // A restart replays the two not handled, oldest first, and knows
        // which callback query was answered.
        drop(inbox);
        let again = Inbox::open(dir.path(), master).unwrap();
        let left = again.load();
        assert_eq!(ids(&left), [6, 7]);
        assert_eq!(flags(&left), [true, false]);
        again.done(6);
        again.done(7);
        again.done(7); // twice is harmless
        assert!(files(dir.path()).is_empty());
        assert!(again.load().is_empty());
    }

    #[test]
    fn unreadable_files_are_dropped_and_the_old_journal_is_moved_in_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(1)).unwrap();
        inbox.append(&[update(3, "/start")]).unwrap();
        // Another master key cannot open it.
        let other = Inbox::open(dir.path(), key(2)).unwrap();
        let mut legacy = serde_json::to_string(&update(9, "0xsecret")).unwrap();
        legacy.push_str("\n{\"update_id\":10,\"mess");
        std::fs::write(dir.path().join(LEGACY_JOURNAL), legacy).unwrap();
        let left = other.load();
        assert_eq!(ids(&left), [9]);
        assert!(!dir.path().join(LEGACY_JOURNAL).exists());
        // Only the new segment, holding update 9 sealed.
        let text = std::fs::read_to_string(segment_path(dir.path())).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("{\"update\":{\"id\":9,"), "{text}");
        assert!(!text.contains("0xsecret"), "{text}");
    }

    #[test]
    fn a_batch_costs_one_sync_and_markers_none() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7)).unwrap();
        inbox
            .append(&[update(1, "a"), update(2, "b"), update(3, "c")])
            .unwrap();
        // The batch's fdatasync and, as it made the segment, the directory's.
        assert_eq!(inbox.syncs(), 2);
        inbox.answered(1);
        inbox.done(1);
        inbox.answered(2);
        inbox.done(2);
        assert_eq!(inbox.syncs(), 2);
        inbox.append(&[update(4, "d"), update(5, "e")]).unwrap();
        assert_eq!(inbox.syncs(), 3);
        assert_eq!(files(dir.path()).len(), 1);
        // The markers were written even though not synced.
        drop(inbox);
        let again = Inbox::open(dir.path(), key(7)).unwrap();
        assert_eq!(ids(&again.load()), [3, 4, 5]);
    }

    #[test]
    fn the_leftovers_of_a_restart_survive_another_one() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7)).unwrap();
        inbox.append(&[press(1), update(2, "x"), press(3)]).unwrap();
        inbox.answered(3);
        inbox.answered(1);
        inbox.done(1);
        drop(inbox);
        for _ in 0..2 {
            // Each start moves them into one new segment, flags and all.
            let again = Inbox::open(dir.path(), key(7)).unwrap();
            let left = again.load();
            assert_eq!(ids(&left), [2, 3]);
            assert_eq!(flags(&left), [false, true]);
            assert!(matches!(
                left[1].update.kind,
                teloxide::types::UpdateKind::CallbackQuery(_)
            ));
            segment_path(dir.path());
        }
    }

    #[test]
    fn a_torn_tail_is_dropped_and_a_damaged_entry_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7)).unwrap();
        inbox.append(&[update(1, "a"), update(2, "b")]).unwrap();
        inbox.append(&[update(3, "c")]).unwrap();
        drop(inbox);
        let path = segment_path(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Update 2's entry damaged (one byte of its sealed text changed),
        // then a crash in the middle of the next batch's append.
        let damaged = lines[1].replacen("\"sealed\":\"", "\"sealed\":\"A", 1);
        let mut torn = format!("{}\n{damaged}\n{}\n", lines[0], lines[2]);
        torn.push_str(&lines[0][..lines[0].len() / 2]);
        std::fs::write(&path, torn).unwrap();
        let again = Inbox::open(dir.path(), key(7)).unwrap();
        assert_eq!(ids(&again.load()), [1, 3]);
        // The tail is gone with the old segment: the new one is whole.
        let text = std::fs::read_to_string(segment_path(dir.path())).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 2, "{text}");
        again.append(&[update(4, "d")]).unwrap();
        drop(again);
        let third = Inbox::open(dir.path(), key(7)).unwrap();
        assert_eq!(ids(&third.load()), [1, 3, 4]);
    }

    #[test]
    fn a_full_segment_is_left_for_a_new_one_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        // Every batch finds the segment full.
        let inbox = Inbox::open(dir.path(), key(7))
            .unwrap()
            .with_segment_limit(1);
        inbox
            .append(&[press(1), update(2, "b"), update(3, "c")])
            .unwrap();
        let first = segment_path(dir.path());
        inbox.answered(1);
        inbox.done(2);
        inbox.append(&[update(4, "d")]).unwrap();
        // The pending updates were carried into the new segment, with the
        // answered flag; the old one is gone.
        let second = segment_path(dir.path());
        assert_ne!(first, second);
        assert_eq!(
            line_starts(&second),
            [
                "{\"update\":{\"id\":1,\"answered\":t",
                "{\"update\":{\"id\":3,\"answered\":f",
                "{\"update\":{\"id\":4,\"answered\":f",
            ]
        );
        inbox.done(3);
        inbox.append(&[update(5, "e")]).unwrap();
        assert_ne!(segment_path(dir.path()), second);
        drop(inbox);
        let again = Inbox::open(dir.path(), key(7)).unwrap();
        let left = again.load();
        assert_eq!(ids(&left), [1, 4, 5]);
        assert_eq!(flags(&left), [true, false, false]);
    }

    #[test]
    fn a_crash_before_the_old_segment_is_deleted_replays_each_update_once() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7))
            .unwrap()
            .with_segment_limit(1);
        inbox.append(&[update(1, "a"), update(2, "b")]).unwrap();
        let first = segment_path(dir.path());
        let kept = std::fs::read(&first).unwrap();
        inbox.append(&[update(3, "c")]).unwrap();
        inbox.done(1);
        drop(inbox);
        // As if the removal of the first segment had not reached the disk.
        std::fs::write(&first, kept).unwrap();
        let again = Inbox::open(dir.path(), key(7)).unwrap();
        assert_eq!(ids(&again.load()), [2, 3]);
    }

    #[test]
    fn a_failed_sync_keeps_nothing_of_its_batch_and_the_next_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7)).unwrap();
        inbox.append(&[press(1), update(2, "b")]).unwrap();
        inbox.answered(1);
        let first = segment_path(dir.path());
        inbox
            .fail_sync
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let err = inbox.append(&[update(3, "c")]).unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        // Update 3 is the caller's to handle now: nothing waits for it, and
        // the segment is written to no more.
        inbox.append(&[update(4, "d")]).unwrap();
        let second = segment_path(dir.path());
        assert_ne!(first, second);
        assert_eq!(
            line_starts(&second),
            [
                "{\"update\":{\"id\":1,\"answered\":t",
                "{\"update\":{\"id\":2,\"answered\":f",
                "{\"update\":{\"id\":4,\"answered\":f",
            ]
        );
        inbox.done(1);
        inbox.done(2);
        inbox.done(4);
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn the_inbox_is_empty_once_everything_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), key(7)).unwrap();
        inbox.append(&[update(1, "a"), update(2, "b")]).unwrap();
        inbox.done(2);
        inbox.append(&[update(3, "c")]).unwrap();
        inbox.done(1);
        assert_eq!(files(dir.path()).len(), 1);
        inbox.done(3);
        assert!(files(dir.path()).is_empty());
        // The next batch starts a new segment.
        inbox.append(&[update(4, "d")]).unwrap();
        drop(inbox);
        assert_eq!(ids(&Inbox::open(dir.path(), key(7)).unwrap().load()), [4]);
    }

    #[test]
    fn the_per_update_files_of_the_previous_version_are_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let master = key(7);
        let inbox_dir = dir.path().join(INBOX_DIR);
        std::fs::create_dir_all(&inbox_dir).unwrap();
        // As the previous version wrote them: the update's JSON sealed,
        // stored as a JSON string, named by update id; `.ans` once answered.
        let old = |id: u32, update: &Update, extension: &str| {
            let sealed = master.seal(&serde_json::to_vec(update).unwrap());
            std::fs::write(
                inbox_dir.join(format!("{id:010}.{extension}")),
                serde_json::to_vec(&sealed).unwrap(),
            )
            .unwrap();
        };
        old(12, &update(12, "my passphrase"), "upd");
        old(11, &press(11), "ans");
        std::fs::write(inbox_dir.join("0000000013.upd"), b"garbage").unwrap();
        std::fs::write(inbox_dir.join(".tmp-1-2"), b"partial").unwrap();
        let mut legacy = serde_json::to_string(&update(4, "older still")).unwrap();
        legacy.push('\n');
        std::fs::write(dir.path().join(LEGACY_JOURNAL), legacy).unwrap();

        let inbox = Inbox::open(dir.path(), master.clone()).unwrap();
        let left = inbox.load();
        assert_eq!(ids(&left), [4, 11, 12]);
        assert_eq!(flags(&left), [false, true, false]);
        // Only the journal is left, sealed.
        segment_path(dir.path());
        assert!(!dir.path().join(LEGACY_JOURNAL).exists());
        let text = disk_text(dir.path());
        assert!(
            !text.contains("passphrase") && !text.contains("older still"),
            "{text}"
        );
        inbox.done(11);
        drop(inbox);
        let again = Inbox::open(dir.path(), master).unwrap();
        let left = again.load();
        assert_eq!(ids(&left), [4, 12]);
        assert_eq!(flags(&left), [false, false]);
    }
}
