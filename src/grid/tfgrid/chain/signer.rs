//! Signing TFChain extrinsics with a twin's ed25519 key.
//!
//! `subxt-signer` has no ed25519, but subxt's `Signer` is two methods: the
//! account id is the 32-byte public key, the signature
//! `MultiSignature::Ed25519`. subxt hands over the signer payload already
//! blake2-256 hashed when it is longer than 256 bytes, as the runtime checks.

use ed25519_dalek::{Signer as _, SigningKey};
use subxt::SubstrateConfig;
use subxt::config::substrate::{AccountId32, MultiSignature};
use subxt::tx::Signer;

/// A twin's key as a TFChain signer. Its `Debug` shows the account only.
#[derive(Clone)]
pub struct Ed25519Signer {
    key: SigningKey,
}

impl Ed25519Signer {
    pub fn new(key: SigningKey) -> Ed25519Signer {
        Ed25519Signer { key }
    }

    /// The account: the public key's 32 bytes.
    pub fn account(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Signer({})", hex::encode(self.account()))
    }
}

impl Signer<SubstrateConfig> for Ed25519Signer {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.account())
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Ed25519(self.key.sign(signer_payload).to_bytes())
    }
}
