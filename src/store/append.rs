//! Durable appends to one line-oriented journal file (the audit trails, the
//! alert queue's journal), and the repair of a torn last line.
//!
//! A batch of lines goes out in one `write` on an `O_APPEND` descriptor and
//! is acknowledged only after `fdatasync` (see [`append_synced`]). If the
//! process dies in between, the file may end in a partial line: it was never
//! acknowledged, so opening the file for appending cuts it off, and the next
//! line starts clean instead of being glued to the fragment. A failed append
//! is cut back the same way at once.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::deferred::sync_dir_at_end;
use super::durable::{append_synced, ensure_dir_then};

/// Bytes read at a time while looking backwards for the last `'\n'`.
const CHUNK: u64 = 64 * 1024;

/// A journal file open for appending.
pub(crate) struct AppendFile {
    path: PathBuf,
    file: File,
    /// Length up to the end of the last complete line.
    len: u64,
}

impl AppendFile {
    /// Opens `path` for appending, creating it and its directories (durably
    /// if needed: now, or at the end of a deferred scope like the lines
    /// appended in it), and cuts off a torn last line.
    pub fn open(path: &Path) -> io::Result<AppendFile> {
        let file = match open_append(path, false) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let dir = path.parent().unwrap_or(Path::new("."));
                ensure_dir_then(dir, &sync_dir_at_end)?;
                let file = open_append(path, true)?;
                // So the new file's name survives a power cut.
                sync_dir_at_end(dir)?;
                file
            }
            other => other?,
        };
        let mut this = AppendFile {
            path: path.to_owned(),
            file,
            len: 0,
        };
        this.repair()?;
        Ok(this)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends whole lines (`bytes` ends with `'\n'`) with one write and one
    /// fsync.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append_then(bytes, File::sync_data)
    }

    /// Appends whole lines like [`AppendFile::append`], but inside a
    /// [`super::deferred`] scope the `fdatasync` waits for the scope's end
    /// (outside one it is immediate).
    pub fn append_at_scope_end(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append_then(bytes, super::deferred::sync_data_at_end)
    }

    /// One write of whole lines, made durable by `sync`.
    fn append_then(
        &mut self,
        bytes: &[u8],
        sync: impl FnOnce(&File) -> io::Result<()>,
    ) -> io::Result<()> {
        debug_assert!(bytes.last() == Some(&b'\n'));
        // One fstat per batch catches any fragment: one a failed cut-back in
        // `append_synced` left, or one from a writer killed before this one
        // opened the file.
        if self.file.metadata()?.len() != self.len {
            self.repair()?;
        }
        append_synced(&mut self.file, self.len, bytes, sync)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the file back to `len`, the end of an earlier complete line, for
    /// a caller whose rule for a good line is stricter than "ends in `'\n'`"
    /// (the alert journal also cuts a complete last line that does not
    /// parse).
    pub fn cut_to(&mut self, len: u64) -> io::Result<()> {
        debug_assert!(len <= self.len);
        self.file.set_len(len)?;
        self.file.sync_all()?;
        self.len = len;
        Ok(())
    }

    /// Cuts the file back to its last complete line.
    fn repair(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let good = complete_len(&self.file, len)?;
        if good < len {
            tracing::warn!(path = %self.path.display(), cut = len - good,
                "cutting off a torn last line");
            self.file.set_len(good)?;
            self.file.sync_all()?;
        }
        self.len = good;
        Ok(())
    }
}

/// Offset just after the last `'\n'` in the first `len` bytes of `file`
/// (0 if there is none): everything after it is a torn line.
pub(crate) fn complete_len(file: &File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = Vec::new();
    while end > 0 {
        // The usual case, a file ending in '\n', costs a one-byte read.
        let n = if end == len { 1 } else { CHUNK.min(end) };
        let start = end - n;
        chunk.resize(n as usize, 0);
        file.read_exact_at(&mut chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Read access too, to find a torn last line. Files are 0600: journals
/// name users and what they paid.
fn open_append(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .mode(0o600)
        .open(path)
}
