//! One runner for the process's background work.
//!
//! Every piece of background work (billing, the payment watcher, the
//! monitor, the reconciler, backups, the simulated grid's churn) is a
//! [`Worker`]: a name and one step of work that says when the next step is
//! due. The [`Runner`] owns everything around the steps, so no worker
//! repeats it: waiting until the next step, backing off after a failed one
//! (`first` doubled per failure in a row, at most `max`, from the worker's
//! [`Worker::backoff`]), recording each worker's status for operators
//! ([`Statuses`], served as `/workers` and as gauges on `/metrics`), and
//! stopping: on [`Shutdown`] no new step starts, a step under way is let
//! finish, and after the exit deadline the runner stops waiting, logs who
//! was still busy and drops them (the same as a crash at that moment, which
//! every step is built to survive).
//!
//! Long-running loops that are not steps (alert delivery, Telegram's
//! polling) run under the same runner as [`Runner::spawn_task`]: they get
//! the shutdown token and the same exit deadline.
//!
//! Modelled on garage's background runner (deuxfleurs/garage,
//! `src/util/background/worker.rs`: a `Worker` trait with a unit of work
//! and one runner owning error counts and `EXIT_DEADLINE`) and mini-redis's
//! shutdown handed in (`src/shutdown.rs`).
//!
//! Waits are `tokio::time` waits, so tests with paused time run them
//! without really sleeping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::{Backoff, Clock};
use crate::metrics::Metrics;

mod shutdown;
mod status;
#[cfg(test)]
mod tests;
pub mod workers;

pub use shutdown::{Shutdown, ShutdownTrigger};
pub use status::{State, Statuses, WorkerStatus};

/// How long [`Runner::stop`] waits for steps and tasks under way by
/// default (garage waits 8 s; a billing pass over many users may take a
/// little longer).
pub const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// What a worker's step says about the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// More work is waiting: step again at once (a backlog drains quickly).
    Now,
    /// Step again this long after this step *started* (a step longer than
    /// the interval delays the next one instead of starting a burst).
    After(Duration),
    /// Step again at this instant (or at once if it has passed).
    At(Instant),
    /// Nothing more to do, ever: the worker ends.
    Done,
}

/// A unit of background work, stepped by the [`Runner`].
#[async_trait]
pub trait Worker: Send + 'static {
    /// Short and stable: it names the worker in logs, `/workers` and metrics.
    fn name(&self) -> &'static str;

    /// The waits after failed steps: `first` after the first failure in a
    /// row, doubled per further failure, at most `max`.
    fn backoff(&self) -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            attempts: u32::MAX,
        }
    }

    /// One step of work. An error is logged and recorded by the runner,
    /// which calls the step again after the backoff; nothing is lost by a
    /// failed step (each worker's work is resumable).
    async fn step(&mut self) -> anyhow::Result<Next>;
}

/// Runs workers and tasks until told to stop. Owns the statuses operators
/// see.
pub struct Runner {
    tasks: JoinSet<()>,
    statuses: Statuses,
    shutdown: Shutdown,
    trigger: ShutdownTrigger,
}

impl Runner {
    /// A runner whose statuses are stamped with `clock`'s time and mirrored
    /// into `metrics` (when given).
    pub fn new(clock: Arc<dyn Clock>, metrics: Option<Metrics>) -> Runner {
        let (trigger, shutdown) = Shutdown::new();
        Runner {
            tasks: JoinSet::new(),
            statuses: Statuses::new(clock, metrics),
            shutdown,
            trigger,
        }
    }

    /// The statuses of everything this runner runs (cheap to clone; live).
    pub fn statuses(&self) -> Statuses {
        self.statuses.clone()
    }

    /// The token every worker and task watches; [`Runner::stop`] fires it.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Starts stepping `worker` now.
    pub fn spawn(&mut self, worker: Box<dyn Worker>) {
        let status = self.statuses.register(worker.name());
        let shutdown = self.shutdown.clone();
        self.tasks
            .spawn(run_worker(worker, status, shutdown, Instant::now()));
    }

    /// Starts `worker` with its first step at `first` (e.g. one interval
    /// from now, for work the start-up already did).
    pub fn spawn_at(&mut self, worker: Box<dyn Worker>, first: Instant) {
        let status = self.statuses.register(worker.name());
        let shutdown = self.shutdown.clone();
        self.tasks
            .spawn(run_worker(worker, status, shutdown, first));
    }

    /// Starts a long-running loop that ends by itself when `shutdown`
    /// fires. Its status is running until it returns.
    pub fn spawn_task<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let status = self.statuses.register(name);
        let fut = task(self.shutdown.clone());
        self.tasks.spawn(async move {
            status.set(State::Running);
            match fut.await {
                Ok(()) => status.stopped(None),
                Err(e) => {
                    let error = format!("{e:#}");
                    tracing::error!(worker = name, error = %error, "background task ended with an error");
                    status.stopped(Some(error));
                }
            }
        });
    }

    /// Tells everything to stop and waits until it has, at most `deadline`;
    /// what is still busy then is logged by name and dropped. Returns the
    /// names of those dropped (empty on a clean stop).
    pub async fn stop(mut self, deadline: Duration) -> Vec<&'static str> {
        self.trigger.fire();
        let all_done = async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a background worker panicked");
                }
            }
        };
        if tokio::time::timeout(deadline, all_done).await.is_ok() {
            return Vec::new();
        }
        let late = self.statuses.busy();
        tracing::warn!(
            workers = ?late,
            deadline_secs = deadline.as_secs(),
            "background work still busy at the exit deadline; stopping it where it is"
        );
        self.tasks.shutdown().await;
        late
    }
}

/// Steps one worker until shutdown (or until it is done).
async fn run_worker(
    mut worker: Box<dyn Worker>,
    status: status::Handle,
    mut shutdown: Shutdown,
    first: Instant,
) {
    let name = worker.name();
    let backoff = worker.backoff();
    let mut due = first;
    let mut failures = 0u32;
    loop {
        if due > Instant::now() {
            tokio::select! {
                biased;
                () = shutdown.wait() => break,
                () = tokio::time::sleep_until(due) => {}
            }
        }
        if shutdown.is_fired() {
            break;
        }
        let started = Instant::now();
        status.set(State::Running);
        match worker.step().await {
            Ok(next) => {
                failures = 0;
                status.succeeded();
                due = match next {
                    Next::Now => Instant::now(),
                    Next::After(wait) => started + wait,
                    Next::At(at) => at,
                    Next::Done => break,
                };
                status.set(State::Idle);
            }
            Err(e) => {
                let wait = backoff.delay(failures);
                failures = failures.saturating_add(1);
                let error = format!("{e:#}");
                tracing::error!(worker = name, error = %error, failures, retry_in_secs = wait.as_secs(), "background work failed; retrying");
                status.failed(error, failures);
                due = Instant::now() + wait;
            }
        }
    }
    status.stopped(None);
}
