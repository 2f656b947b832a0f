//! The inbox's on-disk format: numbered segment files of JSON lines, each
//! line one [`Record`], appended and never rewritten.
//!
//! A line is only trusted whole: the bytes after the last `'\n'` are a torn
//! tail (a crash in the middle of an append) and are dropped, and a whole
//! line that does not parse (damage) is skipped with a warning. Reading
//! never stops at a bad line, so one damaged entry costs only itself.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::Sealed;

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// One line of a segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Record {
    /// A received update (its JSON, sealed with the master key). `answered`
    /// is set when it is carried into a newer segment after its callback
    /// query was answered.
    Update {
        id: u32,
        #[serde(default)]
        answered: bool,
        sealed: Sealed,
    },
    /// The callback query of update `id` was answered.
    Answered { id: u32 },
    /// Update `id` has been handled.
    Done { id: u32 },
}

impl Record {
    /// The record as one line, `'\n'` included.
    pub(super) fn line(&self) -> io::Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self).map_err(io::Error::other)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// The file name of segment `seq`.
pub(super) fn segment_name(seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{seq:010}{SEGMENT_SUFFIX}")
}

/// The number of a segment file, or None for any other name.
pub(super) fn segment_seq(name: &str) -> Option<u64> {
    name.strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?
        .parse()
        .ok()
}

/// The segments in `dir`, oldest first.
pub(super) fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|entry| {
            let seq = segment_seq(entry.file_name().to_str()?)?;
            Some((seq, entry.path()))
        })
        .collect();
    found.sort_by_key(|(seq, _)| *seq);
    Ok(found)
}

/// The records of one segment, in the order they were written. A torn tail
/// is dropped and a damaged line skipped, each with a warning.
pub(super) fn read_segment(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = std::fs::read(path)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        // Never confirmed to Telegram (the append it belongs to did not
        // return), which sends the updates again.
        tracing::warn!(file = %path.display(), bytes = bytes.len() - whole,
            "dropping the torn tail of a Telegram inbox segment");
    }
    let mut records = Vec::new();
    for line in bytes[..whole].split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(file = %path.display(), error = %e,
                "skipping a damaged Telegram inbox entry"),
        }
    }
    Ok(records)
}

/// A segment open for appending.
pub(super) struct Segment {
    pub path: PathBuf,
    /// Shared so that the batch's sync runs without the inbox's lock.
    pub file: Arc<File>,
    /// Length up to the end of the last whole line written.
    pub len: u64,
    /// Updates in it not handled yet.
    pub pending: usize,
    /// A write or a sync failed: it is written to no more (a fragment may
    /// end it, and after a failed sync its pages may be lost), and the next
    /// batch starts a new segment.
    pub broken: bool,
    /// Its directory entry is known durable (synced after its creation).
    pub named: bool,
}

impl Segment {
    /// Creates segment `seq` in `dir` (0600: a sealed update is still a
    /// user's). The caller syncs the directory before relying on its name.
    pub fn create(dir: &Path, seq: u64) -> io::Result<Segment> {
        let path = dir.join(segment_name(seq));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            len: 0,
            pending: 0,
            broken: false,
            named: false,
        })
    }

    /// Appends whole lines with one `write` (into the page cache, no sync).
    /// On failure the file is cut back to its last whole line so the next
    /// line does not glue onto a fragment; if even that fails it is broken.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("the inbox segment is broken"));
        }
        match (&*self.file).write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if self.file.set_len(self.len).is_err() {
                    self.broken = true;
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_others_are_not_segments() {
        assert_eq!(segment_name(42), "segment-0000000042.jsonl");
        assert_eq!(segment_seq(&segment_name(42)), Some(42));
        for other in [
            "0000000005.upd",
            "0000000005.ans",
            ".tmp-1-2",
            "segment-x.jsonl",
        ] {
            assert_eq!(segment_seq(other), None, "{other}");
        }
    }

    #[test]
    fn a_torn_tail_is_dropped_and_a_damaged_line_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(1));
        let mut bytes = Record::Done { id: 1 }.line().unwrap();
        bytes.extend_from_slice(b"{\"done\":{\"id\":\n");
        bytes.extend(Record::Answered { id: 2 }.line().unwrap());
        bytes.extend_from_slice(b"{\"update\":{\"id\":3,\"sea");
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            read_segment(&path).unwrap(),
            [Record::Done { id: 1 }, Record::Answered { id: 2 }]
        );
    }
}
