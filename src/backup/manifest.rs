//! What a snapshot is: its id (a UTC time, so ids sort by age), and its
//! manifest, the list of files with size, sha256 and mode, plus the master
//! key sealed with the operator's backup key when one was given.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::Sealed;
use crate::lifecycle::{civil_from_days, days_from_civil};

/// Manifest format version; restore refuses a newer one it cannot read.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    /// Unix seconds at which the snapshot was frozen.
    pub created_at: u64,
    pub files: Vec<FileEntry>,
    /// The master key file sealed with the backup key, or `None` when no
    /// backup key was configured (the master key is then not in backups).
    pub master_key: Option<SealedMasterKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data dir, `/`-separated, never `..`.
    pub path: String,
    pub size: u64,
    /// Hex sha256 of the content; also the blob's name.
    pub sha256: String,
    /// Unix permission bits.
    pub mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMasterKey {
    /// Where the key file was, relative to the data dir, when it was inside
    /// it (restored there); `None` when it lived elsewhere.
    pub path: Option<String>,
    pub sealed: Sealed,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Checks what restore relies on: a known format, safe relative paths,
    /// well-formed checksums. A manifest from S3 is input like any other.
    pub fn check(&self) -> Result<(), String> {
        if self.format > MANIFEST_FORMAT {
            return Err(format!(
                "manifest format {} is newer than this jukebox reads ({MANIFEST_FORMAT})",
                self.format
            ));
        }
        for f in &self.files {
            if !is_safe_relative(&f.path) {
                return Err(format!("unsafe path {:?}", f.path));
            }
            if !is_sha256_hex(&f.sha256) {
                return Err(format!("bad checksum for {:?}", f.path));
            }
        }
        if let Some(path) = self.master_key.as_ref().and_then(|k| k.path.as_deref())
            && !is_safe_relative(path)
        {
            return Err(format!("unsafe master key path {path:?}"));
        }
        Ok(())
    }
}

/// A relative path made only of normal components.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\0'))
}

pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The id of a snapshot taken at `secs`: `20261123T140005Z`.
pub fn snapshot_id(secs: u64) -> String {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// The time a snapshot id stands for, or `None` if it is not an id.
pub fn parse_snapshot_id(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = id.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, m, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || h > 23 || m > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    // Round trip, so 20260231 (no such day) is refused.
    if days < 0 || civil_from_days(days) != (year as i64, month as i64, day as i64) {
        return None;
    }
    Some(days as u64 * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_utc_times_and_round_trip() {
        assert_eq!(snapshot_id(0), "19700101T000000Z");
        assert_eq!(snapshot_id(1_795_392_000 + 5), "20261123T000005Z");
        for secs in [0, 951_782_400 + 47_237, 1_795_392_000, 4_102_444_799] {
            assert_eq!(parse_snapshot_id(&snapshot_id(secs)), Some(secs));
        }
        for bad in [
            "",
            "20261123T000005",
            "20260231T000000Z",
            "20261323T000000Z",
            "20261123T240000Z",
            "2026112xT000000Z",
            "+0261123T000000Z",
            "20261123X000000Z",
        ] {
            assert_eq!(parse_snapshot_id(bad), None, "{bad}");
        }
        assert!(snapshot_id(100) < snapshot_id(101));
    }

    #[test]
    fn manifest_check_refuses_escaping_paths_and_bad_sums() {
        let entry = |path: &str, sum: &str| FileEntry {
            path: path.into(),
            size: 1,
            sha256: sum.into(),
            mode: 0o600,
        };
        let good = sha256_hex(b"x");
        let manifest = |files| Manifest {
            format: MANIFEST_FORMAT,
            id: snapshot_id(0),
            created_at: 0,
            files,
            master_key: None,
        };
        assert!(
            manifest(vec![entry("users/00/a/profile.json", &good)])
                .check()
                .is_ok()
        );
        for path in ["../etc/passwd", "/etc/passwd", "a//b", "a/./b", ""] {
            assert!(
                manifest(vec![entry(path, &good)]).check().is_err(),
                "{path}"
            );
        }
        assert!(manifest(vec![entry("a", "abc")]).check().is_err());
        assert!(
            manifest(vec![entry("a", &good.to_uppercase())])
                .check()
                .is_err()
        );
        let mut newer = manifest(vec![]);
        newer.format = MANIFEST_FORMAT + 1;
        assert!(newer.check().unwrap_err().contains("newer"));
    }
}
