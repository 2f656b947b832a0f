//! The alert queue's append-only journal: `alerts.jsonl` in the queue's
//! directory, one [`Record`] per line, each line
//! `{"v":1,"op":"queued","alert":{...}}` or
//! `{"v":1,"op":"delivered","key":"...","raised_at":N}`.
//!
//! Appends are fsynced before they are acknowledged. On open a torn or
//! damaged last line (a crash mid-append, so never acknowledged) is cut off;
//! any other line that does not parse is logged and skipped, never fatal.
//! Compaction writes the live records to `alerts.jsonl.tmp`, fsyncs it and
//! renames it over the journal, so a crash leaves the old or the new journal.
//! A `LOCK` file (flock) keeps a second process out of the directory.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::Alert;
use crate::store::{AppendFile, ensure_dir, remove_stale_temps, write_atomic};

const JOURNAL_FILE: &str = "alerts.jsonl";
/// Version of the line format; lines of another version are skipped.
const SCHEMA: u32 = 1;
/// Never compact a journal shorter than this: small journals replay fast.
pub(super) const COMPACT_MIN_LINES: usize = 10_000;

/// One journal line's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Record<'a> {
    Queued {
        alert: Cow<'a, Alert>,
    },
    Delivered {
        key: Cow<'a, str>,
        /// Kept so the dedup memory can forget the key when it is old.
        raised_at: u64,
    },
}

/// A line as read back.
#[derive(Deserialize)]
struct Line {
    v: u32,
    #[serde(flatten)]
    record: Record<'static>,
}

/// A line as written; borrows the record so compaction copies nothing.
#[derive(Serialize)]
struct LineOut<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a Record<'a>,
}

pub(super) struct Journal {
    /// Appends are fsynced; a torn or failed append is cut back to the last
    /// complete line.
    file: AppendFile,
    lines: usize,
    /// The kernel releases the flock when this is closed (drop or crash).
    _lock: File,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` and returns its
    /// records in order.
    pub fn open(dir: &Path) -> anyhow::Result<(Journal, Vec<Record<'static>>)> {
        // Durably, so the new directory (and then the journal in it)
        // survives a power cut.
        ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = crate::store::lock_dir(dir, "alert queue")?;
        // An interrupted compaction: the rename never happened, so the
        // journal itself is intact. Safe under the lock: no writer is active.
        remove_stale_temps(dir).context("removing a leftover compaction temp file")?;
        let path = dir.join(JOURNAL_FILE);
        // Read before it is opened, because opening cuts a torn tail: a
        // damaged line just before that tail is skipped, not cut as if it
        // were the last line.
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let parsed = parse(&text, &path);
        let mut file =
            AppendFile::open(&path).with_context(|| format!("opening {}", path.display()))?;
        if parsed.good_len < file.len() {
            tracing::warn!(path = %path.display(), "cutting off a damaged last journal line");
            file.cut_to(parsed.good_len)?;
        }
        let journal = Journal {
            file,
            lines: parsed.lines,
            _lock: lock,
        };
        Ok((journal, parsed.records))
    }

    /// Appends `records` with one write and one fsync.
    pub fn append(&mut self, records: &[Record<'_>]) -> io::Result<()> {
        let mut bytes = Vec::new();
        for record in records {
            encode(record, &mut bytes)?;
        }
        self.file.append(&bytes)?;
        self.lines += records.len();
        Ok(())
    }

    /// Whether the journal is well beyond `live` records and worth rewriting.
    /// Half again as many lines, not twice: a delivered alert leaves two lines
    /// for one remembered key, so until the memory forgets keys the journal
    /// never reaches twice the live set, yet replaying it costs double.
    /// Rewriting after `live / 2` new lines keeps the cost amortised O(1).
    pub fn should_compact(&self, live: usize) -> bool {
        self.lines > COMPACT_MIN_LINES.max(live.saturating_add(live / 2))
    }

    /// Replaces the journal with `body`, the encoding of `lines` live records.
    pub fn replace(&mut self, body: &[u8], lines: usize) -> io::Result<()> {
        let path = self.file.path().to_owned();
        write_atomic(&path, body)?;
        // The old descriptor is the replaced file: never append to it again.
        self.file = AppendFile::open(&path)?;
        self.lines = lines;
        Ok(())
    }
}

/// Appends one record as a JSON line to `out`.
pub(super) fn encode(record: &Record<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let line = LineOut { v: SCHEMA, record };
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

struct Parsed {
    records: Vec<Record<'static>>,
    /// Byte length up to the end of the last line that is kept.
    good_len: u64,
    lines: usize,
}

fn parse(text: &[u8], path: &Path) -> Parsed {
    let mut parsed = Parsed {
        records: Vec::new(),
        good_len: 0,
        lines: 0,
    };
    let mut rest = text;
    // No newline at the end: torn, cut off by the caller.
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..end];
        let last = end + 1 == rest.len();
        match serde_json::from_slice::<Line>(line) {
            Ok(line) if line.v == SCHEMA => parsed.records.push(line.record),
            Ok(line) => {
                tracing::warn!(path = %path.display(), offset = parsed.good_len, version = line.v,
                    "skipping an alert journal line of an unknown version");
            }
            // A damaged last line is a torn append.
            Err(_) if last => break,
            Err(e) => {
                tracing::warn!(path = %path.display(), offset = parsed.good_len, error = %e,
                    "skipping an alert journal line that does not parse");
            }
        }
        parsed.good_len += end as u64 + 1;
        parsed.lines += 1;
        rest = &rest[end + 1..];
    }
    parsed
}
