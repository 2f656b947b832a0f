//! Which snapshots to keep: the `keep_last` newest, plus the newest of each
//! UTC day among the last `keep_daily_days` days. A pure function of the
//! snapshot times and now, so it is tested on its own.

use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// At least 1 (config validation), so the newest snapshot always stays.
    pub keep_last: u32,
    pub keep_daily_days: u32,
}

/// The indexes (into `created`, unix seconds, any order) of the snapshots
/// to keep at `now`. Snapshots dated after `now` (a clock that went back)
/// are kept, on top of the others: nothing is deleted on the word of a
/// doubtful clock.
pub fn to_keep(created: &[u64], now: u64, policy: RetentionPolicy) -> BTreeSet<usize> {
    let mut newest_first: Vec<usize> = (0..created.len()).collect();
    // Newest first; ties broken by index so the result is deterministic.
    newest_first.sort_by(|&a, &b| created[b].cmp(&created[a]).then(a.cmp(&b)));
    let (future, past): (Vec<usize>, Vec<usize>) =
        newest_first.into_iter().partition(|&i| created[i] > now);
    let mut keep: BTreeSet<usize> = future.into_iter().collect();
    keep.extend(past.iter().take(policy.keep_last as usize));
    let today = now / 86_400;
    // Days today, today-1, ..., today-(keep_daily_days-1).
    let first_day = (today + 1).saturating_sub(u64::from(policy.keep_daily_days));
    let mut days_seen = BTreeSet::new();
    for &i in &past {
        let day = created[i] / 86_400;
        if policy.keep_daily_days > 0 && (first_day..=today).contains(&day) && days_seen.insert(day)
        {
            keep.insert(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const HOUR: u64 = 3600;
    /// 2026-11-23 00:00 UTC.
    const MIDNIGHT: u64 = 1_795_392_000;

    fn policy(keep_last: u32, keep_daily_days: u32) -> RetentionPolicy {
        RetentionPolicy {
            keep_last,
            keep_daily_days,
        }
    }

    fn kept(created: &[u64], now: u64, p: RetentionPolicy) -> Vec<u64> {
        let mut times: Vec<u64> = to_keep(created, now, p)
            .into_iter()
            .map(|i| created[i])
            .collect();
        times.sort();
        times
    }

    #[test]
    fn nothing_to_keep_from_nothing() {
        assert!(to_keep(&[], MIDNIGHT, policy(3, 3)).is_empty());
    }

    #[test]
    fn keeps_the_last_n_whatever_their_age() {
        let created: Vec<u64> = (0..10).map(|h| MIDNIGHT - 400 * DAY + h * HOUR).collect();
        assert_eq!(
            kept(&created, MIDNIGHT, policy(3, 30)),
            created[7..].to_vec()
        );
        // Input order does not matter.
        let mut shuffled = created.clone();
        shuffled.reverse();
        shuffled.swap(2, 7);
        assert_eq!(
            kept(&shuffled, MIDNIGHT, policy(3, 30)),
            created[7..].to_vec()
        );
    }

    #[test]
    fn hourly_for_ten_days_keeps_last_n_and_one_per_day() {
        let now = MIDNIGHT + 12 * HOUR + 30 * 60;
        // Hourly snapshots from 10 days ago up to now.
        let created: Vec<u64> = (0..=(10 * 24 + 12))
            .map(|h| MIDNIGHT - 10 * DAY + h * HOUR)
            .collect();
        let kept = kept(&created, now, policy(5, 3));
        let expected = vec![
            MIDNIGHT - 2 * DAY + 23 * HOUR, // newest of the day before yesterday
            MIDNIGHT - DAY + 23 * HOUR,     // newest of yesterday
            MIDNIGHT + 8 * HOUR,            // the last five (today's newest among them)
            MIDNIGHT + 9 * HOUR,
            MIDNIGHT + 10 * HOUR,
            MIDNIGHT + 11 * HOUR,
            MIDNIGHT + 12 * HOUR,
        ];
        assert_eq!(kept, expected);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_within_the_window_only() {
        let now = MIDNIGHT + HOUR;
        let created = vec![
            MIDNIGHT - 3 * DAY + HOUR,     // outside a 3-day window
            MIDNIGHT - 2 * DAY + HOUR,     // day -2, older
            MIDNIGHT - 2 * DAY + 5 * HOUR, // day -2, newest: kept
            MIDNIGHT - DAY,                // day -1, the only one: kept
            MIDNIGHT + 30 * 60,            // today: kept (and the last one)
        ];
        assert_eq!(
            kept(&created, now, policy(1, 3)),
            vec![created[2], created[3], created[4]]
        );
        // Without the daily rule only the last one stays.
        assert_eq!(kept(&created, now, policy(1, 0)), vec![created[4]]);
        // A day with no snapshot does not pull in an older one.
        assert_eq!(kept(&created[..2], now, policy(1, 3)), vec![created[1]]);
    }

    #[test]
    fn the_day_boundary_is_utc_midnight() {
        let created = vec![MIDNIGHT - 1, MIDNIGHT];
        // Both days in a 2-day window: each is its day's newest.
        assert_eq!(kept(&created, MIDNIGHT + 1, policy(1, 2)), created);
        // A 1-day window is today only.
        assert_eq!(kept(&created, MIDNIGHT + 1, policy(1, 1)), vec![MIDNIGHT]);
    }

    #[test]
    fn snapshots_from_the_future_are_kept() {
        let created = vec![MIDNIGHT - 10 * DAY, MIDNIGHT + 5 * DAY, MIDNIGHT];
        assert_eq!(
            kept(&created, MIDNIGHT + HOUR, policy(1, 0)),
            vec![MIDNIGHT, MIDNIGHT + 5 * DAY]
        );
    }

    #[test]
    fn the_newest_is_always_kept_and_duplicates_are_stable() {
        for n in 1..20u64 {
            let created: Vec<u64> = (0..n).map(|i| MIDNIGHT - i * 7 * HOUR).collect();
            for p in [policy(1, 0), policy(2, 1), policy(3, 5)] {
                let keep = to_keep(&created, MIDNIGHT, p);
                assert!(keep.contains(&0));
                assert!(keep.len() <= p.keep_last as usize + p.keep_daily_days as usize);
                assert_eq!(keep, to_keep(&created, MIDNIGHT, p));
            }
        }
        // Two snapshots with the same time: exactly keep_last of them.
        assert_eq!(
            to_keep(&[MIDNIGHT, MIDNIGHT], MIDNIGHT, policy(1, 0)).len(),
            1
        );
    }
}
