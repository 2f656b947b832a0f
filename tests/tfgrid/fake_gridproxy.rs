//! A fake grid proxy on 127.0.0.1:0 answering the real routes with the JSON
//! shapes of `tfgrid-v3.md` section 1: node filters, paging with `count`
//! headers, randomized order, 400 on an unknown parameter, 404 for a missing
//! node, and `/contracts` filtered and paged as upstream does it. Faults
//! are injected per test (5xx, hangs, garbage, a proxy that ignores
//! filters), and every request is logged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::fake_server::Server;

const GIB: u64 = 1 << 30;

/// Every parameter the real proxy accepts on `/nodes`.
const NODE_PARAMS: &[&str] = &[
    "status",
    "free_mru",
    "free_sru",
    "free_hru",
    "total_cru",
    "country",
    "country_contains",
    "city",
    "region",
    "farm_ids",
    "farm_name",
    "free_ips",
    "ipv4",
    "ipv6",
    "has_ipv6",
    "domain",
    "dedicated",
    "rentable",
    "rented",
    "healthy",
    "node_id",
    "node_ids",
    "twin_id",
    "certification_type",
    "price_min",
    "price_max",
    "excluded",
    "features",
    "size",
    "page",
    "ret_count",
    "randomize",
    "sort_by",
    "sort_order",
];

/// Every parameter the real proxy accepts on `/contracts`: tfgrid-sdk-go
/// `grid-proxy/pkg/types/contracts.go` `ContractFilter` and
/// `pkg/types/limit.go` `Limit`. Any other is refused by gorilla/schema.
const CONTRACT_PARAMS: &[&str] = &[
    "contract_id",
    "twin_id",
    "node_id",
    "type",
    "state",
    "name",
    "number_of_public_ips",
    "deployment_data",
    "deployment_hash",
    "farm_name",
    "farm_id",
    "size",
    "page",
    "ret_count",
    "randomize",
    "sort_by",
    "sort_order",
    "balance",
];

/// One node of the fake grid; sizes in GiB to keep tests readable.
#[derive(Clone, Debug)]
pub struct FakeNode {
    pub id: u32,
    pub farm_id: u32,
    pub farm_name: String,
    pub country: String,
    pub status: &'static str,
    pub healthy: bool,
    pub cru: u64,
    pub total_mru_gib: u64,
    pub used_mru_gib: u64,
    pub total_sru_gib: u64,
    pub used_sru_gib: u64,
    pub farm_free_ips: u32,
    pub dedicated: bool,
    pub rented: bool,
}

impl FakeNode {
    /// An up, healthy, shared node with 64 GiB memory and 1 TiB SSD free.
    pub fn new(id: u32, farm_id: u32, country: &str) -> FakeNode {
        FakeNode {
            id,
            farm_id,
            farm_name: format!("Farm{farm_id}"),
            country: country.to_string(),
            status: "up",
            healthy: true,
            cru: 24,
            total_mru_gib: 64,
            used_mru_gib: 0,
            total_sru_gib: 1024,
            used_sru_gib: 0,
            farm_free_ips: 3,
            dedicated: false,
            rented: false,
        }
    }

    fn free_mru(&self) -> u64 {
        (self.total_mru_gib - self.used_mru_gib) * GIB
    }

    fn free_sru(&self) -> u64 {
        (self.total_sru_gib - self.used_sru_gib) * GIB
    }

    /// The node as the proxy lists it; `nested` is the `/nodes/{id}` shape.
    fn json(&self, nested: bool) -> Value {
        let total = json!({"cru": self.cru, "sru": self.total_sru_gib * GIB,
                           "hru": 12002108194816u64, "mru": self.total_mru_gib * GIB});
        let used = json!({"cru": 4, "sru": self.used_sru_gib * GIB, "hru": 0,
                          "mru": self.used_mru_gib * GIB});
        let mut node = json!({
            "id": format!("{:010}", self.id), "nodeId": self.id, "farmId": self.farm_id,
            "farmName": self.farm_name, "twinId": 1000 + self.id, "country": self.country,
            "city": "Lochristi", "gridVersion": 3, "uptime": 3600123, "created": 1645000000,
            "updatedAt": 1716200000, "status": self.status, "healthy": self.healthy,
            "certificationType": "Diy",
            "location": {"country": self.country, "city": "Lochristi",
                         "longitude": 3.83, "latitude": 51.09},
            "publicConfig": {"domain": "gent01.grid.tf", "gw4": "185.206.122.1", "gw6": "2a10::1",
                             "ipv4": "185.206.122.31/24", "ipv6": "2a10::31/64"},
            "dedicated": self.dedicated, "rentable": false, "rented": self.rented,
            "rentedByTwinId": 0, "farm_free_ips": self.farm_free_ips, "price_usd": 52.3,
            "features": ["zmachine", "zmount", "network", "ip", "gateway-name-proxy"]
        });
        if nested {
            node["capacity"] = json!({"total_resources": total, "used_resources": used});
        } else {
            node["total_resources"] = total;
            node["used_resources"] = used;
        }
        node
    }
}

/// A fault the next requests meet.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and body.
    Status(u16, String),
    /// Never answer.
    Hang,
}

#[derive(Default)]
pub struct FakeState {
    pub nodes: Vec<FakeNode>,
    /// Contracts in the proxy's JSON shape (`Contract`), as indexed.
    pub contracts: Vec<Value>,
    /// Path and query of every request, in order.
    pub requests: Vec<String>,
    /// Served first to last, one per request.
    pub faults: Vec<Fault>,
    /// Parameters this proxy version rejects as unknown.
    pub unknown_params: HashSet<String>,
    /// A broken proxy returning every node whatever the filters say.
    pub ignore_filters: bool,
}

pub struct FakeGridProxy {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    _server: Server,
}

impl FakeGridProxy {
    pub async fn start(nodes: Vec<FakeNode>) -> FakeGridProxy {
        let state = Arc::new(Mutex::new(FakeState {
            nodes,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/nodes", get(list_nodes))
            .route("/nodes/{id}", get(one_node))
            .route("/contracts", get(list_contracts))
            .with_state(state.clone());
        let (url, server) = Server::http(app).await;
        FakeGridProxy {
            url,
            state,
            _server: server,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Takes the request log.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.state().requests)
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Logs the request and serves the next fault, if any.
async fn enter(
    state: &Arc<Mutex<FakeState>>,
    path: &str,
    query: &[(String, String)],
) -> Option<Response> {
    let fault = {
        let mut s = state.lock().unwrap();
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.requests.push(if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", q.join("&"))
        });
        (!s.faults.is_empty()).then(|| s.faults.remove(0))
    };
    match fault? {
        Fault::Status(code, body) => {
            Some((StatusCode::from_u16(code).unwrap(), body).into_response())
        }
        Fault::Hang => std::future::pending().await,
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn ids(v: &str) -> Vec<u32> {
    list(v).iter().filter_map(|s| s.parse().ok()).collect()
}

async fn list_nodes(State(state): Shared, Query(query): Query<Vec<(String, String)>>) -> Response {
    if let Some(r) = enter(&state, "/nodes", &query).await {
        return r;
    }
    let s = state.lock().unwrap();
    for (k, _) in &query {
        if !NODE_PARAMS.contains(&k.as_str()) || s.unknown_params.contains(k) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("failed to decode params: unknown parameter {k:?}"),
            );
        }
    }
    let (mut size, mut page, mut ret_count, mut randomize) = (50usize, 1usize, false, false);
    let mut found: Vec<&FakeNode> = s.nodes.iter().collect();
    for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
        let num = v.parse::<u64>().unwrap_or(0);
        let yes = v == "true";
        match k.as_str() {
            "size" => size = num as usize,
            "page" => page = num as usize,
            "ret_count" => ret_count = yes,
            "randomize" => randomize = yes,
            _ if s.ignore_filters => {}
            "status" => found.retain(|n| list(v).iter().any(|st| st == n.status)),
            "healthy" => found.retain(|n| n.healthy == yes),
            "free_mru" => found.retain(|n| n.free_mru() >= num),
            "free_sru" => found.retain(|n| n.free_sru() >= num),
            "free_hru" => found.retain(|_| 12002108194816u64 >= num),
            "free_ips" => found.retain(|n| u64::from(n.farm_free_ips) >= num),
            "country" => found.retain(|n| n.country.eq_ignore_ascii_case(v)),
            "farm_ids" => found.retain(|n| ids(v).contains(&n.farm_id)),
            "node_ids" => found.retain(|n| ids(v).contains(&n.id)),
            "excluded" => found.retain(|n| !ids(v).contains(&n.id)),
            "dedicated" => found.retain(|n| n.dedicated == yes),
            "rented" => found.retain(|n| n.rented == yes),
            _ => {}
        }
    }
    if randomize {
        fastrand::shuffle(&mut found);
    }
    let count = found.len();
    let body: Vec<Value> = found
        .iter()
        .skip(page.saturating_sub(1) * size)
        .take(size)
        .map(|n| n.json(false))
        .collect();
    let mut headers = HeaderMap::new();
    if ret_count {
        let pages = count.div_ceil(size.max(1));
        for (name, value) in [("count", count), ("size", size), ("pages", pages)] {
            headers.insert(name, HeaderValue::from_str(&value.to_string()).unwrap());
        }
    }
    (headers, axum::Json(body)).into_response()
}

async fn one_node(State(state): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = enter(&state, &format!("/nodes/{id}"), &[]).await {
        return r;
    }
    let s = state.lock().unwrap();
    let Ok(id) = id.parse::<u32>() else {
        return error(StatusCode::BAD_REQUEST, "invalid node id");
    };
    match s.nodes.iter().find(|n| n.id == id) {
        Some(n) => axum::Json(n.json(true)).into_response(),
        None => error(StatusCode::NOT_FOUND, "node not found"),
    }
}

/// `GET /contracts` as `internal/explorer/db/postgres.go` `GetContracts`
/// answers it: filters ANDed, `state` a comma-separated list compared
/// without case, `number_of_public_ips` a minimum, ordered by contract id,
/// then paged (`size` default 50, `page` from 1).
async fn list_contracts(
    State(state): Shared,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(r) = enter(&state, "/contracts", &query).await {
        return r;
    }
    let s = state.lock().unwrap();
    let (mut size, mut page) = (50usize, 1usize);
    let mut found: Vec<&Value> = s.contracts.iter().collect();
    // Empty values are dropped before decoding (`ignoreEmptyParams`).
    for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
        if !CONTRACT_PARAMS.contains(&k.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("failed to decode params: schema: invalid path {k:?}"),
            );
        }
        let number = v.parse::<u64>().ok();
        let detail = |c: &Value, name: &str| c["details"][name].clone();
        match k.as_str() {
            "size" => size = number.unwrap_or(50) as usize,
            "page" => page = number.unwrap_or(1) as usize,
            "contract_id" | "twin_id" => found.retain(|c| c[k.as_str()].as_u64() == number),
            "node_id" => found.retain(|c| detail(c, "nodeId").as_u64() == number),
            "type" => found.retain(|c| c["type"] == v.as_str()),
            "state" => {
                let wanted: Vec<String> = list(v).iter().map(|s| s.to_lowercase()).collect();
                found.retain(|c| {
                    wanted.contains(&c["state"].as_str().unwrap_or_default().to_lowercase())
                })
            }
            "deployment_hash" => found.retain(|c| detail(c, "deployment_hash") == v.as_str()),
            "number_of_public_ips" => found.retain(|c| {
                detail(c, "number_of_public_ips").as_u64().unwrap_or(0) >= number.unwrap_or(0)
            }),
            _ => {}
        }
    }
    found.sort_by_key(|c| c["contract_id"].as_u64());
    let body: Vec<&Value> = found
        .into_iter()
        .skip(page.saturating_sub(1) * size)
        .take(size)
        .collect();
    axum::Json(body).into_response()
}
