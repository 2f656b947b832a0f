//! A durable, deduplicated, rate-limited and prioritised outbox for alerts
//! (node outages and recoveries, grace and expiry notices, low-funds
//! reminders) raised by background loops.
//!
//! Conversation replies go straight to the channel's [`Outbox`]; alerts go
//! through an [`AlertQueue`] instead, because they must survive a crash, be
//! delivered at least once, never twice for the same key, stay within
//! Telegram's rate limits, and put outages ahead of reminders.
//!
//! Layout:
//! - `journal`: the fsynced JSONL journal, its recovery and compaction;
//! - `state`: pending alerts and known keys, rebuilt from the journal;
//! - `memory`: the bounded memory of delivered keys;
//! - `schedule`: token buckets and the choice of the next alert.
//!
//! **Invariant:** an alert is journaled before [`AlertQueue::enqueue`]
//! returns, and its acknowledgement is journaled right after the outbox took
//! it, so a crash re-sends at most the alert being sent at that moment.

mod journal;
mod memory;
mod schedule;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::channel::{Outbox, Outgoing};
use crate::ids::UserId;
// Poison is ignored: nothing in a critical section can leave the journal or
// the state half-changed on a panic.
use crate::store::{blocking_io, lock};
use journal::{Journal, Record};
pub use memory::{REMEMBER_DELIVERED_MAX, REMEMBER_DELIVERED_SECS};
use schedule::Next;
use state::State;

/// Lower sorts first: outage alerts go out before everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Outage,
    Recovery,
    Notice,
    Reminder,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Deduplication key, e.g. "outage:tg:42:<node name>:1700000000".
    /// Enqueuing a key that is queued, or was delivered and is still
    /// remembered (see [`REMEMBER_DELIVERED_SECS`] and
    /// [`REMEMBER_DELIVERED_MAX`]), is a no-op.
    pub key: String,
    pub user: UserId,
    pub priority: Priority,
    pub message: crate::dialogue::Message,
    /// Unix seconds (from the service's clock) when it was raised.
    pub raised_at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertLimits {
    /// Alerts per second over all users (Telegram allows ~30/s in total;
    /// this leaves room for conversations). Default 20.
    pub global_per_second: f64,
    /// Default 20.
    pub global_burst: f64,
    /// Alerts per second per user: Telegram allows ~1 message/s per chat,
    /// shared with the conversation. Default 0.5.
    pub per_user_per_second: f64,
    /// Default 3. Rates are clamped to 1/day..1e6/s, bursts to 1..1e6.
    pub per_user_burst: f64,
}

impl Default for AlertLimits {
    fn default() -> AlertLimits {
        AlertLimits {
            global_per_second: 20.0,
            global_burst: 20.0,
            per_user_per_second: 0.5,
            per_user_burst: 3.0,
        }
    }
}

/// The pacing `[alerts]` sets (config is plain data; the queue reads it).
impl crate::config::AlertsConfig {
    pub fn limits(&self) -> AlertLimits {
        AlertLimits {
            global_per_second: self.global_per_second,
            global_burst: self.global_burst,
            per_user_per_second: self.per_user_per_second,
            per_user_burst: self.per_user_burst,
        }
    }
}

/// Counters for metrics and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertStats {
    /// Alerts waiting (including one being sent).
    pub queued: usize,
    /// Delivered keys remembered for deduplication.
    pub remembered: usize,
    /// Alerts handed to the outbox since the queue was opened.
    pub sent: u64,
}

/// Where an alert sits in delivery order: priority, then age, then arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Order {
    priority: Priority,
    raised_at: u64,
    /// Unique per open queue; breaks ties in enqueue order.
    seq: u64,
}

/// A handle to the queue; clones share it.
#[derive(Clone)]
pub struct AlertQueue {
    inner: Arc<Inner>,
}

struct Inner {
    /// Lock order: `journal`, then `state`. Which keys are pending or
    /// remembered changes only while `journal` is held, so a duplicate check
    /// and the append that follows it cannot interleave with another enqueue
    /// or an acknowledgement.
    journal: Mutex<Journal>,
    /// A std mutex: held only for in-memory work, never across an await.
    state: Mutex<State>,
    /// Wakes the deliverer on enqueue. `notify_one` stores a permit, so an
    /// enqueue between the deliverer's check and its wait is not missed.
    wake: Notify,
    /// One deliverer at a time: the rate limits assume a single sender.
    deliverer: tokio::sync::Mutex<()>,
}

impl AlertQueue {
    /// Opens (or creates) the queue's journal in `dir`, which belongs to the
    /// queue alone; alerts queued before a crash are pending again.
    pub fn open(dir: &Path) -> anyhow::Result<AlertQueue> {
        blocking_io(|| {
            let (mut journal, records) = Journal::open(dir)?;
            let state = State::replay(records, Instant::now());
            if journal.should_compact(state.live()) {
                let (body, lines) = state.snapshot()?;
                journal.replace(&body, lines).with_context(|| {
                    format!("compacting the alert journal in {}", dir.display())
                })?;
            }
            Ok(AlertQueue {
                inner: Arc::new(Inner {
                    journal: Mutex::new(journal),
                    state: Mutex::new(state),
                    wake: Notify::new(),
                    deliverer: tokio::sync::Mutex::new(()),
                }),
            })
        })
    }

    /// Durably queues alerts (one fsync for the whole batch) before
    /// returning; returns how many were new (not duplicates).
    pub fn enqueue(&self, alerts: Vec<Alert>) -> anyhow::Result<usize> {
        let inner = &*self.inner;
        let added = blocking_io(|| -> anyhow::Result<usize> {
            let mut journal = lock(&inner.journal);
            let fresh: Vec<Alert> = {
                let state = lock(&inner.state);
                let mut batch = HashSet::new();
                alerts
                    .into_iter()
                    .filter(|a| !state.is_known(&a.key) && batch.insert(a.key.clone()))
                    .collect()
            };
            if fresh.is_empty() {
                return Ok(0);
            }
            let records: Vec<Record<'_>> = fresh
                .iter()
                .map(|alert| Record::Queued {
                    alert: std::borrow::Cow::Borrowed(alert),
                })
                .collect();
            journal
                .append(&records)
                .context("appending to the alert journal")?;
            let added = fresh.len();
            let now = Instant::now();
            let mut state = lock(&inner.state);
            for alert in fresh {
                state.insert(alert, now);
            }
            Ok(added)
        })?;
        if added > 0 {
            inner.wake.notify_one();
        }
        Ok(added)
    }

    /// Alerts waiting, for metrics and operators.
    pub fn depth(&self) -> usize {
        lock(&self.inner.state).depth()
    }

    /// Pending alerts, in delivery order (priority, then age), at most
    /// `limit` — for operators.
    pub fn pending(&self, limit: usize) -> Vec<Alert> {
        lock(&self.inner.state).pending(limit)
    }

    /// How many pending alerts have a key that `matches` accepts (counted
    /// under the lock, without copying the alerts).
    pub fn count_pending(&self, matches: impl FnMut(&str) -> bool) -> usize {
        lock(&self.inner.state).count_pending(matches)
    }

    pub fn stats(&self) -> AlertStats {
        let state = lock(&self.inner.state);
        AlertStats {
            queued: state.depth(),
            remembered: state.remembered(),
            sent: state.sent(),
        }
    }

    /// Delivers alerts through `outbox` (as `Outgoing::Message(alert.message)`)
    /// until `stop` resolves, within `limits`, highest priority first, oldest
    /// first within a priority. Each alert is acknowledged durably right
    /// after it was handed to the outbox, so a crash re-sends at most the
    /// alert being sent at that moment. Wakes up immediately when something
    /// is enqueued (no polling sleeps). A send interrupted by `stop` is
    /// given back to the queue.
    pub async fn run(
        &self,
        outbox: Arc<dyn Outbox>,
        limits: AlertLimits,
        stop: impl Future<Output = ()> + Send,
    ) {
        let mut stop = std::pin::pin!(stop);
        let _turn = tokio::select! {
            biased;
            () = &mut stop => return,
            turn = self.inner.deliverer.lock() => turn,
        };
        lock(&self.inner.state).set_limits(limits, Instant::now());
        loop {
            // `stop` is checked between steps, so it ends the loop even when
            // alerts go out back to back without ever waiting.
            tokio::select! {
                biased;
                () = &mut stop => return,
                step = self.step(&*outbox, true) => {
                    if let Err(e) = step {
                        tracing::error!(error = %e, "alert sent but its acknowledgement \
                            was not saved; it may be sent again after a restart");
                    }
                }
            }
        }
    }

    /// Delivers everything queued (including alerts enqueued meanwhile) and
    /// returns how many were sent (same rules, rate limits included); for
    /// tests and one-shot tools. Stops at the first acknowledgement that
    /// cannot be saved.
    pub async fn drain(&self, outbox: &dyn Outbox, limits: AlertLimits) -> anyhow::Result<usize> {
        let _turn = self.inner.deliverer.lock().await;
        lock(&self.inner.state).set_limits(limits, Instant::now());
        let mut sent = 0;
        loop {
            match self.step(outbox, false).await? {
                Step::Sent => sent += 1,
                Step::Waited => {}
                Step::Empty => return Ok(sent),
            }
        }
    }

    /// Sends one alert, or waits until one may go. With `wake_on_enqueue`
    /// an empty queue waits for an enqueue; without, it reports `Empty`.
    /// Cancel-safe: an interrupted send gives its alert back.
    async fn step(&self, outbox: &dyn Outbox, wake_on_enqueue: bool) -> anyhow::Result<Step> {
        let next = lock(&self.inner.state).next(Instant::now());
        match next {
            Next::Send((order, alert)) => {
                let flight = InFlight {
                    inner: &self.inner,
                    order: Some(order),
                };
                outbox
                    .send(&alert.user, Outgoing::Message(alert.message))
                    .await;
                flight.ack()?;
                Ok(Step::Sent)
            }
            Next::At(at) if wake_on_enqueue => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = self.inner.wake.notified() => {}
                }
                Ok(Step::Waited)
            }
            Next::At(at) => {
                tokio::time::sleep_until(at).await;
                Ok(Step::Waited)
            }
            Next::Empty if wake_on_enqueue => {
                self.inner.wake.notified().await;
                Ok(Step::Waited)
            }
            Next::Empty => Ok(Step::Empty),
        }
    }
}

enum Step {
    Sent,
    Waited,
    Empty,
}

/// An alert handed to the outbox but not yet acknowledged. Dropped without
/// [`InFlight::ack`] (the send was cancelled), it goes back to the queue.
struct InFlight<'a> {
    inner: &'a Inner,
    order: Option<Order>,
}

impl InFlight<'_> {
    /// Journals the delivery, then forgets the alert (keeping its key). The
    /// alert counts as delivered even if the journal write fails: the
    /// outbox has it, and at worst a restart sends it again.
    fn ack(mut self) -> anyhow::Result<()> {
        let Some(order) = self.order.take() else {
            return Ok(());
        };
        let inner = self.inner;
        blocking_io(|| {
            let mut journal = lock(&inner.journal);
            let record = lock(&inner.state).ack_record(order);
            let written = match &record {
                Some(record) => journal.append(std::slice::from_ref(record)),
                None => Ok(()),
            };
            let mut state = lock(&inner.state);
            state.delivered(order);
            written.context("journaling an alert delivery")?;
            if journal.should_compact(state.live()) {
                let snapshot = state.snapshot();
                drop(state);
                // The old journal stays valid if this fails; retried on the
                // next acknowledgement.
                let compacted = snapshot.and_then(|(body, lines)| journal.replace(&body, lines));
                if let Err(e) = compacted {
                    tracing::warn!(error = %e, "could not compact the alert journal");
                }
            }
            Ok(())
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(order) = self.order.take() {
            lock(&self.inner.state).restore(order, Instant::now());
        }
    }
}
