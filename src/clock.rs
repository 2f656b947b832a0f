//! Wall-clock time as a dependency, so tests can move it by hours at will,
//! and the exponential [`Backoff`] every retry loop waits by (the loops
//! themselves are backon's `Retry`, fed [`Backoff::delays`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: u64) -> ManualClock {
        ManualClock(AtomicU64::new(start))
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits between attempts: `first`, doubled each time, at most `max`.
/// Horizon requests, S3 requests and failed backup runs all wait by it.
///
/// The schedule stays ours rather than backon's `ExponentialBuilder`:
/// that one multiplies in `f32` (5 ms doubled is not exactly 10 ms) and
/// does not cap the first wait at the maximum, and the waits here are
/// exact whole durations that tests on paused tokio time pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Backoff {
    /// The wait after failed attempt number `failed` (0 for the first).
    pub fn delay(&self, failed: u32) -> Duration {
        let factor = 1u32.checked_shl(failed.min(20)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// The waits between `attempts` tries (one fewer than the tries, none
    /// for 0 or 1), as the backoff backon's `Retry` sleeps by; when they
    /// run out, the last error is returned.
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            failed: 0,
        }
    }
}

/// [`Backoff::delays`]: an iterator, which backon takes as its backoff.
#[derive(Clone, Debug)]
pub struct Delays {
    policy: Backoff,
    /// Failed attempts so far.
    failed: u32,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.failed.saturating_add(1) >= self.policy.attempts {
            return None;
        }
        let wait = self.policy.delay(self.failed);
        self.failed += 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
            attempts: 9,
        };
        let delays: Vec<u64> = (0..6).map(|i| b.delay(i).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_in_milliseconds() {
        let p = Backoff {
            attempts: 10,
            first: Duration::from_millis(500),
            max: Duration::from_secs(3),
        };
        let waits: Vec<u64> = (1..=6).map(|r| p.delay(r - 1).as_millis() as u64).collect();
        assert_eq!(waits, vec![500, 1000, 2000, 3000, 3000, 3000]);
        assert_eq!(p.delay(1000 - 1), Duration::from_secs(3));
    }

    #[test]
    fn delays_are_the_waits_between_the_attempts() {
        let b = Backoff {
            first: Duration::from_millis(5),
            max: Duration::from_millis(30),
            attempts: 6,
        };
        let ms: Vec<u128> = b.delays().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [5, 10, 20, 30, 30]);
        assert_eq!(b.delays().next(), Some(b.delay(0)));
        for attempts in [0, 1] {
            assert_eq!(Backoff { attempts, ..b }.delays().count(), 0);
        }
    }
}
