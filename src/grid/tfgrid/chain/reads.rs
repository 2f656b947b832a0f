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
        Ok(Some(ChainTwin {
            id,
            account,
            relay,
            pk: twin_pk(&twin),
        }))
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
    /// per hour, in units of 10^-7 USD) and the TFT price billing uses
    /// ([`Self::billed_tft_price`]).
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
        let milli_usd = self.billed_tft_price().await?;
        let price = format!("{}.{:03}", milli_usd / 1000, milli_usd % 1000);
        crate::pricing::PriceList::new(per_hour("cu")?, per_hour("su")?, per_hour("ipu")?, &price)
            .map_err(|e| ChainError::Decode(e.to_string()))
    }

    /// The TFT price (mUSD) contracts are billed at: the average price held
    /// between the floor and the ceiling, as pallet-smart-contract
    /// `cost.rs` (`calculate_cost_in_tft_from_units_usd`) does.
    pub async fn billed_tft_price(&self) -> Result<u32, ChainError> {
        let at = self.at().await?;
        let average = price_entry(&at, "AverageTftPrice").await?;
        let floor = price_entry(&at, "MinTftPrice").await?;
        let ceiling = price_entry(&at, "MaxTftPrice").await?;
        match billed_price(average, floor, ceiling) {
            0 => Err(ChainError::Decode(format!(
                "no TFT price to bill at (average {average}, min {floor}, max {ceiling} mUSD)"
            ))),
            price => Ok(price),
        }
    }

    /// What the TFChain bridge keeps of each Stellar deposit, in units
    /// (`TFTBridgeModule.DepositFee`, u64; pallet-tft-bridge `tft_bridge.rs`
    /// `mint_tft`). A `ValueQuery` entry: absent, it is 0 on chain, and the
    /// bridge then keeps nothing.
    pub async fn bridge_deposit_fee(&self) -> Result<u64, ChainError> {
        let fee = self.read("TFTBridgeModule", "DepositFee", vec![]).await?;
        fee.map_or(Ok(0), |v| {
            v.as_u128()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| ChainError::Decode("TFTBridgeModule.DepositFee".into()))
        })
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

/// A `TFTPriceModule` price (u32, mUSD). These are `ValueQuery` entries:
/// one absent from storage is 0 on chain too.
async fn price_entry(at: &AtBlock, entry: &str) -> Result<u32, ChainError> {
    let value = read_at(at, "TFTPriceModule", entry, vec![]).await?;
    value
        .map(|v| {
            v.as_u128()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ChainError::Decode(format!("TFTPriceModule.{entry}")))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// cost.rs: `avg.max(min)`, then `.min(max)`. Not `clamp`, which panics
/// when the floor is above the ceiling; the chain then bills at the ceiling.
fn billed_price(average: u32, floor: u32, ceiling: u32) -> u32 {
    average.max(floor).min(ceiling)
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

/// A twin's `pk: Option<BoundedVec<u8, 128>>`, when it is `Some`.
fn twin_pk(twin: &Value) -> Option<Vec<u8>> {
    let pk = twin.at("pk")?;
    match variant_name(pk)? {
        "Some" => Some(pk.at(0).and_then(bytes_of).unwrap_or_default()),
        _ => None,
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
    use super::billed_price;

    #[test]
    fn the_billed_price_is_held_between_floor_and_ceiling_as_the_chain_does() {
        assert_eq!(billed_price(50, 15, 1000), 50);
        assert_eq!(billed_price(8, 15, 1000), 15);
        assert_eq!(billed_price(2000, 15, 1000), 1000);
        // A floor above the ceiling: cost.rs ends at the ceiling.
        assert_eq!(billed_price(50, 100, 80), 80);
        // No ceiling set (0): nothing can be billed.
        assert_eq!(billed_price(50, 15, 0), 0);
    }
}
