//! Validation of document and global record names.
//!
//! Names become file names, so they are restricted to `[a-z0-9_-]`: no
//! path separators, no dots (so no `..` and no clash with `.tmp-` files),
//! and a length far below file-name limits.

use super::StoreError;

/// Longest accepted name segment.
const MAX_NAME_LEN: usize = 64;

/// Checks one name segment, e.g. a per-user document name.
pub(crate) fn check_doc(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(bad_name(name)) }
}

/// Checks a global name: one segment or `dir/name`.
pub(crate) fn check_global(name: &str) -> Result<(), StoreError> {
    let ok = match name.split_once('/') {
        Some((dir, leaf)) => check_doc(dir).is_ok() && check_doc(leaf).is_ok(),
        None => check_doc(name).is_ok(),
    };
    if ok { Ok(()) } else { Err(bad_name(name)) }
}

/// Keeps error messages bounded even for hostile input.
fn bad_name(name: &str) -> StoreError {
    StoreError::BadName(name.chars().take(80).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names_and_rejects_the_rest() {
        for ok in ["profile", "deploy-1", "a_b", "0"] {
            assert!(check_doc(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a.b",
            "..",
            "a/b",
            ".tmp-x",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_doc(bad).is_err(), "{bad}");
        }
        assert!(check_global("memos/abc").is_ok());
        assert!(check_global("prices").is_ok());
        for bad in ["a/b/c", "/a", "a/", "../a", "a/.."] {
            assert!(check_global(bad).is_err(), "{bad}");
        }
    }
}
