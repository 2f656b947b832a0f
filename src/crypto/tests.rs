//! Unit tests for sealing, key files, identities and secret hygiene.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use ed25519_dalek::{Signer, Verifier};

use super::*;

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

#[test]
fn seal_open_round_trip() {
    let master = key(1);
    let sealed = master.seal(b"wallet seed words");
    assert_eq!(
        master.open(&sealed).unwrap().as_slice(),
        b"wallet seed words"
    );
    let text = master.seal_str("token");
    assert_eq!(master.open_string(&text).unwrap().as_str(), "token");
    // Fresh nonce each time: same plaintext, different ciphertext.
    assert_ne!(master.seal(b"x"), master.seal(b"x"));
    // Empty secrets are valid too.
    assert!(master.open(&master.seal(b"")).unwrap().is_empty());
}

#[test]
fn sealed_serializes_as_plain_string() {
    let master = key(1);
    let sealed = master.seal(b"abc");
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(json.starts_with('"'));
    let back: Sealed = serde_json::from_str(&json).unwrap();
    assert_eq!(master.open(&back).unwrap().as_slice(), b"abc");
}

#[test]
fn tampering_is_detected() {
    let master = key(1);
    let sealed = master.seal(b"secret");
    let mut raw = BASE64.decode(&sealed.0).unwrap();
    for i in [0, NONCE_LEN, raw.len() - 1] {
        raw[i] ^= 0x01;
        let tampered = Sealed(BASE64.encode(&raw));
        assert_eq!(
            master.open(&tampered),
            Err(CryptoError::WrongKeyOrCorrupted)
        );
        raw[i] ^= 0x01;
    }
    assert_eq!(
        master.open(&Sealed("not base64!".into())),
        Err(CryptoError::Malformed("not valid base64"))
    );
    assert!(matches!(
        master.open(&Sealed(BASE64.encode([0u8; 20]))),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn wrong_key_fails() {
    let sealed = key(1).seal(b"secret");
    let err = key(2).open(&sealed).unwrap_err();
    assert_eq!(err, CryptoError::WrongKeyOrCorrupted);
    assert!(err.to_string().contains("master key"));
}

#[test]
fn key_file_is_created_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("master.key");
    let first = MasterKey::load_or_create(&path, None).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let content = fs::read_to_string(&path).unwrap();
    assert_eq!(content.len(), 65);
    assert!(content.ends_with('\n'));
    // No temp file left behind.
    assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

    let second = MasterKey::load_or_create(&path, None).unwrap();
    let sealed = first.seal(b"data");
    assert_eq!(second.open(&sealed).unwrap().as_slice(), b"data");
}

#[test]
fn key_file_without_newline_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    fs::write(&path, "ab".repeat(32)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let loaded = MasterKey::load_or_create(&path, None).unwrap();
    assert_eq!(*loaded.0, [0xab; 32]);
}

#[test]
fn env_key_wins_and_malformed_env_is_refused_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let hex_key = "cd".repeat(32);
    let from_env = MasterKey::load_or_create(&path, Some(&hex_key)).unwrap();
    assert_eq!(*from_env.0, [0xcd; 32]);
    assert!(!path.exists(), "env key must not create a key file");

    for bad in ["", "zz", &"g1".repeat(32), &"ab".repeat(33)] {
        let err = MasterKey::load_or_create(&path, Some(bad)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("JUKEBOX_MASTER_KEY"), "{msg}");
        if !bad.is_empty() {
            assert!(!msg.contains(bad), "message echoes the value: {msg}");
        }
    }
}

#[test]
fn loose_permissions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    MasterKey::load_or_create(&path, None).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = MasterKey::load_or_create(&path, None).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn malformed_key_file_is_refused_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    fs::write(&path, "secretish-but-not-hex\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let msg = format!("{:#}", MasterKey::load_or_create(&path, None).unwrap_err());
    assert!(msg.contains("malformed"), "{msg}");
    assert!(!msg.contains("secretish"), "{msg}");
}

#[test]
fn identity_sign_verify_round_trip() {
    let master = key(7);
    let identity = Identity::generate(&master);
    let signing = identity.signing_key(&master).unwrap();
    let signature = signing.sign(b"create contract 42");
    let verifying = identity.verifying_key().unwrap();
    assert!(verifying.verify(b"create contract 42", &signature).is_ok());
    assert!(verifying.verify(b"create contract 43", &signature).is_err());

    // Stored form: hex public key, sealed secret, and it survives a round trip.
    let json = serde_json::to_value(&identity).unwrap();
    assert_eq!(json["public_key"], hex::encode(identity.public_key));
    let back: Identity = serde_json::from_value(json).unwrap();
    assert_eq!(back, identity);

    assert_eq!(
        identity.signing_key(&key(8)).unwrap_err(),
        CryptoError::WrongKeyOrCorrupted
    );
    let other = Identity::generate(&master);
    let mixed = Identity {
        public_key: other.public_key,
        secret_key: identity.secret_key.clone(),
    };
    assert_eq!(
        mixed.signing_key(&master).unwrap_err(),
        CryptoError::KeyMismatch
    );
}

#[test]
fn debug_never_shows_secrets() {
    let master = key(0xab);
    let sealed = master.seal_str("hunter2-very-secret");
    let identity = Identity::generate(&master);
    let dbg = format!("{master:?} {sealed:?} {identity:?}");
    assert!(!dbg.contains("abab"), "{dbg}");
    assert!(!dbg.contains(&sealed.0), "{dbg}");
    assert!(!dbg.contains(&identity.secret_key.0), "{dbg}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert_eq!(
        format!("{sealed:?}"),
        format!("Sealed({} bytes)", 24 + 19 + 16)
    );
}

#[test]
fn mask_shows_little() {
    assert_eq!(mask("abcdefghijklmnyz"), "ab…yz");
    assert_eq!(mask(&"0123456789".repeat(7)), "01…89");
    // Shorter than 16: nothing at all, not even a length hint.
    assert_eq!(mask("abcdefghijklmno"), "•••");
    assert_eq!(mask("0123456789"), "•••");
    assert_eq!(mask(""), "•••");
    assert_eq!(mask("éééééééééééééééé"), "éé…éé");
}

#[test]
fn hmac_matches_rfc_4231_and_derived_keys_differ_by_label() {
    // RFC 4231 test case 2.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let master = MasterKey::from_bytes([7; 32]);
    let a = master.derive_key("web session");
    let b = master.derive_key("tfconnect app key");
    assert_ne!(*a, *b);
    assert_eq!(*a, *master.derive_key("web session"));
    assert_ne!(
        *a,
        *MasterKey::from_bytes([8; 32]).derive_key("web session")
    );
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}
