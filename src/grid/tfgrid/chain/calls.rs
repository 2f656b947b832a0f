//! The TFChain calls Jukebox makes, as dynamic payloads: pallet and call by
//! name, arguments encoded against the metadata fetched at run time, so a
//! runtime upgrade that keeps the names keeps us working.

use subxt::dynamic::Value;
use subxt::ext::scale_value::Composite;
use subxt::tx::DynamicPayload;

/// The arguments of one call, as the dynamic API takes them.
pub type Call = DynamicPayload<Composite<()>>;

fn call(pallet: &str, name: &str, args: Vec<Value>) -> Call {
    subxt::dynamic::tx(pallet, name, Composite::unnamed(args))
}

/// `SmartContractModule.create_node_contract`: `deployment_hash` is the 32
/// ASCII bytes of the deployment's hex MD5; no solution provider.
pub fn create_node_contract(
    node_id: u32,
    deployment_hash: [u8; 32],
    deployment_data: &[u8],
    public_ips: u32,
) -> Call {
    call(
        "SmartContractModule",
        "create_node_contract",
        vec![
            Value::u128(u128::from(node_id)),
            Value::from_bytes(deployment_hash),
            Value::from_bytes(deployment_data),
            Value::u128(u128::from(public_ips)),
            Value::unnamed_variant("None", []),
        ],
    )
}

/// `SmartContractModule.cancel_contract`.
pub fn cancel_contract(contract_id: u64) -> Call {
    call(
        "SmartContractModule",
        "cancel_contract",
        vec![Value::u128(u128::from(contract_id))],
    )
}

/// `TfgridModule.user_accept_tc`: a twin can only be created after this.
pub fn user_accept_tc(link: &str, hash: &str) -> Call {
    call(
        "TfgridModule",
        "user_accept_tc",
        vec![
            Value::from_bytes(link.as_bytes()),
            Value::from_bytes(hash.as_bytes()),
        ],
    )
}

/// `TfgridModule.create_twin`: `relay` is the relay's domain, where nodes
/// reach this twin; no extra public key.
pub fn create_twin(relay: &str) -> Call {
    call(
        "TfgridModule",
        "create_twin",
        vec![
            Value::unnamed_variant("Some", [Value::from_bytes(relay.as_bytes())]),
            Value::unnamed_variant("None", []),
        ],
    )
}

/// `Balances.transfer_keep_alive`: moves `units` to `to`, refusing to empty
/// the sender below the existential deposit.
pub fn transfer_keep_alive(to: [u8; 32], units: u128) -> Call {
    call(
        "Balances",
        "transfer_keep_alive",
        vec![
            Value::unnamed_variant("Id", [Value::from_bytes(to)]),
            Value::u128(units),
        ],
    )
}

/// `TfgridModule.update_twin` (call 18 in runtime 2.9, the same arguments as
/// `create_twin`; pallet-tfgrid `lib.rs` and `twin.rs` in
/// threefoldtech/tfchain): the twin's relay becomes `relay`, and its
/// end-to-end key (`pk`) is removed, so nodes answer in plain text.
pub fn update_twin(relay: &str) -> Call {
    call(
        "TfgridModule",
        "update_twin",
        vec![
            Value::unnamed_variant("Some", [Value::from_bytes(relay.as_bytes())]),
            Value::unnamed_variant("None", []),
        ],
    )
}
