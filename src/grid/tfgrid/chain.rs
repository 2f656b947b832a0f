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
mod signer;

pub use signer::Ed25519Signer;

/// 1 TFT in the chain's smallest unit.
pub const UNITS_PER_TFT: u128 = 10_000_000;

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
    pub state: ChainContractState,
}

/// A twin as stored on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTwin {
    pub id: u32,
    pub account: [u8; 32],
    pub relay: Option<String>,
}

/// A connection to one TFChain node.
#[derive(Clone)]
pub struct TfChain {
    api: OnlineClient<SubstrateConfig>,
    /// How long a submitted extrinsic may take to be finalized.
    finality_timeout: Duration,
}

impl TfChain {
    /// Connects to `url`: `wss://` in production; plain `ws://` only to
    /// loopback (tests, a local node). Writes give up waiting for
    /// finalization after `finality_timeout` (the extrinsic may still land:
    /// callers read the outcome back from storage).
    pub async fn connect(url: &str, finality_timeout: Duration) -> Result<TfChain, ChainError> {
        let connecting = if url.starts_with("ws://") {
            OnlineClient::<SubstrateConfig>::from_insecure_url(url).await
        } else {
            OnlineClient::<SubstrateConfig>::from_url(url).await
        };
        let api = connecting.map_err(|e| ChainError::Connect(e.to_string()))?;
        Ok(TfChain {
            api,
            finality_timeout,
        })
    }

    async fn at(&self) -> Result<subxt::OnlineClientAtBlock<SubstrateConfig>, ChainError> {
        self.api
            .at_current_block()
            .await
            .map_err(|e| ChainError::Rpc(e.to_string()))
    }

    /// Reads one storage entry as a dynamic value; `None` when absent.
    async fn read(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<Value>,
    ) -> Result<Option<Value>, ChainError> {
        let at = self.at().await?;
        let address = subxt::dynamic::storage::<Vec<Value>, Value>(pallet, entry);
        let found = at
            .storage()
            .try_fetch(address, keys)
            .await
            .map_err(|e| ChainError::Rpc(e.to_string()))?;
        found
            .map(|v| v.decode().map_err(|e| ChainError::Decode(e.to_string())))
            .transpose()
    }

    /// The account's free balance, in units (1 TFT = 10^7).
    pub async fn free_balance(&self, account: [u8; 32]) -> Result<u128, ChainError> {
        let info = self
            .read("System", "Account", vec![Value::from_bytes(account)])
            .await?;
        Ok(info
            .as_ref()
            .and_then(|v| v.at("data")?.at("free")?.as_u128())
            .unwrap_or(0))
    }

    /// The twin registered for `account`, if any.
    pub async fn twin_id_of(&self, account: [u8; 32]) -> Result<Option<u32>, ChainError> {
        let id = self
            .read(
                "TfgridModule",
                "TwinIdByAccountID",
                vec![Value::from_bytes(account)],
            )
            .await?;
        Ok(id
            .and_then(|v| v.as_u128())
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n != 0))
    }

    pub async fn twin(&self, id: u32) -> Result<Option<ChainTwin>, ChainError> {
        let Some(twin) = self
            .read("TfgridModule", "Twins", vec![Value::u128(u128::from(id))])
            .await?
        else {
            return Ok(None);
        };
        let account = twin
            .at("account_id")
            .and_then(bytes_of)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ChainError::Decode(format!("twin {id} has no account")))?;
        let relay = twin
            .at("relay")
            .and_then(|r| r.at(0))
            .and_then(bytes_of)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(Some(ChainTwin { id, account, relay }))
    }

    /// A contract's state; `None` when the chain has no such contract.
    pub async fn contract_state(
        &self,
        contract_id: u64,
    ) -> Result<Option<ChainContractState>, ChainError> {
        Ok(self.contract(contract_id).await?.map(|c| c.state))
    }

    /// A contract: its owner, node and state; `None` when there is none.
    pub async fn contract(&self, contract_id: u64) -> Result<Option<ChainContract>, ChainError> {
        let Some(contract) = self
            .read(
                "SmartContractModule",
                "Contracts",
                vec![Value::u128(u128::from(contract_id))],
            )
            .await?
        else {
            return Ok(None);
        };
        let state = contract
            .at("state")
            .ok_or_else(|| ChainError::Decode("contract without state".into()))?;
        let name = variant_name(state)
            .ok_or_else(|| ChainError::Decode("contract state is not a variant".into()))?;
        let state = match name {
            "Created" => ChainContractState::Created,
            "GracePeriod" => ChainContractState::GracePeriod(
                state.at(0).and_then(|b| b.as_u128()).unwrap_or(0) as u64,
            ),
            "Deleted" => ChainContractState::Deleted,
            other => {
                return Err(ChainError::Decode(format!(
                    "unknown contract state {other}"
                )));
            }
        };
        let number = |v: Option<&Value>| v.and_then(|v| v.as_u128()).unwrap_or(0);
        let node_id = number(
            contract
                .at("contract_type")
                .and_then(|t| t.at(0))
                .and_then(|n| n.at("node_id")),
        );
        Ok(Some(ChainContract {
            id: contract_id,
            twin_id: u32::try_from(number(contract.at("twin_id")))
                .map_err(|_| ChainError::Decode("twin id above 32 bits".into()))?,
            node_id: u32::try_from(node_id)
                .map_err(|_| ChainError::Decode("node id above 32 bits".into()))?,
            state,
        }))
    }

    /// The contract already made for this deployment on this node, if any:
    /// how a create interrupted by a crash is found again.
    pub async fn contract_for(
        &self,
        node_id: u32,
        deployment_hash: [u8; 32],
    ) -> Result<Option<u64>, ChainError> {
        let id = self
            .read(
                "SmartContractModule",
                "ContractIDByNodeIDAndHash",
                vec![
                    Value::u128(u128::from(node_id)),
                    Value::from_bytes(deployment_hash),
                ],
            )
            .await?;
        Ok(id
            .and_then(|v| v.as_u128())
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n != 0))
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

    /// What the chain bills with: pricing policy `policy` (CU, SU and IPv4
    /// per hour, in units of 10^-7 USD) and the average TFT price
    /// (`TFTPriceModule.AverageTftPrice`, in mUSD: *unverified* unit, kept
    /// in this one place).
    pub async fn price_list(&self, policy: u32) -> Result<crate::pricing::PriceList, ChainError> {
        let found = self
            .read(
                "TfgridModule",
                "PricingPolicies",
                vec![Value::u128(u128::from(policy))],
            )
            .await?
            .ok_or_else(|| ChainError::Decode(format!("no pricing policy {policy}")))?;
        let per_hour = |name: &str| {
            found
                .at(name)
                .and_then(|p| p.at("value"))
                .and_then(|v| v.as_u128())
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| ChainError::Decode(format!("pricing policy without {name}")))
        };
        let milli_usd = self
            .read("TFTPriceModule", "AverageTftPrice", vec![])
            .await?
            .and_then(|v| v.as_u128())
            .filter(|p| *p > 0)
            .ok_or_else(|| ChainError::Decode("no average TFT price".into()))?;
        let price = format!("{}.{:03}", milli_usd / 1000, milli_usd % 1000);
        crate::pricing::PriceList::new(per_hour("cu")?, per_hour("su")?, per_hour("ipu")?, &price)
            .map_err(ChainError::Decode)
    }

    /// The least balance an account may hold (`Balances.ExistentialDeposit`).
    pub async fn existential_deposit(&self) -> Result<u128, ChainError> {
        let at = self.at().await?;
        let address = subxt::dynamic::constant::<u128>("Balances", "ExistentialDeposit");
        at.constants()
            .entry(address)
            .map_err(|e| ChainError::Decode(e.to_string()))
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

    /// Accepts the terms and creates the twin, unless the account already
    /// has one; returns its id. Safe to repeat after a crash.
    pub async fn ensure_twin(
        &self,
        signer: &Ed25519Signer,
        relay: &str,
        terms: (&str, &str),
    ) -> Result<u32, ChainError> {
        if let Some(id) = self.twin_id_of(signer.account()).await? {
            return Ok(id);
        }
        self.submit(&calls::user_accept_tc(terms.0, terms.1), signer)
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

/// A byte string held as a sequence of u8 values (or wrapped in a newtype).
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    use subxt::ext::scale_value::{Composite, ValueDef};
    match &v.value {
        ValueDef::Composite(Composite::Unnamed(items))
            if items.len() == 1 && items[0].as_u128().is_none() =>
        {
            bytes_of(&items[0])
        }
        ValueDef::Composite(c) => c
            .values()
            .map(|b| b.as_u128().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

fn variant_name(v: &Value) -> Option<&str> {
    match &v.value {
        subxt::ext::scale_value::ValueDef::Variant(variant) => Some(variant.name.as_str()),
        _ => None,
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
        assert_eq!(ChainError::Rpc("x".into()).dispatch_error(), None);
    }
}
