//! The queue's in-memory state: pending alerts in delivery order, the keys
//! that make enqueuing idempotent, and the scheduler. Pure: no IO, time is
//! passed in.
//!
//! Invariant: a key is either pending (queued or being sent), remembered as
//! delivered, or unknown, never two of these. Only unknown keys are queued.

use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use super::journal::{self, Record};
use super::memory::Memory;
use super::schedule::{Next, Scheduler};
use super::{Alert, AlertLimits, Order};

pub(super) struct State {
    /// Pending alerts, including one being sent, in delivery order.
    pending: BTreeMap<Order, Alert>,
    keys: HashMap<String, Order>,
    memory: Memory,
    sched: Scheduler,
    next_seq: u64,
    sent: u64,
}

impl State {
    /// Rebuilds the state from journal records, in journal order.
    pub fn replay(records: Vec<Record<'static>>, now: Instant) -> State {
        let mut state = State {
            pending: BTreeMap::new(),
            keys: HashMap::new(),
            memory: Memory::default(),
            sched: Scheduler::new(AlertLimits::default()),
            next_seq: 0,
            sent: 0,
        };
        for record in records {
            match record {
                Record::Queued { alert } => {
                    let alert = alert.into_owned();
                    if state.keys.contains_key(&alert.key) {
                        continue;
                    }
                    // Only unknown keys were journaled, so if the memory here
                    // still has it, the live memory had already forgotten it.
                    state.memory.forget(&alert.key);
                    state.add(alert);
                }
                Record::Delivered { key, raised_at } => {
                    if let Some(order) = state.keys.remove(&*key) {
                        state.pending.remove(&order);
                    }
                    state.memory.remember(&key, raised_at);
                }
            }
        }
        for (order, alert) in &state.pending {
            state.sched.insert(*order, &alert.user, now);
        }
        state
    }

    /// Whether enqueuing `key` would be a duplicate.
    pub fn is_known(&self, key: &str) -> bool {
        self.keys.contains_key(key) || self.memory.contains(key)
    }

    /// Queues an alert whose key is unknown (see [`State::is_known`]).
    pub fn insert(&mut self, alert: Alert, now: Instant) {
        let user = alert.user.clone();
        let order = self.add(alert);
        self.sched.insert(order, &user, now);
    }

    fn add(&mut self, alert: Alert) -> Order {
        let order = Order {
            priority: alert.priority,
            raised_at: alert.raised_at,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.memory.saw(alert.raised_at);
        self.keys.insert(alert.key.clone(), order);
        self.pending.insert(order, alert);
        order
    }

    pub fn set_limits(&mut self, limits: AlertLimits, now: Instant) {
        self.sched.set_limits(limits, now);
    }

    /// The next alert to send (it stays pending until [`State::delivered`]).
    pub fn next(&mut self, now: Instant) -> Next<(Order, Alert)> {
        match self.sched.next(now) {
            Next::Send(order) => match self.pending.get(&order) {
                Some(alert) => Next::Send((order, alert.clone())),
                // Cannot happen: the scheduler only holds pending orders.
                None => Next::At(now),
            },
            Next::At(at) => Next::At(at),
            Next::Empty => Next::Empty,
        }
    }

    /// Gives back an alert whose send was interrupted.
    pub fn restore(&mut self, order: Order, now: Instant) {
        if let Some(alert) = self.pending.get(&order) {
            let user = alert.user.clone();
            self.sched.insert(order, &user, now);
        }
    }

    /// The record acknowledging `order`, if it is pending.
    pub fn ack_record(&self, order: Order) -> Option<Record<'static>> {
        self.pending.get(&order).map(|alert| Record::Delivered {
            key: alert.key.clone().into(),
            raised_at: alert.raised_at,
        })
    }

    /// Marks `order` delivered: no longer pending, its key remembered.
    pub fn delivered(&mut self, order: Order) {
        if let Some(alert) = self.pending.remove(&order) {
            self.keys.remove(&alert.key);
            self.memory.remember(&alert.key, alert.raised_at);
            self.sent += 1;
        }
    }

    pub fn depth(&self) -> usize {
        self.pending.len()
    }

    pub fn pending(&self, limit: usize) -> Vec<Alert> {
        self.pending.values().take(limit).cloned().collect()
    }

    pub fn count_pending(&self, mut matches: impl FnMut(&str) -> bool) -> usize {
        self.pending.values().filter(|a| matches(&a.key)).count()
    }

    pub fn remembered(&self) -> usize {
        self.memory.len()
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Records that must survive compaction: pending alerts and remembered keys.
    pub fn live(&self) -> usize {
        self.pending.len() + self.memory.len()
    }

    /// The journal body holding just the live records, and its line count.
    /// Delivered keys come first: none of them is pending (see the module
    /// invariant), so their order relative to the queued ones is irrelevant.
    pub fn snapshot(&self) -> std::io::Result<(Vec<u8>, usize)> {
        let mut body = Vec::new();
        for (key, raised_at) in self.memory.iter() {
            let record = Record::Delivered {
                key: key.into(),
                raised_at,
            };
            journal::encode(&record, &mut body)?;
        }
        for alert in self.pending.values() {
            let record = Record::Queued {
                alert: std::borrow::Cow::Borrowed(alert),
            };
            journal::encode(&record, &mut body)?;
        }
        Ok((body, self.live()))
    }
}
