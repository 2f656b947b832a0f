//! A fake Heimdall v2 node on loopback: CometBFT's RPC `GET /status`
//! answering the JSON-RPC envelope with `ResultStatus` as cometbft writes it
//! (rpc/core/types/responses.go; int64 fields as strings, as cometbft's
//! libs/json encodes them), and a Bor JSON-RPC `POST /` that answers
//! `eth_blockNumber` with a hex quantity and refuses anything else the way
//! go-ethereum does (-32601 method not found, -32600 invalid request).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub enum Mode {
    Honest,
    /// Accepts and never answers.
    Silent,
    /// Answers HTML.
    Garbage,
    /// Answers HTTP 500.
    ServerError,
    /// A JSON-RPC error object instead of a result.
    RpcError,
}

#[derive(Clone, Debug)]
pub struct NodeState {
    pub network: String,
    pub version: String,
    pub height: u64,
    pub catching_up: bool,
    pub bor_height: u64,
    pub mode: Mode,
    pub requests: Vec<String>,
}

pub struct FakeCometBft {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<NodeState>>,
}

impl FakeCometBft {
    pub async fn start(state: NodeState) -> FakeCometBft {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/status", get(status))
            .route("/", post(bor))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeCometBft { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

type Shared = State<Arc<Mutex<NodeState>>>;

async fn answer(state: &Arc<Mutex<NodeState>>, request: &str, ok: Value) -> Response {
    let mode = {
        let mut s = state.lock().unwrap();
        s.requests.push(request.to_string());
        s.mode.clone()
    };
    match mode {
        Mode::Honest => Json(ok).into_response(),
        Mode::Silent => std::future::pending().await,
        Mode::Garbage => (StatusCode::OK, "<html><body>nginx</body></html>").into_response(),
        Mode::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::RpcError => Json(json!({
            "jsonrpc": "2.0",
            "id": -1,
            "error": {"code": -32603, "message": "Internal error", "data": "node is shutting down"}
        }))
        .into_response(),
    }
}

async fn status(State(state): Shared) -> Response {
    let s = state.lock().unwrap().clone();
    let body = json!({
        "jsonrpc": "2.0",
        "id": -1,
        "result": {
            "node_info": {
                "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
                "id": "5576458aef205977e18fd50b274e9b5d9014525a",
                "listen_addr": "tcp://0.0.0.0:26656",
                "network": s.network,
                "version": s.version,
                "channels": "40202122233038606100",
                "moniker": "fake",
                "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"}
            },
            "sync_info": {
                "latest_block_hash": "790BA84C3545FCCC49A5C629CEE6EA58A6E875C3862175BDC11EE7AF54703501",
                "latest_app_hash": "C9AEBB441B787D9F1D846DE51F3826F4FD386108B59B08239653ABF59455C3F8",
                "latest_block_height": s.height.to_string(),
                "latest_block_time": "2026-11-23T00:00:00.5Z",
                "earliest_block_hash": "",
                "earliest_app_hash": "",
                "earliest_block_height": "1",
                "earliest_block_time": "2025-07-10T00:00:00Z",
                "catching_up": s.catching_up
            },
            "validator_info": {
                "address": "5D6A51A8E9899C44079C6AF90618BA0369070E6E",
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "A6DoBUypNtUAyEHWtQ9bFjfNg8Bo9CrnkUGl6k6OHN4="},
                "voting_power": "0"
            }
        }
    });
    answer(&state, "GET /status", body).await
}

async fn bor(State(state): Shared, Json(request): Json<Value>) -> Response {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if request.get("jsonrpc") != Some(&json!("2.0")) {
        let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "invalid request"}});
        return Json(e).into_response();
    }
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    if method != "eth_blockNumber" {
        let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("the method {method} does not exist/is not available")}});
        return Json(e).into_response();
    }
    let height = state.lock().unwrap().bor_height;
    let ok = json!({"jsonrpc": "2.0", "id": id, "result": format!("{height:#x}")});
    answer(&state, method, ok).await
}
