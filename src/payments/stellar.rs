//! The Stellar wallet (`payments.kind = "stellar"`): REAL TFT. Users pay
//! into the operator's own Stellar account with the request's memo; this
//! watcher reads that account's payments from Horizon
//! (`/accounts/{G...}/payments?join=transactions`, oldest first, page by
//! page) and reports the TFT ones.
//!
//! Delivery is at least once, like the sandbox's: `incoming()` first saves
//! the cursor of the batch it handed out on the previous call (the caller
//! came back, so it processed that batch), then reads on from there. A crash
//! in between re-delivers that batch after the restart; the ledger credits
//! by payment id (`stellar-<operation id>`), so nothing is credited twice.
//! Records that are not TFT paid to us (other assets, failed transactions,
//! outgoing payments, account creation) are logged and skipped; the cursor
//! moves past them too. When Horizon is down or slow the client retries with
//! backoff; if it still fails, the call fails and nothing moves, so the next
//! call starts from the same place.

mod cursor;
mod horizon;
mod records;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;

pub use horizon::{HorizonClient, HorizonError};
pub use records::{Ignored, PAYMENT_ID_PREFIX, PaymentRecord, Verdict, classify};

use super::{IncomingPayment, Wallet};
use crate::clock::Backoff;
use crate::config::StellarConfig;
use cursor::{CursorFile, is_paging_token};

/// Pages read per `incoming()` call at most, so a long history (a busy
/// account, or a first scan) is handed out in bounded batches.
const MAX_PAGES_PER_CALL: usize = 10;

/// What the wallet needs, resolved from `[payments.stellar]`.
#[derive(Clone, Debug)]
pub struct StellarSettings {
    pub horizon_url: String,
    pub asset_issuer: String,
    pub deposit_address: String,
    pub page_limit: u32,
    pub request_timeout: Duration,
    pub backoff: Backoff,
}

impl StellarSettings {
    /// The settings of a checked config (see `StellarConfig::problems`).
    pub fn from_config(config: &StellarConfig) -> anyhow::Result<StellarSettings> {
        if let Some((_, problem)) = config.problems(true).into_iter().next() {
            anyhow::bail!("{problem}");
        }
        Ok(StellarSettings {
            horizon_url: config.horizon(),
            asset_issuer: config.issuer().to_owned(),
            deposit_address: config.deposit_address.clone(),
            page_limit: config.page_limit,
            request_timeout: Duration::from_secs(config.request_timeout_seconds),
            backoff: Backoff {
                first: Duration::from_millis(config.retry_first_ms),
                max: Duration::from_secs(config.retry_max_seconds),
                attempts: config.retry_attempts,
            },
        })
    }
}

/// Watches the deposit account on Horizon.
pub struct StellarWallet {
    settings: StellarSettings,
    client: HorizonClient,
    cursor: CursorFile,
    /// Async: held across Horizon requests, so two callers never read the
    /// same records at once.
    state: tokio::sync::Mutex<State>,
}

struct State {
    /// Saved: everything up to here was processed.
    committed: Option<String>,
    /// Handed out by the last call, saved at the next one.
    delivered: Option<String>,
}

impl StellarWallet {
    /// Opens the watcher with its cursor in `state_dir`. Nothing is asked
    /// of Horizon until the first `incoming()`.
    pub fn open(state_dir: &Path, settings: StellarSettings) -> anyhow::Result<StellarWallet> {
        crate::store::ensure_dir(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let cursor = CursorFile::new(state_dir, &settings.deposit_address);
        let committed = cursor.load()?;
        let client = HorizonClient::new(
            &settings.horizon_url,
            settings.request_timeout,
            settings.backoff,
        )?;
        tracing::info!(horizon = %settings.horizon_url, address = %settings.deposit_address, cursor = committed.as_deref().unwrap_or("start"), "watching Stellar payments (REAL TFT)");
        Ok(StellarWallet {
            settings,
            client,
            cursor,
            state: tokio::sync::Mutex::new(State {
                delivered: committed.clone(),
                committed,
            }),
        })
    }

    /// Reads up to [`MAX_PAGES_PER_CALL`] pages after `from`: the TFT
    /// payments to us, and the token of the last record read (ignored ones
    /// included). A failure after some pages returns what was read.
    async fn read_after(
        &self,
        from: Option<String>,
    ) -> Result<(Vec<IncomingPayment>, Option<String>), HorizonError> {
        let mut token = from;
        let mut payments = Vec::new();
        for _ in 0..MAX_PAGES_PER_CALL {
            let page = match self
                .client
                .payments(
                    &self.settings.deposit_address,
                    token.as_deref(),
                    self.settings.page_limit,
                )
                .await
            {
                Ok(page) => page,
                Err(e) if payments.is_empty() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "Horizon failed mid-stream; handing out what was read");
                    break;
                }
            };
            let full = page.records.len() >= self.settings.page_limit as usize;
            for mut record in page.records {
                if !is_paging_token(&record.paging_token) {
                    return Err(HorizonError::BadAnswer(format!(
                        "paging token {:?}",
                        record.paging_token
                    )));
                }
                if record.transaction.is_none()
                    && let Some(hash) = record.transaction_hash.clone()
                {
                    // Asked with join=transactions, but a proxy may drop it:
                    // the memo decides who is credited, so fetch it.
                    record.transaction = Some(self.client.transaction(&hash).await?);
                }
                match classify(
                    &record,
                    &self.settings.deposit_address,
                    &self.settings.asset_issuer,
                ) {
                    Verdict::Accept(payment) => payments.push(payment),
                    Verdict::Ignore(why @ Ignored::OtherAsset(_)) => {
                        tracing::warn!(operation = %record.id, transaction = record.transaction_hash.as_deref().unwrap_or(""), from = record.from.as_deref().unwrap_or(""), amount = record.amount.as_deref().unwrap_or(""), reason = %why, "ignored a payment that is not TFT (refund it by hand if it was meant for Jukebox)");
                    }
                    Verdict::Ignore(why) => {
                        tracing::info!(operation = %record.id, reason = %why, "ignored a Stellar operation");
                    }
                }
                token = Some(record.paging_token);
            }
            if !full {
                break;
            }
        }
        Ok((payments, token))
    }
}

#[async_trait]
impl Wallet for StellarWallet {
    fn kind(&self) -> crate::config::PaymentsKind {
        crate::config::PaymentsKind::Stellar
    }

    fn deposit_address(&self) -> &str {
        &self.settings.deposit_address
    }

    fn asset_issuer(&self) -> &str {
        &self.settings.asset_issuer
    }

    async fn incoming(&self) -> anyhow::Result<Vec<IncomingPayment>> {
        let mut state = self.state.lock().await;
        if state.delivered != state.committed
            && let Some(token) = state.delivered.clone()
        {
            crate::store::blocking_io(|| self.cursor.save(&token))?;
            state.committed = Some(token);
        }
        let (payments, token) = self
            .read_after(state.committed.clone())
            .await
            .context("reading payments from Horizon")?;
        if payments.is_empty() && token != state.committed {
            // Only ignored records: nothing for the caller to process.
            if let Some(token) = &token {
                crate::store::blocking_io(|| self.cursor.save(token))?;
            }
            state.committed = token.clone();
        }
        state.delivered = token;
        Ok(payments)
    }
}
