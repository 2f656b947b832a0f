//! The append-only audit trail: who did what, and when, to whose data.
//!
//! Every state change of a node, every payment and every admin action is
//! recorded as an [`Event`], one JSON line each
//! (`{"v":1,"at":..,"actor":..,"user":..,"kind":..,"node":..,"detail":..}`):
//!
//! ```text
//! <root>/LOCK               flock: one writing AuditLog per root
//! <root>/global.jsonl       every event (the current global file)
//! <root>/global-<n>.jsonl   rotated global files, n = 1, 2, ...; all kept
//! <user dir>/audit.jsonl    the events whose `user` is that user (USER_TRAIL)
//! ```
//!
//! Layout of the module (each file is appended through the store's
//! `AppendFile`, which fsyncs and repairs a torn last line; what the global
//! and the user's trails get during one update's handling is synced once at
//! its end, `store/deferred.rs`):
//! - `global`: group commit and rotation of the global file;
//! - `tail`: reading files backwards in chunks, newest line first.
//!
//! Writing goes through [`AuditLog`]; the global file rotates past
//! [`ROTATE_BYTES`], per-user files never rotate (a user's events are few).
//! Reading needs no handle: [`read_recent`], [`read_global_recent`] and
//! [`read_count_since`] work on the files while the service appends, e.g.
//! from the offline admin CLI. Reads of the global trail go on into rotated
//! files when the current one does not hold enough. Lines that do not parse
//! are skipped with a warning; a last line without its `'\n'` (torn by a
//! crash, or being written right now) is ignored.
//!
//! **Invariant:** a trail file is only ever appended to, except that a torn
//! last line, never acknowledged, is cut off before the next append.

mod global;
mod tail;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
// Poison is ignored: nothing under these locks can be left half-done by a
// panic that a later append would not repair.
use crate::store::{AppendFile, blocking_io, lock, record_io};
use global::Global;

/// Name of a user's trail inside their store directory.
pub const USER_TRAIL: &str = "audit.jsonl";
/// The global file is rotated once it is this large.
pub const ROTATE_BYTES: u64 = 64 << 20;
/// Longer details are cut (at a character boundary) and end in "…".
pub const MAX_DETAIL: usize = 4096;
/// Version of the line format; lines of another version are skipped.
const SCHEMA: u32 = 1;
/// Concurrent `record`s may append slightly out of time order, so a
/// backwards scan bounded by `since` stops only at an event this much older.
const CLOCK_SLACK_SECS: u64 = 300;
/// Per-user append locks; see [`Inner::user_locks`].
const USER_LOCK_STRIPES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds from the service clock.
    pub at: u64,
    /// Who did it: a user id ("tg:42"), an operator id, or "system"
    /// (monitor, billing, deployer).
    pub actor: String,
    /// Whose data it concerns (None for global-only events such as
    /// maintenance on/off).
    pub user: Option<UserId>,
    /// What happened, a short stable kind: "node.state", "node.redeployed",
    /// "payment.credited", "payment.requested", "admin.ban",
    /// "admin.maintenance", ...
    pub kind: String,
    /// The node name, when about one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Human-readable details (never a secret: callers pass names, states,
    /// amounts, ids).
    pub detail: String,
}

/// A line as written: the schema version, then the event.
#[derive(Serialize)]
struct LineOut<'a> {
    v: u32,
    #[serde(flatten)]
    event: &'a Event,
}

#[derive(Deserialize)]
struct LineIn {
    v: u32,
    #[serde(flatten)]
    event: Event,
}

/// The writing handle; clones share it. Opening it takes `<root>/LOCK`.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    user_dirs: Box<dyn Fn(&UserId) -> PathBuf + Send + Sync>,
    global: Global,
    /// Serialise appends to one user's file (and its torn-line repair)
    /// without making all users wait behind one fsync. Striped, not one per
    /// user, to stay bounded with 100,000 users; a thread holds at most one
    /// stripe at a time, so stripes cannot deadlock. Std mutexes: only
    /// blocking IO happens under them.
    user_locks: [Mutex<()>; USER_LOCK_STRIPES],
    stripe_hasher: RandomState,
    /// The kernel releases the flock when this is closed.
    _lock: File,
}

impl AuditLog {
    /// Opens (creating if needed) the global trail under `root`, e.g.
    /// `<data_dir>/audit`. `user_dirs` maps a user to their store directory,
    /// e.g. `move |u| store.user_dir(u)` with an `Arc<Store>`.
    pub fn open(
        root: &Path,
        user_dirs: impl Fn(&UserId) -> PathBuf + Send + Sync + 'static,
    ) -> anyhow::Result<AuditLog> {
        AuditLog::open_with_rotation(root, user_dirs, ROTATE_BYTES)
    }

    /// [`AuditLog::open`] with another rotation size (tests use a small one).
    pub fn open_with_rotation(
        root: &Path,
        user_dirs: impl Fn(&UserId) -> PathBuf + Send + Sync + 'static,
        rotate_bytes: u64,
    ) -> anyhow::Result<AuditLog> {
        blocking_io(|| {
            crate::store::ensure_dir(root)
                .with_context(|| format!("creating {}", root.display()))?;
            let lock_file = crate::store::lock_dir(root, "audit log")?;
            let global = Global::open(root, rotate_bytes)
                .with_context(|| format!("opening the audit trail in {}", root.display()))?;
            Ok(AuditLog {
                inner: Arc::new(Inner {
                    root: root.to_owned(),
                    user_dirs: Box::new(user_dirs),
                    global,
                    user_locks: std::array::from_fn(|_| Mutex::new(())),
                    stripe_hasher: RandomState::new(),
                    _lock: lock_file,
                }),
            })
        })
    }

    /// Appends durably (fsync) to the global trail and, when `event.user` is
    /// set, to that user's trail.
    pub fn record(&self, event: Event) -> anyhow::Result<()> {
        self.record_all(vec![event])
    }

    /// Appends several events with one fsync per file. The global trail is
    /// written first; if a user's trail then fails, the others are still
    /// written and the first error is returned (the global trail has them).
    /// A user's directory is created if it does not exist yet.
    pub fn record_all(&self, events: Vec<Event>) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut all = Vec::new();
        let mut by_user: BTreeMap<&UserId, Vec<u8>> = BTreeMap::new();
        for event in &events {
            let start = all.len();
            encode(event, &mut all)?;
            if let Some(user) = &event.user {
                by_user
                    .entry(user)
                    .or_default()
                    .extend_from_slice(&all[start..]);
            }
        }
        let inner = &*self.inner;
        // Inside a deferred scope only `write`s: the syncs ride the log's.
        record_io(|| {
            inner.global.append(&all)?;
            let mut first_error = None;
            for (user, bytes) in by_user {
                if let Err(e) = inner.append_user(user, &bytes) {
                    tracing::warn!(%user, error = %format!("{e:#}"), "cannot append to a user's audit trail");
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    /// The newest `limit` events of one user, newest first, reading only
    /// the end of their file.
    pub fn recent_for(&self, user: &UserId, limit: usize) -> anyhow::Result<Vec<Event>> {
        let path = self.user_trail(user);
        blocking_io(|| read_recent(&path, limit))
    }

    /// The newest `limit` global events, newest first, only those with
    /// `at >= since` if given.
    pub fn recent(&self, limit: usize, since: Option<u64>) -> anyhow::Result<Vec<Event>> {
        blocking_io(|| read_global_recent(&self.inner.root, limit, since))
    }

    /// Counts of global events by kind with `at >= since`.
    pub fn count_since(&self, since: u64) -> anyhow::Result<BTreeMap<String, u64>> {
        blocking_io(|| read_count_since(&self.inner.root, since))
    }

    /// Where `user`'s trail lives.
    pub fn user_trail(&self, user: &UserId) -> PathBuf {
        (self.inner.user_dirs)(user).join(USER_TRAIL)
    }
}

impl Inner {
    fn append_user(&self, user: &UserId, bytes: &[u8]) -> anyhow::Result<()> {
        let stripe = self.stripe_hasher.hash_one(user) as usize % USER_LOCK_STRIPES;
        let _guard = lock(&self.user_locks[stripe]);
        // Opened per append: keeping 100,000 descriptors open is not an
        // option, and the open also repairs a torn line left by a crash.
        let path = (self.user_dirs)(user).join(USER_TRAIL);
        AppendFile::open(&path)
            .and_then(|mut file| file.append_at_scope_end(bytes))
            .with_context(|| format!("appending to {}", path.display()))
    }
}

/// The newest `limit` events of one trail file (a user's `audit.jsonl`, or
/// one global file), newest first. Reads only as much of the end of the
/// file as needed; a missing file has no events. Needs no [`AuditLog`].
pub fn read_recent(path: &Path, limit: usize) -> anyhow::Result<Vec<Event>> {
    let mut found = Vec::new();
    if limit > 0 {
        tail::scan_file(path, &mut tail::ScanCost::default(), &mut |event| {
            found.push(event);
            stop_when(found.len() >= limit)
        })
        .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(found)
}

/// The newest `limit` events of the global trail under `root` (current
/// and rotated files), newest first, only those with `at >= since` if given.
/// Needs no [`AuditLog`].
pub fn read_global_recent(
    root: &Path,
    limit: usize,
    since: Option<u64>,
) -> anyhow::Result<Vec<Event>> {
    let mut found = Vec::new();
    if limit > 0 {
        tail::scan_global(root, &mut |event| {
            match since {
                Some(since) if event.at < since => {
                    return stop_when(event.at.saturating_add(CLOCK_SLACK_SECS) < since);
                }
                _ => found.push(event),
            }
            stop_when(found.len() >= limit)
        })
        .with_context(|| format!("reading the audit trail in {}", root.display()))?;
    }
    Ok(found)
}

/// Counts of the global events under `root` by kind with `at >= since`.
/// Reads backwards and stops at the first event older than `since` (less a
/// few minutes of slack for events appended out of order). Needs no
/// [`AuditLog`].
pub fn read_count_since(root: &Path, since: u64) -> anyhow::Result<BTreeMap<String, u64>> {
    Ok(count_since_costed(root, since)?.0)
}

fn count_since_costed(
    root: &Path,
    since: u64,
) -> anyhow::Result<(BTreeMap<String, u64>, tail::ScanCost)> {
    let mut counts = BTreeMap::new();
    let cost = tail::scan_global(root, &mut |event| {
        if event.at >= since {
            *counts.entry(event.kind).or_insert(0) += 1;
            return ControlFlow::Continue(());
        }
        stop_when(event.at.saturating_add(CLOCK_SLACK_SECS) < since)
    })
    .with_context(|| format!("reading the audit trail in {}", root.display()))?;
    Ok((counts, cost))
}

fn stop_when(done: bool) -> ControlFlow<()> {
    if done {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

/// Appends `event` as one JSON line to `out`, cutting an over-long detail.
fn encode(event: &Event, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let cut;
    let event = if event.detail.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !event.detail.is_char_boundary(end) {
            end -= 1;
        }
        cut = Event {
            detail: format!("{}…", &event.detail[..end]),
            ..event.clone()
        };
        &cut
    } else {
        event
    };
    serde_json::to_writer(&mut *out, &LineOut { v: SCHEMA, event })
        .context("encoding an audit event")?;
    // JSON escapes newlines inside strings, so this is the only one.
    out.push(b'\n');
    Ok(())
}

/// One line back to an event; `None` (with a warning) if it is not one.
fn parse_line(line: &[u8], path: &Path) -> Option<Event> {
    if line.is_empty() {
        return None;
    }
    match serde_json::from_slice::<LineIn>(line) {
        Ok(line) if line.v == SCHEMA => Some(line.event),
        Ok(line) => {
            tracing::warn!(path = %path.display(), version = line.v,
                "skipping an audit line of an unknown version");
            None
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e,
                "skipping an audit line that does not parse");
            None
        }
    }
}
