//! Money on the real grid: the user's balance is their twin account's free
//! balance on TFChain, and Jukebox's ledger follows it.
//!
//! On the real grid the chain bills each contract hourly from its twin's
//! account and users top that account up through the TFChain bridge
//! (`payments.kind = "bridge"`, memo `twin_<id>`), so Jukebox neither
//! charges nor holds anything. It reads the chain instead and records each
//! difference in the user's ledger, which keeps every existing rule
//! working unchanged (orders deploy once the balance covers them, reminders,
//! grace and expiry, `/balance`, the website): a rise is credited like any
//! payment (it moves a waiting order on), a fall is recorded as what TFChain
//! billed. Reconciling is idempotent by construction: once the ledger shows
//! the chain's balance, the next read finds no difference. Between two
//! reads only the net change is seen (a deposit and an hour's bill together
//! show as one smaller credit).
//!
//! When the chain is read: right after a payment request while it may be
//! paid (the payment watcher, every `poll_interval_seconds`), at every
//! billing sweep, and when the user asks for `/balance`.

use std::sync::Arc;

use super::deposit_route::DepositRoute;
use super::orders::Orders;
use super::repo::Repo;
use crate::clock::Clock;
use crate::grid::Grid;
use crate::ids::UserId;
use crate::money::Tft;
use crate::payments::{IncomingPayment, twin_memo};

/// Keeps each user's ledger at their twin's balance on TFChain.
pub struct TwinBalance {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    route: Arc<DepositRoute>,
    /// A rise is credited as a payment, which may move an order on.
    orders: Arc<Orders>,
    clock: Arc<dyn Clock>,
}

impl TwinBalance {
    pub fn new(
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        route: Arc<DepositRoute>,
        orders: Arc<Orders>,
        clock: Arc<dyn Clock>,
    ) -> TwinBalance {
        TwinBalance {
            repo,
            grid,
            route,
            orders,
            clock,
        }
    }

    /// Reads the chain for every user with an open bridge request; returns
    /// how many balances changed. One user's failure does not stop the
    /// others (it is logged and tried again next time).
    pub async fn look_for_deposits(&self) -> usize {
        let mut changed = 0;
        for user in self.route.awaited(self.clock.now()) {
            let _guard = self.repo.lock(&user).await;
            match self.reconcile_with_grid(&user).await {
                Ok(Some(_)) => changed += 1,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(user = %user, error = %format!("{e:#}"), "could not read the twin's balance; trying again later")
                }
            }
        }
        changed
    }

    /// Brings the ledger to the twin account's balance on the grid and
    /// returns the difference recorded (`None`: no difference, no twin yet,
    /// or balances are not kept on the grid). A rise goes through
    /// `apply_payment`, so it moves a waiting order on and reviews the
    /// funding. The caller holds the user's lock.
    pub async fn reconcile_with_grid(&self, user: &UserId) -> anyhow::Result<Option<GridChange>> {
        if !self.route.balance_on_grid() {
            return Ok(None);
        }
        let Some(mut profile) = self.repo.load_profile(user)? else {
            return Ok(None);
        };
        let Some(twin) = profile.twin else {
            return Ok(None);
        };
        let public_key = profile.identity.public_key;
        let Some(on_grid) = self.grid.account_balance(&public_key).await? else {
            return Ok(None);
        };
        let ledger = profile.account.balance;
        let now = self.clock.now();
        if on_grid > ledger {
            let rise = on_grid.saturating_sub(ledger);
            let deposit = IncomingPayment {
                // Unique per observed balance: the same rise is never
                // credited twice, and once credited there is no rise left.
                id: format!("tfchain-{}-{}-{now}", twin.0, on_grid.units()),
                memo: Some(twin_memo(twin)),
                amount: rise,
                from: format!("TFChain twin {}", twin.0),
                received_at: now,
                transaction: None,
            };
            self.orders.apply_payment(user, &deposit).await?;
            return Ok(Some(GridChange::Deposit(rise)));
        }
        if on_grid < ledger {
            let billed = ledger.saturating_sub(on_grid);
            profile
                .account
                .charge(billed, "billed on TFChain for your running nodes", now);
            self.repo.save_profile(&profile)?;
            return Ok(Some(GridChange::Billed(billed)));
        }
        Ok(None)
    }
}

/// A difference between the ledger and the grid, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GridChange {
    /// The balance rose (a bridge deposit, net of bills since the last read).
    Deposit(Tft),
    /// The chain billed this much since the last read.
    Billed(Tft),
}
