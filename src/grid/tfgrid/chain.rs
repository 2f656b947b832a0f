//! The TFChain client: twins, node contracts and balances on the grid's
//! chain, through subxt's dynamic API (`tfgrid-v3.md` section 6).
//!
//! Nothing here is generated from a fixed metadata: calls, storage entries
//! and events are named, and encoded against the metadata the node serves
//! when we connect, so runtime upgrades that keep the names keep working.
//! Every write waits for finalization and then reads its outcome from the
//! events of its own extrinsic; a dispatch error comes back by name (e.g.
//! `SmartContractModule::OnlyTwinAdminCanDeployOnThisNode`).

use std::time::Duration;

use subxt::dynamic::{At as _, Value};
use subxt::{OnlineClient, SubstrateConfig};

pub mod calls;
mod compat;
mod reads;
mod signer;
pub mod terms;

pub use compat::{Compatibility, UseCheck};
pub use signer::Ed25519Signer;
pub use terms::Terms;

/// Why a chain operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("cannot connect to TFChain: {0}")]
    Connect(String),
    #[error("TFChain did not answer as expected: {0}")]
    Rpc(String),
    /// The extrinsic was included and failed: `Pallet::Error`.
    #[error("TFChain refused the call: {0}")]
    Dispatch(String),
    #[error("the transaction was not included: {0}")]
    NotIncluded(String),
    #[error("TFChain's answer is unreadable: {0}")]
    Decode(String),
}

impl ChainError {
    /// The pallet error's name, when the chain refused the call.
    pub fn dispatch_error(&self) -> Option<&str> {
        match self {
            ChainError::Dispatch(e) => Some(e.rsplit("::").next().unwrap_or(e)),
            _ => None,
        }
    }

    /// The node's farm opted it out of v3 billing: pick another node.
    pub fn node_opted_out(&self) -> bool {
        self.dispatch_error() == Some("OnlyTwinAdminCanDeployOnThisNode")
    }

    /// The node takes no contract from this twin: another twin rents it,
    /// or it is for renters only (dedicated farm, extra fee), or it is on
    /// standby (pallet-smart-contract `grid_contract.rs`). The proxy may
    /// lag the chain by a block or two, so another node may well do.
    pub fn node_not_available(&self) -> bool {
        self.dispatch_error() == Some("NodeNotAvailableToDeploy")
    }
}

/// A node contract's state on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainContractState {
    Created,
    /// Out of funds since this block; workloads are paused.
    GracePeriod(u64),
    Deleted,
}

/// A contract as stored on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainContract {
    pub id: u64,
    pub twin_id: u32,
    /// The grid node of a node contract (0 for other kinds).
    pub node_id: u32,
    /// A node contract's deployment hash: the 32 ASCII bytes of the
    /// deployment's hex MD5 (zeros for other kinds).
    pub deployment_hash: [u8; 32],
    pub state: ChainContractState,
}

/// A twin as stored on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTwin {
    pub id: u32,
    pub account: [u8; 32],
    pub relay: Option<String>,
    /// The twin's end-to-end encryption key (`pk`, a compressed secp256k1
    /// key when rmb-sdk-go or rmb-peer set it); see [`Self::end_to_end_key`].
    pub pk: Option<Vec<u8>>,
}

impl ChainTwin {
    /// The key others encrypt to this twin with: rmb-sdk-go's peer
    /// encrypts only when the destination's `pk` is non-empty
    /// (`len(destTwin.E2EKey) > 0` in `peer/peer.go`).
    pub fn end_to_end_key(&self) -> Option<&[u8]> {
        self.pk.as_deref().filter(|k| !k.is_empty())
    }
}

/// A connection to one TFChain node, made on first use and made again
/// after it broke: the service starts (and keeps chatting) while TFChain is
/// unreachable, and recovers by itself when it comes back.
#[derive(Clone)]
pub struct TfChain {
    url: String,
    client: std::sync::Arc<tokio::sync::Mutex<Option<OnlineClient<SubstrateConfig>>>>,
    /// How long a submitted extrinsic may take to be finalized.
    finality_timeout: Duration,
}

impl TfChain {
    /// A client of the node at `url`: `wss://` in production; plain `ws://`
    /// only to loopback (tests, a local node). Nothing is contacted yet.
    /// Writes give up waiting for finalization after `finality_timeout`
    /// (the extrinsic may still land: callers read the outcome back from
    /// storage).
    pub fn new(url: &str, finality_timeout: Duration) -> TfChain {
        TfChain {
            url: url.to_owned(),
            client: Default::default(),
            finality_timeout,
        }
    }

    /// [`TfChain::new`], connected now (fetching the node's metadata).
    pub async fn connect(url: &str, finality_timeout: Duration) -> Result<TfChain, ChainError> {
        let chain = TfChain::new(url, finality_timeout);
        chain.client().await?;
        Ok(chain)
    }

    /// The connected client, connecting first when there is none.
    async fn client(&self) -> Result<OnlineClient<SubstrateConfig>, ChainError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let connecting = if self.url.starts_with("ws://") {
            OnlineClient::<SubstrateConfig>::from_insecure_url(&self.url).await
        } else {
            OnlineClient::<SubstrateConfig>::from_url(&self.url).await
        };
        let client = connecting.map_err(|e| ChainError::Connect(e.to_string()))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Forgets the connection after a transport failure, so the next call
    /// connects again (the client does not reconnect by itself).
    async fn reset(&self) {
        *self.client.lock().await = None;
    }

    pub(super) async fn at(
        &self,
    ) -> Result<subxt::OnlineClientAtBlock<SubstrateConfig>, ChainError> {
        let client = self.client().await?;
        match client.at_current_block().await {
            Ok(at) => Ok(at),
            Err(e) => {
                self.reset().await;
                Err(ChainError::Rpc(e.to_string()))
            }
        }
    }

    /// Submits `call` signed by `signer`, waits for finalization and returns
    /// the extrinsic's events as (pallet, event name, event).
    pub async fn submit(
        &self,
        call: &calls::Call,
        signer: &Ed25519Signer,
    ) -> Result<Vec<(String, String, Value)>, ChainError> {
        let at = self.at().await?;
        let progress = at
            .transactions()
            .sign_and_submit_then_watch_default(call, signer)
            .await
            .map_err(|e| ChainError::NotIncluded(e.to_string()))?;
        let events =
            tokio::time::timeout(self.finality_timeout, progress.wait_for_finalized_success())
                .await
                .map_err(|_| {
                    ChainError::NotIncluded(format!(
                        "not finalized within {:?}",
                        self.finality_timeout
                    ))
                })?
                .map_err(finalization_error)?;
        let mut found = Vec::new();
        for event in events.iter() {
            let event = event.map_err(|e| ChainError::Decode(e.to_string()))?;
            let outer: Value = event
                .decode_as()
                .map_err(|e| ChainError::Decode(e.to_string()))?;
            // That is the runtime's event (the pallet as a variant); keep
            // the pallet's own event, e.g. `ContractCreated(contract)`.
            let fields = outer.at(0).cloned().unwrap_or(outer);
            found.push((
                event.pallet_name().to_string(),
                event.event_name().to_string(),
                fields,
            ));
        }
        Ok(found)
    }

    /// Creates a node contract and returns its id (from `ContractCreated`).
    pub async fn create_node_contract(
        &self,
        signer: &Ed25519Signer,
        node_id: u32,
        deployment_hash: [u8; 32],
        deployment_data: &[u8],
        public_ips: u32,
    ) -> Result<u64, ChainError> {
        let call =
            calls::create_node_contract(node_id, deployment_hash, deployment_data, public_ips);
        let events = self.submit(&call, signer).await?;
        events
            .iter()
            .find(|(p, e, _)| p == "SmartContractModule" && e == "ContractCreated")
            .and_then(|(_, _, fields)| fields.at(0)?.at("contract_id")?.as_u128())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| ChainError::Decode("no ContractCreated event".into()))
    }

    /// Cancels a contract. Cancelling one that is already gone succeeds.
    pub async fn cancel_contract(
        &self,
        signer: &Ed25519Signer,
        contract_id: u64,
    ) -> Result<(), ChainError> {
        match self
            .submit(&calls::cancel_contract(contract_id), signer)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.dispatch_error() == Some("ContractNotExists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Tops `account` up to `units` from `funder`, when it holds less.
    /// Repeating it after a crash moves nothing more: the balance is read
    /// first. Returns what was moved.
    pub async fn fund_up_to(
        &self,
        funder: &Ed25519Signer,
        account: [u8; 32],
        units: u128,
    ) -> Result<u128, ChainError> {
        let held = self.free_balance(account).await?;
        let missing = units.saturating_sub(held);
        if missing > 0 {
            self.submit(&calls::transfer_keep_alive(account, missing), funder)
                .await?;
        }
        Ok(missing)
    }

    /// Sets the signer's twin's relay to `relay` and removes its end-to-end
    /// key: `TfgridModule.update_twin(Some(relay), None)`. The chain
    /// refuses an account without a twin (`TwinNotExists`) and a relay
    /// that is not a domain (`InvalidRelayAddress`).
    pub async fn reset_twin(&self, signer: &Ed25519Signer, relay: &str) -> Result<(), ChainError> {
        self.submit(&calls::update_twin(relay), signer)
            .await
            .map(|_| ())
    }

    /// Accepts the terms and creates the twin, unless the account already
    /// has one; returns its id. Safe to repeat after a crash.
    pub async fn ensure_twin(
        &self,
        signer: &Ed25519Signer,
        relay: &str,
        terms: &Terms,
    ) -> Result<u32, ChainError> {
        if let Some(id) = self.twin_id_of(signer.account()).await? {
            return Ok(id);
        }
        self.create_twin(signer, relay, terms).await
    }

    /// Accepts the terms and creates the twin, for an account just seen
    /// without one ([`Self::ensure_twin`] without reading that again);
    /// returns its id. A twin made meanwhile (`TwinExists`) is found.
    pub async fn create_twin(
        &self,
        signer: &Ed25519Signer,
        relay: &str,
        terms: &Terms,
    ) -> Result<u32, ChainError> {
        self.submit(&calls::user_accept_tc(terms.link(), terms.hash()), signer)
            .await?;
        match self.submit(&calls::create_twin(relay), signer).await {
            Ok(_) | Err(ChainError::Dispatch(_)) => {}
            Err(e) => return Err(e),
        }
        // The storage is the truth, whatever the events said (a concurrent
        // attempt may have created it: TwinExists).
        self.twin_id_of(signer.account())
            .await?
            .ok_or_else(|| ChainError::Dispatch("TfgridModule::TwinNotCreated".into()))
    }
}

fn finalization_error(e: subxt::error::TransactionFinalizedSuccessError) -> ChainError {
    use subxt::error::{DispatchError, TransactionEventsError, TransactionFinalizedSuccessError};
    match e {
        TransactionFinalizedSuccessError::SuccessError(
            TransactionEventsError::ExtrinsicFailed(DispatchError::Module(m)),
        ) => ChainError::Dispatch(m.details_string()),
        TransactionFinalizedSuccessError::SuccessError(
            TransactionEventsError::ExtrinsicFailed(other),
        ) => ChainError::Dispatch(other.to_string()),
        other => ChainError::NotIncluded(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised_by_name() {
        let opted_out =
            ChainError::Dispatch("SmartContractModule::OnlyTwinAdminCanDeployOnThisNode".into());
        assert_eq!(
            opted_out.dispatch_error(),
            Some("OnlyTwinAdminCanDeployOnThisNode")
        );
        assert!(opted_out.node_opted_out());
        let other = ChainError::Dispatch("SmartContractModule::NodeNotAvailableToDeploy".into());
        assert!(!other.node_opted_out());
        assert!(other.node_not_available() && !opted_out.node_not_available());
        assert_eq!(ChainError::Rpc("x".into()).dispatch_error(), None);
    }
}
