//! The terms and conditions every account accepts on TFChain before it may
//! create a twin (`TfgridModule.user_accept_tc`): a document link and a
//! hash, checked here as pallet-tfgrid's `terms_cond.rs` checks them, so a
//! pair the chain would refuse is caught by `jukebox check` instead of by
//! the chain at a user's first order.
//!
//! The chain checks only the form of the hash, never the document. The
//! default link is the one the TypeScript grid client has every new account
//! accept (tfgrid-sdk-ts `grid_client/src/modules/tfchain.ts`,
//! `activateAccountAndCreateTwin`), and its hash is made as that client
//! makes it (`grid_client/src/clients/tf-grid/terms_and_conditions.ts`:
//! the document is downloaded and its hex MD5 sent): [`TermsSource`]
//! fetches the document when the first twin accepts the terms and keeps
//! the hash for the process's life. An operator who reviewed a document
//! sets its hash in `grid.tfgrid.terms_hash`, which is then sent as is.

use std::sync::Arc;
use std::time::Duration;

use md5::{Digest as _, Md5};
use tokio::sync::OnceCell;

use crate::config::Problem;

// The pair and its checks are plain data (`model/terms.rs`), so config can
// check them without this client; re-exported for the backend.
pub use crate::model::terms::{
    DEFAULT_LINK, MAX_HASH_BYTES, MAX_LINK_BYTES, Terms, check_hash, check_link,
};

/// The most of a terms document fetched to hash it: a legal page is far
/// smaller, and a link serving more is not a document.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Where the terms a twin accepts come from: a configured pair, sent as is,
/// or the configured link with the hex MD5 of the document it serves,
/// fetched once (when the first twin accepts the terms) and then reused.
/// Clones share the fetched hash.
#[derive(Clone, Debug)]
pub enum TermsSource {
    Configured(Terms),
    Fetched(Arc<FetchedTerms>),
}

/// The link whose document is hashed, and the pair once it was.
#[derive(Debug)]
pub struct FetchedTerms {
    link: String,
    http: reqwest::Client,
    terms: OnceCell<Terms>,
}

/// The terms document could not be fetched or hashed; no terms were sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot fetch the terms document {link} to hash it ({reason}); set grid.tfgrid.terms_hash \
     to the hex MD5 of that document (or point grid.tfgrid.terms_link at a reachable copy)"
)]
pub struct TermsError {
    pub link: String,
    pub reason: String,
}

impl TermsSource {
    /// The configured link, with `hash` when one is configured (both
    /// checked as TFChain checks them), else the document's MD5 later; a
    /// fetch may take `timeout`.
    pub fn new(link: &str, hash: Option<&str>, timeout: Duration) -> Result<TermsSource, Problem> {
        if let Some(hash) = hash {
            return Ok(TermsSource::Configured(Terms::parse(link, hash)?));
        }
        check_link(link)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| {
                Problem::from(format!("cannot build the HTTP client for terms_link: {e}"))
            })?;
        Ok(TermsSource::Fetched(Arc::new(FetchedTerms {
            link: link.to_owned(),
            http,
            terms: OnceCell::new(),
        })))
    }

    pub fn link(&self) -> &str {
        match self {
            TermsSource::Configured(terms) => terms.link(),
            TermsSource::Fetched(f) => &f.link,
        }
    }

    /// The pair to send: the configured one, or the link with its
    /// document's hash (fetched on the first call that succeeds).
    pub async fn terms(&self) -> Result<Terms, TermsError> {
        match self {
            TermsSource::Configured(terms) => Ok(terms.clone()),
            TermsSource::Fetched(f) => f
                .terms
                .get_or_try_init(|| async {
                    let hash = document_md5(&f.http, &f.link).await?;
                    // A hex MD5 is always a hash TFChain takes, and the
                    // link was checked when the source was made.
                    Terms::parse(&f.link, &hash).map_err(|reason| TermsError {
                        link: f.link.clone(),
                        reason: reason.to_string(),
                    })
                })
                .await
                .cloned(),
        }
    }
}

/// The hex MD5 of the document `link` serves (after redirects, as the
/// TypeScript client's `axios.get` follows them), refusing an error status
/// and a body over [`MAX_DOCUMENT_BYTES`].
pub async fn document_md5(http: &reqwest::Client, link: &str) -> Result<String, TermsError> {
    let fail = |reason: String| TermsError {
        link: link.to_owned(),
        reason,
    };
    let mut response = http
        .get(link)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fail(e.without_url().to_string()))?;
    let mut md5 = Md5::new();
    let mut read = 0usize;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?
    {
        read += chunk.len();
        if read > MAX_DOCUMENT_BYTES {
            return Err(fail(format!(
                "it is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        md5.update(&chunk);
    }
    Ok(hex::encode(md5.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_link_and_an_md5_are_accepted() {
        let terms = Terms::parse(DEFAULT_LINK, "cc6c00174f609cc33a945ffd3493714d").unwrap();
        assert_eq!(terms.link(), DEFAULT_LINK);
        assert_eq!(terms.hash(), "cc6c00174f609cc33a945ffd3493714d");
        // Zero-OS's own pair (zosbase `pkg/registrar/register.go`) too.
        assert!(
            Terms::parse(
                "http://zos.tf/terms/v0.1",
                "9021d4dee05a661e2cb6838152c67f25"
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_configured_hash_is_sent_as_is_and_an_unset_one_is_fetched() {
        let t = Duration::from_secs(5);
        let configured = TermsSource::new(DEFAULT_LINK, Some("abc"), t).unwrap();
        assert_eq!(configured.terms().await.unwrap().hash(), "abc");
        assert!(matches!(
            TermsSource::new(DEFAULT_LINK, None, t).unwrap(),
            TermsSource::Fetched(_)
        ));
        assert!(TermsSource::new(DEFAULT_LINK, Some(""), t).is_err());
        assert!(TermsSource::new("a b", None, t).is_err());
    }

    /// The document is hashed as served, and one too large is refused.
    #[tokio::test]
    async fn the_document_is_hashed_within_its_bound() {
        use md5::{Digest as _, Md5};
        let big = vec![b'x'; MAX_DOCUMENT_BYTES + 1];
        let app = axum::Router::new()
            .route("/ok", axum::routing::get(|| async { "the terms" }))
            .route("/big", axum::routing::get(move || async move { big }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::new();
        let ok = document_md5(&http, &format!("{url}/ok")).await.unwrap();
        assert_eq!(ok, hex::encode(Md5::digest(b"the terms")));
        let big = document_md5(&http, &format!("{url}/big"))
            .await
            .unwrap_err();
        assert!(big.reason.contains("larger than"), "{big}");
        assert!(big.to_string().contains("set grid.tfgrid.terms_hash"));
        server.abort();
    }

    #[test]
    fn what_the_chain_refuses_is_refused_here() {
        let hash = |h: &str| Terms::parse(DEFAULT_LINK, h);
        assert!(
            hash("")
                .unwrap_err()
                .to_string()
                .starts_with("terms_hash must be 1 to 50")
        );
        assert!(hash(&"a".repeat(50)).is_ok());
        assert!(hash(&"a".repeat(51)).is_err());
        assert!(hash("f4fa1c1b").is_ok());
        assert!(hash("my_hash-1").is_ok());
        for bad in ["abc def", "0xabc!", "sha256:ab", "ab/c", "é"] {
            assert!(
                hash(bad).unwrap_err().to_string().contains("terms_hash"),
                "{bad}"
            );
        }
        let link = |l: &str| Terms::parse(l, "abc");
        assert!(link("").is_err());
        assert!(link(&format!("https://x.org/{}", "a".repeat(2048))).is_err());
        assert!(
            link("https://x.org/a b")
                .unwrap_err()
                .to_string()
                .contains("terms_link")
        );
        assert!(link("https://x.org/<t>").is_err());
        assert!(link("https://x.org/legal?v=1&l=en#/terms_(v2)").is_ok());
    }
}
