//! At-rest encryption of secrets and the bot's signing identities.
//!
//! Everything secret that Jukebox writes to disk (wallet seeds, user API
//! tokens, identity keys) is sealed with one [`MasterKey`] using
//! XChaCha20-Poly1305, so a copied data directory alone reveals nothing.
//! The master key comes from `JUKEBOX_MASTER_KEY` or from a 0600 key file
//! that is created on first start.
//!
//! Secrets never appear in `Debug` output or logs: [`MasterKey`] and
//! [`Sealed`] print no key material, decrypted data is returned in
//! [`Zeroizing`] buffers, and [`mask`] is the one way to echo a secret.

mod identity;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

pub use identity::{Identity, IdentityKey};

/// Length of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Length of the Poly1305 authentication tag appended to every ciphertext.
const TAG_LEN: usize = 16;
/// Length of the master key in bytes (64 hex characters).
const KEY_LEN: usize = 32;

/// Why sealed data could not be opened or a key could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// AEAD cannot tell these apart, so the message names both causes.
    #[error(
        "cannot decrypt stored secret: the master key is not the one it was sealed with, or the data is corrupted"
    )]
    WrongKeyOrCorrupted,
    #[error("stored secret is malformed: {0}")]
    Malformed(&'static str),
    #[error("stored identity is inconsistent: its secret key does not match its public key")]
    KeyMismatch,
}

/// The 32-byte key that seals every secret at rest.
///
/// Deliberately not `Clone`: share it behind an `Arc` so only one copy of the
/// key lives in memory, and it is wiped when dropped.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Loads the master key, creating a key file on first start.
    ///
    /// `env_value` is the content of `JUKEBOX_MASTER_KEY`; when present it
    /// wins over the file. Error messages never contain key material.
    pub fn load_or_create(key_file: &Path, env_value: Option<&str>) -> anyhow::Result<MasterKey> {
        if let Some(value) = env_value {
            return parse_hex_key(value.trim()).map(MasterKey).map_err(|why| {
                anyhow::anyhow!(
                    "JUKEBOX_MASTER_KEY is set but {why}; it must be exactly 64 hex characters (32 bytes)"
                )
            });
        }
        // Two attempts: if another process creates the file between our
        // failed read and our create, the second read picks up its key.
        for _ in 0..2 {
            match read_key_file(key_file)? {
                Some(key) => return Ok(key),
                None => {
                    if let Some(key) = create_key_file(key_file)? {
                        return Ok(key);
                    }
                }
            }
        }
        bail!(
            "master key file {} keeps appearing and disappearing; is another process touching it?",
            key_file.display()
        )
    }

    /// Wraps raw key bytes (tests, or keys obtained elsewhere).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // Borrowed, not copied; the cipher wipes its own copy on drop.
        XChaCha20Poly1305::new(Key::from_slice(&self.0[..]))
    }

    /// Encrypts `plaintext` under a fresh random nonce.
    ///
    /// # Panics
    /// Only if the operating system's random source fails (no safe nonce
    /// exists then) or `plaintext` exceeds 256 GiB.
    pub fn seal(&self, plaintext: &[u8]) -> Sealed {
        let nonce_bytes: Zeroizing<[u8; NONCE_LEN]> = random_bytes();
        let nonce = XNonce::from_slice(nonce_bytes.as_ref());
        // Encryption with a valid key and in-memory buffer cannot fail; the
        // only error the aead crate reports is for lengths beyond 2^38 bytes.
        let ciphertext = match self.cipher().encrypt(nonce, plaintext) {
            Ok(ct) => ct,
            Err(_) => panic!("plaintext too large to seal"),
        };
        let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        raw.extend_from_slice(nonce_bytes.as_ref());
        raw.extend_from_slice(&ciphertext);
        Sealed(BASE64.encode(raw))
    }

    /// Decrypts and authenticates `sealed`.
    pub fn open(&self, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let raw = BASE64
            .decode(sealed.0.as_bytes())
            .map_err(|_| CryptoError::Malformed("not valid base64"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("too short to be sealed data"));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::WrongKeyOrCorrupted)
    }

    /// [`MasterKey::seal`] for text secrets.
    pub fn seal_str(&self, plaintext: &str) -> Sealed {
        self.seal(plaintext.as_bytes())
    }

    /// [`MasterKey::open`] for secrets sealed with [`MasterKey::seal_str`].
    pub fn open_string(&self, sealed: &Sealed) -> Result<Zeroizing<String>, CryptoError> {
        let mut bytes = self.open(sealed)?;
        // Move the bytes out rather than copying, so no unwiped copy remains.
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(err) => {
                err.into_bytes().zeroize();
                Err(CryptoError::Malformed("sealed secret is not UTF-8 text"))
            }
        }
    }

    /// A 32-byte key for one purpose (`label`), derived from the master key
    /// with HMAC-SHA256, so cookie signing or the website's login key need
    /// no key file of their own and change when the master key does.
    pub fn derive_key(&self, label: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(&self.0[..], label.as_bytes()))
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sealed data: base64 of `nonce (24 bytes) || ciphertext || tag (16 bytes)`.
///
/// Safe to store and log-free to print: `Debug` shows only its size.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Decoded length computed from the base64 text, without decoding.
        let padding = self.0.bytes().rev().take_while(|&b| b == b'=').count();
        let bytes = (self.0.len() / 4 * 3).saturating_sub(padding);
        write!(f, "Sealed({bytes} bytes)")
    }
}

/// Shows a secret setting without revealing it: at most the first 2 and the
/// last 2 characters (`"ab…yz"`), and only of secrets of at least 16
/// characters, where 4 shown leave at least 12 unknown; shorter ones show
/// nothing (`"•••"`), since a passphrase of 9 with 4 shown is half given away.
pub fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count < 16 {
        return "•••".to_owned();
    }
    let head: String = secret.chars().take(2).collect();
    let tail: String = secret.chars().skip(count - 2).collect();
    format!("{head}…{tail}")
}

/// Fills an array from the OS random source.
///
/// # Panics
/// If the OS random source fails. On Linux `getrandom(2)` only fails on
/// broken or sandboxed systems; carrying on with weak randomness would
/// silently compromise keys and nonces, so stopping is the safe choice.
pub(crate) fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    if let Err(err) = getrandom::getrandom(bytes.as_mut()) {
        panic!("the operating system's random number generator failed: {err}");
    }
    bytes
}

/// `len` random characters of `[A-Za-z0-9]`, each equally likely, from the
/// OS random source (tokens for forms, sessions and login states).
///
/// # Panics
/// If the OS random source fails (see [`random_bytes`]).
pub(crate) fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for &b in random_bytes::<64>().iter() {
            // 248 = 4 * 62: dropping the top 8 byte values keeps every
            // character equally likely.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// Parses 64 hex characters. The error text never includes the input.
fn parse_hex_key(text: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, &'static str> {
    if text.is_empty() {
        return Err("empty");
    }
    if text.len() != KEY_LEN * 2 {
        return Err("has the wrong length");
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    hex::decode_to_slice(text, key.as_mut()).map_err(|_| "contains non-hex characters")?;
    Ok(key)
}

/// Reads an existing key file; `Ok(None)` if it does not exist.
fn read_key_file(key_file: &Path) -> anyhow::Result<Option<MasterKey>> {
    let path = key_file.display();
    let mut file = match File::open(key_file) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot open master key file {path}")),
    };
    // Checked on the open handle, so the file cannot be swapped in between.
    let meta = file
        .metadata()
        .with_context(|| format!("cannot inspect master key file {path}"))?;
    if !meta.is_file() {
        bail!("master key file {path} is not a regular file");
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "master key file {path} can be read by other users (mode {mode:03o}); run `chmod 600 {path}` and start again"
        );
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read master key file {path}"))?;
    let content = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    let key = parse_hex_key(content).map_err(|why| {
        anyhow::anyhow!(
            "master key file {path} is malformed ({why}); it must hold exactly 64 hex characters"
        )
    })?;
    Ok(Some(MasterKey(key)))
}

/// Creates a new key file; `Ok(None)` if someone else created it first.
///
/// The key is written to a private temp file which is then hard-linked to
/// the final name: the key file therefore appears complete or not at all
/// (a crash cannot leave an empty key file), and an existing key is never
/// overwritten because `link(2)` refuses to replace a file.
fn create_key_file(key_file: &Path) -> anyhow::Result<Option<MasterKey>> {
    let path = key_file.display();
    let dir = match key_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create directory {} for the master key",
            dir.display()
        )
    })?;
    let key: Zeroizing<[u8; KEY_LEN]> = random_bytes();
    let mut text = Zeroizing::new(hex::encode(key.as_ref()));
    text.push('\n');

    let temp = dir.join(format!(".tmp-master-key-{}", std::process::id()));
    // A leftover from a crashed earlier run with the same pid holds no
    // key that was ever used, so it is safe to discard.
    let _ = fs::remove_file(&temp);
    let result = (|| -> anyhow::Result<bool> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .with_context(|| format!("cannot create master key file {path}"))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write master key file {path}"))?;
        match fs::hard_link(&temp, key_file) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::AlreadyExists => return Ok(false),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create master key file {path}"));
            }
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync directory {}", dir.display()))?;
        Ok(true)
    })();
    let _ = fs::remove_file(&temp);
    match result? {
        true => {
            tracing::info!(path = %key_file.display(), "created a new master key file; back it up");
            Ok(Some(MasterKey(key)))
        }
        false => Ok(None),
    }
}
