//! The repository: the bottom layer of the service, which owns users'
//! documents and nothing else.
//!
//! Every read and write of a user's profile, conversation, nodes and orders,
//! and of the global records (`global/...`), goes through [`Repo`]; so do
//! the per-user locks, sealing (secret answers, identity keys) and the
//! monitor's watch list, which every save of a user's nodes re-syncs. The
//! components above (deployer, monitor, billing, ...) hold an `Arc<Repo>`
//! and never the store itself, so these rules hold in one place: a write is
//! durable before the call returns (inside a deferred scope, before anything
//! leaves the process: `store/deferred.rs`), a secret is sealed before it
//! reaches a document, and the watch list never drifts from the nodes on
//! disk. It calls nothing above it.

mod running;

use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OwnedMutexGuard;

use super::watch::Watchlist;
use crate::crypto::{Identity, IdentityKey, MasterKey};
use crate::ids::UserId;
use crate::store::{Store, UserLocks, blocking_io, record_io};
use crate::user::{self, Nodes, Orders, Profile, StoredConversation};

/// Users' documents, global records, locks and the watch list.
pub struct Repo {
    store: Arc<Store>,
    master: Arc<MasterKey>,
    locks: UserLocks,
    /// Kept here, not in the monitor, because the sync is part of saving
    /// nodes: nothing else mutates a user's entries.
    watch: Watchlist,
}

impl Repo {
    pub fn new(store: Arc<Store>, master: Arc<MasterKey>) -> Repo {
        Repo {
            store,
            master,
            locks: UserLocks::new(),
            watch: Watchlist::default(),
        }
    }

    /// The store, for whole-store scans (reports, stats) that read many
    /// users at once. Writes go through the methods below.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The master key (the Telegram inbox seals with it; the web session
    /// keys derive from it).
    pub fn master(&self) -> &Arc<MasterKey> {
        &self.master
    }

    /// The monitor's in-memory watch list (read; it changes only through
    /// [`Repo::save_nodes`] and the monitor's observations).
    pub(crate) fn watch(&self) -> &Watchlist {
        &self.watch
    }

    /// Serialises one user's operations: held across load, change and save.
    pub async fn lock(&self, user: &UserId) -> OwnedMutexGuard<()> {
        self.locks.lock(user).await
    }

    pub fn load_profile(&self, user: &UserId) -> anyhow::Result<Option<Profile>> {
        Ok(record_io(|| self.store.read(user, user::PROFILE))?)
    }

    pub fn save_profile(&self, profile: &Profile) -> anyhow::Result<()> {
        self.save_doc(&profile.id, user::PROFILE, profile)
    }

    /// First contact creates the user's intermediate identity, sealed.
    pub fn load_or_create_profile(
        &self,
        user: &UserId,
        display_name: &str,
        now: u64,
    ) -> anyhow::Result<Profile> {
        if let Some(p) = self.load_profile(user)? {
            return Ok(p);
        }
        let profile = Profile {
            id: user.clone(),
            display_name: display_name.chars().take(64).collect(),
            created_at: now,
            identity: Identity::generate(&self.master),
            twin: None,
            account: Default::default(),
            blocked: false,
            funding: Default::default(),
            banned: false,
        };
        self.save_profile(&profile)?;
        tracing::info!(user = %user, "new user; intermediate identity created");
        Ok(profile)
    }

    /// Unseals the identity key of `profile` for one piece of grid work.
    /// The caller holds that user's lock and read `profile` under it, so the
    /// key signs only for the user whose node is at stake.
    pub fn unseal_identity(&self, profile: &Profile) -> anyhow::Result<IdentityKey> {
        Ok(IdentityKey::new(
            profile
                .identity
                .signing_key(&self.master)
                .with_context(|| format!("the identity key of {} does not open", profile.id))?,
        ))
    }

    /// Unseals a secret value kept in a document (a node's secret setting).
    pub fn open_secret(
        &self,
        sealed: &crate::crypto::Sealed,
    ) -> anyhow::Result<zeroize::Zeroizing<String>> {
        Ok(self.master.open_string(sealed)?)
    }

    /// Seals a secret value for a document.
    pub fn seal_secret(&self, plain: &str) -> crate::crypto::Sealed {
        self.master.seal_str(plain)
    }

    /// Reads one of the user's documents (by its file name in the user's
    /// directory); a missing one is empty.
    pub fn load_doc<T: DeserializeOwned + Default>(
        &self,
        user: &UserId,
        doc: &str,
    ) -> anyhow::Result<T> {
        Ok(record_io(|| self.store.read(user, doc))?.unwrap_or_default())
    }

    pub fn save_doc<T: Serialize>(
        &self,
        user: &UserId,
        doc: &str,
        value: &T,
    ) -> anyhow::Result<()> {
        Ok(record_io(|| self.store.write(user, doc, value))?)
    }

    /// Reads a global record (`dir/name`) (off the async workers outside a
    /// deferred scope, see `store::record_io`).
    pub fn load_global<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        Ok(record_io(|| self.store.read_global(name))?)
    }

    /// Writes a global record (`dir/name`) durably (off the async workers
    /// outside a deferred scope, see `store::record_io`).
    pub fn save_global<T: Serialize>(&self, name: &str, value: &T) -> anyhow::Result<()> {
        Ok(record_io(|| self.store.write_global(name, value))?)
    }

    pub fn delete_global(&self, name: &str) -> anyhow::Result<()> {
        Ok(record_io(|| self.store.delete_global(name))?)
    }

    /// The names of the global records in `dir`.
    pub fn list_global(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        Ok(blocking_io(|| self.store.list_global(dir))?)
    }

    pub fn list_users(&self) -> anyhow::Result<Vec<UserId>> {
        Ok(blocking_io(|| self.store.list_users())?)
    }

    pub fn load_nodes(&self, user: &UserId) -> anyhow::Result<Nodes> {
        self.load_doc(user, user::NODES)
    }

    /// Every change to a user's nodes passes here, which keeps the
    /// monitor's watch list in step with the store.
    pub fn save_nodes(&self, user: &UserId, nodes: &Nodes) -> anyhow::Result<()> {
        self.save_doc(user, user::NODES, nodes)?;
        self.watch.sync(user, nodes);
        Ok(())
    }

    pub fn load_orders(&self, user: &UserId) -> anyhow::Result<Orders> {
        self.load_doc(user, user::ORDERS)
    }

    pub fn save_orders(&self, user: &UserId, orders: &Orders) -> anyhow::Result<()> {
        self.save_doc(user, user::ORDERS, orders)
    }

    /// Loads the conversation and unseals its secret answers.
    pub fn load_conversation(&self, user: &UserId) -> anyhow::Result<StoredConversation> {
        let mut stored: StoredConversation = self.load_doc(user, user::CONVERSATION)?;
        let master = &self.master;
        let unsealed = stored.state.map_secrets(|sealed| {
            let sealed: crate::crypto::Sealed = serde_json::from_str(sealed)?;
            let plain = master
                .open_string(&sealed)
                .context("a stored secret answer does not decrypt")?;
            Ok::<_, anyhow::Error>(plain.to_string())
        });
        if let Err(e) = unsealed {
            // A conversation whose secrets cannot be read is dropped rather
            // than blocking the user forever; nothing was ordered from it yet.
            tracing::warn!(user = %user, error = %e, "dropping an unreadable conversation");
            stored.state.flow = None;
        }
        Ok(stored)
    }

    /// Seals secret answers, then stores the conversation durably.
    pub fn save_conversation(
        &self,
        user: &UserId,
        stored: &StoredConversation,
    ) -> anyhow::Result<()> {
        let mut sealed = stored.clone();
        let master = &self.master;
        sealed
            .state
            .map_secrets(|plain| serde_json::to_string(&master.seal_str(plain)))?;
        self.save_doc(user, user::CONVERSATION, &sealed)
    }
}
