//! The doctor's flist steps: is each flist the catalog names there for a
//! Zero-OS node to fetch? One step per distinct URL, `ok` when the hub
//! serves it, `FAIL` with what to do when not (for an image the operator
//! makes, the upstream image to convert and docs/catalog.md).
//!
//! The hub (threefoldtech/0-hub `src/flist-uploader.py`) serves each flist
//! at `/<account>/<name>.flist` (`send_from_directory`, 404 when absent)
//! and answers HEAD as Flask does for every GET route; a HEAD the server
//! refuses (405) is retried as a GET whose body is not read.

use std::time::Duration;

use super::Step;

/// The official hub; catalog URLs under it may be checked through
/// `grid.tfgrid.flist_hub_url` instead (a mirror, or a test's fake hub).
pub const HUB: &str = "https://hub.grid.tf";

/// One flist of the catalog and who uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlistNeed {
    pub url: String,
    /// `chain/type` of every node type that boots it.
    pub labels: Vec<String>,
    /// For an flist the operator makes: what from (`dashpay/dashd:23`).
    pub made_from: Option<String>,
}

/// Groups the catalog's node types by flist URL, in catalog order.
pub fn by_url(node_types: &[(String, String, Option<String>)]) -> Vec<FlistNeed> {
    let mut out: Vec<FlistNeed> = Vec::new();
    for (label, url, made_from) in node_types {
        match out.iter_mut().find(|f| &f.url == url) {
            Some(f) => f.labels.push(label.clone()),
            None => out.push(FlistNeed {
                url: url.clone(),
                labels: vec![label.clone()],
                made_from: made_from.clone(),
            }),
        }
    }
    out
}

/// Where `url` is fetched from: on the official hub, the same path on
/// `hub` (when one is configured); anything else as it is.
fn location(url: &str, hub: Option<&str>) -> String {
    match (hub, url.strip_prefix(HUB)) {
        (Some(hub), Some(path)) => format!("{}{path}", hub.trim_end_matches('/')),
        _ => url.to_owned(),
    }
}

/// Checks each flist; `hub` overrides where hub.grid.tf's are looked up.
pub async fn steps(flists: &[FlistNeed], hub: Option<&str>, patience: Duration) -> Vec<Step> {
    let http = match reqwest::Client::builder()
        .timeout(patience)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            return vec![Step::fail(
                "flists",
                "an HTTP client",
                e.to_string(),
                "check the machine's TLS setup",
            )];
        }
    };
    let mut steps = Vec::new();
    for flist in flists {
        let name = format!("flist {}", flist.labels.join(", "));
        let at = location(&flist.url, hub);
        let got = match fetch_status(&http, &at).await {
            Ok(status) if status.is_success() => {
                steps.push(Step::ok(name, format!("{} is served", flist.url)));
                continue;
            }
            Ok(status) => format!("HTTP {status}"),
            Err(e) => e,
        };
        let todo = match &flist.made_from {
            Some(from) => format!(
                "make it from {from} and publish it on the hub (docs/catalog.md), then set \
                 this node type's flist to its URL"
            ),
            None => "check the URL in dialogues/catalog.yaml against the hub".to_owned(),
        };
        steps.push(Step::fail(
            name,
            format!("{} on the hub", flist.url),
            got,
            todo,
        ));
    }
    steps
}

async fn fetch_status(http: &reqwest::Client, url: &str) -> Result<reqwest::StatusCode, String> {
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            "no answer in time".to_owned()
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            e.to_string()
        }
    };
    let status = http.head(url).send().await.map_err(describe)?.status();
    if status == reqwest::StatusCode::METHOD_NOT_ALLOWED {
        return Ok(http.get(url).send().await.map_err(describe)?.status());
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flists_group_by_url_and_only_the_hubs_are_redirected() {
        let a = "https://hub.grid.tf/op/dash.flist".to_string();
        let b = "https://example.org/x.flist".to_string();
        let grouped = by_url(&[
            (
                "dash/full".into(),
                a.clone(),
                Some("dashpay/dashd:23".into()),
            ),
            (
                "dash/masternode".into(),
                a.clone(),
                Some("dashpay/dashd:23".into()),
            ),
            ("x/y".into(), b.clone(), None),
        ]);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].labels, ["dash/full", "dash/masternode"]);
        assert_eq!(
            location(&a, Some("http://127.0.0.1:9/")),
            "http://127.0.0.1:9/op/dash.flist"
        );
        assert_eq!(location(&a, None), a);
        assert_eq!(location(&b, Some("http://127.0.0.1:9")), b);
    }
}
