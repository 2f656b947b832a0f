//! Payments arriving from the wallet (the payment watcher): each one is
//! routed by its memo to the user who asked for it and credited once by
//! payment id; one that matches nobody is kept aside for operators
//! (`payments::unmatched`), never lost. Also the operator side: `/unmatched`
//! lists them, `/credit <payment id> <user>` credits one.

use std::collections::VecDeque;

use super::Service;
use crate::ids::UserId;
use crate::money::Tft;
use crate::payments::sandbox::Paid;
use crate::payments::unmatched::{self, UnmatchedPayment};
use crate::payments::{IncomingPayment, PaymentRequest};
use crate::user::OrderState;

/// Most unmatched payments `/unmatched` lists.
const UNMATCHED_SHOWN: usize = 30;

/// The batch the wallet handed out last, worked off front to back. It is
/// asked for the next batch only once this one is empty, because asking
/// tells the wallet that the previous batch was processed.
#[derive(Default)]
pub(super) struct PaymentBatch(tokio::sync::Mutex<VecDeque<IncomingPayment>>);

impl Service {
    /// One round of the payment watcher: asks the wallet for new payments
    /// and hands each to its user, or keeps it aside. Returns how many were
    /// handled. On an error the rest of the batch stays for the next round.
    pub async fn poll_payments(&self) -> anyhow::Result<usize> {
        let mut batch = self.inner.payment_batch.0.lock().await;
        if batch.is_empty() {
            *batch = self.inner.wallet.incoming().await?.into();
        }
        let mut handled = 0;
        while let Some(payment) = batch.front().cloned() {
            self.route_payment(&payment).await?;
            batch.pop_front();
            handled += 1;
        }
        // Bridge deposits arrive on TFChain, not in the wallet's batches.
        handled += self.look_for_deposits().await;
        Ok(handled)
    }

    /// Credits `payment` to the user its memo names, or keeps it aside.
    async fn route_payment(&self, payment: &IncomingPayment) -> anyhow::Result<()> {
        let memo = payment.memo.as_deref();
        let owner = self.inner.memos.find(memo)?.map(|m| m.user);
        let Some(user) = owner else {
            let reason = match memo {
                None => "no memo",
                Some(_) => "unknown memo",
            };
            return self.keep_unmatched(payment, reason);
        };
        let _guard = self.inner.repo.lock(&user).await;
        if self.inner.repo.load_profile(&user)?.is_none() {
            return self.keep_unmatched(payment, "its user has no profile");
        }
        self.apply_payment(&user, payment).await
    }

    /// Keeps `payment` aside for operators (once: a re-delivered payment
    /// finds its record and changes nothing).
    fn keep_unmatched(&self, payment: &IncomingPayment, reason: &str) -> anyhow::Result<()> {
        let name = unmatched::record_name(&payment.id);
        if self
            .inner
            .repo
            .load_global::<UnmatchedPayment>(&name)?
            .is_some()
        {
            return Ok(());
        }
        self.inner.repo.save_global(
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
        self.inner.audit.record(
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
        self.inner
            .alerter
            .alert_operators(&format!("unmatched:{}", payment.id), text)
    }

    /// Deploys the order `payment`'s memo pays if it still waits although
    /// the balance covers it (a crash came between the credit and the
    /// deployment). Says nothing otherwise.
    pub(super) async fn resume_covered_order(
        &self,
        user: &UserId,
        payment: &IncomingPayment,
    ) -> anyhow::Result<()> {
        let Some(index) = self.inner.memos.find(payment.memo.as_deref())? else {
            return Ok(());
        };
        let Some(order) = self
            .inner
            .repo
            .load_orders(user)?
            .get(&index.order)
            .cloned()
        else {
            return Ok(());
        };
        let balance = self
            .inner
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        if order.state == OrderState::AwaitingPayment && balance >= order.total {
            self.inner.deployer.start_deploy(user, &order.id).await?;
        }
        Ok(())
    }

    /// Pays `amount` with memo `memo` from the sandbox wallet (a
    /// simulation), at most once per `key` when one is given. With a real
    /// wallet there is nothing to press: the user is told how to pay, and
    /// `None` comes back.
    pub(super) async fn sandbox_pay(
        &self,
        user: &UserId,
        memo: &str,
        amount: Tft,
        key: Option<&str>,
    ) -> anyhow::Result<Option<Paid>> {
        let Some(sandbox) = &self.inner.sandbox else {
            self.say(
                user,
                "Payments here are real TFT on Stellar: scan the QR code with the ThreeFold Connect app (or use the payment link). There is no sandbox wallet.",
            )
            .await;
            return Ok(None);
        };
        let from = "sandbox-user-wallet";
        Ok(Some(match key {
            Some(key) => {
                sandbox
                    .pay_once(key, memo, amount, from, self.now())
                    .await?
            }
            None => Paid::New(sandbox.pay(memo, amount, from, self.now()).await?),
        }))
    }

    /// The "Pay with sandbox wallet" button of a payment request (`what`
    /// names it for the user: "Order o3-abc", "That top-up"): pays the whole
    /// request at most once, however often it is pressed, replayed after a
    /// crash or pressed again after a restart. The payment is keyed by the
    /// request's memo in the sandbox's journal, which is durable before the
    /// payment counts anywhere, so a press that finds its key paid before
    /// only finishes what that payment started: the credit (once, by
    /// payment id) if a crash came before it, and a covered order's
    /// deployment. The caller holds the user's lock.
    pub(super) async fn pay_request_once(
        &self,
        user: &UserId,
        request: &PaymentRequest,
        what: &str,
    ) -> anyhow::Result<()> {
        let key = format!("request:{}", request.memo);
        let Some(paid) = self
            .sandbox_pay(user, &request.memo, request.amount, Some(&key))
            .await?
        else {
            return Ok(());
        };
        let payment = match paid {
            Paid::New(payment) => payment,
            Paid::Before(payment) => {
                let credited = self
                    .inner
                    .repo
                    .load_profile(user)?
                    .is_some_and(|p| p.account.has_credited(&payment.id));
                if credited {
                    tracing::info!(user = %user, payment = %payment.id, "a payment request was pressed again; already paid");
                    self.say(
                        user,
                        format!(
                            "{what} is already paid ({} received); nothing more was taken.",
                            payment.amount
                        ),
                    )
                    .await;
                }
                payment
            }
        };
        self.apply_payment(user, &payment).await
    }

    /// `/unmatched`: the payments kept aside.
    pub(super) fn unmatched_report(&self) -> anyhow::Result<String> {
        let store = self.inner.repo.store();
        let all = crate::store::blocking_io(|| unmatched::load_all(store))?;
        Ok(unmatched::render(&all, UNMATCHED_SHOWN))
    }

    /// `/credit <payment id> <user>`: credits a kept-aside payment to a
    /// user's balance, once. The record names the user before the credit
    /// is made, so a retry after a crash finishes the same credit and a
    /// second `/credit` cannot pay someone else too.
    pub(super) async fn credit_unmatched(
        &self,
        operator: &UserId,
        arg: Option<&str>,
    ) -> anyhow::Result<String> {
        let Some((id, query)) = arg.and_then(|a| a.split_once(' ')) else {
            return Ok("Usage: /credit <payment id> <user> (see /unmatched)".into());
        };
        let (id, query) = (id.trim(), query.trim());
        let name = unmatched::record_name(id);
        let Some(mut record) = self.inner.repo.load_global::<UnmatchedPayment>(&name)? else {
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
                self.inner.repo.save_global(&name, &record)?;
            }
        }
        self.inner.audit.record(
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
        let _guard = self.inner.repo.lock(&user).await;
        self.apply_payment(&user, &record.payment).await?;
        let balance = self
            .inner
            .repo
            .load_profile(&user)?
            .map(|p| p.account.balance)
            .unwrap_or(Tft::ZERO);
        Ok(format!(
            "Payment {id} ({} TFT) is in {user}'s balance, now {balance}.",
            record.payment.amount.to_decimal_string()
        ))
    }
}
