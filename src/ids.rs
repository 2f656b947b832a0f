//! Identifiers that cross module boundaries, built only by parsing.
//!
//! A [`UserId`] names a person on one channel (`tg:12345`, `term:alice`,
//! `web:alice.3bot`). Its character set is restricted so that it is safe as a
//! directory name and in logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A channel-qualified user identifier: `<channel>:<local id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// Why a text is not a valid identifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct IdError(&'static str);

impl UserId {
    pub fn parse(text: &str) -> Result<UserId, IdError> {
        let (channel, local) = text.split_once(':').ok_or(IdError(
            "a user id looks like channel:name, e.g. term:alice",
        ))?;
        let channel_ok = !channel.is_empty()
            && channel.len() <= 8
            && channel.chars().all(|c| c.is_ascii_lowercase());
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
            && !local.starts_with('.');
        if !channel_ok {
            return Err(IdError(
                "the channel part of a user id is 1-8 lowercase letters",
            ));
        }
        if !local_ok {
            return Err(IdError(
                "the name part of a user id is 1-64 letters, digits or _ - . @",
            ));
        }
        Ok(UserId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The channel part (`tg`, `term`, `web`).
    pub fn channel(&self) -> &str {
        self.0.split_once(':').map(|(c, _)| c).unwrap_or("")
    }

    /// A file-system-safe directory name: ':' becomes '~'.
    pub fn dir_name(&self) -> String {
        self.0.replace(':', "~")
    }

    /// Inverse of [`UserId::dir_name`].
    pub fn from_dir_name(name: &str) -> Result<UserId, IdError> {
        UserId::parse(&name.replacen('~', ":", 1))
    }

    /// One of 256 shards ("00".."ff"), stable across releases (FNV-1a).
    pub fn shard(&self) -> String {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in self.0.bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        format!(
            "{:02x}",
            (hash ^ (hash >> 8) ^ (hash >> 16) ^ (hash >> 24)) & 0xff
        )
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<UserId, IdError> {
        UserId::parse(s)
    }
}

impl TryFrom<String> for UserId {
    type Error = IdError;
    fn try_from(s: String) -> Result<UserId, IdError> {
        UserId::parse(&s)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids_and_rejects_others() {
        for ok in ["tg:12345", "term:alice", "web:alice.3bot", "tg:-100123"] {
            assert!(UserId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "alice", ":x", "TG:1", "tg:", "tg:a/b", "tg:..", "tg:a b",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dir_name_round_trips_and_shards_are_two_hex_digits() {
        let id = UserId::parse("web:alice.3bot").unwrap();
        assert_eq!(UserId::from_dir_name(&id.dir_name()).unwrap(), id);
        assert_eq!(id.shard().len(), 2);
        assert!(u8::from_str_radix(&id.shard(), 16).is_ok());
    }
}
