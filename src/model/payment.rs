//! Payment value types: what a user is asked to pay, and where, as plain
//! data with its URIs.
//!
//! The user records keep payment requests, so the type lives at the bottom;
//! making one from a wallet (`PaymentRequest::new`) stays with the wallet
//! boundary in `payments`.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::money::Tft;

/// Stellar's limit for a MEMO_TEXT, in bytes.
pub const MEMO_MAX_BYTES: usize = 28;
/// The asset code of TFT on Stellar.
pub const TFT_ASSET_CODE: &str = "TFT";

/// What a user is asked to pay, and where.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PaymentRequest {
    /// Unique per request (`jb-…`), or the payer's twin (`twin_<id>`) for the
    /// TFChain bridge; the payment must carry it as MEMO_TEXT.
    pub memo: String,
    pub user: UserId,
    /// Stellar account (G...) to pay.
    pub address: String,
    pub asset_code: String,
    pub asset_issuer: String,
    pub amount: Tft,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; after this the request is no longer offered.
    pub expires_at: u64,
    /// Shown to the payer, e.g. "order ord-1234" or "top-up".
    pub purpose: String,
}

impl PaymentRequest {
    /// The ThreeFold Connect wallet's own QR form.
    pub fn tft_uri(&self) -> String {
        format!(
            "TFT:{}?amount={}&message={}&sender=me",
            percent_encode(&self.address),
            self.amount.to_decimal_string(),
            percent_encode(&self.memo),
        )
    }

    /// A SEP-0007 payment URI, understood by generic Stellar wallets.
    pub fn sep7_uri(&self) -> String {
        format!(
            "web+stellar:pay?destination={}&amount={}&asset_code={}&asset_issuer={}\
             &memo={}&memo_type=MEMO_TEXT&msg={}",
            percent_encode(&self.address),
            self.amount.to_decimal_string(),
            percent_encode(&self.asset_code),
            percent_encode(&self.asset_issuer),
            percent_encode(&self.memo),
            percent_encode(&self.purpose),
        )
    }

    /// Whether the request is past its expiry at `now` (unix seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), byte by byte in UTF-8, with upper-case hex.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
