//! Horizon's payment records (`/accounts/{id}/payments?join=transactions`)
//! and the one rule that decides which of them are TFT paid to us.
//!
//! Pure: no IO, so every case (other assets, failed transactions, outgoing
//! payments, path payments, memo types) is tested here directly.

use serde::Deserialize;

use crate::money::Tft;
use crate::payments::{IncomingPayment, TFT_ASSET_CODE};

/// Prefix of the payment ids this wallet reports (`stellar-<operation id>`),
/// which keeps them apart from the sandbox's ids in a user's ledger.
pub const PAYMENT_ID_PREFIX: &str = "stellar-";

/// One page of `/accounts/{id}/payments`.
#[derive(Debug, Deserialize)]
pub struct PaymentsPage {
    #[serde(rename = "_embedded")]
    pub embedded: Embedded,
}

#[derive(Debug, Deserialize)]
pub struct Embedded {
    pub records: Vec<PaymentRecord>,
}

/// One operation of the payments stream. Only `id`, `paging_token` and
/// `type` are always there; the rest depends on the operation type.
#[derive(Clone, Debug, Deserialize)]
pub struct PaymentRecord {
    /// The operation id: unique on the network, so it is the payment id.
    pub id: String,
    /// Where the stream resumes after this record.
    pub paging_token: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub transaction_successful: Option<bool>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub transaction_hash: Option<String>,
    #[serde(default)]
    pub asset_type: Option<String>,
    #[serde(default)]
    pub asset_code: Option<String>,
    #[serde(default)]
    pub asset_issuer: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// For path payments, the amount delivered to `to` in `asset_*`.
    #[serde(default)]
    pub amount: Option<String>,
    /// Present with `join=transactions`.
    #[serde(default)]
    pub transaction: Option<TransactionRecord>,
}

/// The parts of a transaction the matching needs (also the shape of
/// `GET /transactions/{hash}`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TransactionRecord {
    #[serde(default)]
    pub memo_type: Option<String>,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub successful: Option<bool>,
}

/// What a record means for Jukebox.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// TFT received by the deposit account: to be credited (or, without a
    /// known memo, kept aside for an operator).
    Accept(IncomingPayment),
    /// Not money for Jukebox; the reason is logged.
    Ignore(Ignored),
}

/// Why a record is not a TFT payment to the deposit account.
#[derive(Clone, Debug, PartialEq)]
pub enum Ignored {
    FailedTransaction,
    /// `create_account`, `account_merge` and other operations that move XLM.
    NotAPayment(String),
    /// Paid from the deposit account (a refund or a transfer out).
    Outgoing,
    /// Another asset, or a fake TFT from another issuer.
    OtherAsset(String),
    BadAmount(String),
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignored::FailedTransaction => write!(f, "failed transaction"),
            Ignored::NotAPayment(kind) => write!(f, "{kind} is not a TFT payment"),
            Ignored::Outgoing => write!(f, "outgoing payment"),
            Ignored::OtherAsset(asset) => write!(f, "asset {asset} is not TFT"),
            Ignored::BadAmount(amount) => write!(f, "amount {amount:?} is not usable"),
        }
    }
}

/// Operation types that deliver an asset to `to`. Path payments count: the
/// payer may convert from another asset, but what arrives (`asset_*`,
/// `amount`) is checked like a plain payment's.
const PAYMENT_TYPES: &[&str] = &[
    "payment",
    "path_payment_strict_receive",
    "path_payment_strict_send",
];

/// Decides what `record` is, for the deposit account `address` and the TFT
/// `issuer`. The memo comes from the joined transaction (see
/// [`PaymentRecord::transaction`]).
pub fn classify(record: &PaymentRecord, address: &str, issuer: &str) -> Verdict {
    let transaction = record.transaction.clone().unwrap_or_default();
    if record.transaction_successful == Some(false) || transaction.successful == Some(false) {
        return Verdict::Ignore(Ignored::FailedTransaction);
    }
    if !PAYMENT_TYPES.contains(&record.kind.as_str()) {
        return Verdict::Ignore(Ignored::NotAPayment(record.kind.clone()));
    }
    if record.to.as_deref() != Some(address) {
        return Verdict::Ignore(Ignored::Outgoing);
    }
    let code = record.asset_code.as_deref().unwrap_or("");
    let asset_issuer = record.asset_issuer.as_deref().unwrap_or("");
    if record.asset_type.as_deref() != Some("credit_alphanum4")
        || code != TFT_ASSET_CODE
        || asset_issuer != issuer
    {
        let asset = match record.asset_type.as_deref() {
            Some("native") => "XLM".to_owned(),
            _ => format!("{code}:{asset_issuer}"),
        };
        return Verdict::Ignore(Ignored::OtherAsset(asset));
    }
    let raw_amount = record.amount.as_deref().unwrap_or("");
    let amount = match raw_amount.parse::<Tft>() {
        Ok(amount) if amount.is_positive() => amount,
        _ => return Verdict::Ignore(Ignored::BadAmount(raw_amount.to_owned())),
    };
    Verdict::Accept(IncomingPayment {
        id: format!("{PAYMENT_ID_PREFIX}{}", record.id),
        memo: memo_of(&transaction),
        amount,
        from: record.from.clone().unwrap_or_default(),
        received_at: record
            .created_at
            .as_deref()
            .and_then(parse_utc_timestamp)
            .unwrap_or(0),
        transaction: record.transaction_hash.clone(),
    })
}

/// A text memo as written; other memo types as `<type>:<value>`, so an
/// operator sees them, while only text memos can match a request.
fn memo_of(transaction: &TransactionRecord) -> Option<String> {
    let memo = transaction.memo.as_deref().filter(|m| !m.is_empty())?;
    match transaction.memo_type.as_deref() {
        Some("text") => Some(memo.to_owned()),
        Some("none") | None => None,
        Some(other) => Some(format!("{other}:{memo}")),
    }
}

/// Unix seconds of Horizon's `created_at` (`2026-11-23T10:00:00Z`).
pub fn parse_utc_timestamp(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let time = time.split('.').next()?;
    let mut time_parts = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        time_parts.next()??,
        time_parts.next()??,
        time_parts.next()??,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = crate::lifecycle::days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "GDEPOSIT";
    const ISSUER: &str = "GISSUER";

    fn record(extra: serde_json::Value) -> PaymentRecord {
        let mut base = serde_json::json!({
            "id": "12884905985", "paging_token": "12884905985",
            "transaction_successful": true, "type": "payment",
            "created_at": "2026-11-23T10:00:00Z", "transaction_hash": "abc",
            "asset_type": "credit_alphanum4", "asset_code": "TFT", "asset_issuer": ISSUER,
            "from": "GPAYER", "to": US, "amount": "50.0000000",
            "transaction": {"memo_type": "text", "memo": "jb-0123456789abcdef", "successful": true}
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn ignored(extra: serde_json::Value) -> Ignored {
        match classify(&record(extra), US, ISSUER) {
            Verdict::Ignore(why) => why,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn a_tft_payment_to_us_is_accepted_with_its_memo() {
        let Verdict::Accept(p) = classify(&record(serde_json::json!({})), US, ISSUER) else {
            panic!("not accepted");
        };
        assert_eq!(p.id, "stellar-12884905985");
        assert_eq!(p.memo.as_deref(), Some("jb-0123456789abcdef"));
        assert_eq!(p.amount, "50".parse().unwrap());
        assert_eq!(p.from, "GPAYER");
        assert_eq!(p.received_at, 1_795_428_000);
        assert_eq!(p.transaction.as_deref(), Some("abc"));
    }

    #[test]
    fn path_payments_delivering_tft_count() {
        for kind in ["path_payment_strict_receive", "path_payment_strict_send"] {
            let r = record(serde_json::json!({"type": kind, "source_asset_type": "native"}));
            assert!(
                matches!(classify(&r, US, ISSUER), Verdict::Accept(_)),
                "{kind}"
            );
        }
    }

    #[test]
    fn everything_else_is_ignored_with_a_reason() {
        use serde_json::json;
        assert_eq!(
            ignored(json!({"transaction_successful": false})),
            Ignored::FailedTransaction
        );
        assert_eq!(
            ignored(
                json!({"transaction": {"memo_type": "text", "memo": "x", "successful": false}})
            ),
            Ignored::FailedTransaction
        );
        assert_eq!(
            ignored(json!({"type": "create_account"})),
            Ignored::NotAPayment("create_account".into())
        );
        assert_eq!(
            ignored(json!({"from": US, "to": "GSOMEONE"})),
            Ignored::Outgoing
        );
        assert_eq!(
            ignored(json!({"asset_type": "native", "asset_code": null, "asset_issuer": null})),
            Ignored::OtherAsset("XLM".into())
        );
        assert_eq!(
            ignored(json!({"asset_issuer": "GFAKE"})),
            Ignored::OtherAsset("TFT:GFAKE".into())
        );
        assert_eq!(
            ignored(json!({"asset_code": "USDC"})),
            Ignored::OtherAsset(format!("USDC:{ISSUER}"))
        );
        assert_eq!(
            ignored(json!({"amount": "0.0000000"})),
            Ignored::BadAmount("0.0000000".into())
        );
        assert_eq!(
            ignored(json!({"amount": "1e5"})),
            Ignored::BadAmount("1e5".into())
        );
    }

    #[test]
    fn memo_types() {
        use serde_json::json;
        let memo = |tx: serde_json::Value| match classify(
            &record(json!({ "transaction": tx })),
            US,
            ISSUER,
        ) {
            Verdict::Accept(p) => p.memo,
            other => panic!("{other:?}"),
        };
        assert_eq!(memo(json!({"memo_type": "none"})), None);
        assert_eq!(memo(json!({"memo_type": "text", "memo": ""})), None);
        assert_eq!(
            memo(json!({"memo_type": "id", "memo": "42"})),
            Some("id:42".into())
        );
        assert_eq!(
            memo(json!({"memo_type": "text", "memo": "twin_12"})),
            Some("twin_12".into())
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_utc_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc_timestamp("2026-11-23T00:00:00Z"),
            Some(1_795_392_000)
        );
        assert_eq!(
            parse_utc_timestamp("2024-02-29T12:30:15.123Z"),
            Some(1_709_209_815)
        );
        assert_eq!(parse_utc_timestamp("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc_timestamp("yesterday"), None);
        assert_eq!(parse_utc_timestamp("2026-11-23T00:00:00+01:00"), None);
    }
}
