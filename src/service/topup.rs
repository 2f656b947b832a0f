//! Top-ups: `/topup [amount or period]` and the top-up buttons of reminders
//! ask for a payment that adds to the balance (and resumes paused nodes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Service;
use crate::channel::Outgoing;
use crate::command::{Command, RecordKey, TopUpCode};
use crate::dialogue::Message;
use crate::ids::UserId;
use crate::lifecycle::{Plan, utc_datetime};
use crate::money::Tft;
use crate::payments::PaymentRequest;
use crate::pricing::{FundingPeriod, HOURS_PER_MONTH};

/// The per-user document of recent top-up requests.
const TOP_UPS: &str = "topups";
/// Memo index entries of top-ups name this instead of an order.
pub(super) const TOP_UP_ORDER: &str = "top-up";
/// Requests kept per user (older ones can still be paid: the memo index
/// keeps pointing at the user).
const KEEP: usize = 10;
/// The longest period one top-up funds: a year of 12 billing months.
const MAX_HOURS: u64 = 12 * HOURS_PER_MONTH;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct TopUps {
    requests: Vec<PaymentRequest>,
    /// Memo -> the period (seconds) the request funds every node for, for
    /// requests made for a period rather than an amount.
    #[serde(default)]
    periods: BTreeMap<String, u64>,
}

/// What `/topup` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TopUpAsk {
    Amount(Tft),
    /// Fund all the user's nodes until `hours` from now.
    Period {
        hours: u64,
        label: String,
    },
}

impl Service {
    /// `/topup [amount or period]`: a payment request that adds to the
    /// balance. Without an argument, offers periods priced by the funding
    /// rule, and Cancel.
    pub(super) async fn top_up(&self, user: &UserId, arg: Option<&str>) -> anyhow::Result<()> {
        let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
            let burn = self
                .inner
                .repo
                .load_nodes(user)?
                .burn_per_hour(&self.inner.repo.load_orders(user)?);
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
            self.send(user, Outgoing::Message(message)).await;
            return Ok(());
        };
        match parse_top_up(arg) {
            Ok(TopUpAsk::Amount(amount)) => self.request_top_up(user, amount, None, "").await,
            Ok(TopUpAsk::Period { hours, label }) => self.top_up_for(user, hours, &label).await,
            Err(why) => {
                self.say(user, why).await;
                Ok(())
            }
        }
    }

    /// A top-up that funds all the user's nodes until `hours` from now:
    /// what the balance is missing for that, by the one funding rule.
    async fn top_up_for(&self, user: &UserId, hours: u64, label: &str) -> anyhow::Result<()> {
        let burn = self
            .inner
            .repo
            .load_nodes(user)?
            .burn_per_hour(&self.inner.repo.load_orders(user)?);
        if !burn.is_positive() {
            self.say(user, "You have no running nodes to fund, so a period has no price. Send /topup <amount> instead.").await;
            return Ok(());
        }
        let balance = self
            .inner
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        let plan = Plan::new(balance, burn, Tft::ZERO, hours, self.now());
        if !plan.to_pay.is_positive() {
            self.say(
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
    pub(super) async fn top_up_button(&self, user: &UserId, code: TopUpCode) -> anyhow::Result<()> {
        let period = match code {
            TopUpCode::Cancel => {
                self.send(
                    user,
                    Outgoing::Answered {
                        answer: "✖ Cancel".into(),
                    },
                )
                .await;
                self.say(user, "OK, no top-up. Your balance is as it was (/balance).")
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
                self.say(
                    user,
                    "That top-up button is out of date. Send /topup <amount> instead.",
                )
                .await;
                return Ok(());
            }
        };
        self.top_up_for(user, period.hours(), period.label()).await
    }

    /// The period a paid top-up request funded every node for, if it was
    /// asked for a period.
    pub(super) fn top_up_period(&self, user: &UserId, memo: &str) -> anyhow::Result<Option<u64>> {
        let top_ups: TopUps = self.inner.repo.load_doc(user, TOP_UPS)?;
        Ok(top_ups.periods.get(memo).copied())
    }

    async fn request_top_up(
        &self,
        user: &UserId,
        amount: Tft,
        period_secs: Option<u64>,
        note: &str,
    ) -> anyhow::Result<()> {
        let request = self
            .new_payment_request(user, amount, "Jukebox top-up", TOP_UP_ORDER)
            .await?;
        let mut top_ups: TopUps = self.inner.repo.load_doc(user, TOP_UPS)?;
        top_ups.requests.push(request.clone());
        let excess = top_ups.requests.len().saturating_sub(KEEP);
        top_ups.requests.drain(..excess);
        // The bridge reuses one memo: the newest request's period counts.
        match period_secs {
            Some(p) => top_ups.periods.insert(request.memo.clone(), p),
            None => top_ups.periods.remove(&request.memo),
        };
        let kept = &top_ups.requests;
        top_ups
            .periods
            .retain(|memo, _| kept.iter().any(|r| &r.memo == memo));
        self.inner.repo.save_doc(user, TOP_UPS, &top_ups)?;
        let mut buttons = Vec::new();
        if self.inner.sandbox.is_some()
            && let Some(memo) = RecordKey::new(&request.memo)
        {
            buttons.push(vec![
                Command::PayTopUp { memo }.button("Pay with sandbox wallet"),
            ]);
        }
        self.show_qr(
            user,
            &request,
            format!(
                "Scan with the ThreeFold Connect app to add {} to your balance.{note}{}",
                amount,
                self.deposit_route_note()
            ),
            buttons,
        )
        .await
    }

    /// The user's own top-up request with `memo`, if they still have it.
    pub(super) fn top_up_request(
        &self,
        user: &UserId,
        memo: &str,
    ) -> anyhow::Result<Option<PaymentRequest>> {
        let top_ups: TopUps = self.inner.repo.load_doc(user, TOP_UPS)?;
        // The bridge's memo is the same for every request: the newest counts.
        Ok(top_ups.requests.into_iter().rev().find(|r| r.memo == memo))
    }

    /// The sandbox pay button of a top-up: only the user's own requests.
    pub(super) async fn pay_top_up(&self, user: &UserId, memo: &str) -> anyhow::Result<()> {
        let Some(request) = self.top_up_request(user, memo)? else {
            self.say(
                user,
                "That top-up request does not exist (or is not yours). Send /topup for a new one.",
            )
            .await;
            return Ok(());
        };
        if request.is_expired(self.now()) {
            self.say(
                user,
                "That top-up request has expired; nothing was paid. Send /topup for a new one.",
            )
            .await;
            return Ok(());
        }
        self.pay_request_once(user, &request, "That top-up").await
    }
}

/// Buttons for a top-up that funds every node for a week, a month or
/// three months (the periods of /deploy, one length each).
pub(super) fn with_top_up_buttons(text: String) -> Message {
    let button = |label: String, code| Command::TopUp(code).button(label);
    Message {
        text,
        buttons: vec![vec![
            button(
                format!("Top up {}", FundingPeriod::Week.label()),
                TopUpCode::Week,
            ),
            button(FundingPeriod::Month.label().into(), TopUpCode::Month),
            button(FundingPeriod::Quarter.label().into(), TopUpCode::Quarter),
        ]],
    }
}

/// "50", "12.5 TFT": an amount; "2 weeks", "1 month", "10d", "quarter": a
/// period, a month being the grid's billing month as everywhere else
/// ([`HOURS_PER_MONTH`]). Errors are messages for the user.
pub(crate) fn parse_top_up(arg: &str) -> Result<TopUpAsk, String> {
    const HELP: &str = "Send /topup <amount in TFT> (e.g. /topup 50) or /topup <period> (e.g. /topup 2 weeks, /topup 1 month).";
    let text = arg.trim().to_lowercase();
    let amount_text = text.strip_suffix("tft").unwrap_or(&text).trim();
    if let Ok(amount) = amount_text.parse::<Tft>() {
        return if amount.is_positive() && amount <= Tft::from_whole(10_000_000) {
            Ok(TopUpAsk::Amount(amount))
        } else {
            Err(format!("{arg:?} is not an amount I can ask for. {HELP}"))
        };
    }
    if let Some(p) = FundingPeriod::parse(&text) {
        return Ok(TopUpAsk::Period {
            hours: p.hours(),
            label: p.label().into(),
        });
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let count: u64 = number
        .parse()
        .map_err(|_| format!("I couldn't read {arg:?}. {HELP}"))?;
    let (hours_per_unit, unit) = match unit.trim() {
        "d" | "day" | "days" => (24, "day"),
        "w" | "week" | "weeks" => (168, "week"),
        "m" | "month" | "months" => (HOURS_PER_MONTH, "month"),
        _ => return Err(format!("I couldn't read {arg:?}. {HELP}")),
    };
    let hours = count.saturating_mul(hours_per_unit);
    if !(24..=MAX_HOURS).contains(&hours) {
        return Err("A top-up period must be between 1 day and a year.".into());
    }
    let plural = if count == 1 { "" } else { "s" };
    Ok(TopUpAsk::Period {
        hours,
        label: format!("{count} {unit}{plural}"),
    })
}

#[cfg(test)]
mod tests {
    use super::{TopUpAsk, parse_top_up};
    use crate::money::Tft;
    use crate::pricing::FundingPeriod;

    fn period(arg: &str) -> Option<u64> {
        match parse_top_up(arg) {
            Ok(TopUpAsk::Period { hours, .. }) => Some(hours),
            _ => None,
        }
    }

    #[test]
    fn top_up_amounts_and_periods() {
        assert_eq!(
            parse_top_up("50"),
            Ok(TopUpAsk::Amount(Tft::from_whole(50)))
        );
        assert_eq!(
            parse_top_up("12.5 TFT"),
            Ok(TopUpAsk::Amount("12.5".parse().unwrap()))
        );
        assert_eq!(period("2 weeks"), Some(336));
        assert_eq!(period("10d"), Some(240));
        assert_eq!(period("quarter"), Some(2190));
        assert_eq!(
            parse_top_up("2 weeks"),
            Ok(TopUpAsk::Period {
                hours: 336,
                label: "2 weeks".into()
            })
        );
        for bad in [
            "0",
            "-5",
            "lots",
            "99 years",
            "400 days",
            "13 months",
            "99999999999999999999",
        ] {
            assert!(parse_top_up(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_month_is_one_length_in_deploy_and_topup() {
        // /deploy's "1 month" and /topup's "1 month" fund the same hours.
        assert_eq!(period("1 Month"), Some(FundingPeriod::Month.hours()));
        assert_eq!(period("1m"), Some(FundingPeriod::Month.hours()));
        assert_eq!(period("3 months"), Some(FundingPeriod::Quarter.hours()));
        assert_eq!(period("1 week"), Some(FundingPeriod::Week.hours()));
    }
}
