//! Payments that could not be matched to a user (no memo, a memo Jukebox
//! never issued, or a user who no longer exists): kept aside durably under
//! `global/unmatched-payments/`, one record per payment id, until an
//! operator credits them to someone (`/credit`) or refunds them by hand.
//! Records are never deleted: a credited one keeps who got it, so a
//! re-delivered payment or a second `/credit` cannot pay twice.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::IncomingPayment;
use crate::ids::UserId;
use crate::store::Store;

/// The global directory of the records.
pub const UNMATCHED_DIR: &str = "unmatched-payments";

/// One payment kept aside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnmatchedPayment {
    pub payment: IncomingPayment,
    /// Why it matched nobody, in words for the operator.
    pub reason: String,
    /// Unix seconds, when it was kept aside.
    pub kept_at: u64,
    /// Set (before the credit is made) when an operator credits it.
    #[serde(default)]
    pub credited_to: Option<UserId>,
    #[serde(default)]
    pub credited_by: Option<String>,
    #[serde(default)]
    pub credited_at: Option<u64>,
}

/// The global record name of payment `id`: the id itself when it is a valid
/// store name (Stellar and sandbox ids are), else a digest of it.
pub fn record_name(id: &str) -> String {
    let leaf = if crate::store::is_valid_name(id) {
        id.to_owned()
    } else {
        format!(
            "x-{}",
            &hex::encode(sha2::Sha256::digest(id.as_bytes()))[..40]
        )
    };
    format!("{UNMATCHED_DIR}/{leaf}")
}

/// Every record, oldest first.
pub fn load_all(store: &Store) -> anyhow::Result<Vec<UnmatchedPayment>> {
    let mut all = Vec::new();
    for name in store.list_global(UNMATCHED_DIR)? {
        if let Some(record) =
            store.read_global::<UnmatchedPayment>(&format!("{UNMATCHED_DIR}/{name}"))?
        {
            all.push(record);
        }
    }
    all.sort_by(|a, b| (a.kept_at, &a.payment.id).cmp(&(b.kept_at, &b.payment.id)));
    Ok(all)
}

/// The operators' list: open records (at most `limit`, oldest first), then
/// a count of those already credited.
pub fn render(all: &[UnmatchedPayment], limit: usize) -> String {
    let open: Vec<&UnmatchedPayment> = all.iter().filter(|r| r.credited_to.is_none()).collect();
    let credited = all.len() - open.len();
    if open.is_empty() {
        return format!("No unmatched payments waiting ({credited} credited by operators).");
    }
    let mut text = format!(
        "{} unmatched payment(s) waiting; credit one with /credit <payment id> <user>, or refund it from the deposit account:",
        open.len()
    );
    for record in open.iter().take(limit) {
        let p = &record.payment;
        text.push_str(&format!(
            "\n• {} — {} TFT from {}, memo {}, {} ({}){}",
            p.id,
            p.amount.to_decimal_string(),
            if p.from.is_empty() { "?" } else { &p.from },
            p.memo.as_deref().unwrap_or("none"),
            crate::lifecycle::utc_datetime(if p.received_at > 0 {
                p.received_at
            } else {
                record.kept_at
            }),
            record.reason,
            p.transaction
                .as_deref()
                .map(|t| format!(", transaction {t}"))
                .unwrap_or_default(),
        ));
    }
    if open.len() > limit {
        text.push_str(&format!("\n… and {} more.", open.len() - limit));
    }
    if credited > 0 {
        text.push_str(&format!("\n({credited} credited by operators.)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, kept_at: u64, credited: bool) -> UnmatchedPayment {
        UnmatchedPayment {
            payment: IncomingPayment {
                id: id.into(),
                memo: None,
                amount: "12.5".parse().unwrap(),
                from: "GPAYER".into(),
                received_at: 0,
                transaction: Some("abc".into()),
            },
            reason: "no memo".into(),
            kept_at,
            credited_to: credited.then(|| UserId::parse("tg:1").unwrap()),
            credited_by: None,
            credited_at: None,
        }
    }

    #[test]
    fn names_are_store_safe() {
        assert_eq!(record_name("stellar-123"), "unmatched-payments/stellar-123");
        let odd = record_name("Weird/../ID");
        assert!(odd.starts_with("unmatched-payments/x-"), "{odd}");
        assert_eq!(odd.len(), "unmatched-payments/x-".len() + 40);
    }

    #[test]
    fn stored_records_list_oldest_first_and_render() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for r in [
            record("stellar-2", 20, false),
            record("stellar-1", 10, false),
            record("stellar-3", 5, true),
        ] {
            store.write_global(&record_name(&r.payment.id), &r).unwrap();
        }
        let all = load_all(&store).unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.payment.id.as_str()).collect();
        assert_eq!(ids, ["stellar-3", "stellar-1", "stellar-2"]);
        let text = render(&all, 1);
        assert!(text.starts_with("2 unmatched payment(s) waiting"), "{text}");
        assert!(
            text.contains("stellar-1 — 12.5 TFT from GPAYER, memo none"),
            "{text}"
        );
        assert!(text.contains("transaction abc"), "{text}");
        assert!(text.contains("… and 1 more."), "{text}");
        assert!(text.contains("(1 credited by operators.)"), "{text}");
        assert!(render(&all[..1], 5).starts_with("No unmatched payments waiting (1 credited"));
    }
}
