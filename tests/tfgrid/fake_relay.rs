//! A fake RMB relay on 127.0.0.1:0 with Zero-OS nodes behind it.
//!
//! It does what the real relay checks: the websocket's token must verify
//! against the twin's registered key and be in time; every envelope must
//! come from the connected twin and carry a valid signature, or it is
//! answered with an (unsigned) relay error. Envelopes for a node twin are
//! answered as Zero-OS would: `zos.deployment.deploy` checks the deployment's
//! own signature and contract id, `get`/`changes` report workload results
//! that reach `ok` (or `error`) after a few polls, and `delete` is refused
//! whatever it asks (zosbase `pkg/zos_api/deployment.go`): a node removes
//! a deployment when its contract is cancelled on TFChain, which a node
//! that follows a chain ([`FakeRelay::follow_chain`]) sees.
//!
//! Replies are built as rmb-sdk-go's peer builds them (`makeEnvelope` in
//! `peer/peer.go`, which Zero-OS runs): `relays` set to the node's relay
//! hosts, `federation` to the caller twin's relay on chain, errors with
//! code 0 and a `null` payload, the payload encrypted when the caller's
//! twin has a `pk` on chain (as the node first read the twin: Zero-OS keeps
//! twins for hours), and signed over all of it as `peer/hashes.go` hashes
//! it, by the fake's own code rather than Jukebox's.
//! Nodes can be made silent, can hang up, or can sign with the wrong key;
//! the relay can alter the relays of replies in transit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};
use futures_util::{SinkExt as _, StreamExt as _};
use jukebox::grid::tfgrid::rmb::{Address, Envelope, Message, Payload, jwt, zos};
use jukebox::reservation::{Deployment, verify};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::fake_server::Server;

/// The command current Zero-OS refuses.
pub const DELETE: &str = "zos.deployment.delete";
/// Its answer, word for word (zosbase `deploymentDeleteHandler`).
pub const DELETE_REFUSED: &str =
    "deletion over the api is disabled, please cancel your contract instead";

/// What Zero-OS nodes read from TFChain.
pub trait ChainView: Send + Sync {
    /// Whether the contract is cancelled (its workloads must go).
    fn contract_cancelled(&self, contract: u64) -> bool;
    /// A twin's relay and end-to-end key, if the twin exists.
    fn twin(&self, twin: u32) -> Option<TwinView>;
}

/// A twin as a node reads it on chain.
#[derive(Clone, Debug, Default)]
pub struct TwinView {
    pub relay: Option<String>,
    /// Its end-to-end key (`pk`).
    pub pk: Option<Vec<u8>>,
}

/// How a fake node behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Workloads are `init` for this many `get`s, then `ok`.
    Healthy { polls_until_ok: u32 },
    /// Like healthy, but the zmachine ends in `error` with this message.
    WorkloadFails(String),
    /// Never answers.
    Silent,
    /// The relay closes the caller's websocket on any message to it.
    HangsUp,
    /// Answers, but signs with a key other than its registered one.
    Impostor,
}

struct NodeDeployment {
    owner: u32,
    json: Value,
    polls: u32,
    state: &'static str,
    changes: Vec<Value>,
}

pub struct FakeNode {
    pub key: SigningKey,
    pub behaviour: Behaviour,
    /// The relay hosts the node is connected to, sorted: rmb-sdk-go puts
    /// them in `relays` on every envelope.
    pub relays: Vec<String>,
    deployments: BTreeMap<u64, NodeDeployment>,
    /// Callers' twins as first read from the chain: Zero-OS's peer keeps
    /// them for 6 hours (`WithInMemoryExpiration` in threefoldtech/zos
    /// `cmds/modules/api_gateway`), longer than any test runs.
    twins_seen: HashMap<u32, TwinView>,
}

#[derive(Default)]
pub struct RelayState {
    /// The twins' keys, as TFChain would hold them.
    pub twins: HashMap<u32, VerifyingKey>,
    pub nodes: HashMap<u32, FakeNode>,
    /// Websocket connections attempted, refused ones too: every RMB call
    /// needs one, so none means nobody called any node.
    pub connections: u32,
    /// Frames received on any connection, undecodable ones too.
    pub frames: u32,
    pub refused_tokens: u32,
    /// Why envelopes were refused.
    pub refused_envelopes: Vec<String>,
    /// (source twin, destination twin, command) of every delivered request.
    pub delivered: Vec<(u32, u32, String)>,
    /// Where twins not registered by hand are looked up, as the real relay
    /// reads them from TFChain (rmb-rs `src/relay/api.rs`: `get_twin`, then
    /// the token is verified against the twin's account).
    pub chain_twins: Option<TwinLookup>,
    /// When set, replies are held until this many wait, then sent in
    /// reverse order (to prove replies are matched by uid, not by order).
    pub reverse_batches_of: usize,
    held: Vec<Envelope>,
    /// When set, the relay replaces the `relays` of every reply it passes
    /// on (after the node signed it).
    pub rewrite_reply_relays: Option<Vec<String>>,
    /// The chain the nodes follow, if any.
    chain: Option<Arc<dyn ChainView>>,
}

/// A twin's key by its id, from wherever the twins are (a fake chain).
pub type TwinLookup = Arc<dyn Fn(u32) -> Option<VerifyingKey> + Send + Sync>;

impl RelayState {
    /// The twin's key: registered, or looked up (and then remembered).
    fn twin_key(&mut self, twin: u32) -> Option<VerifyingKey> {
        if let Some(key) = self.twins.get(&twin) {
            return Some(*key);
        }
        let key = (self.chain_twins.as_ref()?)(twin)?;
        self.twins.insert(twin, key);
        Some(key)
    }

    /// Whether the node holds a live (not deleted) deployment for `contract`.
    pub fn node_has(&self, node: u32, contract: u64) -> bool {
        let cancelled = self
            .chain
            .as_ref()
            .is_some_and(|c| c.contract_cancelled(contract));
        !cancelled
            && self.nodes[&node]
                .deployments
                .get(&contract)
                .is_some_and(|d| d.state != "deleted")
    }

    /// The deployment some node holds for `contract`, as it was sent (JSON).
    pub fn deployment(&self, contract: u64) -> Option<&Value> {
        self.nodes
            .values()
            .find_map(|n| n.deployments.get(&contract))
            .map(|d| &d.json)
    }

    /// What the node has seen on chain: deployments of cancelled contracts
    /// are deleted, as Zero-OS's contract watcher deletes them.
    fn follow_cancels(&mut self, node: u32) {
        let Some(chain) = self.chain.clone() else {
            return;
        };
        let Some(node) = self.nodes.get_mut(&node) else {
            return;
        };
        for (contract, dep) in &mut node.deployments {
            if dep.state != "deleted" && chain.contract_cancelled(*contract) {
                dep.state = "deleted";
                set_results(&mut dep.json, "deleted", "contract cancelled", None);
                dep.changes.extend(
                    dep.json["workloads"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
    }
}

pub struct FakeRelay {
    pub url: String,
    state: Arc<Mutex<RelayState>>,
    _server: Server,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl FakeRelay {
    pub async fn start() -> FakeRelay {
        let state = Arc::new(Mutex::new(RelayState::default()));
        let shared = state.clone();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let (url, server) =
            Server::accept("ws", loopback, move |stream| serve(stream, shared.clone())).await;
        FakeRelay {
            url,
            state,
            _server: server,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, RelayState> {
        self.state.lock().unwrap()
    }

    pub fn register_twin(&self, twin: u32, key: VerifyingKey) {
        self.state().twins.insert(twin, key);
    }

    /// The nodes read TFChain through `chain`: cancelled contracts and the
    /// callers' relay and `pk`.
    pub fn follow_chain(&self, chain: Arc<dyn ChainView>) {
        self.state().chain = Some(chain);
    }

    /// The relay hosts node `twin` puts in its replies' `relays`.
    pub fn set_node_relays(&self, twin: u32, relays: &[&str]) {
        let mut s = self.state();
        let node = s.nodes.get_mut(&twin).expect("a node");
        node.relays = relays.iter().map(|r| r.to_string()).collect();
    }

    /// Adds a Zero-OS node with twin `twin`; returns its public key.
    pub fn add_node(&self, twin: u32, seed: u8, behaviour: Behaviour) -> VerifyingKey {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let public = key.verifying_key();
        let mut s = self.state();
        s.twins.insert(twin, public);
        s.nodes.insert(
            twin,
            FakeNode {
                key,
                behaviour,
                relays: vec!["relay.fake".into()],
                deployments: BTreeMap::new(),
                twins_seen: HashMap::new(),
            },
        );
        public
    }
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<RelayState>>) {
    state.lock().unwrap().connections += 1;
    let authenticated = Arc::new(Mutex::new(None::<u32>));
    // The handshake callback's type is tungstenite's, large error and all.
    #[allow(clippy::result_large_err)]
    let check = {
        let state = state.clone();
        let authenticated = authenticated.clone();
        move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let token = req.uri().query().unwrap_or_default();
            let mut s = state.lock().unwrap();
            let verified = jwt::claims(token).ok().and_then(|c| {
                let key = s.twin_key(c.sub)?;
                jwt::verify(token, &key, now(), 30).ok()
            });
            match verified {
                Some(claims) => {
                    *authenticated.lock().unwrap() = Some(claims.sub);
                    Ok(resp)
                }
                None => {
                    s.refused_tokens += 1;
                    let mut refused = ErrorResponse::new(Some("invalid token".into()));
                    *refused.status_mut() = StatusCode::UNAUTHORIZED;
                    Err(refused)
                }
            }
        }
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let Some(twin) = *authenticated.lock().unwrap() else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let (replies, mut outgoing) = mpsc::unbounded_channel::<Option<Envelope>>();
    let writer = tokio::spawn(async move {
        while let Some(Some(env)) = outgoing.recv().await {
            if sink.send(Frame::Binary(env.encode().into())).await.is_err() {
                return;
            }
        }
        // `None` means hang up.
        let _ = sink.close().await;
    });
    while let Some(Ok(frame)) = stream.next().await {
        let Frame::Binary(bytes) = frame else {
            continue;
        };
        let mut s = state.lock().unwrap();
        s.frames += 1;
        for reply in handle(&mut s, twin, &bytes) {
            let _ = replies.send(reply);
        }
    }
    drop(replies);
    let _ = writer.await;
}

/// What the relay sends back for one frame (`None` = close the socket).
fn handle(s: &mut RelayState, twin: u32, bytes: &[u8]) -> Vec<Option<Envelope>> {
    let Ok(env) = Envelope::decode(bytes) else {
        s.refused_envelopes.push("undecodable".into());
        return Vec::new();
    };
    let refuse = |s: &mut RelayState, why: &str| {
        s.refused_envelopes.push(why.to_string());
        vec![Some(relay_error(&env, why))]
    };
    if env.source.twin != twin {
        return refuse(s, "source is not the connected twin");
    }
    let key = s.twins[&twin];
    if !upstream_verify(&env, &key) {
        return refuse(s, "signature verification failed");
    }
    if env.timestamp + env.expiration < now() {
        return refuse(s, "message has expired");
    }
    let destination = env.destination.twin;
    let Message::Request { command } = &env.message else {
        return refuse(s, "not a request");
    };
    if !s.nodes.contains_key(&destination) {
        return refuse(s, "destination twin not found");
    }
    s.delivered.push((twin, destination, command.clone()));
    s.follow_cancels(destination);
    // What the node's peer knows of the caller: read from the chain the
    // first time, then remembered.
    let chain = s.chain.clone();
    let node = s.nodes.get_mut(&destination).unwrap();
    let caller = node
        .twins_seen
        .entry(twin)
        .or_insert_with(|| chain.and_then(|c| c.twin(twin)).unwrap_or_default())
        .clone();
    let behaviour = node.behaviour.clone();
    let answer = match behaviour {
        Behaviour::Silent => return Vec::new(),
        Behaviour::HangsUp => return vec![None],
        _ => zos_answer(node, &env, command, &key),
    };
    let signer = if behaviour == Behaviour::Impostor {
        SigningKey::from_bytes(&[0xee; 32])
    } else {
        node.key.clone()
    };
    // rmb-sdk-go's router answers a failed handler with the error's text,
    // code 0, and the encoded nil result as payload.
    let (message, body) = match answer {
        Ok(body) => (Message::Response, body),
        Err(message) => (Message::Error { code: 0, message }, b"null".to_vec()),
    };
    let payload = match caller.pk.filter(|pk| !pk.is_empty()) {
        // The real peer seals with AES-GCM under a secp256k1 shared key;
        // what matters here is that the caller cannot read it as plain.
        Some(_) => Payload::Cipher([b"sealed:".as_slice(), &body].concat()),
        None => Payload::Plain(body),
    };
    let mut reply = Envelope {
        message,
        payload,
        federation: caller.relay,
        relays: node.relays.clone(),
        ..reply_to(&env)
    };
    upstream_sign(&mut reply, &signer);
    if let Some(relays) = &s.rewrite_reply_relays {
        reply.relays = relays.clone();
    }
    if s.reverse_batches_of > 1 {
        s.held.push(reply);
        if s.held.len() < s.reverse_batches_of {
            return Vec::new();
        }
        return s.held.drain(..).rev().map(Some).collect();
    }
    vec![Some(reply)]
}

/// The signed challenge as rmb-sdk-go writes it (`Challenge` in
/// `peer/hashes.go`), written here apart from Jukebox's own
/// `Envelope::challenge` so that a mistake there is not repeated here:
/// uid, tags, timestamp, expiration, each address (twin, connection), the
/// request's command or the error's code and message, schema, federation,
/// the payload as is, then every relay.
fn upstream_challenge(env: &Envelope) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write!(w, "{}", env.uid);
    if let Some(tags) = &env.tags {
        let _ = write!(w, "{tags}");
    }
    let _ = write!(w, "{}{}", env.timestamp, env.expiration);
    for address in [&env.source, &env.destination] {
        let _ = write!(w, "{}", address.twin);
        if let Some(connection) = &address.connection {
            let _ = write!(w, "{connection}");
        }
    }
    match &env.message {
        Message::Request { command } => {
            let _ = write!(w, "{command}");
        }
        Message::Error { code, message } => {
            let _ = write!(w, "{code}{message}");
        }
        _ => {}
    }
    for text in [&env.schema, &env.federation].into_iter().flatten() {
        let _ = write!(w, "{text}");
    }
    if let Payload::Plain(data) | Payload::Cipher(data) = &env.payload {
        w.extend_from_slice(data);
    }
    for relay in &env.relays {
        let _ = write!(w, "{relay}");
    }
    w
}

/// rmb-sdk-go's `Sign`: the type byte, then ed25519 over the MD5 digest.
fn upstream_sign(env: &mut Envelope, key: &SigningKey) {
    use ed25519_dalek::Signer as _;
    use md5::Digest as _;
    let digest = md5::Md5::digest(upstream_challenge(env));
    let mut signature = vec![b'e'];
    signature.extend_from_slice(&key.sign(&digest).to_bytes());
    env.signature = Some(signature);
}

/// rmb-sdk-go's `VerifySignature`, for ed25519 twins.
fn upstream_verify(env: &Envelope, key: &VerifyingKey) -> bool {
    use ed25519_dalek::Verifier as _;
    use md5::Digest as _;
    let Some((b'e', raw)) = env.signature.as_deref().and_then(|s| s.split_first()) else {
        return false;
    };
    let Ok(raw) = <[u8; 64]>::try_from(raw) else {
        return false;
    };
    let digest = md5::Md5::digest(upstream_challenge(env));
    key.verify(&digest, &ed25519_dalek::Signature::from_bytes(&raw))
        .is_ok()
}

fn reply_to(env: &Envelope) -> Envelope {
    Envelope {
        uid: env.uid.clone(),
        timestamp: now(),
        // rmb-sdk-go's default time to live for a response.
        expiration: 300,
        source: Address::twin(env.destination.twin),
        destination: env.source.clone(),
        schema: Some("application/json".into()),
        ..Envelope::default()
    }
}

/// Unsigned: the relay speaks for itself, not for the destination.
fn relay_error(env: &Envelope, why: &str) -> Envelope {
    Envelope {
        message: Message::Error {
            code: 400,
            message: why.to_string(),
        },
        ..reply_to(env)
    }
}

/// Zero-OS's answer: the reply body, or an error message.
fn zos_answer(
    node: &mut FakeNode,
    env: &Envelope,
    command: &str,
    source_key: &VerifyingKey,
) -> Result<Vec<u8>, String> {
    let Payload::Plain(body) = &env.payload else {
        return Err("payload must be plain".into());
    };
    let source = env.source.twin;
    if command == DELETE {
        return Err(DELETE_REFUSED.into());
    }
    if command == zos::DEPLOY {
        let d: Deployment =
            serde_json::from_slice(body).map_err(|e| format!("invalid deployment: {e}"))?;
        // zosbase `pkg/provision/engine.go` `CreateOrUpdate`.
        if d.twin_id != source {
            return Err(format!(
                "twin id mismatch (deployment: {}, message: {source})",
                d.twin_id
            ));
        }
        if d.contract_id == 0 {
            return Err("deployment has no contract".into());
        }
        // A second deploy of one contract: zosbase `pkg/provision/storage/
        // storage.go` `Create` answers `ErrDeploymentExists`, whose text is
        // just "exists" (`pkg/provision/interface.go`).
        if node.deployments.contains_key(&d.contract_id) {
            return Err("exists".into());
        }
        // The node checks the deployment's own signature with the sender's
        // registered key.
        verify(&d, source, source_key).map_err(|e| format!("invalid signature: {e}"))?;
        let mut json = serde_json::to_value(&d).unwrap();
        set_results(&mut json, "init", "", None);
        let changes = json["workloads"].as_array().cloned().unwrap_or_default();
        node.deployments.insert(
            d.contract_id,
            NodeDeployment {
                owner: source,
                json,
                polls: 0,
                state: "init",
                changes,
            },
        );
        // The handler returns nothing, which the peer encodes as JSON.
        return Ok(b"null".to_vec());
    }
    if command != zos::GET && command != zos::CHANGES {
        // rmb-sdk-go's router: `ErrFunctionNotFound`.
        return Err("function is not found".into());
    }
    let arg: zos::ContractArg =
        serde_json::from_slice(body).map_err(|e| format!("invalid argument: {e}"))?;
    let behaviour = node.behaviour.clone();
    // zosbase `pkg/provision/engine.go` `Get`/`Changes`: the store is keyed
    // by twin, so another twin's contract reads as missing.
    let Some(dep) = node
        .deployments
        .get_mut(&arg.contract_id)
        .filter(|dep| dep.owner == source)
    else {
        return Err("deployment not found".into());
    };
    match command {
        zos::GET => {
            dep.polls += 1;
            let (after, failure) = match &behaviour {
                Behaviour::Healthy { polls_until_ok } => (*polls_until_ok, None),
                Behaviour::WorkloadFails(message) => (1, Some(message.clone())),
                _ => (0, None),
            };
            if dep.state == "init" && dep.polls > after {
                dep.state = if failure.is_some() { "error" } else { "ok" };
                set_results(
                    &mut dep.json,
                    dep.state,
                    failure.as_deref().unwrap_or(""),
                    failure.as_deref(),
                );
                dep.changes.extend(
                    dep.json["workloads"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            Ok(serde_json::to_vec(&dep.json).unwrap())
        }
        _ => Ok(serde_json::to_vec(&dep.changes).unwrap()),
    }
}

/// Every workload's result: state, message; the zmachine's `error` state
/// only when `failure` is set (the others stay ok, as on a real node).
fn set_results(json: &mut Value, state: &str, message: &str, failure: Option<&str>) {
    let Some(workloads) = json["workloads"].as_array_mut() else {
        return;
    };
    for w in workloads {
        let kind = w["type"].as_str().unwrap_or_default().to_string();
        let (state, message) = match failure {
            Some(_) if kind != "zmachine" => ("ok", ""),
            _ => (state, message),
        };
        let data = match (kind.as_str(), state) {
            ("zmachine", "ok") => json!({"id": "vm-1", "ip": "10.20.2.2",
                "planetary_ip": "", "mycelium_ip": "5a1:7b2:c3d4::1", "console_url": ""}),
            ("ip", "ok") => json!({"ip": "185.206.122.40/24", "ip6": "2a10::40/64",
                "gateway": "185.206.122.1"}),
            _ => Value::Null,
        };
        w["result"] = json!({"created": now(), "state": state, "message": message, "data": data});
    }
}
