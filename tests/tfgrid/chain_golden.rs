//! Golden bytes for TFChain extrinsics, built offline from the bundled
//! runtime 2.9 metadata (`tests/fixtures/tfchain-2.9-metadata.scale`, for
//! tests only: the live client fetches metadata from the node).
//!
//! The expected bytes are derived by hand from the SCALE rules and the
//! runtime's call indices and signed extensions (`tfgrid-v3.md` section 6),
//! and the signature is checked over the hand-built signer payload, so a
//! change in how subxt encodes anything fails here.

use ed25519_dalek::{Signature, SigningKey, Verifier as _};
use jukebox::grid::tfgrid::chain::{Ed25519Signer, calls};
use subxt::OfflineClient;
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::config::substrate::{H256, SpecVersionForRange, SubstrateConfig};

const METADATA: &[u8] = include_bytes!("../fixtures/tfchain-2.9-metadata.scale");
const GENESIS: [u8; 32] = [0x11; 32];
const SPEC_VERSION: u32 = 152;
const TX_VERSION: u32 = 2;
const HASH: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const DATA: &[u8] = br#"{"version":3,"type":"vm","name":"dash1"}"#;

fn client() -> OfflineClient<SubstrateConfig> {
    let metadata = subxt::Metadata::decode_from(METADATA).expect("bundled metadata decodes");
    let config = SubstrateConfig::builder()
        .set_genesis_hash(H256(GENESIS))
        .set_metadata_for_spec_versions([(SPEC_VERSION, metadata.arc())])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: SPEC_VERSION,
            transaction_version: TX_VERSION,
        }])
        .build();
    OfflineClient::new_with_config(config)
}

/// SCALE compact encoding of small numbers (below 2^14).
fn compact(n: usize) -> Vec<u8> {
    if n < 64 {
        vec![(n as u8) << 2]
    } else {
        let v = ((n as u16) << 2) | 1;
        v.to_le_bytes().to_vec()
    }
}

fn expected_create_call() -> Vec<u8> {
    // SmartContractModule is pallet 26, create_node_contract call 0.
    let mut call = vec![26, 0];
    call.extend_from_slice(&11u32.to_le_bytes());
    call.extend_from_slice(HASH);
    call.extend(compact(DATA.len()));
    call.extend_from_slice(DATA);
    call.extend_from_slice(&1u32.to_le_bytes());
    call.push(0); // solution_provider_id: None
    call
}

#[test]
fn call_data_follows_the_runtime_call_indices() {
    let at = client().at_block(100u64).unwrap();
    let tx = at.transactions();
    let create = calls::create_node_contract(11, *HASH, DATA, 1);
    assert_eq!(tx.call_data(&create).unwrap(), expected_create_call());

    let mut cancel = vec![26, 2];
    cancel.extend_from_slice(&77u64.to_le_bytes());
    assert_eq!(tx.call_data(&calls::cancel_contract(77)).unwrap(), cancel);

    // TfgridModule is pallet 25: create_twin 17, update_twin 18,
    // user_accept_tc 25.
    let relay = "relay.dev.grid.tf";
    let mut twin = vec![25, 17, 1];
    twin.extend(compact(relay.len()));
    twin.extend_from_slice(relay.as_bytes());
    twin.push(0); // pk: None
    assert_eq!(tx.call_data(&calls::create_twin(relay)).unwrap(), twin);
    // update_twin is call 18, with create_twin's arguments: `pk: None`
    // removes the twin's end-to-end key.
    let mut update = vec![25, 18, 1];
    update.extend(compact(relay.len()));
    update.extend_from_slice(relay.as_bytes());
    update.push(0);
    assert_eq!(tx.call_data(&calls::update_twin(relay)).unwrap(), update);

    let mut tc = vec![25, 25];
    for part in ["https://tc.example/terms.md", "abc"] {
        tc.extend(compact(part.len()));
        tc.extend_from_slice(part.as_bytes());
    }
    let accept = calls::user_accept_tc("https://tc.example/terms.md", "abc");
    assert_eq!(tx.call_data(&accept).unwrap(), tc);

    // Balances is pallet 20, transfer_keep_alive call 3: MultiAddress::Id,
    // then the amount as a compact integer.
    let mut transfer = vec![20, 3, 0];
    transfer.extend_from_slice(&[5; 32]);
    transfer.extend_from_slice(&[0x02, 0xb4, 0xc4, 0x04]); // compact 20,000,000 (2 TFT)
    let pay = calls::transfer_keep_alive([5; 32], 20_000_000);
    assert_eq!(tx.call_data(&pay).unwrap(), transfer);
}

#[test]
fn a_signed_create_node_contract_is_byte_exact() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let signer = Ed25519Signer::new(key.clone());
    let at = client().at_block(100u64).unwrap();
    let call = calls::create_node_contract(11, *HASH, DATA, 1);
    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
        .nonce(5)
        .immortal()
        .build();
    let mut signable = at
        .transactions()
        .create_v4_signable_offline(&call, params)
        .unwrap();

    // Signed extensions in runtime order: CheckNonZeroSender (nothing),
    // CheckSpecVersion and CheckTxVersion (additional), CheckGenesis
    // (additional), CheckMortality (immortal era 0x00; additional: genesis),
    // CheckNonce (compact 5), CheckWeight (nothing), ChargeTransactionPayment
    // (compact tip 0), ContractIdProvides (nothing).
    let extra = [0x00, 5 << 2, 0x00];
    let mut payload = expected_create_call();
    payload.extend_from_slice(&extra);
    payload.extend_from_slice(&SPEC_VERSION.to_le_bytes());
    payload.extend_from_slice(&TX_VERSION.to_le_bytes());
    payload.extend_from_slice(&GENESIS);
    payload.extend_from_slice(&GENESIS);
    assert!(payload.len() <= 256, "longer payloads are signed hashed");
    assert_eq!(signable.signer_payload().unwrap(), payload);

    let tx = signable.sign(&signer).unwrap();
    let bytes = tx.encoded();
    let mut body = vec![0x84, 0x00]; // signed v4; MultiAddress::Id
    body.extend_from_slice(&key.verifying_key().to_bytes());
    body.push(0x00); // MultiSignature::Ed25519
    let signature_at = body.len();
    body.extend_from_slice(&[0; 64]);
    body.extend_from_slice(&extra);
    body.extend(expected_create_call());
    let mut expected = compact(body.len());
    let offset = expected.len();
    expected.extend(&body);
    // The signature is whatever ed25519 gives (deterministic), and must
    // verify over the payload above.
    let signature: [u8; 64] = bytes[offset + signature_at..offset + signature_at + 64]
        .try_into()
        .unwrap();
    key.verifying_key()
        .verify(&payload, &Signature::from_bytes(&signature))
        .expect("the extrinsic's signature covers the signer payload");
    expected[offset + signature_at..offset + signature_at + 64].copy_from_slice(&signature);
    assert_eq!(bytes, &expected[..]);

    let golden = include_str!("../fixtures/tfchain-create-node-contract.hex");
    assert_eq!(hex::encode(bytes), golden.trim());
}
