//! The store's error type: every failure names the file it happened on.

use std::io;
use std::path::PathBuf;

use super::SCHEMA_VERSION;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds `<data_dir>/LOCK`.
    #[error(
        "another Jukebox process ({holder}) is using the data dir {}; stop it first or use a different data dir",
        path.display()
    )]
    Locked { path: PathBuf, holder: String },
    /// The cause is repeated in the message because most log lines print
    /// only the top-level error.
    #[error("I/O error on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("record {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "record {} was written by a newer Jukebox (schema {found}, this one knows up to {SCHEMA_VERSION}); upgrade Jukebox",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: u32 },
    /// A document or global name outside `[a-z0-9_-]` (the text is escaped).
    #[error("invalid record name {0:?}: use 1-64 lowercase letters, digits, '_' or '-'")]
    BadName(String),
    /// A store opened with `Store::open_read_only` was asked to write.
    #[error("the data dir {} is open read-only", .0.display())]
    ReadOnly(PathBuf),
}

impl StoreError {
    /// Builds an `Io` error for `path`; used with `map_err`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}
