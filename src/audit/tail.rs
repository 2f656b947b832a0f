//! Reading trail files backwards, newest line first, in bounded chunks, so
//! the last few events of a file of many megabytes cost a read or two.
//!
//! Readers never lock anything and may run in another process while the
//! service appends: a last line without its `'\n'` is either torn by a crash
//! or still being written, and in both cases it was never acknowledged, so it
//! is ignored.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{Event, parse_line};
use crate::store::complete_len;

/// Bytes read from the disk at a time.
const CHUNK: u64 = 64 * 1024;
/// A longer line is corruption (events are a few hundred bytes); it is
/// skipped without holding it in memory.
pub(super) const MAX_LINE: usize = 1 << 20;

/// The current global file; rotated ones are `global-<n>.jsonl`.
pub(super) const GLOBAL_FILE: &str = "global.jsonl";

/// What a scan cost, so tests can check that it stopped early.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ScanCost {
    /// Bytes read in chunks (not counting the probe for a torn last line).
    pub bytes_read: u64,
    pub lines: u64,
}

/// Feeds the events of the file at `path` to `visit`, newest first, until it
/// breaks. A missing file has no events.
pub(super) fn scan_file(
    path: &Path,
    cost: &mut ScanCost,
    visit: &mut impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<()> {
    if let Some(lines) = Backwards::open(path)? {
        lines.scan(cost, visit)?;
    }
    Ok(())
}

/// Feeds the global trail under `root` to `visit`, newest first: the current
/// file, then the rotated ones from the newest.
///
/// The current file is opened before the directory is listed, and a rotated
/// file that is the very file already opened is skipped, so a rotation
/// during the scan neither hides nor repeats a file.
pub(super) fn scan_global(
    root: &Path,
    visit: &mut impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<ScanCost> {
    let mut cost = ScanCost::default();
    let current = Backwards::open(&root.join(GLOBAL_FILE))?;
    let current_id = match &current {
        Some(lines) => Some(file_id(&lines.file.metadata()?)),
        None => None,
    };
    if let Some(lines) = current
        && lines.scan(&mut cost, visit)?
    {
        return Ok(cost);
    }
    for (_, path) in rotated_files(root)?.into_iter().rev() {
        let Some(lines) = Backwards::open(&path)? else {
            continue;
        };
        if Some(file_id(&lines.file.metadata()?)) == current_id {
            continue;
        }
        if lines.scan(&mut cost, visit)? {
            break;
        }
    }
    Ok(cost)
}

/// The rotated global files `(n, path)`, oldest (smallest `n`) first.
pub(super) fn rotated_files(root: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("global-")?.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((n, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn file_id(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// The complete lines of a file, last first.
struct Backwards {
    path: PathBuf,
    file: File,
    /// File bytes `[start, start + buf.len())` not yet returned. When not
    /// empty it ends with the `'\n'` of the next line to return.
    buf: Vec<u8>,
    start: u64,
    bytes_read: u64,
}

impl Backwards {
    /// `Ok(None)` if there is no such file.
    fn open(path: &Path) -> io::Result<Option<Backwards>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = complete_len(&file, len)?;
        Ok(Some(Backwards {
            path: path.to_owned(),
            file,
            buf: Vec::new(),
            start,
            bytes_read: 0,
        }))
    }

    /// Feeds the events to `visit`; returns whether it stopped the scan.
    fn scan(
        mut self,
        cost: &mut ScanCost,
        visit: &mut impl FnMut(Event) -> ControlFlow<()>,
    ) -> io::Result<bool> {
        let mut stopped = false;
        while let Some(line) = self.next_line()? {
            cost.lines += 1;
            if let Some(event) = parse_line(&line, &self.path)
                && visit(event).is_break()
            {
                stopped = true;
                break;
            }
        }
        cost.bytes_read += self.bytes_read;
        Ok(stopped)
    }

    /// The next line (without its `'\n'`), going backwards; an empty line
    /// stands for an over-long one that was skipped.
    fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some((&newline, body)) = self.buf.split_last() {
                debug_assert_eq!(newline, b'\n');
                if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
                    let line = body[i + 1..].to_vec();
                    self.buf.truncate(i + 1);
                    return Ok(Some(line));
                }
                if self.start == 0 {
                    let line = body.to_vec();
                    self.buf.clear();
                    return Ok(Some(line));
                }
                if self.buf.len() > MAX_LINE {
                    self.skip_long_line()?;
                    return Ok(Some(Vec::new()));
                }
            } else if self.start == 0 {
                return Ok(None);
            }
            let chunk = self.read_chunk()?;
            // Only a partial line is left in `buf`, so this moves little.
            self.buf.splice(0..0, chunk);
        }
    }

    /// Reads the chunk that ends at `start` and moves `start` before it.
    fn read_chunk(&mut self) -> io::Result<Vec<u8>> {
        let n = CHUNK.min(self.start);
        self.start -= n;
        let mut chunk = vec![0; n as usize];
        self.file.read_exact_at(&mut chunk, self.start)?;
        self.bytes_read += n;
        Ok(chunk)
    }

    /// Drops the line that ends `buf` and everything before it up to the
    /// previous `'\n'`, reading on without keeping what it reads.
    fn skip_long_line(&mut self) -> io::Result<()> {
        tracing::warn!(path = %self.path.display(), offset = self.start,
            "skipping an audit line longer than {MAX_LINE} bytes");
        self.buf.clear();
        while self.start > 0 {
            let mut chunk = self.read_chunk()?;
            if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
                chunk.truncate(i + 1);
                self.buf = chunk;
                break;
            }
        }
        Ok(())
    }
}
