//! A grid that "kills the process" at a chosen moment of the service's grid
//! work: it lets the real grid do the step, then panics instead of
//! answering, so the task doing the work dies there with nothing after it
//! run, as under SIGKILL. The test then drops the service and starts a
//! fresh one on the same data dir (and the same grid), which must resume
//! without a second contract or a contract left behind.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jukebox::crypto::IdentityKey;
use jukebox::grid::{
    Capacity, ContractId, ContractInfo, Grid, GridError, GridNode, GridNodeId, Locations,
    OwnedContract, Placed, Placement, TwinId,
};
use jukebox::money::Tft;
use jukebox::reservation::Deployment;

/// Where the next crash happens; each fires once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// The grid recorded the contract (and deployed); its answer is lost.
    AfterDeploy,
    /// Asked to cancel: the process dies before the grid hears of it.
    BeforeCancel,
}

pub struct CrashingGrid {
    inner: Arc<dyn Grid>,
    armed: Mutex<Option<Moment>>,
}

impl CrashingGrid {
    pub fn new(inner: Arc<dyn Grid>, at: Option<Moment>) -> Arc<CrashingGrid> {
        Arc::new(CrashingGrid {
            inner,
            armed: Mutex::new(at),
        })
    }

    /// Dies here if armed for `moment` (once).
    fn maybe_die(&self, moment: Moment) {
        let mut armed = self.armed.lock().unwrap();
        if *armed == Some(moment) {
            *armed = None;
            drop(armed);
            panic!("simulated crash: {moment:?}");
        }
    }
}

#[async_trait]
impl Grid for CrashingGrid {
    fn kind(&self) -> jukebox::config::GridKind {
        self.inner.kind()
    }

    async fn ensure_twin(&self, identity: &IdentityKey) -> Result<TwinId, GridError> {
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
        let placed = self.inner.deploy(identity, node, need, deployment).await;
        if placed.is_ok() {
            self.maybe_die(Moment::AfterDeploy);
        }
        placed
    }

    async fn contract_for(
        &self,
        node: GridNodeId,
        deployment_hash: &str,
    ) -> Result<Option<ContractId>, GridError> {
        self.inner.contract_for(node, deployment_hash).await
    }

    async fn twin_contracts(&self, twin: TwinId) -> Result<Vec<OwnedContract>, GridError> {
        self.inner.twin_contracts(twin).await
    }

    async fn cancel(&self, identity: &IdentityKey, contract: ContractId) -> Result<(), GridError> {
        self.maybe_die(Moment::BeforeCancel);
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
        self.inner.set_paused(contract, paused).await
    }

    async fn account_balance(&self, public_key: &[u8; 32]) -> Result<Option<Tft>, GridError> {
        self.inner.account_balance(public_key).await
    }
}
