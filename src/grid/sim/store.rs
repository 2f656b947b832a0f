//! Durable storage of the simulated grid: `world.json` (written once) and an
//! append-only journal of [`Event`]s, one JSON line each. An event is
//! appended under the grid's lock and made durable outside it by a group
//! commit ([`JournalSync`]): events recorded at the same moment by different
//! users share one fdatasync, and nobody waits for the disk while holding the
//! lock every grid lookup needs.
//!
//! A deploy appends one short line instead of rewriting the whole state, so
//! the cost stays flat at 100,000 contracts. When the journal grows well past
//! the live state it is compacted: the state is written as a new journal
//! generation (temp file, fsync, rename, fsync dir) and the old one removed.
//! On load the newest generation wins; a torn last line (crash mid-append) is
//! cut off.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};

use super::state::Event;
use crate::store::{GroupCommit, Ticket};

/// Makes appended events durable, shared by every writer; holds the journal
/// generation being appended to (a compaction switches it).
pub(super) struct JournalSync {
    group: GroupCommit,
    file: Mutex<Arc<File>>,
}

impl JournalSync {
    fn new(file: &Arc<File>) -> Arc<JournalSync> {
        Arc::new(JournalSync {
            group: GroupCommit::new(),
            file: Mutex::new(file.clone()),
        })
    }

    /// Blocks until the event of `ticket` (and every one before it) is on
    /// disk. Call without the grid's lock, off the async workers.
    ///
    /// The sync takes the generation current when it starts: an event
    /// appended to an older generation before a compaction is in the new
    /// one, which the compaction wrote durably, so syncing the newest file
    /// covers every ticket handed out before the sync started.
    pub fn wait(&self, ticket: Ticket) -> io::Result<()> {
        self.group.wait(ticket, || {
            // A plain handle swap: a panic cannot leave it half-done.
            let file = self
                .file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            file.sync_data()
        })
    }

    /// Makes the event of `ticket` durable: at the end of the caller's
    /// deferred scope, with the store's sync, inside one; now (off the async
    /// workers) outside one (`store::durable_at_scope_end`).
    pub fn durable(&self, ticket: Ticket) -> io::Result<()> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        crate::store::durable_at_scope_end(&file, || self.wait(ticket))
    }

    /// A ticket covering every event appended so far (for readers that must
    /// not act on state not yet durable).
    pub fn latest(&self) -> Ticket {
        self.group.latest()
    }

    fn switch(&self, file: Arc<File>) {
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = file;
    }
}

const JOURNAL_PREFIX: &str = "journal.";
const JOURNAL_SUFFIX: &str = ".jsonl";
/// Never compact a journal shorter than this: small journals replay fast.
const COMPACT_MIN_LINES: usize = 20_000;

pub(super) struct Store {
    dir: PathBuf,
    generation: u64,
    file: Arc<File>,
    sync: Arc<JournalSync>,
    /// Length of the journal up to its last complete line.
    len: u64,
    lines: usize,
}

fn journal_name(generation: u64) -> String {
    format!("{JOURNAL_PREFIX}{generation:020}{JOURNAL_SUFFIX}")
}

impl Store {
    /// Opens the newest journal in `dir` (creating an empty one if none) and
    /// returns its events in order.
    pub fn open(dir: &Path) -> anyhow::Result<(Store, Vec<Event>)> {
        let mut generations = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(g) = name
                .strip_prefix(JOURNAL_PREFIX)
                .and_then(|n| n.strip_suffix(JOURNAL_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            {
                generations.push(g);
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                // An interrupted atomic write: the rename never happened.
                fs::remove_file(dir.join(name.as_ref()))?;
            }
        }
        generations.sort_unstable();
        let Some(&generation) = generations.last() else {
            crate::store::write_atomic(&dir.join(journal_name(0)), b"")?;
            let file = Arc::new(
                OpenOptions::new()
                    .append(true)
                    .open(dir.join(journal_name(0)))?,
            );
            let store = Store {
                dir: dir.to_path_buf(),
                generation: 0,
                sync: JournalSync::new(&file),
                file,
                len: 0,
                lines: 0,
            };
            return Ok((store, Vec::new()));
        };
        // Older generations were superseded by a finished compaction.
        for g in &generations[..generations.len() - 1] {
            fs::remove_file(dir.join(journal_name(*g)))?;
        }
        let path = dir.join(journal_name(generation));
        let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (events, good_len) = parse(&text).with_context(|| format!("in {}", path.display()))?;
        let file = OpenOptions::new().append(true).open(&path)?;
        if good_len < text.len() as u64 {
            tracing::warn!(path = %path.display(), "dropping a torn last journal line");
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        let file = Arc::new(file);
        let store = Store {
            dir: dir.to_path_buf(),
            generation,
            sync: JournalSync::new(&file),
            file,
            len: good_len,
            lines: events.len(),
        };
        Ok((store, events))
    }

    /// The group commit of this journal, for waiting without the lock.
    pub fn sync(&self) -> Arc<JournalSync> {
        self.sync.clone()
    }

    /// Appends one event (one `write`, into the page cache) and returns its
    /// ticket: it is durable once [`JournalSync::wait`] on it returns.
    pub fn append(&mut self, event: &Event) -> io::Result<Ticket> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let _writing = crate::store::hold_write();
        if let Err(e) = (&*self.file).write_all(&line) {
            // Best effort: cut a fragment off so the next line starts clean.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += line.len() as u64;
        self.lines += 1;
        Ok(self.sync.group.ticket())
    }

    /// Whether the journal holds enough dead lines to be worth compacting.
    pub fn should_compact(&self, live_events: usize) -> bool {
        self.lines > COMPACT_MIN_LINES.max(live_events.saturating_mul(2))
    }

    /// Replaces the journal with `events` (the live state) as a new generation.
    pub fn compact(&mut self, events: &[Event]) -> io::Result<()> {
        let mut body = Vec::new();
        for e in events {
            serde_json::to_writer(&mut body, e).map_err(io::Error::other)?;
            body.push(b'\n');
        }
        let next = self.generation + 1;
        crate::store::write_atomic(&self.dir.join(journal_name(next)), &body)?;
        let file = Arc::new(
            OpenOptions::new()
                .append(true)
                .open(self.dir.join(journal_name(next)))?,
        );
        let old = self.dir.join(journal_name(self.generation));
        self.sync.switch(file.clone());
        *self = Store {
            dir: self.dir.clone(),
            generation: next,
            file,
            sync: self.sync.clone(),
            len: body.len() as u64,
            lines: events.len(),
        };
        // A leftover old generation is removed at the next open anyway.
        if let Err(e) = fs::remove_file(&old) {
            tracing::warn!(path = %old.display(), error = %e, "could not remove old journal");
        }
        Ok(())
    }
}

/// Parses journal lines; returns the events and the byte length up to the
/// last good line. Only the final line may be damaged (a torn append).
fn parse(text: &[u8]) -> anyhow::Result<(Vec<Event>, u64)> {
    let mut events = Vec::new();
    let mut good = 0usize;
    let mut rest = text;
    while !rest.is_empty() {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break; // no newline: torn
        };
        match serde_json::from_slice::<Event>(&rest[..end]) {
            Ok(e) => events.push(e),
            Err(_) if end + 1 == rest.len() => break, // damaged last line
            Err(e) => bail!("journal corrupted at byte {good}: {e}"),
        }
        good += end + 1;
        rest = &rest[end + 1..];
    }
    Ok((events, good as u64))
}
