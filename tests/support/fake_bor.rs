//! A fake Bor (Polygon's go-ethereum fork) JSON-RPC server on loopback, as
//! go-ethereum answers (ethereum/go-ethereum):
//! - `rpc/http.go`: `POST /` with `Content-Type: application/json`
//!   (anything else: HTTP 415);
//! - `rpc/handler.go`, `rpc/json.go`: a message is answered with one
//!   message carrying its `id`; a batch (an array) with an array, one
//!   answer per call; an empty batch with the single error
//!   `-32600 empty batch`; a message without `"jsonrpc":"2.0"` with
//!   `-32600 invalid request`; an unknown method with `-32601 the method X
//!   does not exist/is not available`;
//! - `internal/ethapi/api.go`: `eth_blockNumber` is a `hexutil.Uint64`
//!   ("0x" and hex digits, no leading zero); `eth_syncing` is `false` once
//!   synced, else `startingBlock`, `currentBlock`, `highestBlock` and the
//!   state-sync counters, all quantities.
//!
//! Modes make it misbehave as broken or hostile nodes do.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Honest,
    /// Accepts and never answers.
    Silent,
    /// Answers an HTML page.
    Garbage,
    /// Writes its height with a leading zero ("0x04d…"), which go-ethereum
    /// itself never does and its decoder refuses.
    LeadingZero,
}

#[derive(Clone, Debug)]
pub struct BorState {
    pub height: u64,
    /// `Some(highest)` while syncing: `eth_syncing` answers the progress.
    pub syncing_to: Option<u64>,
    pub mode: Mode,
    /// The methods asked, in order (a batch's calls each).
    pub calls: Vec<String>,
}

impl BorState {
    pub fn at(height: u64) -> BorState {
        BorState {
            height,
            syncing_to: None,
            mode: Mode::Honest,
            calls: vec![],
        }
    }
}

pub struct FakeBor {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<BorState>>,
}

impl FakeBor {
    pub async fn start(state: BorState) -> FakeBor {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .route("/", post(rpc))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeBor { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, change: impl FnOnce(&mut BorState)) {
        change(&mut self.state.lock().unwrap());
    }
}

fn quantity(n: u64, mode: &Mode) -> String {
    match mode {
        Mode::LeadingZero => format!("0x0{n:x}"),
        _ => format!("{n:#x}"),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// One call's answer.
fn call(state: &mut BorState, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if request.get("jsonrpc") != Some(&json!("2.0")) {
        return error(id, -32600, "invalid request");
    }
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    state.calls.push(method.to_owned());
    let result = match method {
        "eth_blockNumber" => json!(quantity(state.height, &state.mode)),
        "eth_syncing" => match state.syncing_to {
            None => json!(false),
            Some(highest) => json!({
                "startingBlock": "0x0",
                "currentBlock": quantity(state.height, &state.mode),
                "highestBlock": quantity(highest, &state.mode),
                "syncedAccounts": "0x0",
                "syncedAccountBytes": "0x0",
                "syncedBytecodes": "0x0",
                "syncedBytecodeBytes": "0x0",
                "syncedStorage": "0x0",
                "syncedStorageBytes": "0x0",
                "healedTrienodes": "0x0",
                "healedTrienodeBytes": "0x0",
                "healedBytecodes": "0x0",
                "healedBytecodeBytes": "0x0",
                "healingTrienodes": "0x0",
                "healingBytecode": "0x0"
            }),
        },
        other => {
            return error(
                id,
                -32601,
                &format!("the method {other} does not exist/is not available"),
            );
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

async fn rpc(
    State(state): State<Arc<Mutex<BorState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let mode = state.lock().unwrap().mode.clone();
    match mode {
        Mode::Silent => return std::future::pending().await,
        Mode::Garbage => {
            return (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response();
        }
        Mode::Honest | Mode::LeadingZero => {}
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(error(Value::Null, -32700, "parse error")).into_response();
    };
    let mut state = state.lock().unwrap();
    let answer = match &request {
        Value::Array(calls) if calls.is_empty() => error(Value::Null, -32600, "empty batch"),
        Value::Array(calls) => Value::Array(calls.iter().map(|c| call(&mut state, c)).collect()),
        single => call(&mut state, single),
    };
    axum::Json(answer).into_response()
}
