//! Top-ups: `/topup [amount or period]` and the top-up buttons of reminders
//! ask for a payment that adds to the balance (and resumes paused nodes).

use serde::{Deserialize, Serialize};

use super::Service;
use super::funding::burn_per_hour;
use crate::dialogue::{Button, Message};
use crate::ids::UserId;
use crate::money::Tft;
use crate::payments::PaymentRequest;

/// Button data: a top-up payment request for this many days of burn.
pub(super) const TOP_UP: &str = "tu:";
/// Button data: pay this top-up (memo) with the sandbox wallet.
pub(super) const PAY_TOP_UP: &str = "tpay:";
/// The per-user document of recent top-up requests.
const TOP_UPS: &str = "topups";
/// Memo index entries of top-ups name this instead of an order.
pub(super) const TOP_UP_ORDER: &str = "top-up";
/// Requests kept per user (older ones can still be paid: the memo index
/// keeps pointing at the user).
const KEEP: usize = 10;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct TopUps {
    requests: Vec<PaymentRequest>,
}

impl Service {
    /// `/topup [amount or period]`: a payment request that adds to the
    /// balance. Without an argument, offers periods priced at the burn rate.
    pub(super) async fn top_up(&self, user: &UserId, arg: Option<&str>) -> anyhow::Result<()> {
        let nodes = self.load_nodes(user)?;
        let burn = burn_per_hour(&nodes);
        let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
            let mut text =
                "How much would you like to add? Send /topup <amount in TFT>, e.g. /topup 50"
                    .to_owned();
            if burn.is_positive() {
                text.push_str(&format!(
                    ", or /topup <period>, e.g. /topup 2 weeks. Your nodes cost {} per day.",
                    burn.saturating_mul(24)
                ));
                self.send(
                    user,
                    crate::channel::Outgoing::Message(with_top_up_buttons(text)),
                )
                .await;
            } else {
                text.push('.');
                self.say(user, text).await;
            }
            return Ok(());
        };
        let amount = match parse_top_up(arg, burn) {
            Ok(a) => a,
            Err(why) => {
                self.say(user, why).await;
                return Ok(());
            }
        };
        self.request_top_up(user, amount).await
    }

    /// The top-up button: `days` of the current burn.
    pub(super) async fn top_up_days(&self, user: &UserId, days: &str) -> anyhow::Result<()> {
        let burn = burn_per_hour(&self.load_nodes(user)?);
        match days.parse::<i64>() {
            Ok(d @ 1..=365) if burn.is_positive() => {
                self.request_top_up(user, burn.saturating_mul(24 * d)).await
            }
            _ => {
                self.say(
                    user,
                    "That top-up button is out of date. Send /topup <amount> instead.",
                )
                .await;
                Ok(())
            }
        }
    }

    async fn request_top_up(&self, user: &UserId, amount: Tft) -> anyhow::Result<()> {
        let request = self
            .new_payment_request(user, amount, "Jukebox top-up", TOP_UP_ORDER)
            .await?;
        let mut top_ups: TopUps = self.load_doc(user, TOP_UPS)?;
        top_ups.requests.push(request.clone());
        let excess = top_ups.requests.len().saturating_sub(KEEP);
        top_ups.requests.drain(..excess);
        self.save_doc(user, TOP_UPS, &top_ups)?;
        let mut buttons = Vec::new();
        if self.inner.sandbox.is_some() {
            buttons.push(vec![Button {
                label: "Pay with sandbox wallet".into(),
                data: format!("{PAY_TOP_UP}{}", request.memo),
            }]);
        }
        self.show_qr(
            user,
            &request,
            format!(
                "Scan with the ThreeFold Connect app to add {} to your balance.{}",
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
        let top_ups: TopUps = self.load_doc(user, TOP_UPS)?;
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

/// Buttons for a top-up of a week, a month or three months.
pub(super) fn with_top_up_buttons(text: String) -> Message {
    let button = |label: &str, days: u32| Button {
        label: label.into(),
        data: format!("{TOP_UP}{days}"),
    };
    Message {
        text,
        buttons: vec![vec![
            button("Top up 1 week", 7),
            button("1 month", 30),
            button("3 months", 90),
        ]],
    }
}

/// "50", "12.5 TFT", "2 weeks", "1 month", "10d": an amount, or a period
/// priced at `burn` per hour. Errors are messages for the user.
pub(crate) fn parse_top_up(arg: &str, burn: Tft) -> Result<Tft, String> {
    const HELP: &str = "Send /topup <amount in TFT> (e.g. /topup 50) or /topup <period> (e.g. /topup 2 weeks, /topup 1 month).";
    let text = arg.trim().to_lowercase();
    let amount_text = text.strip_suffix("tft").unwrap_or(&text).trim();
    if let Ok(amount) = amount_text.parse::<Tft>() {
        return if amount.is_positive() && amount <= Tft::from_whole(10_000_000) {
            Ok(amount)
        } else {
            Err(format!("{arg:?} is not an amount I can ask for. {HELP}"))
        };
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let count: i64 = number
        .parse()
        .map_err(|_| format!("I couldn't read {arg:?}. {HELP}"))?;
    let days_per_unit = match unit.trim() {
        "d" | "day" | "days" => 1,
        "w" | "week" | "weeks" => 7,
        "m" | "month" | "months" => 30,
        _ => return Err(format!("I couldn't read {arg:?}. {HELP}")),
    };
    if !(1..=365).contains(&(count * days_per_unit)) {
        return Err("A top-up period must be between 1 day and a year.".into());
    }
    if !burn.is_positive() {
        return Err("You have no running nodes to fund, so a period has no price. Send /topup <amount> instead.".into());
    }
    Ok(burn.saturating_mul(24 * count * days_per_unit))
}

#[cfg(test)]
mod tests {
    use super::parse_top_up;
    use crate::money::Tft;

    #[test]
    fn top_up_amounts_and_periods() {
        let burn = Tft::from_whole(1);
        assert_eq!(parse_top_up("50", burn), Ok(Tft::from_whole(50)));
        assert_eq!(parse_top_up("12.5 TFT", burn), Ok("12.5".parse().unwrap()));
        assert_eq!(parse_top_up("2 weeks", burn), Ok(Tft::from_whole(336)));
        assert_eq!(parse_top_up("1 Month", burn), Ok(Tft::from_whole(720)));
        assert_eq!(parse_top_up("10d", burn), Ok(Tft::from_whole(240)));
        assert!(parse_top_up("0", burn).is_err());
        assert!(parse_top_up("-5", burn).is_err());
        assert!(parse_top_up("lots", burn).is_err());
        assert!(parse_top_up("99 years", burn).is_err());
        assert!(parse_top_up("400 days", burn).is_err());
        assert!(parse_top_up("1 week", Tft::ZERO).is_err());
        assert!(parse_top_up("99999999999999999999", burn).is_err());
    }
}
