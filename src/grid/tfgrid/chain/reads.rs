//! Reading TFChain's storage and constants: balances, twins, contracts,
//! prices. Values are decoded dynamically against the node's metadata and
//! picked apart by field name.

use subxt::dynamic::{At as _, Value};

use super::{ChainContract, ChainContractState, ChainError, ChainTwin, TfChain};

impl TfChain {
    /// Reads one storage entry as a dynamic value; `None` when absent.
    pub(super) async fn read(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<Value>,
    ) -> Result<Option<Value>, ChainError> {
        read_at(&self.at().await?, pallet, entry, keys).await
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
        contract_at(&self.at().await?, contract_id).await
    }

    /// Many contracts as of one block (the latest finalized), `concurrency`
    /// reads in flight over the one connection, answers in the order asked.
    /// The block is fetched once for all of them (three round trips saved
    /// per contract, and one consistent view); the outer error means no
    /// block could be had, i.e. TFChain could not be asked at all.
    pub async fn contracts(
        &self,
        ids: &[u64],
        concurrency: usize,
    ) -> Result<Vec<Result<Option<ChainContract>, ChainError>>, ChainError> {
        use futures_util::{StreamExt as _, stream};
        let at = self.at().await?;
        Ok(stream::iter(ids.iter().copied())
            .map(|id| contract_at(&at, id))
            .buffered(concurrency.max(1))
            .collect()
            .await)
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
}

type AtBlock = subxt::OnlineClientAtBlock<subxt::SubstrateConfig>;

/// Reads one storage entry at `at` as a dynamic value; `None` when absent.
async fn read_at(
    at: &AtBlock,
    pallet: &str,
    entry: &str,
    keys: Vec<Value>,
) -> Result<Option<Value>, ChainError> {
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

/// A contract as of block `at`; `None` when the chain has none.
async fn contract_at(at: &AtBlock, contract_id: u64) -> Result<Option<ChainContract>, ChainError> {
    let Some(contract) = read_at(
        at,
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
    let node_contract = contract.at("contract_type").and_then(|t| t.at(0));
    let node_id = number(node_contract.and_then(|n| n.at("node_id")));
    let deployment_hash = node_contract
        .and_then(|n| n.at("deployment_hash"))
        .and_then(bytes_of)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .unwrap_or([0; 32]);
    Ok(Some(ChainContract {
        id: contract_id,
        twin_id: u32::try_from(number(contract.at("twin_id")))
            .map_err(|_| ChainError::Decode("twin id above 32 bits".into()))?,
        node_id: u32::try_from(node_id)
            .map_err(|_| ChainError::Decode("node id above 32 bits".into()))?,
        deployment_hash,
        state,
    }))
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
