//! A twin's contracts as the grid proxy lists them: `GET /contracts` with
//! `twin_id`, `state` and `type` filters, paged (tfgrid-sdk-go
//! `grid-proxy/pkg/types/contracts.go` `ContractFilter` and `Contract`;
//! `internal/explorer/db/postgres.go` `GetContracts`: states compared
//! without case, a comma-separated `state` list, ordered by contract id,
//! `size`/`page` paging). TFChain keeps no contracts-by-twin index, so this
//! listing is the only way to find them; the proxy is an indexer that may
//! lag the chain, so every contract found here is confirmed on TFChain
//! before anything is done with it (see `backend/owned.rs`).

use serde::Deserialize;

use super::{GridProxy, ProxyError, decode};

/// Contracts asked for per page; the proxy sets no upper bound.
const PAGE_SIZE: usize = 100;
/// Pages read at most: 10,000 live contracts for one twin is far beyond
/// what one user's nodes make, and a proxy that never ends a listing must
/// not keep us reading forever.
const MAX_PAGES: usize = 100;

/// The details of a node contract (`NodeContractDetails`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeContractDetails {
    #[serde(rename = "nodeId")]
    pub node_id: u32,
    pub deployment_hash: String,
}

/// One contract of `GET /contracts` (`Contract`); `type` is "node",
/// "name" or "rent".
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProxyContract {
    pub contract_id: u64,
    pub twin_id: u32,
    pub state: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub details: NodeContractDetails,
}

impl GridProxy {
    /// Every node contract of `twin` the proxy lists as `Created` or in
    /// `GracePeriod`, all pages. Never cached: the reconciler reads it to
    /// see what changed.
    pub async fn twin_contracts(&self, twin: u32) -> Result<Vec<ProxyContract>, ProxyError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let query = [
                ("twin_id", twin.to_string()),
                ("state", "Created,GracePeriod".to_string()),
                ("type", "node".to_string()),
                ("size", PAGE_SIZE.to_string()),
                ("page", page.to_string()),
            ];
            let (body, _) = self.get("/contracts", &query, false).await?;
            let found: Vec<ProxyContract> = decode(&body)?;
            let last = found.len() < PAGE_SIZE;
            all.extend(found);
            if last {
                return Ok(all);
            }
        }
        Err(ProxyError::Decode(format!(
            "twin {twin} has more than {} contracts listed",
            PAGE_SIZE * MAX_PAGES
        )))
    }
}
