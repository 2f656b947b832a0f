//! What each worker is doing, for operators: its state, when it last ran
//! and last succeeded, its last error and how many failures in a row. The
//! runner writes it; the ops listener's `/workers` and the gauges on
//! `/metrics` read it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use crate::metrics::Metrics;

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Registered, first step not started yet.
    Starting,
    /// A step (or a long-running task) is under way.
    Running,
    /// Waiting for its next step.
    Idle,
    /// Its last step failed; waiting out the backoff.
    BackingOff,
    /// Ended (shut down, done, or a task that returned).
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Idle => "idle",
            State::BackingOff => "backing off",
            State::Stopped => "stopped",
        }
    }
}

/// One worker's status. Times are the service clock's Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    pub state: State,
    pub last_run: Option<u64>,
    pub last_success: Option<u64>,
    pub last_error: Option<String>,
    pub failures_in_a_row: u32,
    pub runs: u64,
    pub errors: u64,
}

/// Every worker's status, by name (cheap to clone; all clones share).
#[derive(Clone)]
pub struct Statuses {
    inner: Arc<Inner>,
}

struct Inner {
    // A std Mutex: nothing awaits while it is held.
    workers: Mutex<BTreeMap<&'static str, WorkerStatus>>,
    clock: Arc<dyn Clock>,
    metrics: Option<Metrics>,
}

const FAILURES_GAUGE: &str = "jukebox_worker_failures_in_a_row";
const FAILURES_HELP: &str =
    "Failed steps in a row of each background worker (0: its last step succeeded).";
const SUCCESS_GAUGE: &str = "jukebox_worker_last_success_timestamp_seconds";
const SUCCESS_HELP: &str = "When each background worker last finished a step without error.";

impl Statuses {
    pub fn new(clock: Arc<dyn Clock>, metrics: Option<Metrics>) -> Statuses {
        Statuses {
            inner: Arc::new(Inner {
                workers: Mutex::new(BTreeMap::new()),
                clock,
                metrics,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, WorkerStatus>> {
        // A panic while holding it leaves plain data behind: still usable.
        self.inner
            .workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn register(&self, name: &'static str) -> Handle {
        self.lock().insert(
            name,
            WorkerStatus {
                state: State::Starting,
                last_run: None,
                last_success: None,
                last_error: None,
                failures_in_a_row: 0,
                runs: 0,
                errors: 0,
            },
        );
        if let Some(metrics) = &self.inner.metrics {
            metrics.set_gauge(FAILURES_GAUGE, FAILURES_HELP, &[("worker", name)], 0.0);
        }
        Handle {
            name,
            statuses: self.clone(),
        }
    }

    /// One worker's status.
    pub fn get(&self, name: &str) -> Option<WorkerStatus> {
        self.lock().get(name).cloned()
    }

    /// Every worker's status, by name.
    pub fn all(&self) -> Vec<(&'static str, WorkerStatus)> {
        self.lock().iter().map(|(n, s)| (*n, s.clone())).collect()
    }

    /// The workers in the middle of a step or task.
    pub fn busy(&self) -> Vec<&'static str> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.state == State::Running)
            .map(|(n, _)| *n)
            .collect()
    }

    /// One line per worker (and its last error indented under it), for
    /// `/workers`: `monitor: idle; last run 2026-11-23 00:01 UTC, last
    /// success 2026-11-23 00:01 UTC; 12 runs, 0 errors`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, s) in self.all() {
            let at = |t: Option<u64>| t.map_or("never".to_owned(), crate::lifecycle::utc_datetime);
            let _ = write!(
                out,
                "{name}: {}; last run {}, last success {}; {} runs, {} errors",
                s.state.as_str(),
                at(s.last_run),
                at(s.last_success),
                s.runs,
                s.errors
            );
            if s.failures_in_a_row > 0 {
                let _ = write!(out, ", {} failed in a row", s.failures_in_a_row);
            }
            out.push('\n');
            if let Some(error) = &s.last_error {
                // One line, whatever the error's text holds.
                let _ = writeln!(out, "  last error: {}", error.replace(['\r', '\n'], " "));
            }
        }
        if out.is_empty() {
            out.push_str("no background workers\n");
        }
        out
    }
}

/// One worker's entry, held by the runner's task for it.
pub(super) struct Handle {
    name: &'static str,
    statuses: Statuses,
}

impl Handle {
    fn update(&self, change: impl FnOnce(&mut WorkerStatus, u64)) {
        let now = self.statuses.inner.clock.now();
        if let Some(status) = self.statuses.lock().get_mut(self.name) {
            change(status, now);
        }
    }

    pub(super) fn set(&self, state: State) {
        self.update(|s, now| {
            if state == State::Running {
                s.last_run = Some(now);
                s.runs += 1;
            }
            s.state = state;
        });
    }

    pub(super) fn succeeded(&self) {
        let mut at = 0;
        self.update(|s, now| {
            s.last_success = Some(now);
            s.failures_in_a_row = 0;
            at = now;
        });
        if let Some(metrics) = &self.statuses.inner.metrics {
            let labels = [("worker", self.name)];
            metrics.set_gauge(FAILURES_GAUGE, FAILURES_HELP, &labels, 0.0);
            metrics.set_gauge(SUCCESS_GAUGE, SUCCESS_HELP, &labels, at as f64);
        }
    }

    pub(super) fn failed(&self, error: String, failures_in_a_row: u32) {
        self.update(|s, _| {
            s.state = State::BackingOff;
            s.last_error = Some(error);
            s.failures_in_a_row = failures_in_a_row;
            s.errors += 1;
        });
        if let Some(metrics) = &self.statuses.inner.metrics {
            metrics.set_gauge(
                FAILURES_GAUGE,
                FAILURES_HELP,
                &[("worker", self.name)],
                f64::from(failures_in_a_row),
            );
        }
    }

    pub(super) fn stopped(&self, error: Option<String>) {
        self.update(|s, _| {
            s.state = State::Stopped;
            if let Some(error) = error {
                s.last_error = Some(error);
                s.errors += 1;
            }
        });
    }
}
