//! Where the money of a payment request goes, as the wallet decides: to
//! Jukebox's deposit address (sandbox, Stellar), or through the TFChain
//! bridge straight into the user's own twin account on the grid. For the
//! bridge it also remembers whose twin balance to watch while a request
//! may still be paid (see `twin_balance.rs`). No IO: the wallet is only
//! asked for its memo style and fee.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ids::UserId;
use crate::payments::{MemoStyle, Wallet};

/// After a bridge request expires, its deposit is still looked for this
/// long: the bridge mints within minutes, and a late payment still counts.
const LATE_DEPOSIT_SECS: u64 = 3600;

/// The wallet's deposit route and the users awaited on it.
pub struct DepositRoute {
    wallet: Arc<dyn Wallet>,
    awaited: AwaitedDeposits,
}

impl DepositRoute {
    pub fn new(wallet: Arc<dyn Wallet>) -> DepositRoute {
        DepositRoute {
            wallet,
            awaited: AwaitedDeposits::default(),
        }
    }

    /// Whether balances live on the grid (the bridge pays into twins).
    pub fn balance_on_grid(&self) -> bool {
        self.wallet.memo_style() == MemoStyle::Twin
    }

    /// What a payment request adds about the route the money takes.
    pub fn note(&self) -> String {
        if !self.balance_on_grid() {
            return String::new();
        }
        format!(
            "\n\nThe payment goes through the TFChain bridge straight into your own account on the grid, \
             which pays for your nodes; the bridge keeps {} of every payment (included above), so \
             please send the whole amount in one payment. It shows here within a few minutes.",
            self.wallet.deposit_fee()
        )
    }

    /// Remembers to look for `user`'s bridge deposit until `expires_at`
    /// (plus a margin for late payments); nothing for other routes.
    pub fn await_deposit(&self, user: &UserId, expires_at: u64) {
        if self.balance_on_grid() {
            self.awaited
                .expect(user, expires_at.saturating_add(LATE_DEPOSIT_SECS));
        }
    }

    /// The users whose deposit is still awaited at `now`.
    pub fn awaited(&self, now: u64) -> Vec<UserId> {
        self.awaited.due(now)
    }
}

/// Users who were asked to pay through the bridge, until when to look.
/// In memory: after a restart, deposits are seen at the next billing sweep.
#[derive(Default)]
struct AwaitedDeposits(Mutex<HashMap<UserId, u64>>);

impl AwaitedDeposits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expect(&self, user: &UserId, until: u64) {
        let mut awaited = self.lock();
        let entry = awaited.entry(user.clone()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// The users still awaited at `now`; the others are forgotten.
    fn due(&self, now: u64) -> Vec<UserId> {
        let mut awaited = self.lock();
        awaited.retain(|_, until| *until > now);
        awaited.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awaited_deposits_are_forgotten_after_their_time() {
        let awaited = AwaitedDeposits::default();
        let alice = UserId::parse("tg:1").unwrap();
        let bob = UserId::parse("tg:2").unwrap();
        awaited.expect(&alice, 100);
        awaited.expect(&bob, 50);
        // A later request extends; an earlier one never shortens.
        awaited.expect(&alice, 80);
        assert_eq!(awaited.due(60), vec![alice.clone()]);
        assert!(awaited.due(100).is_empty());
    }
}
