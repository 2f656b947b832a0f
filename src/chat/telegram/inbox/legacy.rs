//! The inbox formats of earlier versions, read once when the inbox is
//! loaded, moved into the journal and then removed, so an upgrade loses no
//! received update:
//!
//! - `telegram-inbox.jsonl` in the data dir: one raw update JSON per line;
//! - `telegram-inbox/<id>.upd` and `<id>.ans`: one sealed update per file,
//!   `.ans` once its callback query was answered.

use std::path::{Path, PathBuf};

use teloxide::types::Update;

use crate::crypto::Sealed;

/// The raw journal's name, in the data dir.
pub const JOURNAL: &str = "telegram-inbox.jsonl";
/// A received update whose callback query, if any, was not answered.
const RECEIVED: &str = "upd";
/// A received update whose callback query was answered.
const ANSWERED: &str = "ans";

/// The updates of the raw journal, or None if there is none. A torn last
/// line was never confirmed to Telegram, which sends it again.
pub(super) fn journal_updates(path: &Path) -> Option<Vec<Update>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
    )
}

/// One per-update file.
pub(super) struct UpdateFile {
    pub path: PathBuf,
    pub id: u32,
    pub answered: bool,
    /// None when the file does not read as sealed data.
    pub sealed: Option<Sealed>,
}

/// The per-update files in `dir`, by update id.
pub(super) fn update_files(dir: &Path) -> Vec<UpdateFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<UpdateFile> = entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let answered = match path.extension()?.to_str()? {
                RECEIVED => false,
                ANSWERED => true,
                _ => return None,
            };
            let id = path.file_stem()?.to_str()?.parse().ok()?;
            let sealed = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            Some(UpdateFile {
                path,
                id,
                answered,
                sealed,
            })
        })
        .collect();
    files.sort_by_key(|f| f.id);
    files
}
