//! Whether the runtime a TFChain node serves fits what Jukebox does with
//! it, checked against the metadata the node itself serves (what subxt
//! fetched on connecting), never against indices written down here.
//!
//! Every call Jukebox submits is built with the real builders of
//! [`calls`](super::calls) and encoded against that metadata, which checks
//! the pallet, the call and the arguments' shapes and yields the pallet and
//! call indices the chain will see. Every storage entry Jukebox reads is
//! looked up (with its number of keys) and fetched once with sample keys,
//! which checks the key encoding and the value decoding. The constant and
//! the event Jukebox reads are looked up too. Used by `jukebox grid doctor`.

use subxt::dynamic::Value;

use super::{ChainError, TfChain, calls};

/// What the node runs, and how each thing Jukebox uses fares on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compatibility {
    pub spec_version: u32,
    pub transaction_version: u32,
    /// The block the checks were made at.
    pub block: u64,
    pub checks: Vec<UseCheck>,
}

impl Compatibility {
    /// The checks that failed.
    pub fn problems(&self) -> impl Iterator<Item = &UseCheck> {
        self.checks.iter().filter(|c| c.outcome.is_err())
    }
}

/// One call, storage entry, constant or event Jukebox uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseCheck {
    /// e.g. `call SmartContractModule.create_node_contract`.
    pub what: String,
    /// What the live metadata says (e.g. `26/0`), or what does not fit.
    pub outcome: Result<String, String>,
}

/// The calls Jukebox submits, each with sample arguments of the shapes it
/// really uses.
fn used_calls() -> Vec<calls::Call> {
    vec![
        calls::user_accept_tc("https://library.threefold.me/info/legal/#/", "sample_hash"),
        calls::create_twin("relay.grid.tf"),
        calls::update_twin("relay.grid.tf"),
        calls::create_node_contract(1, [b'0'; 32], b"{}", 0),
        calls::cancel_contract(1),
        calls::transfer_keep_alive([0; 32], 1),
    ]
}

/// The storage entries Jukebox reads, each with sample keys of the types
/// it passes (`chain/reads.rs`).
fn used_storage() -> Vec<(&'static str, &'static str, Vec<Value>)> {
    let account = || Value::from_bytes([0u8; 32]);
    vec![
        ("System", "Account", vec![account()]),
        ("TfgridModule", "TwinIdByAccountID", vec![account()]),
        ("TfgridModule", "Twins", vec![Value::u128(1)]),
        ("TfgridModule", "PricingPolicies", vec![Value::u128(1)]),
        ("SmartContractModule", "Contracts", vec![Value::u128(1)]),
        (
            "SmartContractModule",
            "ContractIDByNodeIDAndHash",
            vec![Value::u128(1), Value::from_bytes([b'0'; 32])],
        ),
        ("TFTPriceModule", "AverageTftPrice", vec![]),
        ("TFTPriceModule", "MinTftPrice", vec![]),
        ("TFTPriceModule", "MaxTftPrice", vec![]),
        ("TFTBridgeModule", "DepositFee", vec![]),
    ]
}

/// The constants Jukebox reads.
const USED_CONSTANTS: &[(&str, &str)] = &[("Balances", "ExistentialDeposit")];

/// The events Jukebox reads an outcome from.
const USED_EVENTS: &[(&str, &str)] = &[("SmartContractModule", "ContractCreated")];

impl TfChain {
    /// Checks everything Jukebox uses against the node's current runtime.
    /// The error means the node could not be asked at all.
    pub async fn compatibility(&self) -> Result<Compatibility, ChainError> {
        let at = self.at().await?;
        let metadata = at.metadata_ref();
        let mut checks = Vec::new();
        for call in used_calls() {
            let (pallet, name) = (call.pallet_name(), call.call_name());
            let outcome = match metadata.pallet_by_name(pallet) {
                None => Err(format!("the runtime has no pallet {pallet}")),
                Some(p) => match p.call_variant_by_name(name) {
                    None => Err(format!("pallet {pallet} has no call {name}")),
                    Some(_) => match at.transactions().call_data(&call) {
                        Ok(bytes) if bytes.len() >= 2 => Ok(format!("{}/{}", bytes[0], bytes[1])),
                        Ok(_) => Err("encodes to fewer than two bytes".into()),
                        Err(e) => Err(format!("its arguments do not fit: {e}")),
                    },
                },
            };
            checks.push(UseCheck {
                what: format!("call {pallet}.{name}"),
                outcome,
            });
        }
        for (pallet, entry, keys) in used_storage() {
            let found = metadata
                .pallet_by_name(pallet)
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name(entry));
            let outcome = match found {
                None => Err(format!("the runtime has no storage {pallet}.{entry}")),
                Some(e) if e.keys().len() != keys.len() => Err(format!(
                    "it takes {} key(s); Jukebox gives {}",
                    e.keys().len(),
                    keys.len()
                )),
                Some(_) => {
                    let address = subxt::dynamic::storage::<Vec<Value>, Value>(pallet, entry);
                    match at.storage().try_fetch(address, keys).await {
                        Ok(None) => Ok("readable".to_string()),
                        Ok(Some(v)) => v
                            .decode()
                            .map(|_| "readable".to_string())
                            .map_err(|e| format!("its value does not decode: {e}")),
                        Err(e) => Err(format!("it cannot be read: {e}")),
                    }
                }
            };
            checks.push(UseCheck {
                what: format!("storage {pallet}.{entry}"),
                outcome,
            });
        }
        for (pallet, name) in USED_CONSTANTS {
            let address = subxt::dynamic::constant::<u128>(*pallet, *name);
            let outcome = at
                .constants()
                .entry(address)
                .map(|_| "readable".to_string())
                .map_err(|e| format!("it cannot be read: {e}"));
            checks.push(UseCheck {
                what: format!("constant {pallet}.{name}"),
                outcome,
            });
        }
        for (pallet, name) in USED_EVENTS {
            let found = metadata
                .pallet_by_name(pallet)
                .and_then(|p| p.event_variants())
                .is_some_and(|vs| vs.iter().any(|v| v.name == *name));
            checks.push(UseCheck {
                what: format!("event {pallet}.{name}"),
                outcome: if found {
                    Ok("present".into())
                } else {
                    Err(format!("the runtime has no event {pallet}.{name}"))
                },
            });
        }
        Ok(Compatibility {
            spec_version: at.spec_version(),
            transaction_version: at.transaction_version(),
            block: at.block_number(),
            checks,
        })
    }
}
