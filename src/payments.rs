//! Payment requests (what the user is asked to pay, as QR-able URIs) and the
//! wallet boundary (how Jukebox learns that TFT arrived).
//!
//! A request carries a fresh memo; the user's wallet pays the deposit address
//! with that memo as Stellar MEMO_TEXT, and the [`Wallet`] reports the payment
//! with its memo so the service can find the request and credit the user's
//! [`crate::ledger::Account`] by payment id (exactly once).
//!
//! Two wallets implement it: [`sandbox::SandboxWallet`], an honest
//! simulation (the default), and [`stellar::StellarWallet`], which watches
//! the operator's Stellar account on Horizon for real TFT.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::money::Tft;

pub mod bridge;
pub mod sandbox;
pub mod stellar;
// A pure codec of Stellar addresses, in the bottom model module so config can
// check addresses without importing the wallets.
pub use crate::model::strkey;
pub mod unmatched;

// The request itself is plain data the user records keep, so it lives in
// the bottom model module; re-exported for the wallets and the service.
pub use crate::model::payment::{MEMO_MAX_BYTES, PaymentRequest, TFT_ASSET_CODE, percent_encode};

impl PaymentRequest {
    /// A request to pay `amount` into `wallet` with `memo` (see
    /// [`Wallet::memo_style`]), valid for `ttl_secs`.
    pub fn new(
        wallet: &dyn Wallet,
        user: UserId,
        memo: String,
        amount: Tft,
        purpose: &str,
        now: u64,
        ttl_secs: u64,
    ) -> anyhow::Result<PaymentRequest> {
        anyhow::ensure!(
            amount.is_positive(),
            "a payment request needs a positive amount"
        );
        Ok(PaymentRequest {
            memo,
            user,
            address: wallet.deposit_address().to_owned(),
            asset_code: TFT_ASSET_CODE.to_owned(),
            asset_issuer: wallet.asset_issuer().to_owned(),
            amount,
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            purpose: purpose.to_owned(),
        })
    }
}

/// Crockford's base32 in lower case: no i, l, o or u, so a memo read aloud
/// or retyped from a screen is not mistaken.
const MEMO_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh payment memo: `jb-` and 16 base32 chars (80 random bits), 19 bytes.
/// Fails only if the OS random source does.
pub fn new_memo() -> anyhow::Result<String> {
    let mut random = [0u8; 10];
    getrandom::getrandom(&mut random)
        .map_err(|e| anyhow::anyhow!("no randomness for a payment memo: {e}"))?;
    let bits = random
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    let mut memo = String::from("jb-");
    for i in (0..16).rev() {
        memo.push(char::from(MEMO_ALPHABET[((bits >> (5 * i)) & 31) as usize]));
    }
    Ok(memo)
}

/// The TFChain bridge's memo for deposits to `twin`'s account.
pub fn twin_memo(twin: crate::grid::TwinId) -> String {
    format!("twin_{}", twin.0)
}

/// Whether `memo` has the shape of a memo Jukebox issues ([`new_memo`] or
/// [`twin_memo`]): only those are looked up, whatever else a payer typed.
pub fn is_issued_memo(memo: &str) -> bool {
    is_request_memo(memo)
        || memo.strip_prefix("twin_").is_some_and(|id| {
            !id.is_empty() && id.len() <= 10 && id.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `memo` has the shape of a memo from [`new_memo`].
pub fn is_request_memo(memo: &str) -> bool {
    memo.strip_prefix("jb-")
        .is_some_and(|body| body.len() == 16 && body.bytes().all(|b| MEMO_ALPHABET.contains(&b)))
}

/// A payment that arrived at the deposit address.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IncomingPayment {
    /// Unique operation id; credit by this, exactly once.
    pub id: String,
    /// The MEMO_TEXT, if any (a payment without one cannot be matched).
    pub memo: Option<String>,
    pub amount: Tft,
    /// Sender account.
    pub from: String,
    /// Unix seconds.
    pub received_at: u64,
    /// The network's transaction reference (Stellar: the transaction hash),
    /// for operators tracing or refunding a payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
}

/// How a wallet's payment requests say who pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoStyle {
    /// A fresh memo per request ([`new_memo`]), indexed to the request.
    PerRequest,
    /// The payer's twin ([`twin_memo`]): the TFChain bridge mints the
    /// deposit onto that twin's account.
    Twin,
}

/// Where TFT is received: the sandbox, the Stellar Horizon watcher, or the
/// TFChain bridge to each user's twin.
#[async_trait]
pub trait Wallet: Send + Sync {
    /// Which of the kinds `payments.kind` names this is.
    fn kind(&self) -> crate::config::PaymentsKind;
    /// What memo a payment request carries.
    fn memo_style(&self) -> MemoStyle {
        MemoStyle::PerRequest
    }
    /// What the deposit route keeps of every payment; a request asks for
    /// that much more than is due.
    fn deposit_fee(&self) -> Tft {
        Tft::ZERO
    }
    /// The Stellar account (G...) users pay into.
    fn deposit_address(&self) -> &str;
    /// The issuer of the TFT asset this wallet accepts.
    fn asset_issuer(&self) -> &str;
    /// TFT payments received since the last call, resuming from a durable
    /// cursor. Delivery is at least once: after a crash the last batch may be
    /// returned again, so callers must credit by [`IncomingPayment::id`].
    async fn incoming(&self) -> anyhow::Result<Vec<IncomingPayment>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PaymentRequest {
        PaymentRequest {
            memo: "jb-0123456789abcdef".to_owned(),
            user: UserId::parse("tg:42").unwrap(),
            address: "GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC".to_owned(),
            asset_code: "TFT".to_owned(),
            asset_issuer: "GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47".to_owned(),
            amount: "1642.5".parse().unwrap(),
            created_at: 1_000,
            expires_at: 1_900,
            purpose: "order ord-1a2b & more".to_owned(),
        }
    }

    #[test]
    fn uris_are_exact() {
        let r = request();
        assert_eq!(
            r.tft_uri(),
            "TFT:GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC\
             ?amount=1642.5&message=jb-0123456789abcdef&sender=me"
        );
        assert_eq!(
            r.sep7_uri(),
            "web+stellar:pay?destination=GBNOTAYUMXVO5QDYWYO2SOCOYIJ3XFIP65GKOQN7H65ZZSO6BK4SLWSC\
             &amount=1642.5&asset_code=TFT\
             &asset_issuer=GBOVQKJYHXRR3DX6NOX2RRYFRCUMSADGDESTDNBDS6CDVLGVESRTAC47\
             &memo=jb-0123456789abcdef&memo_type=MEMO_TEXT&msg=order%20ord-1a2b%20%26%20more"
        );
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            percent_encode("a b&c=d?e/f+g%"),
            "a%20b%26c%3Dd%3Fe%2Ff%2Bg%25"
        );
        assert_eq!(percent_encode("é€"), "%C3%A9%E2%82%AC");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn memos_are_short_unique_and_unambiguous() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let memo = new_memo().unwrap();
            assert_eq!(memo.len(), 19);
            assert!(memo.len() <= MEMO_MAX_BYTES);
            let body = memo.strip_prefix("jb-").unwrap();
            assert!(body.bytes().all(|c| MEMO_ALPHABET.contains(&c)), "{memo}");
            assert!(!body.contains(['i', 'l', 'o', 'u']));
            assert!(is_request_memo(&memo));
            assert!(seen.insert(memo));
        }
    }

    #[test]
    fn only_our_memo_shape_is_a_request_memo() {
        assert!(is_request_memo("jb-0123456789abcdef"));
        for other in [
            "",
            "jb-",
            "twin_12",
            "jb-0123456789abcdeF",
            "jb-0123456789abcdei",
            "jb-0123456789abcdef0",
            "xx-0123456789abcdef",
            "jb-../../../global",
        ] {
            assert!(!is_request_memo(other), "{other}");
        }
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let r = request();
        assert!(!r.is_expired(1_000));
        assert!(!r.is_expired(1_899));
        assert!(r.is_expired(1_900));
        assert!(r.is_expired(u64::MAX));
    }

    #[test]
    fn serialises_round_trip() {
        let r = request();
        let back: PaymentRequest =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
