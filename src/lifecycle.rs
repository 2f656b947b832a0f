//! Lifecycle rules, pure: when a node counts as down or back, how its chain
//! is doing (`chain`, and the network's tip in `tip`), and what a user's
//! money means for their nodes (reminders, grace period, expiry).
//!
//! No IO and no clock here: the monitor and the billing sweep feed in what
//! they observed and the time, and carry out the decisions. That keeps the
//! rules testable in microseconds and identical for every channel.

pub mod chain;
pub mod chain_state;
pub mod funding;
pub mod node_link;
pub mod not_deployed;
pub mod outage;
pub mod tip;

pub use funding::{
    FundingDecision, FundingRules, FundingState, Mute, Plan, Topic, funded_sentence,
};
pub use outage::{GridVerdict, Observation, Outage, Tracker, Transition, grid_verdict};

/// "3 days", "6 hours", "45 minutes": a duration as people say it, rounded
/// down to its largest unit.
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        s if s >= 2 * 86_400 => plural(s / 86_400, "day"),
        s if s >= 2 * 3600 => plural(s / 3600, "hour"),
        s if s >= 120 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

/// "2026-12-07 14:00 UTC": a moment users can read in any time zone.
pub fn utc_datetime(secs: u64) -> String {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let (hour, minute) = (secs % 86_400 / 3600, secs % 3600 / 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard
/// Hinnant's algorithm; exact for every day of the proleptic Gregorian
/// calendar).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The inverse of [`civil_from_days`]: days from 1970-01-01 to a civil
/// date (month 1-12). Out-of-range days roll over; callers that parse
/// dates check with a round trip.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{human_duration, utc_datetime};

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_datetime(1_795_392_000), "2026-11-23 00:00 UTC");
        assert_eq!(
            utc_datetime(951_782_400 + 3600 * 13 + 60 * 7),
            "2000-02-29 13:07 UTC"
        );
        assert_eq!(utc_datetime(4_107_542_400), "2100-03-01 00:00 UTC");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(90), "90 seconds");
        assert_eq!(human_duration(150), "2 minutes");
        assert_eq!(human_duration(3 * 3600 + 5), "3 hours");
        assert_eq!(human_duration(86_400 + 3600), "25 hours");
        assert_eq!(human_duration(7 * 86_400), "7 days");
    }
}
