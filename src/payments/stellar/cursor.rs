//! The durable resume point of the payments stream: the `paging_token` of
//! the last record whose payment was handed out and processed.
//!
//! One file per deposit account (`cursor-<G...>`), so changing the address
//! in the config never resumes another account's stream at a wrong place.
//! Written temp + fsync + rename + dir fsync (`store::write_atomic`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Horizon paging tokens are decimal numbers today; anything else read
/// from the file means it was damaged.
const MAX_TOKEN_LEN: usize = 64;

pub struct CursorFile {
    path: PathBuf,
}

impl CursorFile {
    pub fn new(dir: &Path, address: &str) -> CursorFile {
        CursorFile {
            path: dir.join(format!("cursor-{address}")),
        }
    }

    /// The saved token; `None` before the first payment was processed.
    pub fn load(&self) -> anyhow::Result<Option<String>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        let token = text.trim();
        anyhow::ensure!(
            is_paging_token(token),
            "{} is damaged (not a Horizon paging token); restore it or remove it to rescan \
             the account from its first payment (the ledger credits each payment once)",
            self.path.display()
        );
        Ok(Some(token.to_owned()))
    }

    /// Saves `token` durably.
    pub fn save(&self, token: &str) -> anyhow::Result<()> {
        anyhow::ensure!(is_paging_token(token), "not a paging token: {token:?}");
        crate::store::write_atomic(&self.path, format!("{token}\n").as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// What a paging token from Horizon may look like (also guards the URL).
pub fn is_paging_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = CursorFile::new(dir.path(), "GABC");
        assert_eq!(cursor.load().unwrap(), None);
        cursor.save("12884905985").unwrap();
        assert_eq!(cursor.load().unwrap().as_deref(), Some("12884905985"));
        assert!(
            CursorFile::new(dir.path(), "GOTHER")
                .load()
                .unwrap()
                .is_none()
        );
        std::fs::write(dir.path().join("cursor-GABC"), "12/../x").unwrap();
        let error = cursor.load().unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
        assert!(cursor.save("").is_err());
        assert!(cursor.save("1&a=b").is_err());
    }
}
