//! Hourly consumption: running nodes spend the owner's balance.
//!
//! Charging is by whole hours since `billed_until`, so running the sweep
//! twice, or after a restart, never charges an hour twice. After charging,
//! the funding rules decide on reminders, grace and expiry (`funding`).
//! On the real grid TFChain charges instead, and the sweep only reads what
//! it billed (`twin_balance`).

use super::Service;
use super::twin_balance::GridChange;
use crate::ids::UserId;
use crate::money::Tft;
use crate::user::NodeState;

/// Whole hours between `billed_until` and `now`.
pub fn hours_due(billed_until: u64, now: u64) -> u64 {
    now.saturating_sub(billed_until) / 3600
}

impl Service {
    /// Charges every running node of `user` for the whole hours it ran since
    /// it was last charged, then reviews their funding. Returns what was
    /// charged.
    pub async fn bill_user(&self, user: &UserId) -> anyhow::Result<Tft> {
        let _guard = self.inner.locks.lock(user).await;
        if self.balance_on_grid() {
            return self.follow_grid_billing(user).await;
        }
        let now = self.now();
        let mut nodes = self.load_nodes(user)?;
        let Some(mut profile) = self.load_profile(user)? else {
            return Ok(Tft::ZERO);
        };
        let mut total = Tft::ZERO;
        let mut changed = false;
        for node in nodes
            .nodes
            .iter_mut()
            .filter(|n| n.state == NodeState::Running)
        {
            let hours = hours_due(node.billed_until, now);
            if hours == 0 {
                continue;
            }
            let amount = node.price_per_hour.saturating_mul(hours as i64);
            let charged =
                profile
                    .account
                    .charge(amount, &format!("{} for {hours} h", node.name), now);
            if charged.shortfall.is_positive() {
                tracing::warn!(user = %user, node = %node.name, shortfall = %charged.shortfall, "balance exhausted");
            }
            total = total.saturating_add(charged.charged);
            node.billed_until += hours * 3600;
            changed = true;
        }
        if changed {
            // Nodes (billed_until) first: a crash between the two writes then
            // forgets a charge rather than charging the same hour twice.
            self.save_nodes(user, &nodes)?;
            self.save_profile(&profile)?;
        }
        self.review_funding(user, &mut profile, &mut nodes).await?;
        Ok(total)
    }

    /// On the real grid the chain bills: the ledger follows the twin's
    /// balance, then the funding rules run on it as usual. Never charges
    /// by itself, even when the chain cannot be read (that would bill the
    /// user twice). Returns what the chain billed since the last read. The
    /// caller holds the user's lock.
    async fn follow_grid_billing(&self, user: &UserId) -> anyhow::Result<Tft> {
        let billed = match self.reconcile_with_grid(user).await? {
            // Crediting the deposit reviewed the funding already.
            Some(GridChange::Deposit(_)) => return Ok(Tft::ZERO),
            Some(GridChange::Billed(billed)) => billed,
            None => Tft::ZERO,
        };
        if let Some(mut profile) = self.load_profile(user)? {
            let mut nodes = self.load_nodes(user)?;
            self.review_funding(user, &mut profile, &mut nodes).await?;
        }
        Ok(billed)
    }

    /// One sweep over all users. One user's failure (logged) does not stop
    /// the others.
    pub async fn bill_all(&self) -> anyhow::Result<Tft> {
        let mut total = Tft::ZERO;
        for user in self.store().list_users()? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_hours_are_due() {
        assert_eq!(hours_due(0, 3599), 0);
        assert_eq!(hours_due(0, 3600), 1);
        assert_eq!(hours_due(100, 7300), 2);
        assert_eq!(hours_due(5000, 10), 0);
    }
}
