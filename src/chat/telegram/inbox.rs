//! Received updates, kept durably until handled, and per-user queues.
//!
//! Polling confirms a batch to Telegram with the next `getUpdates` call. To
//! poll again at once instead of waiting for the whole batch (which made all
//! users move in lockstep), every batch is first appended to a small journal
//! with fsync; the journal is cleared when every queue has drained, and
//! replayed at start. Replaying an update that was already handled is
//! harmless: the service ignores an update id it has seen for that user.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use teloxide::types::Update;

use crate::ids::UserId;

/// The journal of received, maybe unhandled, updates.
pub struct Inbox {
    path: PathBuf,
    /// Whether the journal may hold entries (so clearing can be skipped).
    dirty: Mutex<bool>,
}

impl Inbox {
    pub fn new(path: PathBuf) -> Inbox {
        Inbox {
            path,
            dirty: Mutex::new(true),
        }
    }

    /// The updates left from a previous run. A torn last line (a crash while
    /// appending) is skipped: that batch was never confirmed to Telegram, so
    /// Telegram delivers it again.
    pub fn load(&self) -> Vec<Update> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    pub fn append(&self, updates: &[Update]) -> std::io::Result<()> {
        let mut lines = String::new();
        for update in updates {
            lines.push_str(&serde_json::to_string(update).map_err(std::io::Error::other)?);
            lines.push('\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(lines.as_bytes())?;
        file.sync_data()?;
        if let Ok(mut dirty) = self.dirty.lock() {
            *dirty = true;
        }
        Ok(())
    }

    /// Empties the journal once everything in it was handled.
    pub fn clear(&self) -> std::io::Result<()> {
        let Ok(mut dirty) = self.dirty.lock() else {
            return Ok(());
        };
        if *dirty {
            crate::store::write_atomic(&self.path, b"")?;
            *dirty = false;
        }
        Ok(())
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
    /// `work` handles one item.
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

    #[test]
    fn the_journal_survives_a_torn_line_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::new(dir.path().join("inbox"));
        let update: Update = serde_json::from_str(
            r#"{"update_id":5,"message":{"message_id":1,"from":{"id":7,"is_bot":false,"first_name":"A"},"chat":{"id":7,"type":"private","first_name":"A"},"date":1754000000,"text":"/start"}}"#,
        )
        .unwrap();
        inbox.append(std::slice::from_ref(&update)).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("inbox"))
            .unwrap();
        file.write_all(b"{\"update_id\":6,\"mess").unwrap();
        let loaded = inbox.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id.0, 5);
        inbox.clear().unwrap();
        assert!(inbox.load().is_empty());
    }
}
