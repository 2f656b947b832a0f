//! Payments arriving from the wallet (the payment watcher): each one is
//! routed by its memo to the user who asked for it and credited once by
//! payment id; one that matches nobody is kept aside for operators
//! (`payments::unmatched`), never lost. Also the operator side: `/unmatched`
//! lists them, `/credit <payment id> <user>` credits one.

use std::collections::VecDeque;

use std::sync::Arc;

use super::alerter::Alerter;
use super::audit_trail::AuditTrail;
use super::memos::Memos;
use super::orders::Orders;
use super::repo::Repo;
use super::twin_balance::TwinBalance;
use crate::clock::Clock;
use crate::ids::UserId;
use crate::money::Tft;
use crate::payments::unmatched::{self, UnmatchedPayment};
use crate::payments::{IncomingPayment, Wallet};

/// Most unmatched payments `/unmatched` lists.
const UNMATCHED_SHOWN: usize = 30;

/// The batch the wallet handed out last, worked off front to back. It is
/// asked for the next batch only once this one is empty, because asking
/// tells the wallet that the previous batch was processed.
#[derive(Default)]
struct PaymentBatch(tokio::sync::Mutex<VecDeque<IncomingPayment>>);

/// The payment watcher's step and the payments kept aside.
pub struct Deposits {
    repo: Arc<Repo>,
    wallet: Arc<dyn Wallet>,
    batch: PaymentBatch,
    memos: Arc<Memos>,
    /// Credits a routed payment to its user.
    orders: Arc<Orders>,
    /// Bridge deposits, read on TFChain.
    twin_balance: Arc<TwinBalance>,
    alerter: Arc<Alerter>,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
}

/// What deposits are built from (see `Service::new`).
pub struct DepositHandles {
    pub repo: Arc<Repo>,
    pub wallet: Arc<dyn Wallet>,
    pub memos: Arc<Memos>,
    pub orders: Arc<Orders>,
    pub twin_balance: Arc<TwinBalance>,
    pub alerter: Arc<Alerter>,
    pub audit: Arc<AuditTrail>,
    pub clock: Arc<dyn Clock>,
}

impl Deposits {
    pub fn new(h: DepositHandles) -> Deposits {
        Deposits {
            repo: h.repo,
            wallet: h.wallet,
            batch: PaymentBatch::default(),
            memos: h.memos,
            orders: h.orders,
            twin_balance: h.twin_balance,
            alerter: h.alerter,
            audit: h.audit,
            clock: h.clock,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// One round of the payment watcher: asks the wallet for new payments
    /// and hands each to its user, or keeps it aside. Returns how many were
    /// handled. On an error the rest of the batch stays for the next round.
    pub async fn poll_payments(&self) -> anyhow::Result<usize> {
        let mut batch = self.batch.0.lock().await;
        if batch.is_empty() {
            *batch = self.wallet.incoming().await?.into();
        }
        let mut handled = 0;
        while let Some(payment) = batch.front().cloned() {
            self.route_payment(&payment).await?;
            batch.pop_front();
            handled += 1;
        }
        // Bridge deposits arrive on TFChain, not in the wallet's batches.
        handled += self.twin_balance.look_for_deposits().await;
        Ok(handled)
    }

    /// Credits `payment` to the user its memo names, or keeps it aside.
    async fn route_payment(&self, payment: &IncomingPayment) -> anyhow::Result<()> {
        let memo = payment.memo.as_deref();
        let owner = self.memos.find(memo)?.map(|m| m.user);
        let Some(user) = owner else {
            let reason = match memo {
                None => "no memo",
                Some(_) => "unknown memo",
            };
            return self.keep_unmatched(payment, reason);
        };
        let _guard = self.repo.lock(&user).await;
        if self.repo.load_profile(&user)?.is_none() {
            return self.keep_unmatched(payment, "its user has no profile");
        }
        self.orders.apply_payment(&user, payment).await
    }

    /// Keeps `payment` aside for operators (once: a re-delivered payment
    /// finds its record and changes nothing).
    fn keep_unmatched(&self, payment: &IncomingPayment, reason: &str) -> anyhow::Result<()> {
        let name = unmatched::record_name(&payment.id);
        if self.repo.load_global::<UnmatchedPayment>(&name)?.is_some() {
            return Ok(());
        }
        self.repo.save_global(
            &name,
            &UnmatchedPayment {
                payment: payment.clone(),
                reason: reason.to_owned(),
                kept_at: self.now(),
                credited_to: None,
                credited_by: None,
                credited_at: None,
            },
        )?;
        self.audit.record(
            super::audit_trail::SYSTEM,
            None,
            "payment.unmatched",
            None,
            format!(
                "{} TFT (payment {}, memo {}, from {}): {reason}",
                payment.amount.to_decimal_string(),
                payment.id,
                payment.memo.as_deref().unwrap_or("none"),
                payment.from
            ),
        );
        tracing::warn!(payment = %payment.id, amount = %payment.amount, memo = payment.memo.as_deref().unwrap_or(""), from = %payment.from, reason, "payment matches no request; kept aside for operators (/unmatched)");
        // Operators hear of it through the durable alert queue (keyed by
        // payment, so a re-delivered payment tells nobody twice).
        let text = format!(
            "💰 A payment of {} TFT matched no request ({reason}; memo {}). It is kept aside: /unmatched lists it, /credit {} <user> credits it.",
            payment.amount.to_decimal_string(),
            payment.memo.as_deref().unwrap_or("none"),
            payment.id
        );
        self.alerter
            .alert_operators(&format!("unmatched:{}", payment.id), text)
    }

    /// `/unmatched`: the payments kept aside.
    pub fn unmatched_report(&self) -> anyhow::Result<String> {
        let store = self.repo.store();
        let all = crate::store::blocking_io(|| unmatched::load_all(store))?;
        Ok(unmatched::render(&all, UNMATCHED_SHOWN))
    }

    /// `/credit <payment id> <user>`: credits a kept-aside payment to a
    /// user's balance, once. The record names the user before the credit
    /// is made, so a retry after a crash finishes the same credit and a
    /// second `/credit` cannot pay someone else too.
    pub async fn credit_unmatched(
        &self,
        operator: &UserId,
        arg: Option<&str>,
    ) -> anyhow::Result<String> {
        let Some((id, query)) = arg.and_then(|a| a.split_once(' ')) else {
            return Ok("Usage: /credit <payment id> <user> (see /unmatched)".into());
        };
        let (id, query) = (id.trim(), query.trim());
        let name = unmatched::record_name(id);
        let Some(mut record) = self.repo.load_global::<UnmatchedPayment>(&name)? else {
            return Ok(format!(
                "No unmatched payment {id:?}. /unmatched lists them."
            ));
        };
        let Some(user) = self.find_user(query)? else {
            return Ok(format!("No user matches {query:?}."));
        };
        match &record.credited_to {
            Some(earlier) if *earlier != user => {
                return Ok(format!(
                    "Payment {id} was already credited to {earlier}; nothing done."
                ));
            }
            Some(_) => {}
            None => {
                record.credited_to = Some(user.clone());
                record.credited_by = Some(operator.as_str().to_owned());
                record.credited_at = Some(self.now());
                self.repo.save_global(&name, &record)?;
            }
        }
        self.audit.record(
            operator.as_str(),
            Some(&user),
            "admin.credit",
            None,
            format!(
                "payment {id} ({} TFT)",
                record.payment.amount.to_decimal_string()
            ),
        );
        tracing::warn!(operator = %operator, user = %user, payment = %id, "unmatched payment credited by an operator");
        let _guard = self.repo.lock(&user).await;
        self.orders.apply_payment(&user, &record.payment).await?;
        let balance = self
            .repo
            .load_profile(&user)?
            .map(|p| p.account.balance)
            .unwrap_or(Tft::ZERO);
        Ok(format!(
            "Payment {id} ({} TFT) is in {user}'s balance, now {balance}.",
            record.payment.amount.to_decimal_string()
        ))
    }

    fn find_user(&self, query: &str) -> anyhow::Result<Option<UserId>> {
        let store = self.repo.store();
        crate::store::blocking_io(|| crate::admin::find_user(store, query))
    }
}
