//! A user's money: balance, exactly-once credits and never-negative charges.
//!
//! Pure data, no IO: the caller persists the whole [`Account`] (it serialises
//! with serde). The set of credited payment ids is part of the account, so
//! replaying a payment after a crash, or a wallet re-delivering one, is a
//! no-op as long as the account is saved after each credit.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::money::Tft;

/// How many history entries an account keeps (the oldest are dropped).
pub const MAX_ENTRIES: usize = 200;

/// Prefix that keeps refund keys apart from wallet payment ids in the
/// exactly-once set.
const REFUND_KEY_PREFIX: &str = "refund:";

/// One user's money.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Account {
    /// Never negative: charges take at most what is there.
    pub balance: Tft,
    /// Ids of payments (and refund keys) already applied. Grows by one short
    /// string per payment, which is fine at human payment rates.
    credited: BTreeSet<String>,
    /// The most recent movements, oldest first, at most [`MAX_ENTRIES`].
    pub entries: VecDeque<Entry>,
}

/// A difference between the ledger and the twin's balance on the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridDifference {
    /// The grid holds more: a deposit, net of what the chain billed since
    /// the last read; credited like a payment.
    Rise(Tft),
    /// The grid holds less: what the chain billed since the last read.
    Fall(Tft),
}

/// One movement of money, for the user's history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Unix seconds.
    pub at: u64,
    pub kind: EntryKind,
    /// Always positive: what was added (credit, refund) or taken (charge).
    pub amount: Tft,
    pub note: String,
    pub balance_after: Tft,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A payment received from the user's wallet.
    Credit,
    /// Money taken for running nodes.
    Charge,
    /// Money given back to the balance (e.g. an order that could not deploy).
    Refund,
}

/// What [`Account::credit`] (or [`Account::refund`]) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditOutcome {
    Credited {
        new_balance: Tft,
    },
    /// This id was applied before; nothing changed.
    AlreadyCredited,
}

/// What [`Account::charge`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charged {
    /// What was taken from the balance (at most the balance).
    pub charged: Tft,
    /// What was asked for but not there; the caller decides what to stop.
    pub shortfall: Tft,
}

impl Account {
    /// Adds a received payment exactly once per `payment_id`. A non-positive
    /// amount (which no real payment has) is recorded as seen but adds nothing.
    pub fn credit(&mut self, payment_id: &str, amount: Tft, note: &str, at: u64) -> CreditOutcome {
        self.apply_once(payment_id.to_owned(), EntryKind::Credit, amount, note, at)
    }

    /// Gives money back to the balance exactly once per `refund_key` (e.g.
    /// "order ord-1234"), so replaying a failed order cannot refund twice.
    pub fn refund(&mut self, refund_key: &str, amount: Tft, note: &str, at: u64) -> CreditOutcome {
        let key = format!("{REFUND_KEY_PREFIX}{refund_key}");
        self.apply_once(key, EntryKind::Refund, amount, note, at)
    }

    /// Whether a payment id has already been credited.
    pub fn has_credited(&self, payment_id: &str) -> bool {
        self.credited.contains(payment_id)
    }

    /// How this ledger differs from `on_grid`, the balance TFChain holds in
    /// the same user's twin account (on the real grid the chain's is the
    /// true one and the ledger follows it). `None` when they agree, so
    /// following twice records nothing twice.
    pub fn difference_from_grid(&self, on_grid: Tft) -> Option<GridDifference> {
        if on_grid > self.balance {
            Some(GridDifference::Rise(on_grid.saturating_sub(self.balance)))
        } else if on_grid < self.balance {
            Some(GridDifference::Fall(self.balance.saturating_sub(on_grid)))
        } else {
            None
        }
    }

    /// Takes up to `amount`; never makes the balance negative. A non-positive
    /// amount is a no-op. The history entry notes any shortfall.
    pub fn charge(&mut self, amount: Tft, note: &str, at: u64) -> Charged {
        if !amount.is_positive() {
            return Charged {
                charged: Tft::ZERO,
                shortfall: Tft::ZERO,
            };
        }
        let charged = amount.min(self.balance.max(Tft::ZERO));
        let shortfall = amount.saturating_sub(charged);
        self.balance = self.balance.saturating_sub(charged);
        let note = if shortfall.is_positive() {
            format!("{note} (short by {shortfall})")
        } else {
            note.to_owned()
        };
        self.push(EntryKind::Charge, charged, note, at);
        Charged { charged, shortfall }
    }

    fn apply_once(
        &mut self,
        key: String,
        kind: EntryKind,
        amount: Tft,
        note: &str,
        at: u64,
    ) -> CreditOutcome {
        if !self.credited.insert(key) {
            return CreditOutcome::AlreadyCredited;
        }
        let amount = amount.max(Tft::ZERO);
        // Saturation cannot bite in practice: i64 units hold ~9*10^11 TFT,
        // far above the total supply.
        self.balance = self.balance.saturating_add(amount);
        self.push(kind, amount, note.to_owned(), at);
        CreditOutcome::Credited {
            new_balance: self.balance,
        }
    }

    fn push(&mut self, kind: EntryKind, amount: Tft, note: String, at: u64) {
        self.entries.push_back(Entry {
            at,
            kind,
            amount,
            note,
            balance_after: self.balance,
        });
        while self.entries.len() > MAX_ENTRIES {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn credits_exactly_once_and_survives_serialisation() {
        let mut a = Account::default();
        let ten = Tft::from_whole(10);
        assert_eq!(
            a.credit("op-1", ten, "top-up", 1),
            CreditOutcome::Credited { new_balance: ten }
        );
        assert_eq!(
            a.credit("op-1", ten, "top-up", 2),
            CreditOutcome::AlreadyCredited
        );
        // A crash-and-replay: the id set travels with the saved account.
        let mut restored: Account =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(
            restored.credit("op-1", ten, "top-up", 3),
            CreditOutcome::AlreadyCredited
        );
        assert_eq!(restored.balance, ten);
        assert!(restored.has_credited("op-1"));
        assert_eq!(restored.entries.len(), 1);
        // Old files without fields still load.
        assert_eq!(
            serde_json::from_str::<Account>("{}").unwrap(),
            Account::default()
        );
    }

    #[test]
    fn charges_what_is_there_and_reports_the_shortfall() {
        let mut a = Account::default();
        a.credit("p", Tft::from_whole(5), "pay", 1);
        let c = a.charge(Tft::from_whole(3), "node 1h", 2);
        assert_eq!(
            c,
            Charged {
                charged: Tft::from_whole(3),
                shortfall: Tft::ZERO
            }
        );
        let c = a.charge(Tft::from_whole(4), "node 1h", 3);
        assert_eq!(
            c,
            Charged {
                charged: Tft::from_whole(2),
                shortfall: Tft::from_whole(2)
            }
        );
        assert_eq!(a.balance, Tft::ZERO);
        let last = a.entries.back().unwrap();
        assert_eq!(last.kind, EntryKind::Charge);
        assert_eq!(last.note, "node 1h (short by 2.00 TFT)");
        assert_eq!(a.charge(Tft::from_units(-5), "bogus", 4).charged, Tft::ZERO);
        assert_eq!(a.entries.len(), 3);
    }

    #[test]
    fn refunds_once_and_do_not_collide_with_payment_ids() {
        let mut a = Account::default();
        a.credit("ord-1", Tft::from_whole(1), "pay", 1);
        let r = a.refund("ord-1", Tft::from_whole(2), "order failed", 2);
        assert_eq!(
            r,
            CreditOutcome::Credited {
                new_balance: Tft::from_whole(3)
            }
        );
        assert_eq!(
            a.refund("ord-1", Tft::from_whole(2), "again", 3),
            CreditOutcome::AlreadyCredited
        );
        assert_eq!(a.entries.back().unwrap().kind, EntryKind::Refund);
    }

    #[test]
    fn history_is_capped() {
        let mut a = Account::default();
        for i in 0..250u64 {
            a.credit(&format!("p{i}"), Tft::from_units(1), "x", i);
        }
        assert_eq!(a.entries.len(), MAX_ENTRIES);
        assert_eq!(a.entries.front().unwrap().at, 50);
        assert_eq!(a.balance, Tft::from_units(250));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Credit(u8, i64),
        Charge(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 1i64..1_000_000_000).prop_map(|(id, amt)| Op::Credit(id, amt)),
            (0i64..2_000_000_000).prop_map(Op::Charge),
        ]
    }

    proptest! {
        #[test]
        fn balance_is_unique_credits_minus_charged(ops in prop::collection::vec(op(), 0..60)) {
            let mut a = Account::default();
            let mut first_amount = std::collections::BTreeMap::new();
            let mut total_charged = 0i64;
            for op in ops {
                match op {
                    Op::Credit(id, amt) => {
                        first_amount.entry(id).or_insert(amt);
                        a.credit(&format!("pay-{id}"), Tft::from_units(amt), "c", 0);
                    }
                    Op::Charge(amt) => {
                        let c = a.charge(Tft::from_units(amt), "x", 0);
                        prop_assert_eq!(c.charged.units() + c.shortfall.units(), amt);
                        total_charged += c.charged.units();
                    }
                }
                prop_assert!(a.balance >= Tft::ZERO);
            }
            let credits: i64 = first_amount.values().sum();
            prop_assert_eq!(a.balance.units(), credits - total_charged);
        }
    }

    #[test]
    fn the_ledger_follows_the_grid_by_its_difference() {
        let mut account = Account::default();
        account.credit("p1", Tft::from_whole(10), "payment", 1);
        assert_eq!(account.difference_from_grid(Tft::from_whole(10)), None);
        assert_eq!(
            account.difference_from_grid(Tft::from_whole(15)),
            Some(GridDifference::Rise(Tft::from_whole(5)))
        );
        assert_eq!(
            account.difference_from_grid(Tft::from_whole(4)),
            Some(GridDifference::Fall(Tft::from_whole(6)))
        );
        // Recording the fall leaves nothing to record on the next read.
        account.charge(Tft::from_whole(6), "billed on TFChain", 2);
        assert_eq!(account.difference_from_grid(Tft::from_whole(4)), None);
    }
}
