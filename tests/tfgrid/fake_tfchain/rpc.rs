//! The fake node's JSON-RPC: requests, subscriptions, and applying a
//! submitted extrinsic.

use super::*;

/// What one request produces: the answer, then notifications.
type Out = Vec<Json>;

pub async fn serve(stream: tokio::net::TcpStream, chain: Arc<Mutex<Chain>>) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Json>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink
                .send(Frame::Text(msg.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut next_sub = 0u64;
    while let Some(Ok(frame)) = stream.next().await {
        let Frame::Text(text) = frame else { continue };
        let Ok(req) = serde_json::from_str::<Json>(&text) else {
            continue;
        };
        let id = req["id"].clone();
        let method = req["method"].as_str().unwrap_or_default().to_string();
        let params = req["params"].as_array().cloned().unwrap_or_default();
        next_sub += 1;
        let out = {
            let mut c = chain.lock().unwrap();
            handle(&mut c, &id, &method, &params, format!("sub{next_sub}"))
        };
        for msg in out {
            let _ = tx.send(msg);
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn answer(id: &Json, result: Json) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Json, code: i64, message: &str) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn notify(method: &str, sub: &str, result: Json) -> Json {
    json!({"jsonrpc": "2.0", "method": method, "params": {"subscription": sub, "result": result}})
}

const METHODS: &[&str] = &[
    "chain_getBlock",
    "chain_getBlockHash",
    "chain_getFinalizedHead",
    "chain_getHeader",
    "chain_subscribeAllHeads",
    "chain_subscribeFinalizedHeads",
    "chain_subscribeNewHeads",
    "chain_unsubscribeAllHeads",
    "chain_unsubscribeFinalizedHeads",
    "chain_unsubscribeNewHeads",
    "state_call",
    "state_getStorage",
    "state_getRuntimeVersion",
    "state_getMetadata",
    "author_submitAndWatchExtrinsic",
    "author_unwatchExtrinsic",
    "system_chain",
    "system_properties",
    "rpc_methods",
];

fn block_at<'a>(c: &'a Chain, at: Option<&Json>) -> Option<&'a Block> {
    match at.filter(|a| !a.is_null()) {
        None => c.blocks.last(),
        Some(h) => {
            let h = unhex(h);
            c.blocks.iter().find(|b| b.hash.0[..] == h[..])
        }
    }
}

fn handle(c: &mut Chain, id: &Json, method: &str, params: &[Json], sub: String) -> Out {
    let header = |b: &Block| serde_json::to_value(&b.header).unwrap();
    match method {
        "rpc_methods" => vec![answer(id, json!({"version": 1, "methods": METHODS}))],
        "system_chain" => vec![answer(id, json!("TFChain Fake"))],
        "system_properties" => vec![answer(
            id,
            json!({"ss58Format": 42, "tokenDecimals": 7, "tokenSymbol": "TFT"}),
        )],
        "chain_getBlockHash" => {
            let number = params.first().and_then(|n| n.as_u64());
            let block = match number {
                Some(n) => c.blocks.get(n as usize),
                None => c.blocks.last(),
            };
            vec![answer(
                id,
                block.map_or(Json::Null, |b| json!(hex0x(&b.hash.0))),
            )]
        }
        "chain_getFinalizedHead" => {
            vec![answer(id, json!(hex0x(&c.blocks[c.finalized].hash.0)))]
        }
        "chain_getHeader" => {
            let b = block_at(c, params.first());
            vec![answer(id, b.map_or(Json::Null, header))]
        }
        "chain_getBlock" => {
            let b = block_at(c, params.first());
            let body = b.map_or(Json::Null, |b| {
                let exts: Vec<String> = b.extrinsics.iter().map(|e| hex0x(e)).collect();
                json!({"block": {"header": header(b), "extrinsics": exts}, "justifications": null})
            });
            vec![answer(id, body)]
        }
        "chain_subscribeAllHeads" | "chain_subscribeNewHeads" | "chain_subscribeFinalizedHeads" => {
            let head = if method == "chain_subscribeFinalizedHeads" {
                &c.blocks[c.finalized]
            } else {
                c.blocks.last().unwrap()
            };
            let note = match method {
                "chain_subscribeAllHeads" => "chain_allHead",
                "chain_subscribeNewHeads" => "chain_newHead",
                _ => "chain_finalizedHead",
            };
            vec![answer(id, json!(sub)), notify(note, &sub, header(head))]
        }
        m if m.starts_with("chain_unsubscribe") || m == "author_unwatchExtrinsic" => {
            vec![answer(id, json!(true))]
        }
        "state_getRuntimeVersion" => vec![answer(
            id,
            json!({"specName": "substrate-threefold", "implName": "substrate-threefold",
                   "authoringVersion": 1, "specVersion": SPEC_VERSION, "implVersion": 0,
                   "apis": [], "transactionVersion": TX_VERSION, "stateVersion": 1}),
        )],
        "state_getMetadata" => vec![answer(id, json!(hex0x(&c.metadata_bytes)))],
        "state_getStorage" => {
            let k = unhex(&params[0]);
            let value = block_at(c, params.get(1))
                .and_then(|b| b.storage.get(&k))
                .map_or(Json::Null, |v| json!(hex0x(v)));
            vec![answer(id, value)]
        }
        "state_call" => {
            let function = params[0].as_str().unwrap_or_default();
            let data = unhex(&params[1]);
            match runtime_call(c, function, &data) {
                Some(bytes) => vec![answer(id, json!(hex0x(&bytes)))],
                None => {
                    c.world
                        .unknown_methods
                        .push(format!("state_call {function}"));
                    vec![error(id, -32000, "unknown runtime api")]
                }
            }
        }
        "author_submitAndWatchExtrinsic" => {
            let ext = unhex(&params[0]);
            match submit(c, &ext) {
                Err(why) => vec![error(id, 1010, &format!("Invalid Transaction: {why}"))],
                Ok(()) => {
                    let block = c.blocks.last().unwrap();
                    let hash = hex0x(&block.hash.0);
                    let mut out = vec![
                        answer(id, json!(sub)),
                        notify("author_extrinsicUpdate", &sub, json!("ready")),
                        notify("author_extrinsicUpdate", &sub, json!({"inBlock": hash})),
                    ];
                    if c.finalized == c.blocks.len() - 1 {
                        out.push(notify(
                            "author_extrinsicUpdate",
                            &sub,
                            json!({"finalized": hash}),
                        ));
                    }
                    out
                }
            }
        }
        other => {
            c.world.unknown_methods.push(other.to_string());
            vec![error(id, -32601, "Method not found")]
        }
    }
}

/// SCALE answers to the runtime APIs subxt calls.
fn runtime_call(c: &Chain, function: &str, data: &[u8]) -> Option<Vec<u8>> {
    let compact_bytes = |b: &[u8]| {
        let mut out = subxt::ext::codec::Compact(b.len() as u32).encode();
        out.extend_from_slice(b);
        out
    };
    match function {
        "Core_version" => {
            let mut v = compact_bytes(b"substrate-threefold");
            v.extend(compact_bytes(b"substrate-threefold"));
            v.extend(1u32.to_le_bytes());
            v.extend(SPEC_VERSION.to_le_bytes());
            v.extend(0u32.to_le_bytes());
            v.push(0); // no apis
            v.extend(TX_VERSION.to_le_bytes());
            v.push(1);
            Some(v)
        }
        "Metadata_metadata_versions" => Some(vec![4, 14, 0, 0, 0]),
        "Metadata_metadata_at_version" => {
            let mut v = vec![1];
            v.extend(compact_bytes(&c.metadata_bytes));
            Some(v)
        }
        "Metadata_metadata" => Some(compact_bytes(&c.metadata_bytes)),
        "AccountNonceApi_account_nonce" => {
            let account: [u8; 32] = data.get(..32)?.try_into().ok()?;
            let nonce = c.world.nonces.get(&account).copied().unwrap_or(0);
            Some(nonce.to_le_bytes().to_vec())
        }
        _ => None,
    }
}

/// Reads a SCALE compact integer.
fn compact(bytes: &mut &[u8]) -> Result<u128, String> {
    use subxt::ext::codec::{Compact, Decode};
    Compact::<u128>::decode(bytes)
        .map(|c| c.0)
        .map_err(|e| e.to_string())
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err("truncated extrinsic".into());
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn vec_u8(bytes: &mut &[u8]) -> Result<Vec<u8>, String> {
    let len = compact(bytes)? as usize;
    Ok(take(bytes, len)?.to_vec())
}

/// Checks a signed v4 extrinsic as the runtime would and applies it in a new
/// block; `Err` is a transaction the pool refuses (never included).
fn submit(c: &mut Chain, ext: &[u8]) -> Result<(), String> {
    let mut rest = ext;
    let len = compact(&mut rest)? as usize;
    if len != rest.len() {
        return Err("bad length".into());
    }
    let head = take(&mut rest, 2)?;
    if head != [0x84, 0x00] {
        return Err("not a signed v4 extrinsic from an account id".into());
    }
    let account: [u8; 32] = take(&mut rest, 32)?.try_into().unwrap();
    if take(&mut rest, 1)? != [0x00] {
        return Err("not an ed25519 signature".into());
    }
    let signature: [u8; 64] = take(&mut rest, 64)?.try_into().unwrap();
    let extra_start = rest;
    let era = take(&mut rest, 1)?[0];
    if era != 0 {
        take(&mut rest, 1)?;
    }
    let nonce = compact(&mut rest)?;
    let _tip = compact(&mut rest)?;
    let extra = &extra_start[..extra_start.len() - rest.len()];
    let call = rest;
    if undecodable(call) {
        return Err("Could not decode: BoundedVec exceeds its bound".into());
    }

    // The signature covers call ++ extra ++ (spec, tx, genesis, era block).
    let key = VerifyingKey::from_bytes(&account).map_err(|_| "bad account key")?;
    let signature = Signature::from_bytes(&signature);
    let signed_ok = c.blocks.iter().any(|era_block| {
        let mut payload = call.to_vec();
        payload.extend_from_slice(extra);
        payload.extend(SPEC_VERSION.to_le_bytes());
        payload.extend(TX_VERSION.to_le_bytes());
        payload.extend_from_slice(&c.blocks[0].hash.0);
        let era_hash = if era == 0 {
            c.blocks[0].hash
        } else {
            era_block.hash
        };
        payload.extend_from_slice(&era_hash.0);
        if payload.len() > 256 {
            payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
        }
        key.verify(&payload, &signature).is_ok()
    });
    if !signed_ok {
        return Err("bad signature".into());
    }
    let expected = c.world.nonces.get(&account).copied().unwrap_or(0);
    if nonce != u128::from(expected) {
        return Err(format!("nonce {nonce}, expected {expected}"));
    }
    let balance = c.world.balances.get(&account).copied().unwrap_or(0);
    if balance < FEE {
        return Err("Inability to pay some fees (e.g. account balance too low)".into());
    }
    c.world.balances.insert(account, balance - FEE);
    c.world.nonces.insert(account, expected + 1);
    let outcome = apply(c, account, call);
    let events = match outcome {
        Ok(mut events) => {
            events.push(c.event(0, "System", "ExtrinsicSuccess", vec![]));
            events
        }
        Err((pallet, error)) => vec![c.failed(0, pallet, &error)],
    };
    c.push_block(vec![ext.to_vec()], events);
    Ok(())
}

type Failure = (&'static str, String);

/// A twin's optional relay and optional end-to-end key, as given.
type TwinArgs = (Option<Vec<u8>>, Option<Vec<u8>>);

/// `create_twin`'s and `update_twin`'s arguments: `relay:
/// Option<BoundedVec<u8, 1024>>`, `pk: Option<BoundedVec<u8, 128>>`
/// (pallet-tfgrid `types.rs`); `None` when they do not decode.
fn twin_args(args: &mut &[u8]) -> Option<TwinArgs> {
    let mut option = |max: usize| -> Option<Option<Vec<u8>>> {
        match take(args, 1).ok()?[0] {
            0 => Some(None),
            1 => {
                let bytes = vec_u8(args).ok()?;
                (bytes.len() <= max).then_some(Some(bytes))
            }
            _ => None,
        }
    };
    let relay = option(1024)?;
    let pk = option(128)?;
    Some((relay, pk))
}

/// The relay as the world stores it ("" for none), or the pallet's
/// `InvalidRelayAddress`.
fn checked_relay(relay: Option<Vec<u8>>) -> Result<String, Failure> {
    match relay {
        None => Ok(String::new()),
        Some(r) if super::valid_relay(&r) => Ok(String::from_utf8(r).expect("ASCII")),
        Some(_) => Err(("TfgridModule", "InvalidRelayAddress".to_string())),
    }
}

/// pallet-tfgrid `terms_cond.rs`: the most a document link and hash may
/// hold (`BoundedVec` bounds of the call's arguments).
const MAX_LINK: usize = 2048;
const MAX_HASH: usize = 50;

/// A `user_accept_tc` whose link or hash exceeds its bound cannot even be
/// decoded: the pool refuses the transaction, nothing is included or paid.
fn undecodable(call: &[u8]) -> bool {
    if call.get(..2) != Some(&[25, 25]) {
        return false;
    }
    let mut args = &call[2..];
    let link = vec_u8(&mut args);
    let hash = vec_u8(&mut args);
    !matches!((link, hash), (Ok(l), Ok(h)) if l.len() <= MAX_LINK && h.len() <= MAX_HASH)
}

/// What `TermsAndConditions::try_from` refuses in a decoded call, checked in
/// its order: link length, link characters, hash length, hash characters.
fn terms_refusal(link: &[u8], hash: &[u8]) -> Option<&'static str> {
    let link_char = |c: &u8| c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(c);
    let hash_char = |c: &u8| c.is_ascii_alphanumeric() || b"-_".contains(c);
    if link.is_empty() {
        Some("DocumentLinkInputTooShort")
    } else if !link.iter().all(link_char) {
        Some("InvalidDocumentLinkInput")
    } else if hash.is_empty() {
        Some("DocumentHashInputTooShort")
    } else if !hash.iter().all(hash_char) {
        Some("InvalidDocumentHashInput")
    } else {
        None
    }
}

/// Runs the call; its events, or the pallet error that made it fail.
fn apply(c: &mut Chain, account: [u8; 32], call: &[u8]) -> Result<Vec<Value>, Failure> {
    let mut args = call.get(2..).unwrap_or_default();
    let malformed = || ("System", "CallFiltered".to_string());
    let (pallet, function) = (call.first().copied(), call.get(1).copied());
    let twin_of = |c: &Chain| {
        c.world
            .twins
            .iter()
            .find(|(_, (a, _))| *a == account)
            .map(|(id, _)| *id)
    };
    match (pallet, function) {
        (Some(25), Some(25)) => {
            c.world.applied.push("TfgridModule.user_accept_tc".into());
            let link = vec_u8(&mut args).map_err(|_| malformed())?;
            let hash = vec_u8(&mut args).map_err(|_| malformed())?;
            terms_refusal(&link, &hash).map_or(Ok(()), |e| Err(("TfgridModule", e.into())))?;
            let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
            c.world
                .accepted_terms
                .entry(account)
                .or_default()
                .push((text(link), text(hash)));
            Ok(vec![])
        }
        (Some(25), Some(17)) => {
            c.world.applied.push("TfgridModule.create_twin".into());
            let (relay, pk) = twin_args(&mut args).ok_or_else(malformed)?;
            if !c.world.accepted_terms.contains_key(&account) {
                return Err((
                    "TfgridModule",
                    "UserDidNotSignTermsAndConditions".to_string(),
                ));
            }
            if twin_of(c).is_some() {
                return Err(("TfgridModule", "TwinExists".to_string()));
            }
            let relay = checked_relay(relay)?;
            let id = c.world.twins.keys().last().map_or(1, |k| k + 1);
            c.world.twins.insert(id, (account, relay));
            if let Some(pk) = pk {
                c.world.twin_pks.insert(id, pk);
            }
            Ok(vec![])
        }
        // pallet-tfgrid `_update_twin`: the caller's own twin (found by
        // account, so `UnauthorizedToUpdateTwin` cannot arise here), a
        // valid relay if one is given; relay and pk are both replaced.
        (Some(25), Some(18)) => {
            c.world.applied.push("TfgridModule.update_twin".into());
            let (relay, pk) = twin_args(&mut args).ok_or_else(malformed)?;
            let twin = twin_of(c).ok_or_else(|| ("TfgridModule", "TwinNotExists".to_string()))?;
            let relay = checked_relay(relay)?;
            c.world.twins.get_mut(&twin).expect("the twin").1 = relay;
            match pk {
                Some(pk) => c.world.twin_pks.insert(twin, pk),
                None => c.world.twin_pks.remove(&twin),
            };
            Ok(vec![])
        }
        (Some(26), Some(0)) => {
            c.world
                .applied
                .push("SmartContractModule.create_node_contract".into());
            let node = u32::from_le_bytes(
                take(&mut args, 4)
                    .map_err(|_| malformed())?
                    .try_into()
                    .unwrap(),
            );
            let hash: [u8; 32] = take(&mut args, 32)
                .map_err(|_| malformed())?
                .try_into()
                .unwrap();
            let data = vec_u8(&mut args).map_err(|_| malformed())?;
            let public_ips = u32::from_le_bytes(
                take(&mut args, 4)
                    .map_err(|_| malformed())?
                    .try_into()
                    .unwrap(),
            );
            let twin =
                twin_of(c).ok_or_else(|| ("SmartContractModule", "TwinNotExists".to_string()))?;
            if let Some(error) = c.world.refusing_nodes.get(&node) {
                return Err(("SmartContractModule", error.clone()));
            }
            // A rented node takes only its renter's contracts; one not
            // rented, none when it is for renters (`grid_contract.rs`).
            let rules = c.world.nodes.get(&node).cloned().unwrap_or_default();
            let allowed = match rules.rented_by {
                Some(renter) => renter == twin,
                None => !rules.dedicated_farm && rules.extra_fee == 0,
            };
            if !allowed {
                return Err((
                    "SmartContractModule",
                    "NodeNotAvailableToDeploy".to_string(),
                ));
            }
            let taken = c
                .world
                .contracts
                .values()
                .any(|k| k.node == node && k.hash == hash && k.state != ContractState::Deleted);
            if taken {
                return Err(("SmartContractModule", "ContractIsNotUnique".to_string()));
            }
            let id = c.world.contracts.keys().last().map_or(1, |k| k + 1);
            let contract = FakeContract {
                twin,
                node,
                hash,
                data,
                public_ips,
                state: ContractState::Created,
            };
            let value = c.contract_value(id, &contract);
            c.world.contracts.insert(id, contract);
            Ok(vec![c.event(
                0,
                "SmartContractModule",
                "ContractCreated",
                vec![value],
            )])
        }
        (Some(20), Some(3)) => {
            c.world.applied.push("Balances.transfer_keep_alive".into());
            if take(&mut args, 1).map_err(|_| malformed())? != [0x00] {
                return Err(malformed());
            }
            let to: [u8; 32] = take(&mut args, 32)
                .map_err(|_| malformed())?
                .try_into()
                .unwrap();
            let units = compact(&mut args).map_err(|_| malformed())?;
            let held = c.world.balances.get(&account).copied().unwrap_or(0);
            if held < units {
                return Err(("Balances", "InsufficientBalance".to_string()));
            }
            c.world.balances.insert(account, held - units);
            *c.world.balances.entry(to).or_default() += units;
            Ok(vec![])
        }
        // cancel_contract, as tfchain pallet-smart-contract `grid_contract.rs`
        // `_cancel_contract` checks it: an unknown (or already cancelled, so
        // removed) contract is `ContractNotExists`; a signer other than the
        // contract's twin is `TwinNotAuthorizedToCancelContract`.
        (Some(26), Some(2)) => {
            c.world
                .applied
                .push("SmartContractModule.cancel_contract".into());
            let id = u64::from_le_bytes(
                take(&mut args, 8)
                    .map_err(|_| malformed())?
                    .try_into()
                    .unwrap(),
            );
            let twin = twin_of(c);
            match c.world.contracts.get_mut(&id) {
                Some(k) if k.state != ContractState::Deleted && Some(k.twin) == twin => {
                    k.state = ContractState::Deleted;
                    Ok(vec![])
                }
                Some(k) if k.state != ContractState::Deleted => Err((
                    "SmartContractModule",
                    "TwinNotAuthorizedToCancelContract".to_string(),
                )),
                _ => Err(("SmartContractModule", "ContractNotExists".to_string())),
            }
        }
        _ => Err(malformed()),
    }
}
