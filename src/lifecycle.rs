//! Lifecycle rules, pure: when a node counts as down or back, and what a
//! user's money means for their nodes (reminders, grace period, expiry).
//!
//! No IO and no clock here: the monitor and the billing sweep feed in what
//! they observed and the time, and carry out the decisions. That keeps the
//! rules testable in microseconds and identical for every channel.

pub mod funding;
pub mod outage;

pub use funding::{FundingDecision, FundingRules, FundingState, Mute};
pub use outage::{Observation, Outage, Tracker, Transition};

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

#[cfg(test)]
mod tests {
    use super::human_duration;

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
