//! A fake TFChain node on 127.0.0.1:0: the JSON-RPC over websocket a real
//! subxt client needs (legacy methods only, so subxt picks its legacy
//! backend), serving the bundled runtime 2.9 metadata, real block hashes
//! (blake2-256 of the SCALE header), storage under real keys with values
//! encoded from the runtime's types, and `System.Events` per block.
//!
//! Submitted extrinsics are checked as the chain would (signature over the
//! signer payload, nonce, fees) and applied: `user_accept_tc` (refusing the
//! document links and hashes pallet-tfgrid `terms_cond.rs` refuses),
//! `create_twin`, `update_twin`, `create_node_contract` (refusing nodes the
//! twin may not use, as pallet-smart-contract `grid_contract.rs` does),
//! `cancel_contract`. Each goes in a new block that is finalized at once,
//! unless a test holds finalization. Twins have a relay and may have an
//! end-to-end key (`pk`).
//!
//! The metadata served is 2.9's plus the v3 opt-out error
//! ([`OPTED_OUT`]), so nodes can refuse contracts as a later runtime does.
//! A fake can start on a given address, to play a chain that comes up after
//! its clients were built.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value as Json, json};
use subxt::Metadata;
use subxt::config::substrate::{Digest, H256, SubstrateHeader};
use subxt::ext::codec::Encode as _;
use subxt::ext::scale_value::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::fake_relay::{ChainView, TwinView};
use super::fake_server::Server;

mod edit;
mod scale;

pub use scale::OPTED_OUT;

const METADATA: &[u8] = include_bytes!("../fixtures/tfchain-2.9-metadata.scale");
pub const SPEC_VERSION: u32 = 152;
pub const TX_VERSION: u32 = 2;
/// What every extrinsic costs, in units (0.01 TFT).
pub const FEE: u128 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractState {
    Created,
    GracePeriod(u64),
    Deleted,
}

/// What TFChain knows of a node that decides who may deploy on it
/// (pallet-smart-contract `grid_contract.rs`, `_create_node_contract`).
/// A node the world does not list is an ordinary shared node.
#[derive(Clone, Debug, Default)]
pub struct ChainNode {
    /// `Farms(farm).dedicated_farm`.
    pub dedicated_farm: bool,
    /// `DedicatedNodesExtraFee(node)`.
    pub extra_fee: u64,
    /// The twin of `ActiveRentContractForNode(node)`.
    pub rented_by: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct FakeContract {
    pub twin: u32,
    pub node: u32,
    pub hash: [u8; 32],
    pub data: Vec<u8>,
    pub public_ips: u32,
    pub state: ContractState,
}

struct Block {
    header: SubstrateHeader<H256>,
    hash: H256,
    extrinsics: Vec<Vec<u8>>,
    storage: HashMap<Vec<u8>, Vec<u8>>,
}

pub struct World {
    pub balances: HashMap<[u8; 32], u128>,
    pub nonces: HashMap<[u8; 32], u32>,
    /// Each account's accepted (link, hash) pairs, in order, as
    /// pallet-tfgrid's `UsersTermsAndConditions` keeps them.
    pub accepted_terms: HashMap<[u8; 32], Vec<(String, String)>>,
    /// id -> (account, relay); an empty relay is `None` on chain.
    pub twins: BTreeMap<u32, ([u8; 32], String)>,
    /// The twins' end-to-end keys (`pk`), for those that have one.
    pub twin_pks: BTreeMap<u32, Vec<u8>>,
    pub contracts: BTreeMap<u64, FakeContract>,
    /// Nodes on which contract creation fails, with the pallet error name.
    pub refusing_nodes: HashMap<u32, String>,
    /// Nodes for renters or rented (see [`ChainNode`]).
    pub nodes: HashMap<u32, ChainNode>,
    /// Pricing policy 1: CU, SU, IPv4 per hour (10^-7 USD).
    pub pricing: (u64, u64, u64),
    /// `TFTPriceModule.AverageTftPrice`, `MinTftPrice` and `MaxTftPrice`
    /// (u32, mUSD; `None` leaves the entry out of storage).
    pub tft_price_milli_usd: u32,
    pub min_tft_price_milli_usd: Option<u32>,
    pub max_tft_price_milli_usd: Option<u32>,
    /// `TFTBridgeModule.DepositFee` (u64 units; `None`: not in storage).
    pub deposit_fee: Option<u64>,
    /// While set, new blocks are included but not finalized.
    pub hold_finalization: bool,
    /// Every call applied, as "pallet.call" (failed ones too).
    pub applied: Vec<String>,
    /// Methods the client asked for that the fake does not serve.
    pub unknown_methods: Vec<String>,
}

impl Default for World {
    fn default() -> World {
        World {
            balances: HashMap::new(),
            nonces: HashMap::new(),
            accepted_terms: HashMap::new(),
            twins: BTreeMap::new(),
            twin_pks: BTreeMap::new(),
            contracts: BTreeMap::new(),
            refusing_nodes: HashMap::new(),
            nodes: HashMap::new(),
            // The dev genesis policy and a 5-cent TFT, inside bounds of 1.5
            // and 100 cents, and the genesis deposit fee of 1 TFT
            // (tfchain `substrate-node/node/src/chain_spec.rs`).
            pricing: (100_000, 50_000, 40_000),
            tft_price_milli_usd: 50,
            min_tft_price_milli_usd: Some(15),
            max_tft_price_milli_usd: Some(1000),
            deposit_fee: Some(10_000_000),
            hold_finalization: false,
            applied: Vec::new(),
            unknown_methods: Vec::new(),
        }
    }
}

pub struct Chain {
    metadata: Metadata,
    /// What `metadata` was decoded from, as served to clients.
    metadata_bytes: Vec<u8>,
    blocks: Vec<Block>,
    finalized: usize,
    world: World,
}

pub struct FakeTfchain {
    pub url: String,
    chain: Arc<Mutex<Chain>>,
    _server: Server,
}

impl FakeTfchain {
    pub async fn start() -> FakeTfchain {
        FakeTfchain::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A fake listening on `addr` (e.g. where a client already points).
    pub async fn start_on(addr: std::net::SocketAddr) -> FakeTfchain {
        let metadata_bytes = scale::with_opt_out_error(METADATA);
        let metadata = Metadata::decode_from(&metadata_bytes[..]).unwrap();
        let mut chain = Chain {
            metadata,
            metadata_bytes,
            blocks: Vec::new(),
            finalized: 0,
            world: World::default(),
        };
        chain.push_block(Vec::new(), Vec::new());
        let chain = Arc::new(Mutex::new(chain));
        let shared = chain.clone();
        let (url, server) =
            Server::accept("ws", addr, move |stream| serve(stream, shared.clone())).await;
        FakeTfchain {
            url,
            chain,
            _server: server,
        }
    }

    /// The world; changes show from the next block (see [`Self::seal`]).
    pub fn world(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap()
    }

    pub fn fund(&self, account: [u8; 32], units: u128) {
        let mut c = self.world();
        *c.world.balances.entry(account).or_default() += units;
        c.seal();
    }

    /// Makes a block of the world as it is now (after a test changed it).
    pub fn seal(&self) {
        self.world().seal();
    }

    /// What Zero-OS nodes read from this chain (see the fake relay).
    pub fn view(&self) -> Arc<dyn ChainView> {
        Arc::new(View(self.chain.clone()))
    }
}

/// The chain as the fake relay's nodes read it: the world as it is now
/// (a real node reads the latest block; the fake's blocks are sealed at
/// once).
struct View(Arc<Mutex<Chain>>);

impl ChainView for View {
    fn contract_cancelled(&self, contract: u64) -> bool {
        let c = self.0.lock().unwrap();
        c.world
            .contracts
            .get(&contract)
            .is_some_and(|k| k.state == ContractState::Deleted)
    }

    fn twin(&self, twin: u32) -> Option<TwinView> {
        let c = self.0.lock().unwrap();
        let (_, relay) = c.world.twins.get(&twin)?;
        Some(TwinView {
            relay: (!relay.is_empty()).then(|| relay.clone()),
            pk: c.world.twin_pks.get(&twin).cloned(),
        })
    }
}

/// pallet-tfgrid's `validate_relay_address` (`twin.rs` in
/// threefoldtech/tfchain), rule for rule: not empty, not ending in a dot,
/// only `[A-Za-z0-9_-]` and dots, no dot first and none right after the
/// previous one, where "previous" starts at index 0 (so a one-character
/// first label, as in `a.grid.tf`, is refused too). `create_twin` and
/// `update_twin` refuse anything else with `InvalidRelayAddress`.
pub fn valid_relay(relay: &[u8]) -> bool {
    if relay.is_empty() || relay.last() == Some(&b'.') {
        return false;
    }
    let mut previous_dot = 0;
    for (i, b) in relay.iter().enumerate() {
        match b {
            b'.' if i == 0 || i - previous_dot == 1 => return false,
            b'.' => previous_dot = i,
            b if b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_' => {}
            _ => return false,
        }
    }
    true
}

impl std::ops::Deref for Chain {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl std::ops::DerefMut for Chain {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

impl Chain {
    pub fn seal(&mut self) {
        self.push_block(Vec::new(), Vec::new());
    }

    fn types(&self) -> &scale_info::PortableRegistry {
        self.metadata.types()
    }

    fn push_block(&mut self, extrinsics: Vec<Vec<u8>>, events: Vec<Value>) {
        let number = self.blocks.len() as u64;
        let parent_hash = self.blocks.last().map_or(H256::zero(), |b| b.hash);
        let storage = self.render_storage(&events);
        let header = SubstrateHeader {
            parent_hash,
            number,
            state_root: H256(sp_crypto_hashing::blake2_256(&number.to_le_bytes())),
            extrinsics_root: H256(sp_crypto_hashing::blake2_256(&extrinsics.concat())),
            digest: Digest::default(),
        };
        let hash = H256(sp_crypto_hashing::blake2_256(&header.encode()));
        self.blocks.push(Block {
            header,
            hash,
            extrinsics,
            storage,
        });
        if !self.world.hold_finalization {
            self.finalized = self.blocks.len() - 1;
        }
    }

    fn entry_value_ty(&self, pallet: &str, entry: &str) -> u32 {
        self.metadata
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .unwrap_or_else(|| panic!("no storage {pallet}.{entry}"))
            .value_ty()
    }

    /// Every storage entry the client reads, from the world as it is.
    fn render_storage(&self, events: &[Value]) -> HashMap<Vec<u8>, Vec<u8>> {
        let types = self.types();
        let mut out = HashMap::new();
        let w = &self.world;
        let accounts: HashSet<[u8; 32]> =
            w.balances.keys().chain(w.nonces.keys()).copied().collect();
        let account_ty = self.entry_value_ty("System", "Account");
        for account in accounts {
            let mut info = scale::default_of(types, account_ty);
            let nonce = w.nonces.get(&account).copied().unwrap_or(0);
            scale::set(&mut info, &["nonce"], Value::u128(u128::from(nonce)));
            let free = w.balances.get(&account).copied().unwrap_or(0);
            scale::set(&mut info, &["data", "free"], Value::u128(free));
            out.insert(
                key("System", "Account", &[&account]),
                scale::encode(types, account_ty, &info),
            );
        }
        let twin_ty = self.entry_value_ty("TfgridModule", "Twins");
        for (id, (account, relay)) in &w.twins {
            let mut twin = scale::default_of(types, twin_ty);
            scale::set(&mut twin, &["id"], Value::u128(u128::from(*id)));
            scale::set(&mut twin, &["account_id"], Value::from_bytes(account));
            let relay_ty = scale::field_type(types, twin_ty, "relay");
            let relay = match relay.as_str() {
                "" => scale::variant_of(types, relay_ty, "None", |_| vec![]),
                relay => scale::variant_of(types, relay_ty, "Some", |_| {
                    vec![Value::from_bytes(relay.as_bytes())]
                }),
            };
            scale::set(&mut twin, &["relay"], relay);
            if let Some(pk) = w.twin_pks.get(id) {
                let pk_ty = scale::field_type(types, twin_ty, "pk");
                let pk = scale::variant_of(types, pk_ty, "Some", |_| vec![Value::from_bytes(pk)]);
                scale::set(&mut twin, &["pk"], pk);
            }
            out.insert(
                key("TfgridModule", "Twins", &[&id.to_le_bytes()]),
                scale::encode(types, twin_ty, &twin),
            );
            out.insert(
                key("TfgridModule", "TwinIdByAccountID", &[account]),
                id.to_le_bytes().to_vec(),
            );
        }
        let contract_ty = self.entry_value_ty("SmartContractModule", "Contracts");
        for (id, c) in &w.contracts {
            // A cancelled node contract is gone from storage in the same
            // extrinsic: tfchain pallet-smart-contract `grid_contract.rs`
            // `do_cancel_contract` bills it (`billing.rs` `bill_contract`),
            // which ends in `remove_contract` (Contracts,
            // ContractIDByNodeIDAndHash, ContractLock removed). The world
            // keeps it, state `Deleted`, only as the tests' record of what
            // the chain did.
            if c.state == ContractState::Deleted {
                continue;
            }
            out.insert(
                key("SmartContractModule", "Contracts", &[&id.to_le_bytes()]),
                scale::encode(types, contract_ty, &self.contract_value(*id, c)),
            );
            out.insert(
                key(
                    "SmartContractModule",
                    "ContractIDByNodeIDAndHash",
                    &[&c.node.to_le_bytes(), &c.hash],
                ),
                id.to_le_bytes().to_vec(),
            );
        }
        let policy_ty = self.entry_value_ty("TfgridModule", "PricingPolicies");
        let mut policy = scale::default_of(types, policy_ty);
        scale::set(&mut policy, &["id"], Value::u128(1));
        for (name, value) in [
            ("cu", w.pricing.0),
            ("su", w.pricing.1),
            ("ipu", w.pricing.2),
        ] {
            scale::set(
                &mut policy,
                &[name, "value"],
                Value::u128(u128::from(value)),
            );
        }
        out.insert(
            key("TfgridModule", "PricingPolicies", &[&1u32.to_le_bytes()]),
            scale::encode(types, policy_ty, &policy),
        );
        let price_ty = self.entry_value_ty("TFTPriceModule", "AverageTftPrice");
        out.insert(
            key("TFTPriceModule", "AverageTftPrice", &[]),
            scale::encode(
                types,
                price_ty,
                &Value::u128(u128::from(w.tft_price_milli_usd)),
            ),
        );
        for (entry, value) in [
            ("MinTftPrice", w.min_tft_price_milli_usd),
            ("MaxTftPrice", w.max_tft_price_milli_usd),
        ] {
            if let Some(value) = value {
                let ty = self.entry_value_ty("TFTPriceModule", entry);
                out.insert(
                    key("TFTPriceModule", entry, &[]),
                    scale::encode(types, ty, &Value::u128(u128::from(value))),
                );
            }
        }
        if let Some(fee) = w.deposit_fee {
            let ty = self.entry_value_ty("TFTBridgeModule", "DepositFee");
            out.insert(
                key("TFTBridgeModule", "DepositFee", &[]),
                scale::encode(types, ty, &Value::u128(u128::from(fee))),
            );
        }
        let events_ty = self.entry_value_ty("System", "Events");
        out.insert(
            key("System", "Events", &[]),
            scale::encode(types, events_ty, &Value::unnamed_composite(events.to_vec())),
        );
        out
    }

    fn contract_value(&self, id: u64, c: &FakeContract) -> Value {
        let types = self.types();
        let ty = self.entry_value_ty("SmartContractModule", "Contracts");
        let mut v = scale::default_of(types, ty);
        scale::set(&mut v, &["contract_id"], Value::u128(u128::from(id)));
        scale::set(&mut v, &["twin_id"], Value::u128(u128::from(c.twin)));
        let state_ty = scale::field_type(types, ty, "state");
        let state = match c.state {
            ContractState::Created => scale::variant_of(types, state_ty, "Created", |_| vec![]),
            ContractState::GracePeriod(block) => {
                scale::variant_of(types, state_ty, "GracePeriod", |_| {
                    vec![Value::u128(u128::from(block))]
                })
            }
            ContractState::Deleted => scale::variant_of(types, state_ty, "Deleted", |tys| {
                vec![scale::variant_of(
                    types,
                    tys[0],
                    "CanceledByUser",
                    |_| vec![],
                )]
            }),
        };
        scale::set(&mut v, &["state"], state);
        let kind_ty = scale::field_type(types, ty, "contract_type");
        let kind = scale::variant_of(types, kind_ty, "NodeContract", |tys| {
            let mut node = scale::default_of(types, tys[0]);
            scale::set(&mut node, &["node_id"], Value::u128(u128::from(c.node)));
            scale::set(&mut node, &["deployment_hash"], Value::from_bytes(c.hash));
            scale::set(&mut node, &["deployment_data"], Value::from_bytes(&c.data));
            scale::set(
                &mut node,
                &["public_ips"],
                Value::u128(u128::from(c.public_ips)),
            );
            vec![node]
        });
        scale::set(&mut v, &["contract_type"], kind);
        v
    }

    /// One `System.Events` record for extrinsic `index`.
    fn event(&self, index: u32, pallet: &str, name: &str, fields: Vec<Value>) -> Value {
        let types = self.types();
        let events_ty = self.entry_value_ty("System", "Events");
        let record_ty = scale::field_type(types, events_ty, "");
        let mut record = scale::default_of(types, record_ty);
        let phase_ty = scale::field_type(types, record_ty, "phase");
        let phase = scale::variant_of(types, phase_ty, "ApplyExtrinsic", |_| {
            vec![Value::u128(u128::from(index))]
        });
        scale::set(&mut record, &["phase"], phase);
        let event_ty = scale::field_type(types, record_ty, "event");
        let event = scale::variant_of(types, event_ty, pallet, |tys| {
            vec![scale::variant_of(types, tys[0], name, |tys| {
                let mut values: Vec<Value> =
                    tys.iter().map(|t| scale::default_of(types, *t)).collect();
                for (slot, value) in values.iter_mut().zip(fields) {
                    *slot = value;
                }
                values
            })]
        });
        scale::set(&mut record, &["event"], event);
        record
    }

    /// `System.ExtrinsicFailed` with the named pallet error.
    fn failed(&self, index: u32, pallet: &str, error: &str) -> Value {
        let p = self.metadata.pallet_by_name(pallet).expect("pallet");
        let error_index = p
            .error_variants()
            .and_then(|vs| vs.iter().find(|v| v.name == error))
            .unwrap_or_else(|| panic!("{pallet} has no error {error}"))
            .index;
        let types = self.types();
        let system = self.metadata.pallet_by_name("System").unwrap();
        let failed = system
            .event_variants()
            .unwrap()
            .iter()
            .find(|v| v.name == "ExtrinsicFailed")
            .unwrap();
        let dispatch_ty = failed.fields[0].ty.id;
        let dispatch = scale::variant_of(types, dispatch_ty, "Module", |tys| {
            let mut m = scale::default_of(types, tys[0]);
            scale::set(&mut m, &["index"], Value::u128(u128::from(p.error_index())));
            scale::set(
                &mut m,
                &["error"],
                Value::from_bytes([error_index, 0, 0, 0]),
            );
            vec![m]
        });
        self.event(index, "System", "ExtrinsicFailed", vec![dispatch])
    }
}

/// A storage key: twox128(pallet) ++ twox128(entry) ++ blake2_128concat(k)…
fn key(pallet: &str, entry: &str, keys: &[&[u8]]) -> Vec<u8> {
    let mut out = sp_crypto_hashing::twox_128(pallet.as_bytes()).to_vec();
    out.extend(sp_crypto_hashing::twox_128(entry.as_bytes()));
    for k in keys {
        out.extend(sp_crypto_hashing::blake2_128(k));
        out.extend_from_slice(k);
    }
    out
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(s: &Json) -> Vec<u8> {
    hex::decode(s.as_str().unwrap_or_default().trim_start_matches("0x")).unwrap_or_default()
}

mod rpc;
use rpc::serve;
