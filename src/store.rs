//! Durable filesystem store for per-user and global records.
//!
//! Layout under the data dir:
//!
//! ```text
//! LOCK                              exclusive lock, holds the owner's pid
//! CLEAN_SHUTDOWN                    exists only between a clean close and the next open
//! users/<shard>/<user dir>/<doc>.json   per-user records (256 shards)
//! global/<name>.json                global records
//! global/<dir>/<name>.json          global records grouped one level deep
//!
//! wal/<n>.wal                       the write-ahead log's segments (see `wal.rs`)
//! ```
//!
//! Sharding keeps directories at a few hundred entries even with 100,000
//! users. Every record is a JSON envelope `{"schema": N, "data": ...}`. A
//! write is durable in the write-ahead log when it returns, one fsync shared
//! by every writer of that moment, and reaches its record file at the next
//! checkpoint, replaced whole (temp file and rename), so a record file is
//! always one whole version and a crash replays the log. Only one process
//! may use a data dir at a time; within the process, [`UserLocks`]
//! serialises each user's operations.

mod append;
mod deferred;
mod durable;
mod envelope;
mod error;
mod group_commit;
mod locks;
mod names;
#[cfg(test)]
mod tests;
mod wal;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::UserId;

pub(crate) use append::{AppendFile, complete_len};
#[cfg(test)]
pub(crate) use deferred::kept_syncs;
pub(crate) use deferred::{active as deferring, durable_at_scope_end};
pub use deferred::{deferred, record_io};
pub use durable::{
    append_synced, blocking_io, ensure_dir, is_temp, lock_dir, pause_writes, remove_stale_temps,
    sync_dir, write_atomic,
};
pub(crate) use durable::{hold_write, lock, try_lock};
pub use envelope::SCHEMA_VERSION;
pub use error::StoreError;
pub use group_commit::{GroupCommit, Ticket};
pub use locks::UserLocks;
pub use wal::{CheckpointPolicy, WAL_DIR};

use wal::Wal;

/// Whether `name` may be a document or global record name as it is.
pub fn is_valid_name(name: &str) -> bool {
    names::check_doc(name).is_ok()
}

/// Name of the lock file in the data dir, and in the directory of each
/// single-writer journal (see [`lock_dir`]).
pub const LOCK_FILE: &str = "LOCK";
const USERS_DIR: &str = "users";
const GLOBAL_DIR: &str = "global";
const RECORD_EXT: &str = ".json";

/// Present only while no Store is open and the last one closed cleanly.
pub const CLEAN_MARKER: &str = "CLEAN_SHUTDOWN";

/// Handle to an open data dir; holds the data-dir lock until dropped.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// The kernel releases the `flock` when this is closed (drop or crash).
    /// None for a read-only store, which takes no lock.
    _lock: Option<File>,
    /// Set once `open` fully succeeded; only then may `Drop` vouch that no
    /// temp files were left behind.
    mark_clean_on_drop: bool,
    /// Every record write goes through it; reads look in it first.
    wal: Arc<Wal>,
    /// Runs the log's checkpoints, and leads the syncs async barriers ask
    /// for; none for a read-only store.
    threads: Vec<JoinHandle<()>>,
    /// Record directories known to exist (users' directories are never
    /// removed while the store is open), so a write checks its directory
    /// once per process, not with a `stat` every time.
    dirs: Mutex<HashSet<PathBuf>>,
}

impl Store {
    /// Opens (creating if needed) the data dir and takes its exclusive lock.
    ///
    /// If the previous process did not shut down cleanly (no
    /// `CLEAN_SHUTDOWN` marker), also removes temp files left by
    /// interrupted writes. That walks every user directory, the price of
    /// keeping temp files next to their records for atomic rename (measured
    /// for 100,000 users on a 2-core VM: 0.6 s warm, up to ~9 s with a cold
    /// cache under load). After a clean shutdown (the `Store` was dropped)
    /// the walk is skipped and opening takes well under a millisecond.
    /// Holding the lock guarantees that no writer is active during the walk.
    ///
    /// What a crash left in the write-ahead log is then written to the
    /// record files (`wal.rs`), and a thread starts that checkpoints the log.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(data_dir, CheckpointPolicy::default())
    }

    /// [`Store::open`] with another checkpoint policy (tests, benches).
    pub fn open_with(data_dir: &Path, policy: CheckpointPolicy) -> Result<Store, StoreError> {
        durable::ensure_dir(data_dir).map_err(StoreError::io(data_dir))?;
        let lock = take_lock(data_dir)?;
        for dir in [data_dir.join(USERS_DIR), data_dir.join(GLOBAL_DIR)] {
            durable::ensure_dir(&dir).map_err(StoreError::io(&dir))?;
        }
        // Remove the marker durably *before* any write, so a crash during
        // this run is always followed by a cleanup walk.
        let marker = data_dir.join(CLEAN_MARKER);
        let was_clean = match fs::remove_file(&marker) {
            Ok(()) => {
                durable::sync_dir(data_dir).map_err(StoreError::io(data_dir))?;
                true
            }
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(StoreError::io(&marker)(err)),
        };
        if !was_clean {
            let removed = remove_stale_record_temps(data_dir)?;
            if removed > 0 {
                tracing::info!(removed, "removed temp files left by interrupted writes");
            }
        }
        let wal_dir = data_dir.join(WAL_DIR);
        let wal = Wal::open(data_dir, policy).map_err(StoreError::io(&wal_dir))?;
        let mut store = Store {
            root: data_dir.to_owned(),
            _lock: Some(lock),
            mark_clean_on_drop: false,
            wal,
            threads: Vec::new(),
            dirs: Mutex::default(),
        };
        // A failed spawn drops `store`, which stops the thread started.
        for (name, work) in [
            ("store-checkpoint", Wal::run_checkpoints as fn(&Wal)),
            ("store-sync", Wal::serve_syncs),
        ] {
            let wal = store.wal.clone();
            let thread = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || work(&wal))
                .map_err(StoreError::io(&wal_dir))?;
            store.threads.push(thread);
        }
        store.mark_clean_on_drop = true;
        Ok(store)
    }

    /// Returns once every record written so far (by any task) is durable:
    /// what a reply, a grid call or the end of a [`deferred`] scope waits
    /// for. At once when nothing is pending; the wait holds no thread (the
    /// store's sync thread leads the sync and wakes it).
    pub async fn barrier(&self) -> Result<(), StoreError> {
        self.wal
            .barrier()
            .await
            .map_err(StoreError::io(self.root.join(WAL_DIR)))
    }

    /// Has the log's next sync make `files` durable too (the audit trails'
    /// lines of a deferred scope); the next barrier waits for it.
    pub(crate) fn sync_with_next(&self, files: Vec<File>) -> Result<(), StoreError> {
        self.wal
            .sync_with_next(files)
            .map_err(StoreError::io(self.root.join(WAL_DIR)))
    }

    /// Whether every record written so far is durable (nothing waits for a
    /// barrier): for tests and checks of the barrier's users.
    pub fn all_durable(&self) -> bool {
        self.wal.all_durable()
    }

    /// Writes every record the write-ahead log holds to its file and makes
    /// them durable (the checkpoint thread does this at least every 30 s; a
    /// clean close does it too). Returns how many records it wrote.
    pub fn checkpoint(&self) -> Result<usize, StoreError> {
        self.writable()?;
        self.wal
            .checkpoint()
            .map_err(StoreError::io(self.root.join(WAL_DIR)))
    }

    /// Opens an existing data dir for reading only, without its lock, so
    /// operators can inspect it while the service runs (`jukebox admin`).
    /// Every record read is whole (record files are replaced by renames,
    /// and the write-ahead log's segments are read as they are, so a write
    /// the running process has not checkpointed yet is seen too); a report
    /// spanning many users may mix moments. Writes fail with `ReadOnly`.
    pub fn open_read_only(data_dir: &Path) -> Result<Store, StoreError> {
        let users = data_dir.join(USERS_DIR);
        if !users.is_dir() {
            return Err(StoreError::io(&users)(std::io::Error::new(
                ErrorKind::NotFound,
                "not a Jukebox data dir (no users directory)",
            )));
        }
        let wal = Wal::read_only(data_dir).map_err(StoreError::io(data_dir.join(WAL_DIR)))?;
        Ok(Store {
            root: data_dir.to_owned(),
            _lock: None,
            mark_clean_on_drop: false,
            wal,
            threads: Vec::new(),
            dirs: Mutex::default(),
        })
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self._lock.is_none() {
            return Err(StoreError::ReadOnly(self.root.clone()));
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/users/<shard>/<dir_name>`.
    pub fn user_dir(&self, id: &UserId) -> PathBuf {
        self.users_root().join(id.shard()).join(id.dir_name())
    }

    pub fn user_exists(&self, id: &UserId) -> bool {
        self.user_dir(id).is_dir()
    }

    /// Reads `<user_dir>/<doc>.json`; `Ok(None)` if it does not exist.
    pub fn read<T: DeserializeOwned>(
        &self,
        user: &UserId,
        doc: &str,
    ) -> Result<Option<T>, StoreError> {
        names::check_doc(doc)?;
        self.read_rel(&user_rel(user, doc), doc)
    }

    /// Atomically writes `<user_dir>/<doc>.json`, creating the user dir.
    pub fn write<T: Serialize>(
        &self,
        user: &UserId,
        doc: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.writable()?;
        names::check_doc(doc)?;
        self.write_rel(&user_rel(user, doc), value)
    }

    /// Deletes a user record; deleting a missing record is not an error.
    pub fn delete(&self, user: &UserId, doc: &str) -> Result<(), StoreError> {
        self.writable()?;
        names::check_doc(doc)?;
        self.delete_rel(&user_rel(user, doc))
    }

    /// Reads `<root>/global/<name>.json`; `name` may be `dir/leaf`.
    pub fn read_global<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        names::check_global(name)?;
        self.read_rel(&global_rel(name), name)
    }

    /// Atomically writes `<root>/global/<name>.json`, creating `dir/` if needed.
    pub fn write_global<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        self.writable()?;
        names::check_global(name)?;
        self.write_rel(&global_rel(name), value)
    }

    /// Deletes a global record; deleting a missing record is not an error.
    pub fn delete_global(&self, name: &str) -> Result<(), StoreError> {
        self.writable()?;
        names::check_global(name)?;
        self.delete_rel(&global_rel(name))
    }

    /// Sorted names of the records in `global/<dir>/` (`""` lists the
    /// top-level global records). A missing directory lists as empty.
    pub fn list_global(&self, dir: &str) -> Result<Vec<String>, StoreError> {
        let (path, prefix) = if dir.is_empty() {
            (self.global_root(), format!("{GLOBAL_DIR}/"))
        } else {
            names::check_doc(dir)?;
            (self.global_root().join(dir), format!("{GLOBAL_DIR}/{dir}/"))
        };
        let record = |name: &str| {
            name.strip_suffix(RECORD_EXT)
                .filter(|stem| names::check_doc(stem).is_ok())
                .map(str::to_owned)
        };
        let mut found = std::collections::BTreeSet::new();
        for (name, is_dir) in list_dir(&path)? {
            if let Some(stem) = record(&name).filter(|_| !is_dir) {
                found.insert(stem);
            }
        }
        // What the log knows is newer than the files: written or deleted.
        for (rel, version) in self.wal.under(&prefix) {
            let Some(stem) = rel
                .strip_prefix(&prefix)
                .filter(|n| !n.contains('/'))
                .and_then(record)
            else {
                continue;
            };
            match version {
                Some(_) => found.insert(stem),
                None => found.remove(&stem),
            };
        }
        Ok(found.into_iter().collect())
    }

    /// Every user with a directory, sorted. Entries that are not valid
    /// shard or user directory names (temp files, stray files) are skipped.
    pub fn list_users(&self) -> Result<Vec<UserId>, StoreError> {
        let mut users = Vec::new();
        for shard in self.shards()? {
            let shard_dir = self.users_root().join(&shard);
            for (name, is_dir) in list_dir(&shard_dir)? {
                let Ok(id) = UserId::from_dir_name(&name) else {
                    continue;
                };
                if !is_dir {
                    continue; // a stray file with a user-like name
                }
                // A dir in the wrong shard would be invisible to `user_dir`;
                // listing it would make callers act on a user they can't read.
                if id.shard() != shard || id.dir_name() != name {
                    tracing::warn!(dir = %shard_dir.join(&name).display(), "ignoring misplaced user directory");
                    continue;
                }
                users.push(id);
            }
        }
        users.sort();
        Ok(users)
    }

    fn users_root(&self) -> PathBuf {
        self.root.join(USERS_DIR)
    }

    fn global_root(&self) -> PathBuf {
        self.root.join(GLOBAL_DIR)
    }

    /// Reads the record at `rel`: the log's newest version, else its file.
    fn read_rel<T: DeserializeOwned>(&self, rel: &str, doc: &str) -> Result<Option<T>, StoreError> {
        let path = self.root.join(rel);
        match self.wal.get(rel) {
            Some(Some(bytes)) => envelope::decode(&path, doc, &bytes).map(Some),
            Some(None) => Ok(None),
            None => read_record(&path, doc),
        }
    }

    /// Writes the record at `rel` durably (through the log), creating its
    /// directory, durably too: other files live there (a user's audit
    /// trail) whose own syncs need it.
    fn write_rel<T: Serialize>(&self, rel: &str, value: &T) -> Result<(), StoreError> {
        let path = self.root.join(rel);
        let bytes = envelope::encode(&path, value)?;
        if let Some(dir) = path.parent()
            && !lock(&self.dirs).contains(dir)
        {
            durable::ensure_dir_then(dir, &deferred::sync_dir_at_end)
                .map_err(StoreError::io(dir))?;
            lock(&self.dirs).insert(dir.to_owned());
        }
        self.log(rel, Some(bytes.into()))
            .map_err(StoreError::io(&path))
    }

    /// Appends to the log; waits for the disk unless the caller is in a
    /// [`deferred`] scope, whose end (or an earlier barrier) does.
    fn log(&self, rel: &str, version: wal::Version) -> std::io::Result<()> {
        let ticket = self.wal.append(rel, version)?;
        if deferred::active() {
            return Ok(());
        }
        self.wal.wait(ticket)
    }

    /// Deletes the record at `rel` durably (through the log).
    fn delete_rel(&self, rel: &str) -> Result<(), StoreError> {
        let path = self.root.join(rel);
        self.log(rel, None).map_err(StoreError::io(&path))
    }

    /// Existing shard directory names (`00`..`ff`).
    fn shards(&self) -> Result<Vec<String>, StoreError> {
        shard_names(&self.users_root())
    }
}

/// Removes temp files everywhere records live in `root`; returns how many.
fn remove_stale_record_temps(root: &Path) -> Result<usize, StoreError> {
    let (global, users) = (root.join(GLOBAL_DIR), root.join(USERS_DIR));
    let mut dirs = vec![root.to_owned(), global.clone()];
    for (name, is_dir) in list_dir(&global)? {
        if is_dir {
            dirs.push(global.join(name));
        }
    }
    for shard in shard_names(&users)? {
        let shard_dir = users.join(shard);
        for (name, is_dir) in list_dir(&shard_dir)? {
            if is_dir {
                dirs.push(shard_dir.join(name));
            }
        }
    }
    let mut removed = 0;
    for dir in dirs {
        removed += durable::remove_stale_temps(&dir).map_err(StoreError::io(&dir))?;
    }
    Ok(removed)
}

/// The shard directory names (`00`..`ff`) in `users`.
fn shard_names(users: &Path) -> Result<Vec<String>, StoreError> {
    let is_shard =
        |n: &str| n.len() == 2 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    Ok(list_dir(users)?
        .into_iter()
        .filter(|(n, is_dir)| *is_dir && is_shard(n))
        .map(|(n, _)| n)
        .collect())
}

/// `users/<shard>/<dir>/<doc>.json`, relative to the data dir.
fn user_rel(user: &UserId, doc: &str) -> String {
    format!(
        "{USERS_DIR}/{}/{}/{doc}{RECORD_EXT}",
        user.shard(),
        user.dir_name()
    )
}

/// `global/<name>.json` (`name` may be `dir/leaf`), relative to the data dir.
fn global_rel(name: &str) -> String {
    format!("{GLOBAL_DIR}/{name}{RECORD_EXT}")
}

impl Drop for Store {
    /// Checkpoints the write-ahead log and records a clean shutdown so the
    /// next `open` can skip the temp-file walk and has nothing to replay.
    /// Every write borrows the `Store`, so none can be in flight here, and
    /// a successful or failed write leaves no temp file. If the checkpoint
    /// fails the marker is not written: the next open replays the log.
    fn drop(&mut self) {
        self.wal.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if !self.mark_clean_on_drop {
            return;
        }
        if let Err(err) = self.wal.checkpoint() {
            tracing::error!(%err, "the store's last checkpoint failed; the next start replays its write-ahead log");
            return;
        }
        let marker = self.root.join(CLEAN_MARKER);
        let result = File::create(&marker)
            .and_then(|file| file.sync_all())
            .and_then(|()| durable::sync_dir(&self.root));
        if let Err(err) = result {
            // Harmless: the next open just does the cleanup walk.
            tracing::warn!(path = %marker.display(), %err, "cannot record clean shutdown");
        }
    }
}

/// Opens `<dir>/LOCK` and takes a non-blocking exclusive `flock` on it
/// (see [`durable::try_lock`]), then writes our pid into it for the error
/// another process gets.
fn take_lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(StoreError::io(&path))?;
    let Some(mut file) = durable::try_lock(file).map_err(StoreError::io(&path))? else {
        let holder = fs::read_to_string(&path)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
        return Err(StoreError::Locked {
            path: dir.to_owned(),
            holder,
        });
    };
    // Only informational (for the Locked message), so no fsync.
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(StoreError::io(&path))?;
    Ok(file)
}

fn read_record<T: DeserializeOwned>(path: &Path, doc: &str) -> Result<Option<T>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => envelope::decode(path, doc, &bytes).map(Some),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StoreError::io(path)(err)),
    }
}

/// Entries of `dir` as (name, is a directory), skipping temp files and
/// non-UTF-8 names; a missing directory is empty. The type comes from
/// `readdir` itself, which avoids one `stat` per user when walking shards.
fn list_dir(dir: &Path) -> Result<Vec<(String, bool)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(StoreError::io(dir)(err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StoreError::io(dir))?;
        let is_dir = entry
            .file_type()
            .map_err(StoreError::io(entry.path()))?
            .is_dir();
        if let Ok(name) = entry.file_name().into_string()
            && !durable::is_temp(&name)
        {
            names.push((name, is_dir));
        }
    }
    Ok(names)
}
