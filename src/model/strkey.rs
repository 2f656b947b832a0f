//! Stellar StrKey: the `G...` / `S...` text form of Stellar keys, as
//! stellar/stellar-protocol `ecosystem/sep-0023.md` (SEP-23) defines it; the
//! tests carry that document's account-id test cases, its refusals included.
//!
//! Encoding is one version byte, the 32-byte key, a CRC16-XModem of both
//! (little-endian), in RFC 4648 base32 without padding: 35 bytes, 56 chars.
//! A decoder is here too, so addresses we print are checked by reading them
//! back, and so a typo in a configured address is caught.

/// Version byte of an account id (public key): 6 << 3, renders as `G`.
pub const ACCOUNT_ID: u8 = 6 << 3;
/// Version byte of a secret seed: 18 << 3, renders as `S`.
pub const SECRET_SEED: u8 = 18 << 3;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ENCODED_LEN: usize = 56;
const RAW_LEN: usize = 35;

/// Why a text is not a StrKey of the expected kind.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrKeyError {
    #[error("a Stellar key is 56 characters of A-Z and 2-7")]
    Malformed,
    #[error("this is a different kind of Stellar key")]
    WrongVersion,
    #[error("the Stellar key checksum does not match (typo?)")]
    BadChecksum,
}

/// CRC16-XModem (poly 0x1021, init 0, no reflection), as StrKey uses.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Encodes a 32-byte key with a version byte.
pub fn encode(version: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(RAW_LEN);
    raw.push(version);
    raw.extend_from_slice(key);
    let crc = crc16_xmodem(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

/// Decodes and checks a StrKey of the given version, returning the key.
pub fn decode(version: u8, text: &str) -> Result<[u8; 32], StrKeyError> {
    let raw = unbase32(text).ok_or(StrKeyError::Malformed)?;
    let (body, crc) = raw.split_at(RAW_LEN - 2);
    if u16::from_le_bytes([crc[0], crc[1]]) != crc16_xmodem(body) {
        return Err(StrKeyError::BadChecksum);
    }
    if body[0] != version {
        return Err(StrKeyError::WrongVersion);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[1..]);
    Ok(key)
}

/// A valid account id whose text starts with `label` (A-Z, 2-7, first char
/// `G`, second `A`-`D`), for addresses that must be recognisably fake. The
/// key bits are the label itself, so nobody holds a secret for it.
pub fn labelled_account_id(label: &str) -> String {
    // 52 chars = 260 bits cover the version byte and all but 4 key bits; the
    // last 4 chars also carry the checksum.
    let mut chars: Vec<u8> = label
        .bytes()
        .filter(|c| ALPHABET.contains(c))
        .take(52)
        .collect();
    chars.resize(52, b'A');
    chars.extend_from_slice(b"AAAA");
    let raw = unbase32_unchecked(&chars);
    let mut key = [0u8; 32];
    key.copy_from_slice(&raw[1..33]);
    encode(ACCOUNT_ID, &key)
}

fn base32(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in raw {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Strict decoding of exactly 56 chars into 35 bytes (280 bits, no padding).
fn unbase32(text: &str) -> Option<[u8; RAW_LEN]> {
    let bytes = text.as_bytes();
    if bytes.len() != ENCODED_LEN || !bytes.iter().all(|c| ALPHABET.contains(c)) {
        return None;
    }
    Some(unbase32_unchecked(bytes))
}

fn unbase32_unchecked(chars: &[u8]) -> [u8; RAW_LEN] {
    let mut out = [0u8; RAW_LEN];
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for &c in chars.iter().take(ENCODED_LEN) {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32;
        acc = ((acc << 5) | value) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if let Some(slot) = out.get_mut(n) {
                *slot = (acc >> bits) as u8;
            }
            n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAINNET_TFT_ISSUER: &str = "GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47";

    #[test]
    fn crc_matches_the_xmodem_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn decodes_real_addresses_and_round_trips() {
        let key = decode(ACCOUNT_ID, MAINNET_TFT_ISSUER).unwrap();
        assert_eq!(encode(ACCOUNT_ID, &key), MAINNET_TFT_ISSUER);
        let seed = encode(SECRET_SEED, &[7u8; 32]);
        assert!(seed.starts_with('S'));
        assert_eq!(decode(SECRET_SEED, &seed), Ok([7u8; 32]));
        assert_eq!(decode(ACCOUNT_ID, &seed), Err(StrKeyError::WrongVersion));
    }

    #[test]
    fn rejects_typos_and_garbage() {
        let mut typo = MAINNET_TFT_ISSUER.to_owned();
        typo.replace_range(10..11, "A");
        assert_eq!(decode(ACCOUNT_ID, &typo), Err(StrKeyError::BadChecksum));
        assert_eq!(decode(ACCOUNT_ID, "GABC"), Err(StrKeyError::Malformed));
        let lower = MAINNET_TFT_ISSUER.to_lowercase();
        assert_eq!(decode(ACCOUNT_ID, &lower), Err(StrKeyError::Malformed));
    }

    /// SEP-23's "Valid non-multiplexed account" and its invalid account
    /// ids (stellar/stellar-protocol `ecosystem/sep-0023.md`, Tests).
    #[test]
    fn sep23_account_id_test_cases() {
        let key = decode(
            ACCOUNT_ID,
            "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ",
        )
        .unwrap();
        assert_eq!(
            hex::encode(key),
            "3f0c34bf93ad0d9971d04ccc90f705511c838aad9734a4a2fb0d7a03fc7fe89a"
        );
        for (invalid, why) in [
            ("GAAAAAAAACGC6", StrKeyError::Malformed),
            // Length congruent to 1 mod 8.
            (
                "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZA",
                StrKeyError::Malformed,
            ),
            // Decodes to 36 bytes, not 35.
            (
                "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUACUSI",
                StrKeyError::Malformed,
            ),
            // The version byte's low 3 bits are 7: not an account id.
            (
                "G47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVP2I",
                StrKeyError::WrongVersion,
            ),
        ] {
            assert_eq!(decode(ACCOUNT_ID, invalid), Err(why), "{invalid}");
        }
    }

    #[test]
    fn labelled_ids_are_valid_and_readable() {
        let id = labelled_account_id("GAJUKEBOXSANDBOX");
        assert!(id.starts_with("GAJUKEBOXSANDBOXAAAA"), "{id}");
        assert_eq!(id.len(), 56);
        assert!(decode(ACCOUNT_ID, &id).is_ok());
    }
}
