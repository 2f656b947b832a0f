//! Token buckets for Telegram's send limits: about one message per second per
//! chat (with a small burst, so a reply and an edit go out together) and about
//! thirty per second overall.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }

    /// Time until one token is there.
    fn wait(&self, rate: f64) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / rate)
        }
    }
}

/// Limits on how fast the bot may send.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub chat_per_second: f64,
    pub chat_burst: f64,
    pub global_per_second: f64,
    pub global_burst: f64,
}

pub struct RateLimiter {
    limits: Limits,
    state: Mutex<State>,
}

struct State {
    global: Bucket,
    chats: HashMap<i64, Bucket>,
}

/// Above this many tracked chats, full buckets are forgotten (they would be
/// full again anyway), so memory follows the number of busy chats.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(limits: Limits) -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            limits,
            state: Mutex::new(State {
                global: Bucket::full(limits.global_burst, now),
                chats: HashMap::new(),
            }),
        }
    }

    /// Waits until one message may go to `chat`, then takes the tokens.
    pub async fn acquire(&self, chat: i64) {
        loop {
            let wait = self.try_take(chat);
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token from both buckets if both have one; otherwise says how
    /// long to wait.
    fn try_take(&self, chat: i64) -> Duration {
        let l = self.limits;
        let now = Instant::now();
        let Ok(mut state) = self.state.lock() else {
            return Duration::ZERO;
        };
        if state.chats.len() > PRUNE_AT {
            state.chats.retain(|_, b| {
                b.refill(l.chat_per_second, l.chat_burst, now);
                b.tokens < l.chat_burst
            });
        }
        state
            .global
            .refill(l.global_per_second, l.global_burst, now);
        let chat_bucket = state
            .chats
            .entry(chat)
            .or_insert_with(|| Bucket::full(l.chat_burst, now));
        chat_bucket.refill(l.chat_per_second, l.chat_burst, now);
        let wait = chat_bucket
            .wait(l.chat_per_second)
            .max(state.global.wait(l.global_per_second));
        if wait.is_zero() {
            if let Some(b) = state.chats.get_mut(&chat) {
                b.tokens -= 1.0;
            }
            state.global.tokens -= 1.0;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            chat_per_second: 1.0,
            chat_burst: 3.0,
            global_per_second: 30.0,
            global_burst: 30.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_its_burst_then_one_per_second() {
        let limiter = RateLimiter::new(limits());
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(1).await;
        assert_eq!(start.elapsed().as_secs(), 1);
        // Another chat is not held back by the first one.
        let before = Instant::now();
        limiter.acquire(2).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_limit_holds_across_chats() {
        let limiter = RateLimiter::new(limits());
        let start = Instant::now();
        for chat in 0..90 {
            limiter.acquire(chat).await;
        }
        // 30 at once, then 30 per second: the 90th goes out after 2 s.
        assert_eq!(start.elapsed().as_secs(), 2);
    }
}
