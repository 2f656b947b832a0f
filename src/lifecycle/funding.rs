//! What a user's balance means for their nodes: reminders before the money
//! runs out, a grace period with the nodes paused once it has, expiry when
//! the grace period ends, and resuming after a top-up.
//!
//! Nodes are prepaid hour by hour: when the balance cannot pay the next hour
//! the nodes are paused, so a user never owes anything.
//!
//! The one rule every screen follows ([`Plan`]): the balance pays for all of
//! a user's nodes together, and a period chosen in /deploy or /topup funds
//! all of them (the running ones and the new ones) until that long from
//! now; the user pays what the balance is missing for that.

use serde::{Deserialize, Serialize};

use crate::money::Tft;

/// The operator's choices (`[lifecycle]` in config.toml).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundingRules {
    /// Runway thresholds in seconds that trigger a reminder, any order.
    pub reminder_thresholds: Vec<u64>,
    /// How long paused nodes are kept before they are deleted.
    pub grace_secs: u64,
    /// How often a reminder goes out during the grace period.
    pub grace_reminder_secs: u64,
}

impl Default for FundingRules {
    fn default() -> FundingRules {
        FundingRules {
            reminder_thresholds: vec![7 * 86_400, 3 * 86_400, 86_400, 6 * 3600],
            grace_secs: 14 * 86_400,
            grace_reminder_secs: 86_400,
        }
    }
}

/// Which alerts a user asked not to get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mute {
    #[default]
    Nothing,
    /// Low-funds and grace reminders.
    Reminders,
    /// Reminders and outage/recovery alerts (only when asked explicitly).
    Everything,
}

/// What an alert is about, as far as muting goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Low-funds and grace reminders.
    Reminder,
    /// A node went down or came back.
    Health,
    /// Everything else (paused, resumed, deleted, operators' notices).
    Notice,
}

impl Mute {
    /// Whether this mute keeps an alert about `topic` from the user. Money
    /// that changes nodes (paused, resumed, deleted) is never muted.
    pub fn silences(self, topic: Topic) -> bool {
        match self {
            Mute::Nothing => false,
            Mute::Reminders => topic == Topic::Reminder,
            Mute::Everything => matches!(topic, Topic::Reminder | Topic::Health),
        }
    }
}

/// The grace period: nodes paused since `since`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grace {
    pub since: u64,
    pub last_reminder: u64,
}

impl Grace {
    pub fn deletes_at(&self, rules: &FundingRules) -> u64 {
        self.since.saturating_add(rules.grace_secs)
    }
}

/// Per-user memory of reminders and grace, kept in the profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FundingState {
    /// The lowest threshold the runway was below at the last assessment.
    /// A reminder goes out when the runway falls below a lower one (a
    /// crossing); a top-up above a threshold re-arms its reminder.
    pub level: Option<u64>,
    /// Whether nodes were burning money at the last assessment. The first
    /// assessment only takes note: a user who just paid for two days does
    /// not need to hear that less than three days are left.
    pub tracking: bool,
    pub grace: Option<Grace>,
    pub mute: Mute,
    /// The period (seconds) the latest payment funded every node for.
    /// Reminders at thresholds not below it are not sent: whoever just paid
    /// for a week knows that a week is left. Forgotten once the runway is a
    /// day above it (a larger top-up re-arms them) or nothing burns.
    pub paid_period: Option<u64>,
    /// The kinds of chain alerts the user muted one by one (`/mute`);
    /// `Mute::Everything` silences them all too.
    pub chain_mutes: Vec<super::chain_state::ChainAlertKind>,
}

/// What the service must do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FundingDecision {
    /// Runway fell below `threshold` (both in seconds).
    Remind { threshold: u64, runway: u64 },
    /// The balance cannot pay the next hour: pause the nodes.
    EnterGrace { deletes_at: u64 },
    /// Still in grace; the daily nudge.
    GraceReminder { deletes_at: u64 },
    /// Grace is over: delete the paused nodes.
    Expire,
    /// Enough money is back: resume the paused nodes.
    Resume { runway: u64 },
}

/// Seconds the balance lasts at `burn_per_hour` (None when nothing burns).
pub fn runway_secs(balance: Tft, burn_per_hour: Tft) -> Option<u64> {
    if !burn_per_hour.is_positive() {
        return None;
    }
    let secs = i128::from(balance.units().max(0)) * 3600 / i128::from(burn_per_hour.units());
    Some(u64::try_from(secs).unwrap_or(u64::MAX))
}

/// What a period chosen in /deploy or /topup means, worked out once for
/// every screen: all the user's nodes (running, paused, being deployed, and
/// the ones being ordered) are funded until [`Plan::until`], and the user
/// pays [`Plan::to_pay`] for that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What the user's nodes cost per hour now, and with the new ones.
    pub burn_before: Tft,
    pub burn_after: Tft,
    /// When the balance runs out at today's burn (None: nothing burns).
    pub until_before: Option<u64>,
    /// The moment everything is funded until once `to_pay` is paid: the end
    /// of the period, or later when the balance already holds more.
    pub until: u64,
    /// What the balance must hold: `burn_after` for the whole period.
    pub needed: Tft,
    /// What is missing from the balance for that (never negative).
    pub to_pay: Tft,
}

impl Plan {
    /// `burn_before`: the hourly cost of the nodes the user has; `added`:
    /// of the ones being ordered (zero for a top-up); `hours`: the period.
    pub fn new(balance: Tft, burn_before: Tft, added: Tft, hours: u64, now: u64) -> Plan {
        let burn_after = burn_before.saturating_add(added);
        let needed = burn_after.saturating_mul(i64::try_from(hours).unwrap_or(i64::MAX));
        let to_pay = needed.saturating_sub(balance).max(Tft::ZERO);
        let period_end = now.saturating_add(hours.saturating_mul(3600));
        let until = match runway_secs(balance, burn_after) {
            Some(runway) if !to_pay.is_positive() => now.saturating_add(runway).max(period_end),
            _ => period_end,
        };
        Plan {
            burn_before,
            burn_after,
            until_before: runway_secs(balance, burn_before).map(|r| now.saturating_add(r)),
            until,
            needed,
            to_pay,
        }
    }

    /// Whether the nodes the user already has end up funded for less long
    /// than they are now: said before the user confirms.
    pub fn shortens(&self) -> bool {
        self.until_before.is_some_and(|before| self.until < before)
    }
}

/// The sentence `/balance`, the website's My nodes and the order summary
/// share: what the nodes cost and the date they are funded until.
pub fn funded_sentence(balance: Tft, burn_per_hour: Tft, now: u64) -> String {
    match runway_secs(balance, burn_per_hour) {
        None => "Nothing is running, so nothing is spent.".into(),
        Some(runway) => format!(
            "Your nodes cost {} per day ({} per hour), all paid from this balance.\nFunded until {} ({}), all of them together.",
            burn_per_hour.saturating_mul(24),
            burn_per_hour,
            super::utc_datetime(now.saturating_add(runway)),
            super::human_duration(runway)
        ),
    }
}

impl FundingState {
    /// Notes that a payment funded every node for `period_secs`: the
    /// reminders that would only repeat that are not sent.
    pub fn paid_for(&mut self, period_secs: u64) {
        self.paid_period = Some(period_secs);
    }

    /// Decides what `balance` means now. `burn_per_hour` is what the user's
    /// nodes cost per hour when running (paused ones included, as that is
    /// what resuming them costs). Updates the state as if the decisions
    /// were carried out; the caller saves it with them.
    pub fn assess(
        &mut self,
        balance: Tft,
        burn_per_hour: Tft,
        rules: &FundingRules,
        now: u64,
    ) -> Vec<FundingDecision> {
        let Some(runway) = runway_secs(balance, burn_per_hour) else {
            // Nothing to pay for: nothing to remind about, nothing to keep.
            let expired = self.grace.take().is_some();
            self.level = None;
            self.tracking = false;
            self.paid_period = None;
            return if expired {
                vec![FundingDecision::Expire]
            } else {
                Vec::new()
            };
        };
        if self
            .paid_period
            .is_some_and(|p| runway > p.saturating_add(86_400))
        {
            self.paid_period = None;
        }
        let quiet_from = self.paid_period.unwrap_or(u64::MAX);
        let level = rules
            .reminder_thresholds
            .iter()
            .copied()
            .filter(|t| runway < *t && *t < quiet_from)
            .min();
        if let Some(grace) = &mut self.grace {
            if runway >= 3600 {
                self.grace = None;
                // The resume message states the runway; reminders for
                // thresholds already below it would repeat it.
                self.level = level;
                self.tracking = true;
                return vec![FundingDecision::Resume { runway }];
            }
            let deletes_at = grace.deletes_at(rules);
            if now >= deletes_at {
                self.grace = None;
                self.level = None;
                return vec![FundingDecision::Expire];
            }
            if now
                >= grace
                    .last_reminder
                    .saturating_add(rules.grace_reminder_secs)
            {
                grace.last_reminder = now;
                return vec![FundingDecision::GraceReminder { deletes_at }];
            }
            return Vec::new();
        }
        if runway < 3600 {
            let grace = Grace {
                since: now,
                last_reminder: now,
            };
            let deletes_at = grace.deletes_at(rules);
            self.grace = Some(grace);
            self.level = level;
            self.tracking = true;
            return vec![FundingDecision::EnterGrace { deletes_at }];
        }
        if !self.tracking {
            self.tracking = true;
            self.level = level;
            return Vec::new();
        }
        match (level, self.level) {
            (Some(t), Some(before)) if t >= before => {
                // Not deeper; if higher (a top-up), lower ones are re-armed.
                self.level = Some(t);
                Vec::new()
            }
            (Some(t), _) => {
                self.level = Some(t);
                vec![FundingDecision::Remind {
                    threshold: t,
                    runway,
                }]
            }
            (None, _) => {
                self.level = None;
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;
    const D: u64 = 86_400;

    /// 1 TFT per hour, so the balance in TFT is the runway in hours.
    fn assess(state: &mut FundingState, hours_left: i64, now: u64) -> Vec<FundingDecision> {
        state.assess(
            Tft::from_whole(hours_left),
            Tft::from_whole(1),
            &FundingRules::default(),
            now,
        )
    }

    fn thresholds_reminded(decisions: &[FundingDecision]) -> Vec<u64> {
        decisions
            .iter()
            .filter_map(|d| match d {
                FundingDecision::Remind { threshold, .. } => Some(threshold / H),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_reminder_goes_out_once_per_crossing() {
        let mut s = FundingState::default();
        let mut sent = Vec::new();
        // A balance burning down hour by hour from 10 days.
        for (i, hours_left) in (1..=240).rev().enumerate() {
            sent.extend(thresholds_reminded(&assess(
                &mut s,
                hours_left,
                i as u64 * H,
            )));
        }
        assert_eq!(sent, vec![168, 72, 24, 6]);
        // A top-up to 5 days re-arms 3 days, 1 day and 6 hours, not 7 days.
        assert!(assess(&mut s, 120, 300 * H).is_empty());
        let mut again = Vec::new();
        for hours_left in (1..120).rev() {
            again.extend(thresholds_reminded(&assess(&mut s, hours_left, 400 * H)));
        }
        assert_eq!(again, vec![72, 24, 6]);
    }

    #[test]
    fn a_sudden_drop_sends_only_the_deepest_reminder() {
        let mut s = FundingState::default();
        assert!(assess(&mut s, 500, 0).is_empty());
        assert_eq!(thresholds_reminded(&assess(&mut s, 20, H)), vec![24]);
        assert!(assess(&mut s, 19, 2 * H).is_empty());
    }

    #[test]
    fn thresholds_already_below_at_the_start_are_not_reminded() {
        let mut s = FundingState::default();
        // Funded for two days from the start: no "3 days left" reminder.
        assert!(assess(&mut s, 48, 0).is_empty());
        assert!(assess(&mut s, 47, H).is_empty());
        assert_eq!(thresholds_reminded(&assess(&mut s, 23, 2 * H)), vec![24]);
    }

    #[test]
    fn grace_then_expiry_with_daily_reminders() {
        let mut s = FundingState::default();
        assert_eq!(
            assess(&mut s, 0, 1000),
            vec![FundingDecision::EnterGrace {
                deletes_at: 1000 + 14 * D
            }]
        );
        let mut reminders = 0;
        let mut expired_at = None;
        for hour in 1..=(15 * 24) {
            let now = 1000 + hour * H;
            for d in assess(&mut s, 0, now) {
                match d {
                    FundingDecision::GraceReminder { .. } => reminders += 1,
                    FundingDecision::Expire => expired_at = Some(now),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if expired_at.is_some() {
                break;
            }
        }
        assert_eq!(reminders, 13);
        assert_eq!(expired_at, Some(1000 + 14 * D));
        assert_eq!(s.grace, None);
    }

    #[test]
    fn a_top_up_during_grace_resumes() {
        let mut s = FundingState::default();
        assess(&mut s, 0, 0);
        // Less than an hour's worth is not enough to resume.
        assert!(
            s.assess(
                Tft::from_units(1),
                Tft::from_whole(1),
                &FundingRules::default(),
                H
            )
            .is_empty()
        );
        assert_eq!(
            assess(&mut s, 48, 2 * H),
            vec![FundingDecision::Resume { runway: 48 * H }]
        );
        assert_eq!(s.grace, None);
        // Already below 3 days: the resume message said so; no repeat.
        assert!(assess(&mut s, 47, 3 * H).is_empty());
        assert_eq!(thresholds_reminded(&assess(&mut s, 23, 4 * H)), vec![24]);
    }

    #[test]
    fn no_nodes_means_no_reminders_and_grace_ends() {
        let mut s = FundingState::default();
        assess(&mut s, 0, 0);
        let none = s.assess(Tft::ZERO, Tft::ZERO, &FundingRules::default(), H);
        assert_eq!(none, vec![FundingDecision::Expire]);
        assert!(
            s.assess(Tft::ZERO, Tft::ZERO, &FundingRules::default(), 2 * H)
                .is_empty()
        );
    }

    #[test]
    fn runway_is_exact_and_never_overflows() {
        assert_eq!(
            runway_secs(Tft::from_whole(3), Tft::from_whole(2)),
            Some(5400)
        );
        assert_eq!(runway_secs(Tft::from_whole(3), Tft::ZERO), None);
        assert_eq!(
            runway_secs(Tft::from_units(i64::MAX), Tft::from_units(1)),
            Some(u64::MAX)
        );
        assert_eq!(
            runway_secs(Tft::from_units(-5), Tft::from_whole(1)),
            Some(0)
        );
    }

    #[test]
    fn a_period_funds_every_node_until_one_date() {
        let t = |n: i64| Tft::from_whole(n);
        // Running nodes burn 2/h and the balance holds 48 h of that; a new
        // node adds 1/h. A week for all: 3 * 168 = 504 needed, 408 missing.
        let plan = Plan::new(t(96), t(2), t(1), 168, 1000);
        assert_eq!(plan.burn_after, t(3));
        assert_eq!(plan.needed, t(504));
        assert_eq!(plan.to_pay, t(408));
        assert_eq!(plan.until, 1000 + 168 * H);
        assert_eq!(plan.until_before, Some(1000 + 48 * H));
        assert!(!plan.shortens());
        // Funded for 90 days, and a week chosen for a new node: nothing to
        // pay, but the running nodes lose runway, which the plan says.
        let plan = Plan::new(t(2 * 24 * 90), t(2), t(2), 168, 0);
        assert_eq!(plan.to_pay, Tft::ZERO);
        assert_eq!(plan.until, 45 * D);
        assert!(plan.shortens());
        // A top-up (nothing added) for a month, from an empty balance.
        let plan = Plan::new(Tft::ZERO, t(1), Tft::ZERO, 730, 0);
        assert_eq!(plan.to_pay, t(730));
        assert_eq!(plan.until_before, Some(0));
        assert!(!plan.shortens());
        // No nodes yet: the first order.
        let plan = Plan::new(t(5), Tft::ZERO, t(1), 168, 0);
        assert_eq!((plan.until_before, plan.to_pay), (None, t(163)));
    }

    #[test]
    fn no_reminder_right_after_paying_for_the_chosen_period() {
        let mut s = FundingState::default();
        // Other nodes were already running, with plenty of runway.
        assert!(assess(&mut s, 2000, 0).is_empty());
        // A week is paid for everything: the 7-day reminder would only repeat it.
        s.paid_for(7 * D);
        let mut sent = Vec::new();
        for (i, hours_left) in (1..=168).rev().enumerate() {
            sent.extend(thresholds_reminded(&assess(
                &mut s,
                hours_left,
                (i as u64 + 1) * H,
            )));
        }
        assert_eq!(sent, vec![72, 24, 6]);
        // A top-up well past the period re-arms the 7-day reminder.
        assert!(assess(&mut s, 20 * 24, 200 * H).is_empty());
        assert_eq!(s.paid_period, None);
        assert_eq!(
            thresholds_reminded(&assess(&mut s, 160, 201 * H)),
            vec![168]
        );
    }

    #[test]
    fn the_shared_sentence_names_the_date_for_all_nodes() {
        let text = funded_sentence(Tft::from_whole(48), Tft::from_whole(1), 0);
        assert!(
            text.contains("Funded until 1970-01-03 00:00 UTC (2 days), all of them"),
            "{text}"
        );
        assert_eq!(
            funded_sentence(Tft::from_whole(5), Tft::ZERO, 0),
            "Nothing is running, so nothing is spent."
        );
    }

    #[test]
    fn mutes_never_hide_what_happens_to_nodes() {
        use Topic::*;
        let silenced = |mute: Mute| {
            [Reminder, Health, Notice]
                .into_iter()
                .filter(|t| mute.silences(*t))
                .collect::<Vec<_>>()
        };
        assert_eq!(silenced(Mute::Nothing), []);
        assert_eq!(silenced(Mute::Reminders), [Reminder]);
        assert_eq!(silenced(Mute::Everything), [Reminder, Health]);
    }
}
