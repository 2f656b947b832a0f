use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::clock::ManualClock;

/// Counts its steps; fails the steps whose number (from 1) is in `fail`.
struct Counting {
    steps: Arc<AtomicU32>,
    fail: Vec<u32>,
    next: Next,
}

#[async_trait]
impl Worker for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail.contains(&n) {
            anyhow::bail!("step {n} failed\nsecond line");
        }
        Ok(self.next)
    }
}

fn runner() -> (Runner, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_795_392_000));
    (Runner::new(clock.clone(), Some(Metrics::new())), clock)
}

/// Lets the runner's tasks run until they wait on time again.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn steps_at_the_interval_from_each_start() {
    let (mut runner, _) = runner();
    let steps = Arc::new(AtomicU32::new(0));
    runner.spawn(Box::new(Counting {
        steps: steps.clone(),
        fail: vec![],
        next: Next::After(Duration::from_secs(60)),
    }));
    settle().await;
    assert_eq!(
        steps.load(Ordering::SeqCst),
        1,
        "the first step runs at once"
    );
    tokio::time::advance(Duration::from_secs(59)).await;
    settle().await;
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(steps.load(Ordering::SeqCst), 2);
    let status = runner.statuses().get("counting").unwrap();
    assert_eq!(status.state, State::Idle);
    assert_eq!(status.runs, 2);
    assert!(runner.stop(EXIT_DEADLINE).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn backs_off_doubling_after_failures_then_recovers() {
    let (mut runner, clock) = runner();
    let steps = Arc::new(AtomicU32::new(0));
    runner.spawn(Box::new(Counting {
        steps: steps.clone(),
        fail: vec![1, 2, 3],
        next: Next::After(Duration::from_secs(3600)),
    }));
    settle().await;
    let status = runner.statuses().get("counting").unwrap();
    assert_eq!(status.state, State::BackingOff);
    assert_eq!(status.failures_in_a_row, 1);
    assert_eq!(
        status.last_error.as_deref(),
        Some("step 1 failed\nsecond line")
    );
    // The default backoff: 1 s, then 2 s, then 4 s.
    for (wait, steps_after) in [(1, 2), (2, 3), (4, 4)] {
        tokio::time::advance(Duration::from_millis(wait * 1000 - 1)).await;
        settle().await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            steps_after - 1,
            "not before {wait}s"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), steps_after, "after {wait}s");
    }
    clock.advance(7);
    let status = runner.statuses().get("counting").unwrap();
    assert_eq!(status.state, State::Idle);
    assert_eq!(status.failures_in_a_row, 0);
    assert_eq!(status.errors, 3);
    assert_eq!(status.runs, 4);
    assert_eq!(status.last_success, Some(1_795_392_000));
    let text = runner.statuses().render();
    assert_eq!(
        text,
        "counting: idle; last run 2026-11-23 00:00 UTC, last success 2026-11-23 00:00 UTC; 4 runs, 3 errors\n  last error: step 3 failed second line\n"
    );
    assert!(runner.stop(EXIT_DEADLINE).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn failures_show_as_a_metric() {
    let clock = Arc::new(ManualClock::new(1_795_392_000));
    let metrics = Metrics::new();
    let mut runner = Runner::new(clock, Some(metrics.clone()));
    runner.spawn(Box::new(Counting {
        steps: Arc::new(AtomicU32::new(0)),
        fail: vec![1, 2],
        next: Next::After(Duration::from_secs(3600)),
    }));
    settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    let text = metrics.render();
    assert!(
        text.contains("jukebox_worker_failures_in_a_row{worker=\"counting\"} 2\n"),
        "{text}"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    let text = metrics.render();
    assert!(
        text.contains("jukebox_worker_failures_in_a_row{worker=\"counting\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "jukebox_worker_last_success_timestamp_seconds{worker=\"counting\"} 1795392000\n"
        ),
        "{text}"
    );
    runner.stop(EXIT_DEADLINE).await;
}

#[tokio::test(start_paused = true)]
async fn now_steps_again_at_once_and_done_ends_the_worker() {
    struct Backlog(u32);
    #[async_trait]
    impl Worker for Backlog {
        fn name(&self) -> &'static str {
            "backlog"
        }
        async fn step(&mut self) -> anyhow::Result<Next> {
            self.0 -= 1;
            Ok(if self.0 == 0 { Next::Done } else { Next::Now })
        }
    }
    let (mut runner, _) = runner();
    runner.spawn(Box::new(Backlog(5)));
    settle().await;
    let status = runner.statuses().get("backlog").unwrap();
    assert_eq!(status.state, State::Stopped);
    assert_eq!(status.runs, 5);
    assert!(runner.stop(EXIT_DEADLINE).await.is_empty());
}

/// A step that waits for `release` (a grid call, a slow disk).
struct Slow {
    release: Arc<tokio::sync::Notify>,
    finished: Arc<AtomicU32>,
}

#[async_trait]
impl Worker for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn step(&mut self) -> anyhow::Result<Next> {
        self.release.notified().await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(Next::After(Duration::from_secs(60)))
    }
}

#[tokio::test(start_paused = true)]
async fn stop_lets_a_step_under_way_finish_within_the_deadline() {
    let (mut runner, _) = runner();
    let release = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(AtomicU32::new(0));
    runner.spawn(Box::new(Slow {
        release: release.clone(),
        finished: finished.clone(),
    }));
    settle().await;
    assert_eq!(runner.statuses().busy(), vec!["slow"]);
    let statuses = runner.statuses();
    let stopping = tokio::spawn(runner.stop(Duration::from_secs(10)));
    tokio::time::advance(Duration::from_secs(5)).await;
    release.notify_one();
    let late = stopping.await.unwrap();
    assert!(late.is_empty(), "{late:?}");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the step ran to its end"
    );
    assert_eq!(statuses.get("slow").unwrap().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn stop_gives_up_on_a_stuck_step_at_the_deadline() {
    let (mut runner, _) = runner();
    let finished = Arc::new(AtomicU32::new(0));
    runner.spawn(Box::new(Slow {
        release: Arc::new(tokio::sync::Notify::new()),
        finished: finished.clone(),
    }));
    settle().await;
    let started = Instant::now();
    let late = runner.stop(Duration::from_secs(10)).await;
    assert_eq!(late, vec!["slow"]);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_stops_at_once() {
    let (mut runner, _) = runner();
    runner.spawn(Box::new(Counting {
        steps: Arc::new(AtomicU32::new(0)),
        fail: vec![],
        next: Next::After(Duration::from_secs(3600)),
    }));
    settle().await;
    let started = Instant::now();
    assert!(runner.stop(EXIT_DEADLINE).await.is_empty());
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn tasks_get_the_shutdown_and_report_how_they_ended() {
    let (mut runner, _) = runner();
    runner.spawn_task("loop", |mut shutdown| async move {
        shutdown.wait().await;
        Ok(())
    });
    runner.spawn_task("broken", |_| async { anyhow::bail!("cannot connect") });
    settle().await;
    let statuses = runner.statuses();
    assert_eq!(statuses.get("loop").unwrap().state, State::Running);
    let broken = statuses.get("broken").unwrap();
    assert_eq!(broken.state, State::Stopped);
    assert_eq!(broken.last_error.as_deref(), Some("cannot connect"));
    assert!(runner.stop(EXIT_DEADLINE).await.is_empty());
    assert_eq!(statuses.get("loop").unwrap().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_worker_can_start_one_interval_later() {
    let (mut runner, _) = runner();
    let steps = Arc::new(AtomicU32::new(0));
    runner.spawn_at(
        Box::new(Counting {
            steps: steps.clone(),
            fail: vec![],
            next: Next::After(Duration::from_secs(60)),
        }),
        Instant::now() + Duration::from_secs(60),
    );
    settle().await;
    assert_eq!(steps.load(Ordering::SeqCst), 0);
    assert_eq!(
        runner.statuses().get("counting").unwrap().state,
        State::Starting
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    runner.stop(EXIT_DEADLINE).await;
}

#[test]
fn no_workers_says_so() {
    let statuses = Statuses::new(Arc::new(ManualClock::new(0)), None);
    assert_eq!(statuses.render(), "no background workers\n");
}
