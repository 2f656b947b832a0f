//! A fake Stellar Horizon server on loopback for the Stellar wallet tests:
//! real HTTP, the JSON shapes of `GET /accounts/{id}/payments` (with
//! `cursor`, `order=asc`, `limit`, `join=transactions` and `_links.next`)
//! and `GET /transactions/{hash}`, Horizon's problem+json errors, a request
//! log and fault injection (error statuses, 429 with `Retry-After`, slow
//! answers, garbage, answers without the joined transaction).
//!
//! The server runs on its own thread and runtime, so it keeps answering
//! whatever the test's runtime does.

// Compiled into several test binaries; only the Stellar tests use it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// TFT's issuer on the public network (the wallet's default).
pub const TFT_ISSUER: &str = "GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47";

/// What the next request gets instead of a normal answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// An error status with a problem+json body.
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    RateLimited(u64),
    /// The normal answer, after this long.
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
}

/// One operation to put in the account's payments stream.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    /// `None`: native XLM.
    pub asset: Option<(String, String)>,
    pub amount: String,
    /// `(memo_type, memo)`.
    pub memo: Option<(String, String)>,
    pub successful: bool,
    /// Unix seconds (`created_at`).
    pub at: u64,
}

impl Op {
    /// A TFT payment of `amount` to `to` with a text memo (or none).
    pub fn tft(to: &str, amount: &str, memo: Option<&str>, at: u64) -> Op {
        Op {
            kind: "payment",
            from: "GPAYERPAYERPAYERPAYERPAYERPAYERPAYERPAYERPAYERPAYERPAYE".into(),
            to: to.into(),
            asset: Some(("TFT".into(), TFT_ISSUER.into())),
            amount: amount.into(),
            memo: memo.map(|m| ("text".into(), m.into())),
            successful: true,
            at,
        }
    }
}

#[derive(Default)]
struct State {
    account: String,
    /// Every record of the stream, oldest first (with its transaction).
    records: Vec<Value>,
    next_ledger: u64,
    faults: VecDeque<Fault>,
    /// Leave out the joined transaction (as a proxy might).
    drop_join: bool,
    requests: Vec<String>,
}

pub struct FakeHorizon {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHorizon {
    /// Serves the payments of `account` on 127.0.0.1:0.
    pub fn start(account: &str) -> FakeHorizon {
        let state = Arc::new(Mutex::new(State {
            account: account.to_owned(),
            next_ledger: 3_000_000,
            ..State::default()
        }));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake Horizon runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind fake Horizon");
                addr_tx
                    .send(listener.local_addr().expect("address"))
                    .expect("report address");
                let app = axum::Router::new()
                    .route("/accounts/{account}/payments", get(payments))
                    .route("/transactions/{hash}", get(transaction))
                    .fallback(|| async { problem(404, "Resource Missing", "no such route") })
                    .with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("fake Horizon serves");
            });
        });
        FakeHorizon {
            addr: addr_rx.recv().expect("fake Horizon started"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an operation in a new ledger; returns its operation id.
    pub fn add(&self, op: Op) -> String {
        let mut state = self.lock();
        state.next_ledger += 1;
        // Stellar operation ids: ledger << 32 | transaction << 12 | operation.
        let id = (state.next_ledger << 32) | (1 << 12) | 1;
        let hash = format!("{id:064x}");
        let created_at = utc(op.at);
        let (memo_type, memo) = op.memo.clone().unwrap_or(("none".into(), String::new()));
        let mut transaction = json!({
            "id": hash, "hash": hash, "successful": op.successful,
            "ledger": state.next_ledger, "created_at": created_at,
            "source_account": op.from, "memo_type": memo_type,
        });
        if memo_type != "none" {
            transaction["memo"] = json!(memo);
        }
        let mut record = json!({
            "_links": {"transaction": {"href": format!("/transactions/{hash}")}},
            "id": id.to_string(), "paging_token": id.to_string(),
            "transaction_successful": op.successful, "source_account": op.from,
            "type": op.kind, "created_at": created_at, "transaction_hash": hash,
        });
        match op.kind {
            "create_account" => {
                record["starting_balance"] = json!(op.amount);
                record["funder"] = json!(op.from);
                record["account"] = json!(op.to);
            }
            _ => {
                match &op.asset {
                    Some((code, issuer)) => {
                        record["asset_type"] = json!(if code.len() <= 4 {
                            "credit_alphanum4"
                        } else {
                            "credit_alphanum12"
                        });
                        record["asset_code"] = json!(code);
                        record["asset_issuer"] = json!(issuer);
                    }
                    None => record["asset_type"] = json!("native"),
                }
                record["from"] = json!(op.from);
                record["to"] = json!(op.to);
                record["amount"] = json!(op.amount);
                if op.kind.starts_with("path_payment") {
                    record["source_asset_type"] = json!("native");
                    record["source_amount"] = json!("100.0000000");
                    record["path"] = json!([]);
                }
            }
        }
        record["transaction"] = transaction;
        state.records.push(record);
        id.to_string()
    }

    /// Faults for the next requests, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.extend(faults);
    }

    /// Answer without the joined transaction from now on (or again with it).
    pub fn drop_join(&self, drop: bool) {
        self.lock().drop_join = drop;
    }

    /// Every request's path and query, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

impl Drop for FakeHorizon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Shared = Arc<Mutex<State>>;

/// Records the request and takes the next fault, if any.
fn arrive(state: &Shared, uri: &Uri) -> Option<Fault> {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.requests.push(uri.to_string());
    state.faults.pop_front()
}

/// Answers a fault, or `None` to go on with the normal answer (after a
/// `Slow` fault's wait).
async fn faulted(fault: Option<Fault>) -> Option<Response> {
    match fault? {
        Fault::Status(status) => Some(problem(status, "Internal Server Error", "injected")),
        Fault::RateLimited(secs) => {
            let mut response = problem(429, "Rate Limit Exceeded", "injected");
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            Some(response)
        }
        Fault::Slow(wait) => {
            tokio::time::sleep(wait).await;
            None
        }
        Fault::Garbage => Some((StatusCode::OK, "<html>proxy error</html>").into_response()),
    }
}

async fn payments(
    AxumState(state): AxumState<Shared>,
    Path(account): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    uri: Uri,
    _headers: HeaderMap,
) -> Response {
    let fault = arrive(&state, &uri);
    if let Some(response) = faulted(fault).await {
        return response;
    }
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if account != state.account {
        return problem(
            404,
            "Resource Missing",
            "The resource at the url requested was not found.",
        );
    }
    if query.get("order").map(String::as_str) != Some("asc") {
        return problem(400, "Bad Request", "this fake serves order=asc only");
    }
    let limit: usize = match query.get("limit").map(|l| l.parse()) {
        None => 10,
        Some(Ok(l)) if (1..=200).contains(&l) => l,
        _ => return problem(400, "Bad Request", "limit must be 1 to 200"),
    };
    let after: u64 = match query.get("cursor").map(|c| c.parse()) {
        None => 0,
        Some(Ok(c)) => c,
        Some(Err(_)) => return problem(400, "Bad Request", "invalid cursor"),
    };
    let join = query.get("join").map(String::as_str) == Some("transactions");
    let records: Vec<Value> = state
        .records
        .iter()
        .filter(|r| {
            r["paging_token"]
                .as_str()
                .and_then(|t| t.parse::<u64>().ok())
                > Some(after)
        })
        .take(limit)
        .map(|r| {
            let mut r = r.clone();
            if !join || state.drop_join {
                r.as_object_mut().expect("object").remove("transaction");
            }
            r
        })
        .collect();
    let base = format!("/accounts/{account}/payments");
    let next_cursor = records
        .last()
        .and_then(|r| r["paging_token"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| after.to_string());
    let link = |cursor: &str, order: &str| json!({"href": format!("{base}?cursor={cursor}&limit={limit}&order={order}")});
    let first_cursor = records
        .first()
        .and_then(|r| r["paging_token"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| after.to_string());
    axum::Json(json!({
        "_links": {
            "self": link(&after.to_string(), "asc"),
            "next": link(&next_cursor, "asc"),
            "prev": link(&first_cursor, "desc"),
        },
        "_embedded": {"records": records},
    }))
    .into_response()
}

async fn transaction(
    AxumState(state): AxumState<Shared>,
    Path(hash): Path<String>,
    uri: Uri,
) -> Response {
    let fault = arrive(&state, &uri);
    if let Some(response) = faulted(fault).await {
        return response;
    }
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    match state
        .records
        .iter()
        .find(|r| r["transaction_hash"].as_str() == Some(hash.as_str()))
    {
        Some(r) => axum::Json(r["transaction"].clone()).into_response(),
        None => problem(
            404,
            "Resource Missing",
            "The resource at the url requested was not found.",
        ),
    }
}

/// Horizon's problem+json error.
fn problem(status: u16, title: &str, detail: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        code,
        axum::Json(json!({
            "type": "https://stellar.org/horizon-errors/fake",
            "title": title, "status": status, "detail": detail,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        "content-type",
        "application/problem+json".parse().expect("header"),
    );
    response
}

/// `2026-11-23T10:00:00Z` from unix seconds.
fn utc(secs: u64) -> String {
    let rem = secs % 86_400;
    let (year, month, day) = jukebox::lifecycle::civil_from_days((secs / 86_400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
