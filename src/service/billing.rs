//! Hourly consumption: running nodes spend the owner's balance.
//!
//! Charging is by whole hours since `billed_until`, so running the sweep
//! twice, or after a restart, never charges an hour twice. After charging,
//! the funding rules decide on reminders, grace and expiry (`funding`).
//! On the real grid TFChain charges instead, and the sweep only reads what
//! it billed (`twin_balance`).

use std::sync::Arc;

use super::deposit_route::DepositRoute;
use super::funding::Funding;
use super::repo::Repo;
use super::twin_balance::{GridChange, TwinBalance};
use crate::clock::Clock;
use crate::ids::UserId;
use crate::money::Tft;

/// The hourly billing sweep.
pub struct Billing {
    repo: Arc<Repo>,
    route: Arc<DepositRoute>,
    twin_balance: Arc<TwinBalance>,
    funding: Arc<Funding>,
    clock: Arc<dyn Clock>,
}

impl Billing {
    pub fn new(
        repo: Arc<Repo>,
        route: Arc<DepositRoute>,
        twin_balance: Arc<TwinBalance>,
        funding: Arc<Funding>,
        clock: Arc<dyn Clock>,
    ) -> Billing {
        Billing {
            repo,
            route,
            twin_balance,
            funding,
            clock,
        }
    }

    /// Charges every running node of `user` for the whole hours it ran since
    /// it was last charged, then reviews their funding. Returns what was
    /// charged.
    pub async fn bill_user(&self, user: &UserId) -> anyhow::Result<Tft> {
        let _guard = self.repo.lock(user).await;
        if self.route.balance_on_grid() {
            return self.follow_grid_billing(user).await;
        }
        let now = self.clock.now();
        let mut nodes = self.repo.load_nodes(user)?;
        let Some(mut profile) = self.repo.load_profile(user)? else {
            return Ok(Tft::ZERO);
        };
        let charge = nodes.charge_hours(&mut profile.account, now);
        for (node, shortfall) in &charge.short {
            tracing::warn!(user = %user, node = %node, shortfall = %shortfall, "balance exhausted");
        }
        if charge.changed {
            // Nodes (billed_until) first: a crash between the two writes then
            // forgets a charge rather than charging the same hour twice.
            self.repo.save_nodes(user, &nodes)?;
            self.repo.save_profile(&profile)?;
        }
        self.funding.review(user, &mut profile, &mut nodes).await?;
        Ok(charge.total)
    }

    /// On the real grid the chain bills: the ledger follows the twin's
    /// balance, then the funding rules run on it as usual. Never charges
    /// by itself, even when the chain cannot be read (that would bill the
    /// user twice). Returns what the chain billed since the last read. The
    /// caller holds the user's lock.
    async fn follow_grid_billing(&self, user: &UserId) -> anyhow::Result<Tft> {
        let billed = match self.twin_balance.reconcile_with_grid(user).await? {
            // Crediting the deposit reviewed the funding already.
            Some(GridChange::Deposit(_)) => return Ok(Tft::ZERO),
            Some(GridChange::Billed(billed)) => billed,
            None => Tft::ZERO,
        };
        if let Some(mut profile) = self.repo.load_profile(user)? {
            let mut nodes = self.repo.load_nodes(user)?;
            self.funding.review(user, &mut profile, &mut nodes).await?;
        }
        Ok(billed)
    }

    /// One sweep over all users. One user's failure (logged) does not stop
    /// the others.
    pub async fn bill_all(&self) -> anyhow::Result<Tft> {
        let mut total = Tft::ZERO;
        for user in self.repo.list_users()? {
            match self.bill_user(&user).await {
                Ok(charged) => total = total.saturating_add(charged),
                Err(e) => {
                    tracing::error!(user = %user, error = %format!("{e:#}"), "billing failed for a user; retried next sweep")
                }
            }
        }
        Ok(total)
    }
}
