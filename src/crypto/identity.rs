//! Ed25519 signing identities whose secret half is stored sealed.
//!
//! Jukebox signs grid transactions (twin, contracts) with a per-user
//! ed25519 key. The public key is stored in clear so it can be shown and
//! compared; the secret key only ever exists on disk as a [`Sealed`] blob.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CryptoError, MasterKey, Sealed, random_bytes};

/// An ed25519 key pair with the secret key sealed under the master key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Serialized as 64 lowercase hex characters.
    #[serde(with = "hex_key")]
    pub public_key: [u8; 32],
    pub secret_key: Sealed,
}

impl Identity {
    /// Generates a fresh key pair from the OS random source.
    ///
    /// # Panics
    /// Only if the operating system's random source fails.
    pub fn generate(master: &MasterKey) -> Identity {
        let secret: Zeroizing<[u8; 32]> = random_bytes();
        // `SigningKey` wipes itself on drop (ed25519-dalek `zeroize` feature).
        let signing = SigningKey::from_bytes(&secret);
        Identity {
            public_key: signing.verifying_key().to_bytes(),
            secret_key: master.seal(secret.as_ref()),
        }
    }

    /// Unseals the signing key, checking that it belongs to `public_key`
    /// so a swapped or mixed-up record cannot sign as someone else.
    pub fn signing_key(&self, master: &MasterKey) -> Result<SigningKey, CryptoError> {
        let secret = master.open(&self.secret_key)?;
        let bytes: &[u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed("identity secret key is not 32 bytes"))?;
        let signing = SigningKey::from_bytes(bytes);
        if signing.verifying_key().to_bytes() != self.public_key {
            return Err(CryptoError::KeyMismatch);
        }
        Ok(signing)
    }

    /// The public key, validated as a point on the curve.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::from_bytes(&self.public_key)
            .map_err(|_| CryptoError::Malformed("identity public key is not a valid ed25519 key"))
    }
}

/// An identity's signing key, unsealed in memory for one piece of grid
/// work and handed to the grid with it, so the grid never has to find a key
/// itself. Not `Clone`, and wiped on drop (`SigningKey` zeroizes itself with
/// ed25519-dalek's `zeroize` feature); `Debug` shows only the public key.
pub struct IdentityKey(SigningKey);

impl IdentityKey {
    pub fn new(key: SigningKey) -> IdentityKey {
        IdentityKey(key)
    }

    /// The public key (what `Grid::ensure_twin` registers).
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The key itself, for signing (extrinsics, relay tokens, envelopes).
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityKey({})", hex::encode(self.public_key()))
    }
}

/// Serde adapter: `[u8; 32]` as lowercase hex text.
mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(key: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&text, &mut key)
            .map_err(|_| D::Error::custom("public key must be 64 hex characters"))?;
        Ok(key)
    }
}
