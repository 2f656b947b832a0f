//! RSA key pairs in PEM, as a node keeps its identity in them.
//!
//! Why: a catalog node type may keep its identity in an RSA key pair that
//! its flist restores from two variables when a node moves (an `id_rsa` and
//! `id_rsa.pub`); the upstream files that read them and show their format
//! (threefoldtech/tf-images' restorer script, the example of
//! threefoldtech/terraform-provider-grid) are named beside the settings in
//! `dialogues/catalog.yaml` and in docs/catalog.md. The keys are a PKCS#8
//! `PRIVATE KEY` and an X.509 SubjectPublicKeyInfo `PUBLIC KEY` of RSA
//! (`MIIEvgIBADANBgkqhkiG9w0BAQEFAASC…`: PKCS#8 around rsaEncryption).
//! A key pasted wrongly would boot a node with a broken identity, so the
//! pair is checked here: each parses as DER of the right shape, the
//! algorithm is rsaEncryption (RFC 8017 appendix A.1; PKCS#1 `RSA PRIVATE
//! KEY` is accepted too), and the public key is the private key's own
//! (same modulus and exponent).
//!
//! Pasting loses line breaks in some places (a one-line web field, a chat
//! that joins lines), so any white space inside the base64 is ignored, and
//! the value kept is the canonical PEM (64-character lines), which is what
//! the flist writes to the files.

use base64::Engine as _;
use pkcs8::der::asn1::UintRef;
use pkcs8::der::{Decode, Reader, SliceReader};
use pkcs8::spki::SubjectPublicKeyInfoRef;
use pkcs8::{ObjectIdentifier, PrivateKeyInfo};
use zeroize::Zeroizing;

use super::Invalid;

/// rsaEncryption (RFC 8017 appendix A.1, PKCS-1 `rsaEncryption`).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// Smallest and largest modulus accepted, in bits: anything outside is not
/// a key a node made.
const MIN_BITS: usize = 1024;
const MAX_BITS: usize = 16384;

/// Which PEM a key is: its label and whether it is secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// PKCS#8 `PRIVATE KEY`.
    Pkcs8,
    /// PKCS#1 `RSA PRIVATE KEY`.
    Pkcs1,
    /// SubjectPublicKeyInfo `PUBLIC KEY`.
    Public,
}

impl Label {
    fn text(self) -> &'static str {
        match self {
            Label::Pkcs8 => "PRIVATE KEY",
            Label::Pkcs1 => "RSA PRIVATE KEY",
            Label::Public => "PUBLIC KEY",
        }
    }
}

/// An RSA public key's numbers, big-endian without leading zeros.
#[derive(Debug, PartialEq, Eq)]
struct RsaPublic {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl RsaPublic {
    fn bits(&self) -> usize {
        match self.modulus.first() {
            Some(top) => self.modulus.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        }
    }
}

/// A checked private key: its canonical PEM and its public half.
pub(super) fn private_key(input: &str) -> Result<String, Invalid> {
    let (label, der) = unarmor(input, &[Label::Pkcs8, Label::Pkcs1], Invalid::RsaPrivateKey)?;
    let public = public_of_private(label, &der)?;
    check_size(&public)?;
    Ok(armor(label, &der))
}

/// A checked public key: its canonical PEM.
pub(super) fn public_key(input: &str) -> Result<String, Invalid> {
    let (label, der) = unarmor(input, &[Label::Public], Invalid::RsaPublicKey)?;
    let public = spki_public(&der)?;
    check_size(&public)?;
    Ok(armor(label, &der))
}

/// Refuses a public key (already checked) that is not `private`'s own.
pub(super) fn check_pair(public: &str, private: &str) -> Result<(), Invalid> {
    let (_, pub_der) = unarmor(public, &[Label::Public], Invalid::RsaPublicKey)?;
    let (label, priv_der) = unarmor(
        private,
        &[Label::Pkcs8, Label::Pkcs1],
        Invalid::RsaPrivateKey,
    )
    .map_err(|_| Invalid::KeyUnusable)?;
    let mine = public_of_private(label, &priv_der).map_err(|_| Invalid::KeyUnusable)?;
    if spki_public(&pub_der)? == mine {
        Ok(())
    } else {
        Err(Invalid::NotPublicOfKey)
    }
}

/// A short, safe description of a checked key for summaries: its kind and
/// size, nothing of the key itself.
pub(super) fn describe(value: &str) -> Option<String> {
    if let Ok((label, der)) = unarmor(value, &[Label::Pkcs8, Label::Pkcs1], Invalid::RsaPrivateKey)
    {
        let bits = public_of_private(label, &der).ok()?.bits();
        return Some(format!("RSA {bits}-bit private key (hidden)"));
    }
    let (_, der) = unarmor(value, &[Label::Public], Invalid::RsaPublicKey).ok()?;
    let bits = spki_public(&der).ok()?.bits();
    Some(format!("RSA {bits}-bit public key"))
}

fn check_size(public: &RsaPublic) -> Result<(), Invalid> {
    let bits = public.bits();
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(Invalid::RsaKeySize { bits })
    }
}

/// The DER inside `input`'s PEM armour, whose label must be one of
/// `allowed`; `wrong` is the reason for anything else.
fn unarmor(
    input: &str,
    allowed: &[Label],
    wrong: Invalid,
) -> Result<(Label, Zeroizing<Vec<u8>>), Invalid> {
    let input = input.trim();
    let rest = input.strip_prefix("-----BEGIN ").ok_or(wrong.clone())?;
    let (label_text, rest) = rest.split_once("-----").ok_or(wrong.clone())?;
    let label = [Label::Pkcs8, Label::Pkcs1, Label::Public]
        .into_iter()
        .find(|l| l.text() == label_text)
        .ok_or(wrong.clone())?;
    if !allowed.contains(&label) {
        // A public key where the private one was asked, or the reverse.
        return Err(wrong);
    }
    let end = format!("-----END {label_text}-----");
    let body = rest.strip_suffix(end.as_str()).ok_or(Invalid::PemCut)?;
    let body: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| Invalid::PemBase64)?;
    Ok((label, Zeroizing::new(der)))
}

fn armor(label: Label, der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = format!("-----BEGIN {}-----\n", label.text());
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----", label.text()));
    out
}

/// The public half of a private key: PKCS#8 around an RSAPrivateKey, or the
/// RSAPrivateKey itself (PKCS#1).
fn public_of_private(label: Label, der: &[u8]) -> Result<RsaPublic, Invalid> {
    let rsa = match label {
        Label::Pkcs8 => {
            let info = PrivateKeyInfo::try_from(der).map_err(|_| Invalid::RsaPrivateKey)?;
            if info.algorithm.oid != RSA_ENCRYPTION {
                return Err(Invalid::NotRsa);
            }
            info.private_key
        }
        Label::Pkcs1 => der,
        Label::Public => return Err(Invalid::RsaPrivateKey),
    };
    rsa_private_key(rsa).map_err(|_| Invalid::RsaPrivateKey)
}

/// RFC 8017 A.1.2: `RSAPrivateKey ::= SEQUENCE { version, modulus,
/// publicExponent, privateExponent, prime1, prime2, exponent1, exponent2,
/// coefficient, otherPrimeInfos OPTIONAL }`; two-prime keys (version 0), as
/// every common tool makes.
fn rsa_private_key(der: &[u8]) -> pkcs8::der::Result<RsaPublic> {
    let mut reader = SliceReader::new(der)?;
    let public = reader.sequence(|r| {
        let version = UintRef::decode(r)?;
        if version.as_bytes() != [0] {
            return Err(pkcs8::der::Tag::Integer.value_error());
        }
        let modulus = UintRef::decode(r)?.as_bytes().to_vec();
        let exponent = UintRef::decode(r)?.as_bytes().to_vec();
        // privateExponent, prime1, prime2, exponent1, exponent2, coefficient.
        for _ in 0..6 {
            UintRef::decode(r)?;
        }
        Ok(RsaPublic { modulus, exponent })
    })?;
    reader.finish(public)
}

/// RFC 8017 A.1.1 inside RFC 5280's SubjectPublicKeyInfo: `RSAPublicKey ::=
/// SEQUENCE { modulus, publicExponent }`.
fn spki_public(der: &[u8]) -> Result<RsaPublic, Invalid> {
    let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(|_| Invalid::RsaPublicKey)?;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(Invalid::NotRsa);
    }
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(Invalid::RsaPublicKey)?;
    let parse = || -> pkcs8::der::Result<RsaPublic> {
        let mut reader = SliceReader::new(bits)?;
        let public = reader.sequence(|r| {
            Ok(RsaPublic {
                modulus: UintRef::decode(r)?.as_bytes().to_vec(),
                exponent: UintRef::decode(r)?.as_bytes().to_vec(),
            })
        })?;
        reader.finish(public)
    };
    parse().map_err(|_| Invalid::RsaPublicKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit pair made with `openssl genpkey -algorithm RSA` (PKCS#8) and
    // `openssl pkey -pubout` (SPKI), the shapes the flist's example shows;
    // the same files the transcripts send.
    const PRIVATE: &str = include_str!("../../tests/fixtures/presearch-keys/id_rsa");
    const PUBLIC: &str = include_str!("../../tests/fixtures/presearch-keys/id_rsa.pub");
    const OTHER_PUBLIC: &str = include_str!("../../tests/fixtures/presearch-keys/other.pub");
    const PKCS1: &str = include_str!("../../tests/fixtures/presearch-keys/id_rsa.pkcs1");

    #[test]
    fn a_node_key_pair_is_accepted_and_kept_canonical() {
        let private = private_key(PRIVATE).unwrap();
        assert_eq!(private, PRIVATE.trim());
        let public = public_key(PUBLIC).unwrap();
        assert_eq!(public, PUBLIC.trim());
        check_pair(&public, &private).unwrap();
        assert_eq!(
            describe(&private).unwrap(),
            "RSA 2048-bit private key (hidden)"
        );
        assert_eq!(describe(&public).unwrap(), "RSA 2048-bit public key");
        // PKCS#1 is the same key.
        let pkcs1 = private_key(PKCS1).unwrap();
        check_pair(&public, &pkcs1).unwrap();
    }

    #[test]
    fn lost_line_breaks_and_crlf_read_the_same() {
        let one_line: String = PRIVATE.lines().collect();
        assert_eq!(private_key(&one_line).unwrap(), PRIVATE.trim());
        let spaced = PUBLIC.replace('\n', " ");
        assert_eq!(public_key(&spaced).unwrap(), PUBLIC.trim());
        let crlf = PRIVATE.replace('\n', "\r\n");
        assert_eq!(private_key(&crlf).unwrap(), PRIVATE.trim());
    }

    #[test]
    fn wrong_keys_are_refused_with_their_reason() {
        assert_eq!(private_key("hello"), Err(Invalid::RsaPrivateKey));
        assert_eq!(private_key(PUBLIC), Err(Invalid::RsaPrivateKey));
        assert_eq!(public_key(PRIVATE), Err(Invalid::RsaPublicKey));
        let cut: String = PRIVATE.lines().take(10).collect::<Vec<_>>().join("\n");
        assert_eq!(private_key(&cut), Err(Invalid::PemCut));
        let garbled = PRIVATE.replacen("MII", "M!I", 1);
        assert_eq!(private_key(&garbled), Err(Invalid::PemBase64));
        // Valid base64 of something that is not a key.
        let junk = "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----";
        assert_eq!(private_key(junk), Err(Invalid::RsaPrivateKey));
        // Another node's public key is not this private key's.
        let other = public_key(OTHER_PUBLIC).unwrap();
        assert_eq!(
            check_pair(&other, &private_key(PRIVATE).unwrap()),
            Err(Invalid::NotPublicOfKey)
        );
        // An Ed25519 SPKI (RFC 8410 example) is not RSA.
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";
        assert_eq!(public_key(ed), Err(Invalid::NotRsa));
        for bad in [
            Invalid::RsaPrivateKey,
            Invalid::NotPublicOfKey,
            Invalid::PemCut,
        ] {
            assert!(!bad.to_string().is_empty());
        }
    }
}
