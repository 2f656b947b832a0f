//! Per-user async locks that serialise all operations of one user.
//!
//! Design choice: a map of `Weak` handles rather than striped mutexes.
//! Striping (N mutexes hashed by user) is simpler but makes unrelated users
//! contend, and deadlocks if code ever holds two users' locks at once and
//! both hash to the same stripe. With `Weak` entries each user gets their
//! own mutex while someone holds or waits for it; dead entries are pruned
//! whenever the map has doubled since the last prune, so memory stays
//! proportional to the users *currently* locked, not to all 100,000 users,
//! at amortised O(1) cost per lock.
//!
//! Holding two users' locks is still only safe in a consistent order
//! (e.g. sorted by `UserId`), as with any pair of mutexes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::ids::UserId;

/// Never prune below this size: pruning tiny maps would just churn.
const MIN_PRUNE_AT: usize = 1024;

/// Cheap-to-clone handle to the shared per-user lock table.
#[derive(Clone, Default)]
pub struct UserLocks {
    inner: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    map: HashMap<UserId, Weak<AsyncMutex<()>>>,
    /// Prune when the map reaches this many entries.
    prune_at: usize,
}

impl UserLocks {
    pub fn new() -> UserLocks {
        UserLocks::default()
    }

    /// Waits until no one else holds `user`'s lock, then holds it until
    /// the guard is dropped.
    pub async fn lock(&self, user: &UserId) -> OwnedMutexGuard<()> {
        self.mutex_for(user).lock_owned().await
    }

    /// The mutex for `user`, created on first use. The std mutex is held
    /// only for this map lookup, never across an `.await`.
    fn mutex_for(&self, user: &UserId) -> Arc<AsyncMutex<()>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (each operation is a single insert/retain), so poison is ignored.
        let mut table = super::lock(&self.inner);
        if let Some(existing) = table.map.get(user).and_then(Weak::upgrade) {
            return existing;
        }
        if table.map.len() >= table.prune_at.max(MIN_PRUNE_AT) {
            table.map.retain(|_, weak| weak.strong_count() > 0);
            table.prune_at = table.map.len() * 2;
        }
        let mutex = Arc::new(AsyncMutex::new(()));
        table.map.insert(user.clone(), Arc::downgrade(&mutex));
        mutex
    }

    /// Number of entries in the table (live or not yet pruned).
    #[cfg(test)]
    fn table_len(&self) -> usize {
        self.inner.lock().map(|t| t.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn user(n: usize) -> UserId {
        UserId::parse(&format!("term:u{n}")).unwrap()
    }

    #[tokio::test]
    async fn same_user_is_serialised_other_users_are_not() {
        let locks = UserLocks::new();
        let guard = locks.lock(&user(1)).await;
        // Another user is not blocked.
        let _other = locks.lock(&user(2)).await;
        // The same user is blocked until the guard is dropped.
        let clone = locks.clone();
        let waiter = tokio::spawn(async move { clone.lock(&user(1)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn lock_future_is_send_so_it_works_in_spawned_tasks() {
        fn assert_send<T: Send>(_: &T) {}
        let locks = UserLocks::new();
        let id = user(1);
        assert_send(&locks.lock(&id));
    }

    #[tokio::test]
    async fn table_does_not_grow_without_bound() {
        let locks = UserLocks::new();
        for n in 0..50_000 {
            drop(locks.lock(&user(n)).await);
        }
        assert!(
            locks.table_len() <= 2 * MIN_PRUNE_AT,
            "{}",
            locks.table_len()
        );
    }
}
