//! Received updates, kept durably until handled, and per-user queues.
//!
//! Polling confirms a batch to Telegram with the next `getUpdates` call. To
//! poll again at once instead of waiting for the whole batch (which made all
//! users move in lockstep), every update of a batch is first written to the
//! inbox directory, one file per update, and each file is removed as soon as
//! its update has been handled (per update, whatever the other users'
//! queues hold). A restart therefore replays exactly the updates that were
//! not handled; replaying one whose handling a crash cut short is harmless
//! because the service ignores an update id it has seen for that user and
//! every step that moves money is idempotent.
//!
//! A message may answer a secret question (a private key, a passphrase), so
//! each file is sealed with the master key like every other secret at rest,
//! lives only until its update is handled, and the directory is left out of
//! backups (a copy there would outlive the handling).
//!
//! Disk cost: a batch of updates is kept with one fsync per file, run
//! together, and one directory fsync (`store::write_atomic_all`), and the
//! removals of handled updates share their directory fsyncs (a
//! [`GroupCommit`]: one sync covers every removal made before it started),
//! all off the async workers.
//!
//! A callback query is answered once: when the answer went through the file
//! is renamed from `.upd` to `.ans`, and a replayed update whose file says
//! so is not answered again.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use teloxide::types::Update;

use crate::crypto::{MasterKey, Sealed};
use crate::ids::UserId;
use crate::store::{GroupCommit, blocking_io};

/// The directory of the inbox, in the data dir (not backed up).
pub const INBOX_DIR: &str = "telegram-inbox";
/// The journal earlier versions kept (raw JSON lines); read once, then removed.
pub const LEGACY_JOURNAL: &str = "telegram-inbox.jsonl";
/// Extension of a received update whose callback query, if any, was not
/// (known to be) answered.
const RECEIVED: &str = "upd";
/// Extension of a received update whose callback query was answered.
const ANSWERED: &str = "ans";

/// An update left from a previous run.
pub struct Leftover {
    pub update: Update,
    /// Its callback query was answered then; do not answer it again.
    pub answered: bool,
}

/// The received, not yet handled, updates: one sealed file each.
pub struct Inbox {
    dir: PathBuf,
    master: Arc<MasterKey>,
    /// Shares the directory fsyncs of removals (see [`Inbox::done`]).
    removals: GroupCommit,
}

impl Inbox {
    /// Opens (or creates) the inbox in `data_dir`, removing temp files a
    /// crash left behind.
    pub fn open(data_dir: &Path, master: Arc<MasterKey>) -> std::io::Result<Inbox> {
        let dir = data_dir.join(INBOX_DIR);
        crate::store::ensure_dir(&dir)?;
        crate::store::remove_stale_temps(&dir)?;
        Ok(Inbox {
            dir,
            master,
            removals: GroupCommit::new(),
        })
    }

    fn file(&self, id: u32, extension: &str) -> PathBuf {
        self.dir.join(format!("{id:010}.{extension}"))
    }

    /// The updates left from a previous run, oldest first. A file that does
    /// not open (sealed under another master key, or damaged) is dropped
    /// with a warning; so is the journal of earlier versions, after its
    /// updates were moved in here, sealed.
    pub fn load(&self) -> Vec<Leftover> {
        self.adopt_legacy_journal();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut leftovers = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let answered = match path.extension().and_then(|e| e.to_str()) {
                Some(RECEIVED) => false,
                Some(ANSWERED) => true,
                _ => continue,
            };
            match self.read(&path) {
                Some(update) => leftovers.push(Leftover { update, answered }),
                None => {
                    tracing::warn!(file = %path.display(), "dropping an unreadable Telegram inbox file");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        leftovers.sort_by_key(|l| l.update.id.0);
        leftovers
    }

    fn read(&self, path: &Path) -> Option<Update> {
        let bytes = std::fs::read(path).ok()?;
        let sealed: Sealed = serde_json::from_slice(&bytes).ok()?;
        let plain = self.master.open(&sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// Moves the updates of an earlier version's raw journal in here,
    /// sealed, and removes the journal.
    fn adopt_legacy_journal(&self) {
        let Some(legacy) = self.dir.parent().map(|d| d.join(LEGACY_JOURNAL)) else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(&legacy) else {
            return;
        };
        // A torn last line was never confirmed to Telegram, which sends it again.
        let updates: Vec<Update> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        match self.append(&updates) {
            Ok(()) => {
                if let Err(e) = std::fs::remove_file(&legacy) {
                    tracing::warn!(error = %e, "could not remove the old Telegram inbox journal");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not move the old Telegram inbox journal")
            }
        }
    }

    /// Keeps `updates` durably (sealed), before they are confirmed to
    /// Telegram: one file each, all synced together. Blocking (runs through
    /// `store::blocking_io`).
    pub fn append(&self, updates: &[Update]) -> std::io::Result<()> {
        let mut files = Vec::with_capacity(updates.len());
        for update in updates {
            let json =
                zeroize::Zeroizing::new(serde_json::to_vec(update).map_err(std::io::Error::other)?);
            let sealed =
                serde_json::to_vec(&self.master.seal(&json)).map_err(std::io::Error::other)?;
            files.push((self.file(update.id.0, RECEIVED), sealed));
        }
        blocking_io(|| crate::store::write_atomic_all(&self.dir, &files))
    }

    /// Notes that update `id`'s callback query was answered. Best effort:
    /// if this is lost, a replay answers once more, which Telegram refuses
    /// harmlessly. The update may be handled (and its file gone) already.
    pub fn answered(&self, id: u32) {
        match std::fs::rename(self.file(id, RECEIVED), self.file(id, ANSWERED)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => tracing::debug!(error = %e, "could not mark a callback query answered"),
        }
    }

    /// Forgets update `id`: it has been handled. The directory is synced so
    /// a restart after a crash does not bring the update back; removals made
    /// at the same moment for other users share that sync. Blocking (runs
    /// through `store::blocking_io`).
    pub fn done(&self, id: u32) {
        blocking_io(|| self.remove(id));
    }

    fn remove(&self, id: u32) {
        let mut removed = false;
        // `answered` renames atomically, so the file has one of the two
        // names at any moment; trying both in this order never misses it.
        for extension in [RECEIVED, ANSWERED] {
            match std::fs::remove_file(self.file(id, extension)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, update = id, "could not remove a handled update from the Telegram inbox")
                }
            }
        }
        if !removed {
            return;
        }
        let ticket = self.removals.ticket();
        if let Err(e) = self
            .removals
            .wait(ticket, || crate::store::sync_dir(&self.dir))
        {
            tracing::warn!(error = %e, "could not sync the Telegram inbox");
        }
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

    #[test]
    fn updates_are_sealed_and_leave_one_by_one_when_handled() {
        let dir = tempfile::tempdir().unwrap();
        let master = Arc::new(MasterKey::from_bytes([7; 32]));
        let inbox = Inbox::open(dir.path(), master.clone()).unwrap();
        let secret = "correct horse battery staple";
        inbox
            .append(&[update(5, secret), update(6, "/start"), update(7, "/help")])
            .unwrap();
        // Sealed: neither the text nor the JSON around it is on disk.
        for name in files(dir.path()) {
            let bytes = std::fs::read(dir.path().join(INBOX_DIR).join(&name)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("correct horse") && !text.contains("update_id"),
                "{text}"
            );
        }
        inbox.answered(6);
        inbox.done(5);
        assert_eq!(files(dir.path()), ["0000000006.ans", "0000000007.upd"]);
        // A restart replays the two not handled, oldest first, and knows
        // which callback query was answered.
        let again = Inbox::open(dir.path(), master).unwrap();
        let left = again.load();
        assert_eq!(
            left.iter().map(|l| l.update.id.0).collect::<Vec<_>>(),
            [6, 7]
        );
        assert_eq!(
            left.iter().map(|l| l.answered).collect::<Vec<_>>(),
            [true, false]
        );
        again.done(6);
        again.done(7);
        again.done(7); // twice is harmless
        assert!(files(dir.path()).is_empty());
        assert!(again.load().is_empty());
    }

    #[test]
    fn unreadable_files_are_dropped_and_the_old_journal_is_moved_in_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), Arc::new(MasterKey::from_bytes([1; 32]))).unwrap();
        inbox.append(&[update(3, "/start")]).unwrap();
        // Another master key cannot open it.
        let other = Inbox::open(dir.path(), Arc::new(MasterKey::from_bytes([2; 32]))).unwrap();
        let mut legacy = serde_json::to_string(&update(9, "0xsecret")).unwrap();
        legacy.push_str("\n{\"update_id\":10,\"mess");
        std::fs::write(dir.path().join(LEGACY_JOURNAL), legacy).unwrap();
        let left = other.load();
        assert_eq!(left.iter().map(|l| l.update.id.0).collect::<Vec<_>>(), [9]);
        assert!(!dir.path().join(LEGACY_JOURNAL).exists());
        assert_eq!(files(dir.path()), ["0000000009.upd"]);
        let bytes = std::fs::read(dir.path().join(INBOX_DIR).join("0000000009.upd")).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("0xsecret"));
    }
}
