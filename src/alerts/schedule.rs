//! Choosing the next alert to send under a global and a per-user rate limit.
//!
//! Every user with queued alerts is in exactly one of two sets: `ready`
//! (their bucket has a token; keyed by their most urgent alert) or `waiting`
//! (keyed by when their bucket next has a token). The next alert is the first
//! of `ready`, so a choice costs O(log n) however many alerts or users wait,
//! and a user with many alerts never holds up anyone else. The scheduler
//! knows alerts only by their [`Order`]; their contents live in `State`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{AlertLimits, Order};
use crate::ids::UserId;

/// Rates are clamped to this range so that instants computed from them
/// cannot overflow (one alert a day at the slowest).
const RATE_RANGE: (f64, f64) = (1.0 / 86_400.0, 1e6);
/// Bursts are clamped to this range; below one token nothing could ever go.
const BURST_RANGE: (f64, f64) = (1.0, 1e6);
/// Above this many remembered buckets, full ones are forgotten (a full bucket
/// and a missing one mean the same), so memory follows the busy users.
const PRUNE_MIN: usize = 10_000;

/// A token bucket in GCRA form: instead of a token count it keeps the
/// "theoretical arrival time" (`tat`) of the next send. Integer nanoseconds
/// make it exact, so sleeping until [`Rate::next_at`] always finds a token,
/// and no window ever sees more than `burst + rate * T` sends.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rate {
    interval: Duration,
    /// How far ahead of `tat` a send may be (the burst beyond the first).
    tolerance: Duration,
}

impl Rate {
    fn new(per_second: f64, burst: f64) -> Rate {
        let per_second = clamp(per_second, RATE_RANGE);
        let burst = clamp(burst, BURST_RANGE);
        // Rounding the interval up and the tolerance down never lets more
        // through than the configured limit.
        let interval_ns = (1e9 / per_second).ceil().max(1.0) as u64;
        let tolerance_ns = ((burst - 1.0) * interval_ns as f64).floor() as u64;
        Rate {
            interval: Duration::from_nanos(interval_ns),
            tolerance: Duration::from_nanos(tolerance_ns),
        }
    }

    /// The earliest moment (not before `now`) a bucket at `tat` has a token;
    /// `None` is a full bucket.
    fn next_at(&self, tat: Option<Instant>, now: Instant) -> Instant {
        let allowed_until = now + self.tolerance;
        match tat {
            Some(tat) if tat > allowed_until => now + (tat - allowed_until),
            _ => now,
        }
    }

    /// The bucket after one send at `now`.
    fn take(&self, tat: Option<Instant>, now: Instant) -> Instant {
        tat.map_or(now, |tat| tat.max(now)) + self.interval
    }
}

/// NaN falls to the low end: a misconfiguration then sends too slowly
/// rather than floods Telegram.
fn clamp(value: f64, (low, high): (f64, f64)) -> f64 {
    if value.is_nan() {
        low
    } else {
        value.clamp(low, high)
    }
}

/// What the deliverer should do next.
#[derive(Debug, PartialEq)]
pub(super) enum Next<T> {
    /// Send this now; the tokens are already taken.
    Send(T),
    /// Nothing may go before this moment.
    At(Instant),
    /// Nothing is queued.
    Empty,
}

/// A user's queued alerts and where the user sits in the scheduler.
struct Queued {
    orders: BTreeSet<Order>,
    slot: Slot,
}

#[derive(Clone, Copy)]
enum Slot {
    Ready(Order),
    Waiting(Instant),
    Unscheduled,
}

pub(super) struct Scheduler {
    limits: AlertLimits,
    user_rate: Rate,
    global_rate: Rate,
    /// `tat` of the global bucket; `None` when full.
    global: Option<Instant>,
    /// `tat` of users' buckets; a missing user has a full bucket.
    buckets: HashMap<UserId, Instant>,
    prune_at: usize,
    users: HashMap<UserId, Queued>,
    ready: BTreeMap<Order, UserId>,
    waiting: BTreeSet<(Instant, UserId)>,
}

impl Scheduler {
    pub fn new(limits: AlertLimits) -> Scheduler {
        Scheduler {
            limits,
            user_rate: Rate::new(limits.per_user_per_second, limits.per_user_burst),
            global_rate: Rate::new(limits.global_per_second, limits.global_burst),
            global: None,
            buckets: HashMap::new(),
            prune_at: PRUNE_MIN,
            users: HashMap::new(),
            ready: BTreeMap::new(),
            waiting: BTreeSet::new(),
        }
    }

    /// Switches to `limits`, keeping the buckets' state. Everyone is
    /// rescheduled, since a waiting user's wake-up time depends on the rate.
    pub fn set_limits(&mut self, limits: AlertLimits, now: Instant) {
        if limits == self.limits {
            return;
        }
        self.limits = limits;
        self.user_rate = Rate::new(limits.per_user_per_second, limits.per_user_burst);
        self.global_rate = Rate::new(limits.global_per_second, limits.global_burst);
        let users: Vec<UserId> = self.users.keys().cloned().collect();
        for user in users {
            self.schedule(&user, now);
        }
    }

    /// Adds an alert (new, or given back after an interrupted send).
    pub fn insert(&mut self, order: Order, user: &UserId, now: Instant) {
        self.users
            .entry(user.clone())
            .or_insert_with(|| Queued {
                orders: BTreeSet::new(),
                slot: Slot::Unscheduled,
            })
            .orders
            .insert(order);
        self.schedule(user, now);
    }

    /// The most urgent alert whose user and the global bucket both have a
    /// token at `now`, with the tokens taken and the alert removed; or when
    /// to ask again.
    pub fn next(&mut self, now: Instant) -> Next<Order> {
        self.promote(now);
        if self.ready.is_empty() {
            return match self.waiting.first() {
                Some((at, _)) => Next::At(*at),
                None => Next::Empty,
            };
        }
        let global_at = self.global_rate.next_at(self.global, now);
        if global_at > now {
            return Next::At(global_at);
        }
        let Some((order, user)) = self.ready.pop_first() else {
            return Next::Empty;
        };
        self.global = Some(self.global_rate.take(self.global, now));
        let tat = self.user_rate.take(self.buckets.get(&user).copied(), now);
        self.buckets.insert(user.clone(), tat);
        if let Some(queued) = self.users.get_mut(&user) {
            queued.orders.remove(&order);
            queued.slot = Slot::Unscheduled;
        }
        self.schedule(&user, now);
        self.prune(now);
        Next::Send(order)
    }

    /// Moves users whose bucket has refilled from `waiting` to `ready`.
    fn promote(&mut self, now: Instant) {
        while let Some((at, _)) = self.waiting.first()
            && *at <= now
        {
            let Some((_, user)) = self.waiting.pop_first() else {
                break;
            };
            if let Some(queued) = self.users.get_mut(&user) {
                queued.slot = Slot::Unscheduled;
            }
            self.schedule(&user, now);
        }
    }

    /// Puts `user` in `ready` or `waiting` according to their most urgent
    /// alert and their bucket, or forgets them if nothing is queued.
    fn schedule(&mut self, user: &UserId, now: Instant) {
        let Some(queued) = self.users.get_mut(user) else {
            return;
        };
        match queued.slot {
            Slot::Ready(order) => {
                self.ready.remove(&order);
            }
            Slot::Waiting(at) => {
                self.waiting.remove(&(at, user.clone()));
            }
            Slot::Unscheduled => {}
        }
        let Some(&head) = queued.orders.first() else {
            self.users.remove(user);
            return;
        };
        let at = self.user_rate.next_at(self.buckets.get(user).copied(), now);
        if at <= now {
            self.ready.insert(head, user.clone());
            queued.slot = Slot::Ready(head);
        } else {
            self.waiting.insert((at, user.clone()));
            queued.slot = Slot::Waiting(at);
        }
    }

    /// Forgets full buckets once there are many; amortised O(1) per send.
    fn prune(&mut self, now: Instant) {
        if self.buckets.len() <= self.prune_at {
            return;
        }
        let users = &self.users;
        self.buckets
            .retain(|user, tat| *tat > now || users.contains_key(user));
        self.prune_at = PRUNE_MIN.max(self.buckets.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_allows_its_burst_then_one_per_interval() {
        let rate = Rate::new(0.5, 3.0);
        let t0 = Instant::now();
        let mut tat = None;
        for _ in 0..3 {
            assert_eq!(rate.next_at(tat, t0), t0);
            tat = Some(rate.take(tat, t0));
        }
        assert_eq!(rate.next_at(tat, t0), t0 + Duration::from_secs(2));
    }

    #[test]
    fn nonsense_limits_are_clamped_not_trusted() {
        for (rate, burst) in [(0.0, 0.0), (f64::NAN, f64::NAN), (-1.0, f64::INFINITY)] {
            let rate = Rate::new(rate, burst);
            assert!(rate.interval <= Duration::from_secs(86_400));
            assert!(rate.tolerance <= rate.interval * 1_000_000);
        }
    }
}
