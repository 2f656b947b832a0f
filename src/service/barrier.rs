//! The ways out of the process wait for the store's barrier: nothing a user
//! reads, and no contract the grid makes, may depend on a record write that
//! is not durable yet (see `store/deferred.rs` for why writes inside one
//! update's handling only append to the log).
//!
//! Two decorators, wrapped around what the service is given, so every
//! component gets them without knowing: [`BarrierOutbox`] before every
//! message, [`BarrierGrid`] before every grid call that creates, cancels or
//! pauses something (reads go straight through: they change nothing that a
//! lost write could contradict).

use std::sync::Arc;

use async_trait::async_trait;

use crate::channel::{Outbox, Outgoing};
use crate::crypto::IdentityKey;
use crate::grid::{
    Capacity, ContractId, ContractInfo, Grid, GridError, GridNode, GridNodeId, Locations, Placed,
    Placement, TwinId,
};
use crate::ids::UserId;
use crate::reservation::Deployment;
use crate::store::Store;

/// An outbox whose messages leave only once every write made so far is
/// durable.
pub struct BarrierOutbox {
    inner: Arc<dyn Outbox>,
    store: Arc<Store>,
}

impl BarrierOutbox {
    pub fn new(inner: Arc<dyn Outbox>, store: Arc<Store>) -> BarrierOutbox {
        BarrierOutbox { inner, store }
    }
}

#[async_trait]
impl Outbox for BarrierOutbox {
    async fn send(&self, user: &UserId, item: Outgoing) {
        if let Err(e) = self.store.barrier().await {
            // What the message would confirm may not be on disk: say nothing
            // rather than something a restart could contradict.
            tracing::error!(user = %user, error = %e, "a message was not sent: the store cannot make its writes durable");
            return;
        }
        self.inner.send(user, item).await;
    }
}

/// A grid whose changing calls run only once every write made so far is
/// durable (a write-ahead intent before the contract it announces).
pub struct BarrierGrid {
    inner: Arc<dyn Grid>,
    store: Arc<Store>,
}

impl BarrierGrid {
    pub fn new(inner: Arc<dyn Grid>, store: Arc<Store>) -> BarrierGrid {
        BarrierGrid { inner, store }
    }

    async fn barrier(&self) -> Result<(), GridError> {
        self.store.barrier().await.map_err(|e| {
            GridError::Unavailable(format!(
                "Jukebox could not make its own records durable first: {e}"
            ))
        })
    }
}

#[async_trait]
impl Grid for BarrierGrid {
    fn kind(&self) -> crate::config::GridKind {
        self.inner.kind()
    }

    async fn ensure_twin(&self, identity: &IdentityKey) -> Result<TwinId, GridError> {
        self.barrier().await?;
        self.inner.ensure_twin(identity).await
    }

    async fn locations(&self, need: &Capacity) -> Result<Locations, GridError> {
        self.inner.locations(need).await
    }

    async fn candidates(
        &self,
        need: &Capacity,
        place: &Placement,
        avoid: &[GridNodeId],
        limit: usize,
    ) -> Result<Vec<GridNode>, GridError> {
        self.inner.candidates(need, place, avoid, limit).await
    }

    async fn deploy(
        &self,
        identity: &IdentityKey,
        node: GridNodeId,
        need: &Capacity,
        deployment: &Deployment,
    ) -> Result<Placed, GridError> {
        self.barrier().await?;
        self.inner.deploy(identity, node, need, deployment).await
    }

    async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError> {
        self.inner.contract_for(node, deployment_hash).await
    }

    async fn twin_contracts(
        &self,
        twin: TwinId,
    ) -> Result<Vec<crate::grid::OwnedContract>, GridError> {
        self.inner.twin_contracts(twin).await
    }

    async fn cancel(&self, identity: &IdentityKey, contract: ContractId) -> Result<(), GridError> {
        self.barrier().await?;
        self.inner.cancel(identity, contract).await
    }

    async fn contract(
        &self,
        identity: &IdentityKey,
        contract: ContractId,
    ) -> Result<ContractInfo, GridError> {
        self.inner.contract(identity, contract).await
    }

    async fn contracts(
        &self,
        ids: &[ContractId],
    ) -> Result<Vec<Result<ContractInfo, GridError>>, GridError> {
        self.inner.contracts(ids).await
    }

    async fn set_paused(&self, contract: ContractId, paused: bool) -> Result<(), GridError> {
        self.barrier().await?;
        self.inner.set_paused(contract, paused).await
    }

    async fn account_balance(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<crate::money::Tft>, GridError> {
        self.inner.account_balance(public_key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::MemoryOutbox;
    use std::sync::Mutex;

    /// Notes, for each message, whether every write was durable when it
    /// left.
    struct Watching {
        store: Arc<Store>,
        seen: Mutex<Vec<bool>>,
        inner: MemoryOutbox,
    }

    #[async_trait]
    impl Outbox for Watching {
        async fn send(&self, user: &UserId, item: Outgoing) {
            self.seen.lock().unwrap().push(self.store.all_durable());
            self.inner.send(user, item).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_leaves_only_after_the_writes_before_it_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let watching = Arc::new(Watching {
            store: store.clone(),
            seen: Mutex::new(Vec::new()),
            inner: MemoryOutbox::default(),
        });
        let outbox: Arc<dyn Outbox> = Arc::new(BarrierOutbox::new(watching.clone(), store.clone()));
        let user = UserId::parse("term:alice").unwrap();
        crate::store::deferred(&store, async {
            store.write(&user, "profile", &1).unwrap();
            assert!(!store.all_durable());
            outbox.say(&user, "saved").await;
            store.write(&user, "profile", &2).unwrap();
            // Straight to the channel, no barrier: what the decorator prevents.
            watching
                .send(
                    &user,
                    Outgoing::Message(crate::dialogue::Message::text("early")),
                )
                .await;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*watching.seen.lock().unwrap(), [true, false]);
    }
}
