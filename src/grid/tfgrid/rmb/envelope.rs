//! The RMB envelope: every message a twin sends through a relay, its
//! protobuf encoding (`types.proto` of rmb-rs, `tfgrid-v3.md` section 2) and
//! its signature.
//!
//! The signature covers an MD5 over the fields in a fixed order (uid, tags,
//! timestamp, expiration, source, destination, the message's own fields,
//! schema, federation, payload) and is the signer's type prefix (`'e'` for
//! ed25519) followed by the 64-byte ed25519 signature of the 16 digest bytes.

use std::fmt::Write as _;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use md5::{Digest as _, Md5};

use super::wire::{Reader, WireError, put_bytes, put_uint};

/// Marks an ed25519 signature in RMB (sr25519 would be `'s'`).
pub const ED25519_PREFIX: u8 = b'e';
/// The schema of every payload Jukebox sends and reads.
pub const JSON_SCHEMA: &str = "application/json";

/// A twin, and optionally one of its connections (sessions) at the relay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    pub twin: u32,
    pub connection: Option<String>,
}

impl Address {
    pub fn twin(twin: u32) -> Address {
        Address {
            twin,
            connection: None,
        }
    }
}

/// What an envelope carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Message {
    #[default]
    None,
    Request {
        command: String,
    },
    Response,
    Error {
        code: u32,
        message: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Payload {
    #[default]
    None,
    Plain(Vec<u8>),
    /// End-to-end encrypted; Jukebox sends plain payloads only.
    Cipher(Vec<u8>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    pub uid: String,
    pub tags: Option<String>,
    /// Unix seconds when sent.
    pub timestamp: u64,
    /// Seconds the message stays valid after `timestamp`.
    pub expiration: u64,
    pub source: Address,
    pub destination: Address,
    pub message: Message,
    pub signature: Option<Vec<u8>>,
    pub schema: Option<String>,
    pub federation: Option<String>,
    pub payload: Payload,
}

/// Why an envelope's signature is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeSignatureError {
    #[error("the envelope is not signed")]
    Missing,
    #[error("the envelope is signed with an unsupported key type {0:?}")]
    UnsupportedType(char),
    #[error("the envelope signature is malformed")]
    Malformed,
    #[error("the envelope signature does not verify")]
    Invalid,
}

impl Envelope {
    /// The protobuf bytes sent as one binary websocket frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.uid.is_empty() {
            put_bytes(&mut out, 1, self.uid.as_bytes());
        }
        if let Some(tags) = &self.tags {
            put_bytes(&mut out, 2, tags.as_bytes());
        }
        if self.timestamp != 0 {
            put_uint(&mut out, 3, self.timestamp);
        }
        if self.expiration != 0 {
            put_uint(&mut out, 4, self.expiration);
        }
        put_bytes(&mut out, 5, &encode_address(&self.source));
        put_bytes(&mut out, 6, &encode_address(&self.destination));
        match &self.message {
            Message::None => {}
            Message::Request { command } => {
                let mut req = Vec::new();
                if !command.is_empty() {
                    put_bytes(&mut req, 1, command.as_bytes());
                }
                put_bytes(&mut out, 7, &req);
            }
            Message::Response => put_bytes(&mut out, 8, &[]),
            Message::Error { code, message } => {
                let mut err = Vec::new();
                if *code != 0 {
                    put_uint(&mut err, 1, u64::from(*code));
                }
                if !message.is_empty() {
                    put_bytes(&mut err, 2, message.as_bytes());
                }
                put_bytes(&mut out, 12, &err);
            }
        }
        if let Some(sig) = &self.signature {
            put_bytes(&mut out, 9, sig);
        }
        if let Some(schema) = &self.schema {
            put_bytes(&mut out, 10, schema.as_bytes());
        }
        if let Some(federation) = &self.federation {
            put_bytes(&mut out, 11, federation.as_bytes());
        }
        match &self.payload {
            Payload::None => {}
            Payload::Plain(p) => put_bytes(&mut out, 13, p),
            Payload::Cipher(p) => put_bytes(&mut out, 14, p),
        }
        out
    }

    /// Parses one frame; unknown fields (newer relays add some) are skipped.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, WireError> {
        let mut env = Envelope::default();
        let mut r = Reader::new(bytes);
        while let Some(field) = r.next_field() {
            let (number, value) = field?;
            match number {
                1 => env.uid = value.as_string()?,
                2 => env.tags = Some(value.as_string()?),
                3 => env.timestamp = value.as_u64()?,
                4 => env.expiration = value.as_u64()?,
                5 => env.source = decode_address(value.as_bytes()?)?,
                6 => env.destination = decode_address(value.as_bytes()?)?,
                7 => {
                    let mut command = String::new();
                    let mut req = Reader::new(value.as_bytes()?);
                    while let Some(f) = req.next_field() {
                        if let (1, v) = f? {
                            command = v.as_string()?;
                        }
                    }
                    env.message = Message::Request { command };
                }
                8 => env.message = Message::Response,
                12 => {
                    let (mut code, mut message) = (0, String::new());
                    let mut err = Reader::new(value.as_bytes()?);
                    while let Some(f) = err.next_field() {
                        match f? {
                            (1, v) => code = v.as_u32()?,
                            (2, v) => message = v.as_string()?,
                            _ => {}
                        }
                    }
                    env.message = Message::Error { code, message };
                }
                9 => env.signature = Some(value.as_bytes()?.to_vec()),
                10 => env.schema = Some(value.as_string()?),
                11 => env.federation = Some(value.as_string()?),
                13 => env.payload = Payload::Plain(value.as_bytes()?.to_vec()),
                14 => env.payload = Payload::Cipher(value.as_bytes()?.to_vec()),
                _ => {}
            }
        }
        Ok(env)
    }

    /// The bytes the signature covers, before hashing.
    pub fn challenge(&self) -> Vec<u8> {
        let mut text = String::new();
        let mut push = |v: &dyn std::fmt::Display| {
            // Writing to a String cannot fail.
            let _ = write!(text, "{v}");
        };
        push(&self.uid);
        if let Some(tags) = &self.tags {
            push(tags);
        }
        push(&self.timestamp);
        push(&self.expiration);
        for address in [&self.source, &self.destination] {
            push(&address.twin);
            if let Some(connection) = &address.connection {
                push(connection);
            }
        }
        match &self.message {
            Message::Request { command } => push(command),
            Message::Error { code, message } => {
                push(code);
                push(message);
            }
            Message::Response | Message::None => {}
        }
        if let Some(schema) = &self.schema {
            push(schema);
        }
        if let Some(federation) = &self.federation {
            push(federation);
        }
        let mut bytes = text.into_bytes();
        // The payload goes in raw, not as text.
        match &self.payload {
            Payload::Plain(p) | Payload::Cipher(p) => bytes.extend_from_slice(p),
            Payload::None => {}
        }
        bytes
    }

    pub fn challenge_hash(&self) -> [u8; 16] {
        Md5::digest(self.challenge()).into()
    }

    /// Signs with the sender's ed25519 key, replacing any signature.
    pub fn sign(&mut self, key: &SigningKey) {
        let mut sig = Vec::with_capacity(65);
        sig.push(ED25519_PREFIX);
        sig.extend_from_slice(&key.sign(&self.challenge_hash()).to_bytes());
        self.signature = Some(sig);
    }

    /// Checks the signature against the sender's ed25519 key.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), EnvelopeSignatureError> {
        let sig = self
            .signature
            .as_deref()
            .ok_or(EnvelopeSignatureError::Missing)?;
        let (&prefix, raw) = sig.split_first().ok_or(EnvelopeSignatureError::Malformed)?;
        if prefix != ED25519_PREFIX {
            return Err(EnvelopeSignatureError::UnsupportedType(char::from(prefix)));
        }
        let raw: [u8; 64] = raw
            .try_into()
            .map_err(|_| EnvelopeSignatureError::Malformed)?;
        key.verify(
            &self.challenge_hash(),
            &ed25519_dalek::Signature::from_bytes(&raw),
        )
        .map_err(|_| EnvelopeSignatureError::Invalid)
    }
}

fn encode_address(a: &Address) -> Vec<u8> {
    let mut out = Vec::new();
    if a.twin != 0 {
        put_uint(&mut out, 1, u64::from(a.twin));
    }
    if let Some(c) = &a.connection {
        put_bytes(&mut out, 2, c.as_bytes());
    }
    out
}

fn decode_address(bytes: &[u8]) -> Result<Address, WireError> {
    let mut a = Address::default();
    let mut r = Reader::new(bytes);
    while let Some(f) = r.next_field() {
        match f? {
            (1, v) => a.twin = v.as_u32()?,
            (2, v) => a.connection = Some(v.as_string()?),
            _ => {}
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Envelope {
        Envelope {
            uid: "u1".into(),
            tags: None,
            timestamp: 1_700_000_000,
            expiration: 60,
            source: Address {
                twin: 42,
                connection: Some("s1".into()),
            },
            destination: Address::twin(7),
            message: Message::Request {
                command: "zos.deployment.get".into(),
            },
            signature: None,
            schema: Some(JSON_SCHEMA.into()),
            federation: None,
            payload: Payload::Plain(br#"{"contract_id":5}"#.to_vec()),
        }
    }

    #[test]
    fn the_challenge_concatenates_fields_in_rmb_order() {
        let env = request();
        assert_eq!(
            String::from_utf8(env.challenge()).unwrap(),
            concat!(
                "u1",
                "1700000000",
                "60",
                "42",
                "s1",
                "7",
                "zos.deployment.get",
                "application/json",
                "{\"contract_id\":5}"
            )
        );
        let err = Envelope {
            message: Message::Error {
                code: 3,
                message: "boom".into(),
            },
            payload: Payload::None,
            schema: None,
            ..request()
        };
        assert!(
            String::from_utf8(err.challenge())
                .unwrap()
                .ends_with("73boom")
        );
    }

    #[test]
    fn encoding_round_trips_and_matches_hand_computed_bytes() {
        let mut env = request();
        let key = SigningKey::from_bytes(&[9; 32]);
        env.sign(&key);
        let bytes = env.encode();
        assert_eq!(Envelope::decode(&bytes).unwrap(), env);
        // The head, byte by byte: uid "u1", timestamp, expiration 60,
        // source {twin 42, connection "s1"}, destination {twin 7}.
        let head = [
            0x0a, 2, b'u', b'1', 0x18, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x20, 60, 0x2a, 6, 0x08, 42,
            0x12, 2, b's', b'1', 0x32, 2, 0x08, 7,
        ];
        assert_eq!(&bytes[..head.len()], &head);
        let error = Envelope {
            message: Message::Error {
                code: 1,
                message: "x".into(),
            },
            ..Envelope::default()
        };
        assert_eq!(Envelope::decode(&error.encode()).unwrap(), error);
        let response = Envelope {
            message: Message::Response,
            payload: Payload::Plain(Vec::new()),
            ..Envelope::default()
        };
        assert_eq!(Envelope::decode(&response.encode()).unwrap(), response);
    }

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut env = request();
        assert_eq!(
            env.verify(&key.verifying_key()),
            Err(EnvelopeSignatureError::Missing)
        );
        env.sign(&key);
        let sig = env.signature.clone().unwrap();
        assert_eq!((sig.len(), sig[0]), (65, b'e'));
        assert_eq!(env.verify(&key.verifying_key()), Ok(()));
        let other = SigningKey::from_bytes(&[4; 32]);
        assert_eq!(
            env.verify(&other.verifying_key()),
            Err(EnvelopeSignatureError::Invalid)
        );
        let mut tampered = env.clone();
        tampered.payload = Payload::Plain(br#"{"contract_id":6}"#.to_vec());
        assert_eq!(
            tampered.verify(&key.verifying_key()),
            Err(EnvelopeSignatureError::Invalid)
        );
        let mut sr = env.clone();
        sr.signature.as_mut().unwrap()[0] = b's';
        assert_eq!(
            sr.verify(&key.verifying_key()),
            Err(EnvelopeSignatureError::UnsupportedType('s'))
        );
    }

    #[test]
    fn unknown_fields_are_skipped_and_garbage_is_refused() {
        let mut bytes = request().encode();
        // Field 17 (relays in newer relays), a string.
        bytes.extend_from_slice(&[0x8a, 0x01, 3, b'a', b'b', b'c']);
        assert_eq!(Envelope::decode(&bytes).unwrap(), request());
        assert!(Envelope::decode(&[0x0a, 50, 1]).is_err());
        assert!(Envelope::decode(&[0x0a, 2, 0xff, 0xfe]).is_err());
    }
}
