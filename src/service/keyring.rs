//! The real grid's [`KeyRing`] over the store: finds a user's intermediate
//! identity by its public key or its twin, and unseals its signing key for
//! one call.
//!
//! Two small global indexes make that a direct lookup rather than a scan of
//! 100,000 profiles: `global/identities/<public key hex>` and
//! `global/twins/<twin id>`, each naming the user. They are written before
//! the grid is asked to register the key, and again when it answers with the
//! twin, so a crash in between leaves an index that the retry rewrites.
//! An index entry is only a hint: the profile it points at must hold the
//! same key (and twin) or nothing is unsealed, so a stale or tampered entry
//! can never make one user's key sign for another.

use std::sync::Arc;

use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::crypto::MasterKey;
use crate::grid::TwinId;
use crate::grid::tfgrid::adapter::KeyRing;
use crate::ids::UserId;
use crate::store::{Store, blocking_io};
use crate::user::{self, Profile};

/// One index entry: whose identity this is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Owner {
    user: UserId,
}

fn identity_entry(public_key: &[u8; 32]) -> String {
    format!("identities/{}", hex::encode(public_key))
}

fn twin_entry(twin: TwinId) -> String {
    format!("twins/{}", twin.0)
}

/// Records that `user` holds the identity `public_key` (before the grid is
/// asked to register it).
pub(crate) fn index_identity(
    store: &Store,
    public_key: &[u8; 32],
    user: &UserId,
) -> anyhow::Result<()> {
    index(store, &identity_entry(public_key), user)
}

/// Records that `user`'s identity is `twin` on the grid.
pub(crate) fn index_twin(store: &Store, twin: TwinId, user: &UserId) -> anyhow::Result<()> {
    index(store, &twin_entry(twin), user)
}

fn index(store: &Store, entry: &str, user: &UserId) -> anyhow::Result<()> {
    let owner = Owner { user: user.clone() };
    // Written once: most calls find the entry already right.
    if blocking_io(|| store.read_global::<Owner>(entry))?.as_ref() == Some(&owner) {
        return Ok(());
    }
    Ok(blocking_io(|| store.write_global(entry, &owner))?)
}

/// Identities' keys from users' profiles, unsealed with the master key.
pub struct StoreKeyRing {
    store: Arc<Store>,
    master: Arc<MasterKey>,
}

impl StoreKeyRing {
    pub fn new(store: Arc<Store>, master: Arc<MasterKey>) -> StoreKeyRing {
        StoreKeyRing { store, master }
    }

    /// The profile an index entry names, if it is there and readable.
    fn profile_at(&self, entry: &str) -> Option<Profile> {
        let owner = blocking_io(|| self.store.read_global::<Owner>(entry))
            .inspect_err(|e| tracing::warn!(entry, error = %e, "identity index unreadable"))
            .ok()??;
        blocking_io(|| self.store.read::<Profile>(&owner.user, user::PROFILE))
            .inspect_err(|e| tracing::warn!(user = %owner.user, error = %e, "profile unreadable"))
            .ok()?
    }

    fn unseal(&self, profile: &Profile) -> Option<SigningKey> {
        profile
            .identity
            .signing_key(&self.master)
            .inspect_err(
                |e| tracing::error!(user = %profile.id, error = %e, "identity key does not open"),
            )
            .ok()
    }
}

#[async_trait]
impl KeyRing for StoreKeyRing {
    async fn by_public_key(&self, public_key: &[u8; 32]) -> Option<SigningKey> {
        let profile = self.profile_at(&identity_entry(public_key))?;
        if &profile.identity.public_key != public_key {
            tracing::warn!(user = %profile.id, "identity index names a user with another key");
            return None;
        }
        self.unseal(&profile)
    }

    async fn by_twin(&self, twin: TwinId) -> Option<SigningKey> {
        let profile = self.profile_at(&twin_entry(twin))?;
        if profile.twin != Some(twin) {
            tracing::warn!(user = %profile.id, twin = twin.0, "twin index names a user with another twin");
            return None;
        }
        self.unseal(&profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    fn profile(user: &str, master: &MasterKey) -> Profile {
        Profile {
            id: UserId::parse(user).unwrap(),
            display_name: user.into(),
            created_at: 0,
            identity: Identity::generate(master),
            twin: None,
            account: Default::default(),
            blocked: false,
            funding: Default::default(),
            banned: false,
        }
    }

    #[tokio::test]
    async fn keys_are_found_by_public_key_and_twin_and_never_for_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let master = Arc::new(MasterKey::from_bytes([7; 32]));
        let ring = StoreKeyRing::new(store.clone(), master.clone());
        let mut alice = profile("term:alice", &master);
        let bob = profile("term:bob", &master);
        store.write(&alice.id, user::PROFILE, &alice).unwrap();
        store.write(&bob.id, user::PROFILE, &bob).unwrap();

        // Nothing indexed yet: nothing found.
        assert!(
            ring.by_public_key(&alice.identity.public_key)
                .await
                .is_none()
        );
        index_identity(&store, &alice.identity.public_key, &alice.id).unwrap();
        let key = ring
            .by_public_key(&alice.identity.public_key)
            .await
            .unwrap();
        assert_eq!(key.verifying_key().to_bytes(), alice.identity.public_key);

        // The twin index counts only once the profile holds that twin.
        index_twin(&store, TwinId(42), &alice.id).unwrap();
        assert!(ring.by_twin(TwinId(42)).await.is_none());
        alice.twin = Some(TwinId(42));
        store.write(&alice.id, user::PROFILE, &alice).unwrap();
        let key = ring.by_twin(TwinId(42)).await.unwrap();
        assert_eq!(key.verifying_key().to_bytes(), alice.identity.public_key);

        // An entry pointing Bob's key (or twin) at Alice opens nothing.
        index_identity(&store, &bob.identity.public_key, &alice.id).unwrap();
        assert!(ring.by_public_key(&bob.identity.public_key).await.is_none());
        index_twin(&store, TwinId(7), &bob.id).unwrap();
        assert!(ring.by_twin(TwinId(7)).await.is_none());
    }
}
