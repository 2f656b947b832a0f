//! Top-ups: `/topup [amount or period]` and the top-up buttons of reminders
//! ask for a payment that adds to the balance (and resumes paused nodes).

use std::sync::Arc;

use super::deposit_route::DepositRoute;
use super::orders::Orders;
use super::repo::Repo;
use super::topup_record::{TOP_UP_ORDER, TopUpRecords};
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::command::{Command, RecordKey, TopUpCode, with_top_up_buttons};
use crate::dialogue::Message;
use crate::ids::UserId;
use crate::lifecycle::{Plan, utc_datetime};
use crate::money::Tft;
use crate::pricing::{FundingPeriod, TopUpAsk, parse_top_up};

/// `/topup` and its buttons, over the orders' payment requests.
pub struct TopUps {
    repo: Arc<Repo>,
    /// Makes, shows and (in the sandbox) pays the payment requests.
    orders: Arc<Orders>,
    records: Arc<TopUpRecords>,
    route: Arc<DepositRoute>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    /// Whether the sandbox wallet is in use (its pay button is offered).
    sandbox: bool,
}

impl TopUps {
    pub fn new(
        repo: Arc<Repo>,
        orders: Arc<Orders>,
        records: Arc<TopUpRecords>,
        route: Arc<DepositRoute>,
        outbox: Arc<dyn Outbox>,
        clock: Arc<dyn Clock>,
        sandbox: bool,
    ) -> TopUps {
        TopUps {
            repo,
            orders,
            records,
            route,
            outbox,
            clock,
            sandbox,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// `/topup [amount or period]`: a payment request that adds to the
    /// balance. Without an argument, offers periods priced by the funding
    /// rule, and Cancel.
    pub async fn top_up(&self, user: &UserId, arg: Option<&str>) -> anyhow::Result<()> {
        let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
            let burn = self
                .repo
                .load_nodes(user)?
                .burn_per_hour(&self.repo.load_orders(user)?);
            let mut text =
                "How much would you like to add? Send /topup <amount in TFT>, e.g. /topup 50"
                    .to_owned();
            let message = if burn.is_positive() {
                text.push_str(&format!(
                    ", or /topup <period>, e.g. /topup 2 weeks: a period funds all your nodes until that long from now. Your nodes cost {} per day together.",
                    burn.saturating_mul(24)
                ));
                with_top_up_buttons(text)
            } else {
                text.push('.');
                Message::text(text)
            };
            let mut message = message;
            message
                .buttons
                .push(vec![Command::TopUp(TopUpCode::Cancel).button("✖ Cancel")]);
            self.outbox.send(user, Outgoing::Message(message)).await;
            return Ok(());
        };
        match parse_top_up(arg) {
            Ok(TopUpAsk::Amount(amount)) => self.request_top_up(user, amount, None, "").await,
            Ok(TopUpAsk::Period { hours, label }) => self.top_up_for(user, hours, &label).await,
            Err(why) => {
                self.outbox.say(user, why.to_string()).await;
                Ok(())
            }
        }
    }

    /// A top-up that funds all the user's nodes until `hours` from now:
    /// what the balance is missing for that, by the one funding rule.
    async fn top_up_for(&self, user: &UserId, hours: u64, label: &str) -> anyhow::Result<()> {
        let burn = self
            .repo
            .load_nodes(user)?
            .burn_per_hour(&self.repo.load_orders(user)?);
        if !burn.is_positive() {
            self.outbox.say(user, "You have no running nodes to fund, so a period has no price. Send /topup <amount> instead.").await;
            return Ok(());
        }
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        let plan = Plan::new(balance, burn, Tft::ZERO, hours, self.now());
        if !plan.to_pay.is_positive() {
            self.outbox.say(
                user,
                format!(
                    "Your balance already funds all your nodes until {}, more than {label} from now. To add more anyway, send /topup <amount>.",
                    utc_datetime(plan.until)
                ),
            )
            .await;
            return Ok(());
        }
        let note = format!(
            " That funds all your nodes until {} ({label} from now).",
            utc_datetime(plan.until)
        );
        self.request_top_up(user, plan.to_pay, Some(hours * 3600), &note)
            .await
    }

    /// A top-up button: a period (a number of days on the buttons of older
    /// alerts), or Cancel.
    pub async fn top_up_button(&self, user: &UserId, code: TopUpCode) -> anyhow::Result<()> {
        let period = match code {
            TopUpCode::Cancel => {
                self.outbox
                    .send(
                        user,
                        Outgoing::Answered {
                            answer: "✖ Cancel".into(),
                        },
                    )
                    .await;
                self.outbox
                    .say(user, "OK, no top-up. Your balance is as it was (/balance).")
                    .await;
                return Ok(());
            }
            TopUpCode::Week | TopUpCode::Days(7) => FundingPeriod::Week,
            TopUpCode::Month | TopUpCode::Days(30) => FundingPeriod::Month,
            TopUpCode::Quarter | TopUpCode::Days(90) => FundingPeriod::Quarter,
            TopUpCode::Days(days) => {
                let label = format!("{days} day{}", if days == 1 { "" } else { "s" });
                return self.top_up_for(user, u64::from(days) * 24, &label).await;
            }
            TopUpCode::OutOfDate => {
                self.outbox
                    .say(
                        user,
                        "That top-up button is out of date. Send /topup <amount> instead.",
                    )
                    .await;
                return Ok(());
            }
        };
        self.top_up_for(user, period.hours(), period.label()).await
    }

    async fn request_top_up(
        &self,
        user: &UserId,
        amount: Tft,
        period_secs: Option<u64>,
        note: &str,
    ) -> anyhow::Result<()> {
        let request = self
            .orders
            .new_payment_request(user, amount, "Jukebox top-up", TOP_UP_ORDER)
            .await?;
        self.records.keep(user, &request, period_secs)?;
        let mut buttons = Vec::new();
        if self.sandbox
            && let Some(memo) = RecordKey::new(&request.memo)
        {
            buttons.push(vec![
                Command::PayTopUp { memo }.button("Pay with sandbox wallet"),
            ]);
        }
        self.orders
            .show_qr(
                user,
                &request,
                format!(
                    "Scan with the ThreeFold Connect app to add {} to your balance.{note}{}",
                    amount,
                    self.route.note()
                ),
                buttons,
            )
            .await
    }

    /// The sandbox pay button of a top-up: only the user's own requests.
    pub async fn pay_top_up(&self, user: &UserId, memo: &str) -> anyhow::Result<()> {
        let Some(request) = self.records.request(user, memo)? else {
            self.outbox.say(
                user,
                "That top-up request does not exist (or is not yours). Send /topup for a new one.",
            )
            .await;
            return Ok(());
        };
        if request.is_expired(self.now()) {
            self.outbox
                .say(
                    user,
                    "That top-up request has expired; nothing was paid. Send /topup for a new one.",
                )
                .await;
            return Ok(());
        }
        self.orders
            .pay_request_once(user, &request, "That top-up")
            .await
    }
}
