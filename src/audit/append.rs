//! Durable appends to one trail file, and the repair of a torn last line.
//!
//! A batch of lines goes out in one `write` on an `O_APPEND` descriptor and
//! is acknowledged only after `fdatasync`. If the process dies in between,
//! the file may end in a partial line: it was never acknowledged, so opening
//! the file for appending cuts it off, and the next line starts clean
//! instead of being glued to the fragment. A failed append is cut back the
//! same way at once.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::tail::complete_len;

/// A trail file open for appending.
pub(super) struct AppendFile {
    path: PathBuf,
    file: File,
    /// Length up to the end of the last complete line.
    len: u64,
    /// A failed append could not be cut back: repair before the next one.
    torn: bool,
}

impl AppendFile {
    /// Opens `path` for appending, creating it and its directories (durably)
    /// if needed, and cuts off a torn last line.
    pub fn open(path: &Path) -> io::Result<AppendFile> {
        let file = match open_append(path, false) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let dir = parent(path);
                ensure_dir(dir)?;
                let file = open_append(path, true)?;
                // So the new file's name survives a power cut.
                sync_dir(dir)?;
                file
            }
            other => other?,
        };
        let mut this = AppendFile {
            path: path.to_owned(),
            file,
            len: 0,
            torn: true,
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
        debug_assert!(bytes.last() == Some(&b'\n'));
        // One fstat per batch also catches a fragment that did not come from
        // this handle (a writer killed before this one opened the file).
        if self.torn || self.file.metadata()?.len() != self.len {
            self.repair()?;
        }
        let written = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut the partial line so the next append starts on a clean one.
            self.torn = self.file.set_len(self.len).is_err();
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the file back to its last complete line.
    fn repair(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let good = complete_len(&self.file, len)?;
        if good < len {
            tracing::warn!(path = %self.path.display(), cut = len - good,
                "cutting off a torn last audit line");
            self.file.set_len(good)?;
            self.file.sync_all()?;
        }
        self.len = good;
        self.torn = false;
        Ok(())
    }
}

/// Read access too, to find a torn last line. Files are 0600: a trail
/// names users and what they paid.
fn open_append(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .mode(0o600)
        .open(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Fsyncs a directory so entries created or renamed in it persist.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and missing ancestors (0700), fsyncing each parent that
/// gained an entry. Cheap when `dir` exists.
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let up = parent(dir);
    if up != dir {
        ensure_dir(up)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => sync_dir(up),
        // Another writer (say the store creating the user dir) was first.
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}
