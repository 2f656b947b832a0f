//! The grid proxy client: the REST API (`tfgrid-v3.md` section 1) that
//! indexes the grid's nodes, farms and contracts.
//!
//! Every answer is plain JSON over GET. Node reads are cached for a few
//! seconds ([`ProxySettings::cache_ttl`]); randomized listings never are, or
//! "random" would keep returning the same nodes. Failures become a
//! [`ProxyError`], which callers turn into a [`GridError`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::cache::TtlCache;
use crate::grid::{GridError, GridNodeId};

mod contracts;
mod filter;
mod types;

pub use contracts::{NodeContractDetails, ProxyContract};
pub use filter::NodeFilter;
pub use types::{ProxyNode, ProxyNodeStatus, PublicConfig, Resources};

/// A response body, shared between the cache and its readers.
type Body = Arc<[u8]>;

/// How many cached answers to keep at most.
const CACHE_ENTRIES: usize = 4096;

/// Where the proxy is and how patient to be with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySettings {
    /// e.g. `https://gridproxy.test.grid.tf`; a trailing `/` is ignored.
    pub url: String,
    /// For one request, connection included.
    pub timeout: Duration,
    /// How long an answer is reused; zero turns the cache off.
    pub cache_ttl: Duration,
}

/// Why a proxy request gave no usable answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the grid proxy did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the grid proxy: {0}")]
    Unreachable(String),
    /// A 400: the proxy did not accept our query (a bug on our side).
    #[error("the grid proxy refused the query: {0}")]
    BadRequest(String),
    #[error("the grid proxy has no {0}")]
    NotFound(String),
    #[error("the grid proxy failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("the grid proxy answered something unreadable: {0}")]
    Decode(String),
}

impl From<ProxyError> for GridError {
    fn from(e: ProxyError) -> GridError {
        GridError::Unavailable(e.to_string())
    }
}

/// One page of `GET /nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePage {
    pub nodes: Vec<ProxyNode>,
    /// All matching nodes (the `count` header, when `ret_count` was set).
    pub count: Option<u64>,
}

/// A grid proxy client. Cheap to share behind an `Arc`.
pub struct GridProxy {
    http: reqwest::Client,
    base: String,
    settings: ProxySettings,
    /// Raw bodies by path and query, with the `count` header.
    cache: Mutex<TtlCache<String, (Body, Option<u64>)>>,
}

impl GridProxy {
    pub fn new(settings: ProxySettings) -> Result<GridProxy, ProxyError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("jukebox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProxyError::Unreachable(e.to_string()))?;
        Ok(GridProxy {
            http,
            base: settings.url.trim_end_matches('/').to_string(),
            cache: Mutex::new(TtlCache::new(settings.cache_ttl, CACHE_ENTRIES)),
            settings,
        })
    }

    /// One page of nodes matching `filter`. Randomized pages bypass the cache.
    pub async fn nodes(&self, filter: &NodeFilter) -> Result<NodePage, ProxyError> {
        let (body, count) = self
            .get("/nodes", &filter.to_query(), !filter.randomize)
            .await?;
        Ok(NodePage {
            nodes: decode(&body)?,
            count,
        })
    }

    /// One node with its capacity; a missing node is `NotFound`.
    pub async fn node(&self, id: GridNodeId) -> Result<ProxyNode, ProxyError> {
        let (body, _) = self.get(&format!("/nodes/{}", id.0), &[], true).await?;
        decode(&body)
    }

    /// GETs `path?query`, from the cache when allowed and fresh.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        cacheable: bool,
    ) -> Result<(Body, Option<u64>), ProxyError> {
        let key = cache_key(path, query);
        if cacheable && let Some(hit) = self.lock_cache().get(&key, Instant::now()) {
            return Ok(hit);
        }
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let count = response
            .headers()
            .get("count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body: Body = Arc::from(
            response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?
                .as_ref(),
        );
        if !status.is_success() {
            return Err(status_error(status, path, &body));
        }
        if cacheable {
            self.lock_cache()
                .put(key, (body.clone(), count), Instant::now());
        }
        Ok((body, count))
    }

    fn transport_error(&self, e: reqwest::Error) -> ProxyError {
        if e.is_timeout() {
            ProxyError::Timeout(self.settings.timeout)
        } else if e.is_decode() || e.is_body() {
            ProxyError::Decode(e.to_string())
        } else {
            // reqwest's Display omits the cause ("error sending request");
            // the source says what actually failed.
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            ProxyError::Unreachable(format!("{e}{cause}"))
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, TtlCache<String, (Body, Option<u64>)>> {
        // The cache holds no invariant a panicking holder could break.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn cache_key(path: &str, query: &[(&str, String)]) -> String {
    let mut key = path.to_string();
    for (k, v) in query {
        key.push(if key.len() == path.len() { '?' } else { '&' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProxyError> {
    serde_json::from_slice(body).map_err(|e| ProxyError::Decode(e.to_string()))
}

/// Maps a non-2xx answer, keeping the proxy's own `{"error": ...}` words.
fn status_error(status: StatusCode, path: &str, body: &[u8]) -> ProxyError {
    let message = serde_json::from_slice::<types::ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect());
    match status {
        StatusCode::BAD_REQUEST => ProxyError::BadRequest(message),
        StatusCode::NOT_FOUND => ProxyError::NotFound(format!("{path} ({message})")),
        _ => ProxyError::Server {
            status: status.as_u16(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_follow_the_query() {
        assert_eq!(cache_key("/nodes/7", &[]), "/nodes/7");
        let q = [("status", "up".to_string()), ("size", "5".to_string())];
        assert_eq!(cache_key("/nodes", &q), "/nodes?status=up&size=5");
    }

    #[test]
    fn error_bodies_keep_the_proxys_words() {
        let e = status_error(
            StatusCode::NOT_FOUND,
            "/nodes/9",
            br#"{"error":"node not found"}"#,
        );
        assert_eq!(e, ProxyError::NotFound("/nodes/9 (node not found)".into()));
        let e = status_error(
            StatusCode::BAD_GATEWAY,
            "/nodes",
            b"<html>bad gateway</html>",
        );
        assert_eq!(
            e,
            ProxyError::Server {
                status: 502,
                message: "<html>bad gateway</html>".into()
            }
        );
    }
}
