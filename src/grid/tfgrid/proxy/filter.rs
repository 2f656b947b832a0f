//! `GET /nodes` query parameters, typed so a misspelt one cannot be sent
//! (the proxy answers 400 to an unknown parameter). Names and meanings are
//! upstream's `NodeFilter` and `Limit` (tfgrid-sdk-go
//! `grid-proxy/pkg/types/nodes.go`, `limit.go`), applied as
//! `grid-proxy/internal/explorer/db/postgres.go` `GetNodes` does.
//!
//! Upstream's `dedicated` filter is never sent: it selects on "farm
//! dedicated OR the node has no contracts OR it is rented", so
//! `dedicated=false` drops every idle node. Who may deploy is
//! `in_dedicated_farm` and `rented` (or `available_for`, which Jukebox does
//! not need: its twins rent nothing).

/// The node filters Jukebox uses. `None` and empty lists are left out of the
/// query, as the proxy ignores empty values anyway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFilter {
    /// `status=up`: reported within the last 80 minutes.
    pub up_only: bool,
    /// `healthy=true`: the proxy's own health check passes.
    pub healthy_only: bool,
    /// Free memory, in bytes.
    pub free_mru: Option<u64>,
    /// Free SSD, in bytes.
    pub free_sru: Option<u64>,
    /// Public IPv4 addresses left in the node's farm.
    pub free_ips: Option<u32>,
    /// A country by its English name.
    pub country: Option<String>,
    pub farm_ids: Vec<u32>,
    /// Nodes never to return.
    pub excluded: Vec<u32>,
    /// `in_dedicated_farm`: the node's farm rents its nodes out whole.
    pub in_dedicated_farm: Option<bool>,
    /// `rented`: a rent contract holds the node.
    pub rented: Option<bool>,
    pub randomize: bool,
    /// Page size and 1-based page number.
    pub size: u32,
    pub page: u32,
    /// Asks for the `count` and `pages` headers.
    pub ret_count: bool,
}

impl NodeFilter {
    /// The query pairs, in a stable order (it is also the cache key).
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = Vec::new();
        if self.up_only {
            q.push(("status", "up".into()));
        }
        if self.healthy_only {
            q.push(("healthy", "true".into()));
        }
        let amounts = [
            ("free_mru", self.free_mru),
            ("free_sru", self.free_sru),
            ("free_ips", self.free_ips.map(u64::from)),
        ];
        for (name, value) in amounts {
            if let Some(v) = value.filter(|v| *v > 0) {
                q.push((name, v.to_string()));
            }
        }
        if let Some(country) = self.country.as_deref().filter(|c| !c.trim().is_empty()) {
            q.push(("country", country.trim().to_string()));
        }
        let lists = [("farm_ids", &self.farm_ids), ("excluded", &self.excluded)];
        for (name, ids) in lists {
            if !ids.is_empty() {
                let joined: Vec<String> = ids.iter().map(u32::to_string).collect();
                q.push((name, joined.join(",")));
            }
        }
        let flags = [
            ("in_dedicated_farm", self.in_dedicated_farm),
            ("rented", self.rented),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                q.push((name, v.to_string()));
            }
        }
        if self.randomize {
            q.push(("randomize", "true".into()));
        }
        if self.size > 0 {
            q.push(("size", self.size.to_string()));
        }
        if self.page > 0 {
            q.push(("page", self.page.to_string()));
        }
        if self.ret_count {
            q.push(("ret_count", "true".into()));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_filters_are_sent() {
        assert!(NodeFilter::default().to_query().is_empty());
        let f = NodeFilter {
            up_only: true,
            healthy_only: true,
            free_mru: Some(8 << 30),
            free_sru: Some(0),
            free_ips: Some(1),
            country: Some(" Belgium ".into()),
            farm_ids: vec![1, 7],
            excluded: vec![3],
            in_dedicated_farm: Some(false),
            rented: Some(false),
            randomize: true,
            size: 20,
            page: 2,
            ret_count: true,
        };
        let q: Vec<String> = f
            .to_query()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            q.join("&"),
            "status=up&healthy=true&free_mru=8589934592&free_ips=1&country=Belgium\
             &farm_ids=1,7&excluded=3&in_dedicated_farm=false&rented=false&randomize=true\
             &size=20&page=2&ret_count=true"
        );
    }
}
