//! A small Horizon client: one account's payments stream, page by page, and
//! a transaction's memo, over real HTTP with reqwest.
//!
//! Transient failures (no connection, timeouts, 5xx, 429) are retried with
//! exponential backoff on tokio time, so tests can pause the clock; a 429's
//! `Retry-After` is honoured. Anything else fails at once: retrying a 404 for
//! an account that does not exist would only hide the problem.

use std::time::Duration;

use backon::Retryable as _;

use super::records::{PaymentRecord, PaymentsPage, TransactionRecord};
use crate::clock::Backoff;
use crate::payments::percent_encode;

/// Everything that can go wrong talking to Horizon.
#[derive(Debug, thiserror::Error)]
pub enum HorizonError {
    /// No connection, or no answer in time.
    #[error("Horizon is unreachable: {0}")]
    Unreachable(String),
    /// Horizon answered with an error status (problem+json title/detail).
    #[error("Horizon answered {status}: {detail}")]
    Status {
        status: u16,
        detail: String,
        /// Seconds from a 429's `Retry-After`.
        retry_after: Option<u64>,
    },
    /// The answer is not the JSON Horizon documents.
    #[error("Horizon's answer is not understood: {0}")]
    BadAnswer(String),
}

impl HorizonError {
    /// Worth trying again later: the same request may well succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            HorizonError::Unreachable(_) => true,
            HorizonError::Status { status, .. } => *status == 429 || *status >= 500,
            HorizonError::BadAnswer(_) => false,
        }
    }
}

/// One page of payment records, oldest first.
pub struct Page {
    pub records: Vec<PaymentRecord>,
}

pub struct HorizonClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    /// Transient failures are retried by it; at least 1 attempt per request
    /// (no delays, so no retry, for 0 or 1).
    backoff: Backoff,
}

impl HorizonClient {
    pub fn new(
        base: &str,
        timeout: Duration,
        backoff: Backoff,
    ) -> Result<HorizonClient, HorizonError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("jukebox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HorizonError::Unreachable(format!("cannot build an HTTP client: {e}")))?;
        Ok(HorizonClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            backoff,
        })
    }

    /// Up to `limit` payments of `account` after `cursor` (from the start of
    /// its history without one), oldest first, each with its transaction.
    pub async fn payments(
        &self,
        account: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page, HorizonError> {
        let mut url = format!(
            "{}/accounts/{}/payments?order=asc&limit={limit}&join=transactions",
            self.base,
            percent_encode(account)
        );
        if let Some(cursor) = cursor {
            url.push_str("&cursor=");
            url.push_str(&percent_encode(cursor));
        }
        let body = self.get(&url).await?;
        let page: PaymentsPage = serde_json::from_slice(&body)
            .map_err(|e| HorizonError::BadAnswer(format!("payments page: {e}")))?;
        Ok(Page {
            records: page.embedded.records,
        })
    }

    /// The memo of a transaction (for a record Horizon sent without it).
    pub async fn transaction(&self, hash: &str) -> Result<TransactionRecord, HorizonError> {
        let url = format!("{}/transactions/{}", self.base, percent_encode(hash));
        let body = self.get(&url).await?;
        serde_json::from_slice(&body)
            .map_err(|e| HorizonError::BadAnswer(format!("transaction {hash}: {e}")))
    }

    /// GET with retries of transient failures (backon's `Retry` over
    /// [`Backoff::delays`]); the body of a 2xx answer. A 429's
    /// `Retry-After` lengthens the wait, up to the backoff's maximum.
    async fn get(&self, url: &str) -> Result<Vec<u8>, HorizonError> {
        let max = self.backoff.max;
        let mut failed = 0u32;
        (|| self.get_once(url))
            .retry(self.backoff.delays())
            .sleep(tokio::time::sleep)
            .when(HorizonError::is_transient)
            .adjust(move |error, wait| {
                let retry_after = match error {
                    HorizonError::Status {
                        retry_after: Some(secs),
                        ..
                    } => Some(Duration::from_secs(*secs)),
                    _ => None,
                };
                wait.map(|wait| retry_after.map_or(wait, |after| wait.max(after).min(max)))
            })
            .notify(|error, wait| {
                failed += 1;
                tracing::warn!(error = %error, attempt = failed, wait_ms = wait.as_millis() as u64, "Horizon request failed; retrying");
            })
            .await
    }

    async fn get_once(&self, url: &str) -> Result<Vec<u8>, HorizonError> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| HorizonError::Unreachable(describe(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response
            .bytes()
            .await
            .map_err(|e| HorizonError::Unreachable(describe(&e)))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(HorizonError::Status {
            status: status.as_u16(),
            detail: problem_detail(&body),
            retry_after,
        })
    }
}

/// reqwest's error with its causes (the top level alone says little).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `title: detail` of a problem+json body, or the start of the body.
fn problem_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Problem {
        #[serde(default)]
        title: String,
        #[serde(default)]
        detail: String,
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) if !p.title.is_empty() || !p.detail.is_empty() => {
            format!("{}: {}", p.title, p.detail)
        }
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_errors_are_retried() {
        let status = |status| HorizonError::Status {
            status,
            detail: String::new(),
            retry_after: None,
        };
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(400).is_transient());
        assert!(HorizonError::Unreachable("x".into()).is_transient());
        assert!(!HorizonError::BadAnswer("x".into()).is_transient());
    }

    #[test]
    fn problem_details_are_read() {
        let body = br#"{"type":"https://stellar.org/horizon-errors/not_found","title":"Resource Missing","status":404,"detail":"The resource at the url requested was not found."}"#;
        assert_eq!(
            problem_detail(body),
            "Resource Missing: The resource at the url requested was not found."
        );
        assert_eq!(problem_detail(b"<html>oops</html>"), "<html>oops</html>");
    }
}
