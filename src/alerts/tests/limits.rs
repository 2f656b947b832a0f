//! Rate limits and fairness at scale: 10,000 alerts for 1,000 users.

use std::collections::HashMap;
use std::time::Duration;

use super::*;

#[tokio::test(start_paused = true)]
async fn ten_thousand_alerts_keep_every_limit_and_outages_go_first() {
    const USERS: usize = 1_000;
    const TOTAL: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let mut rng = fastrand::Rng::with_seed(42);
    let others = [Priority::Recovery, Priority::Notice, Priority::Reminder];
    let mut alerts = Vec::new();
    for u in 0..USERS {
        // A few busy users, whose own limit binds long before the global
        // one; everyone else has a handful.
        let count = match u {
            0..10 => 100,
            10..100 => 10,
            _ => 9,
        };
        // One outage each, so per-user limits never delay an outage behind
        // another user's reminder.
        alerts.push(alert(
            &format!("u{u}-out"),
            user(u),
            Priority::Outage,
            1_000,
        ));
        for i in 1..count {
            let priority = others[rng.usize(..others.len())];
            let raised_at = 1_000 + rng.u64(..1_000);
            alerts.push(alert(&format!("u{u}-{i}"), user(u), priority, raised_at));
        }
    }
    assert_eq!(alerts.len(), TOTAL);
    rng.shuffle(&mut alerts);
    let by_key: HashMap<String, Alert> =
        alerts.iter().map(|a| (a.key.clone(), a.clone())).collect();
    for batch in alerts.chunks(500) {
        assert_eq!(queue.enqueue(batch.to_vec()).unwrap(), batch.len());
    }

    let limits = AlertLimits::default();
    let outbox = Recorder::default();
    let sent = queue.drain(&outbox, limits).await.unwrap();
    assert_eq!(sent, TOTAL);
    let sent = lock(&outbox.sent);
    let all = counts(sent.iter().map(|s| s.key.clone()));
    assert_eq!(all.len(), TOTAL);
    assert!(all.values().all(|&n| n == 1));

    // Global: no window of one second holds more than rate + burst.
    let window = Duration::from_secs(1);
    let cap = (limits.global_per_second + limits.global_burst) as usize;
    let mut end = 0;
    for (start, s) in sent.iter().enumerate() {
        while end < sent.len() && sent[end].at <= s.at + window {
            end += 1;
        }
        assert!(end - start <= cap, "{} sends within 1 s", end - start);
    }

    // Per user: any window of length T holds at most burst + rate * T, and
    // the user's own alerts go by priority, then age.
    let mut per_user: HashMap<&UserId, Vec<&Sent>> = HashMap::new();
    for s in sent.iter() {
        per_user.entry(&s.user).or_default().push(s);
    }
    assert_eq!(per_user.len(), USERS);
    for sends in per_user.values() {
        for (i, first) in sends.iter().enumerate() {
            for (j, last) in sends.iter().enumerate().skip(i) {
                let span = (last.at - first.at).as_secs_f64();
                let allowed = limits.per_user_burst + limits.per_user_per_second * span;
                assert!((j - i + 1) as f64 <= allowed + 1e-9, "user over limit");
            }
        }
        let order: Vec<(Priority, u64)> = sends
            .iter()
            .map(|s| (by_key[&s.key].priority, by_key[&s.key].raised_at))
            .collect();
        assert!(order.is_sorted(), "{order:?}");
    }

    let priority = |s: &Sent| by_key[&s.key].priority;
    let last_outage = sent.iter().rposition(|s| priority(s) == Priority::Outage);
    let first_reminder = sent.iter().position(|s| priority(s) == Priority::Reminder);
    assert!(last_outage < first_reminder);
}

#[tokio::test(start_paused = true)]
async fn a_busy_user_does_not_hold_up_others() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let mut alerts: Vec<Alert> = (0..20)
        .map(|i| alert(&format!("busy{i}"), user(1), Priority::Outage, i))
        .collect();
    alerts.push(alert("other", user(2), Priority::Reminder, 0));
    queue.enqueue(alerts).unwrap();
    let start = Instant::now();
    let outbox = Recorder::default();
    queue.drain(&outbox, AlertLimits::default()).await.unwrap();
    let sent = lock(&outbox.sent);
    // The busy user's burst goes first, then the other user's reminder at
    // once rather than after the busy user's 17 remaining outages.
    let position = sent.iter().position(|s| s.key == "other");
    assert_eq!(position, Some(3));
    assert_eq!(sent[3].at, start);
    assert!(sent[4].at > start);
}
