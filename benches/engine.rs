//! Throughput and memory benchmark of the conversation engine with the real,
//! durable store (temp file + fsync + rename + directory fsync on every write).
//!
//! It measures two things and prints them as one Markdown table:
//!
//! 1. **Steps per second**: 100 concurrent users (tokio tasks on a default
//!    multi-thread runtime, one worker per core, as `jukebox serve` runs) each
//!    go through the whole `/deploy` conversation for a Dash full node through
//!    `Service::handle`, up to and including "Pay with sandbox wallet", which
//!    deploys on the embedded simulated grid (deploy time 0, no failures, so the
//!    grid is not what is measured). It reports steps, wall time, steps/s and
//!    the p50/p99/max latency of one `handle` call.
//! 2. **Memory with many stored users**: a fresh process (this binary, re-run
//!    with `JUKEBOX_BENCH_PART=memory`) sends `/start` for users `bench:u0` ..
//!    `bench:u<N-1>` on a fresh data dir, which creates each profile with its
//!    intermediate identity and stores the conversation. It reports the time
//!    taken, VmRSS / VmHWM from `/proc/self/status` and the data dir size.
//!
//! Run it with:
//!
//! ```text
//! cargo bench --bench engine
//! ```
//!
//! Environment knobs (all optional):
//!
//! - `JUKEBOX_BENCH_USERS` (default 100000): users created for the memory part.
//! - `JUKEBOX_BENCH_CONCURRENT` (default 100): concurrent users in the steps part.
//! - `JUKEBOX_BENCH_ROUNDS` (default 3): `/deploy` conversations per user.
//! - `JUKEBOX_BENCH_FILL_TASKS` (default 64): concurrent `/start` senders in the
//!   memory part (it is about memory, so it only needs to finish in sane time).
//! - `JUKEBOX_BENCH_WORKERS` (default: the number of cores): tokio workers.
//! - `JUKEBOX_BENCH_PART` (`all`, `steps` or `memory`; default `all`).
//! - `JUKEBOX_BENCH_DIR`: where the temporary data dirs go (default the system
//!   temp dir). Use a real disk: on tmpfs an fsync costs nothing.
//!
//! This is a benchmark, not a test: it prints numbers and asserts none. It only
//! stops with an error when the conversation itself goes wrong (a button that
//! should be there is missing), since the numbers would then mean nothing.

// Each benchmark uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::{Rows, cpu_model, env_usize, fs_type, grouped, mib, proc_status_bytes, workers};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jukebox::channel::{Outbox, Outgoing};
use jukebox::clock::SystemClock;
use jukebox::config::Config;
use jukebox::dialogue::{Button, Input};
use jukebox::ids::UserId;
use jukebox::service::Service;
use jukebox::user::{self, NodeState, Nodes};

/// Display name given to every benchmark user.
const DISPLAY_NAME: &str = "Bench";

/// Which part a child process runs, and what the parent passes it.
const PART_VAR: &str = "JUKEBOX_BENCH_PART";

/// Buttons the scripted user presses whenever the current question offers
/// them, first match first. The conversation is driven by what is on screen,
/// not by a fixed order, so reordered questions in `dialogues/` do not break
/// the benchmark.
const ANSWERS: &[&str] = &[
    PAY_LABEL,
    "Dash full node",
    "Dash",
    "Anywhere (random)",
    "No, IPv6 is enough",
    "1 month",
    "Confirm",
];

/// The last press of a conversation.
const PAY_LABEL: &str = "Pay with sandbox wallet";

/// Typed when the current question offers none of [`ANSWERS`] and no Skip:
/// the node count, the one typed answer of this flow.
const NODE_COUNT: &str = "1";

/// More steps than this in one conversation means the script is stuck.
const MAX_STEPS: usize = 25;

/// An outbox that keeps items per user (so each user task reads only its own)
/// or, for the memory part, only counts them.
struct BenchOutbox {
    keep: bool,
    items: Mutex<HashMap<UserId, Vec<Outgoing>>>,
    sent: AtomicU64,
}

impl BenchOutbox {
    fn new(keep: bool) -> BenchOutbox {
        BenchOutbox {
            keep,
            items: Mutex::new(HashMap::new()),
            sent: AtomicU64::new(0),
        }
    }

    /// Removes and returns what `user` was sent since the last call.
    fn take(&self, user: &UserId) -> Vec<Outgoing> {
        self.items
            .lock()
            .map(|mut m| m.remove(user).unwrap_or_default())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Outbox for BenchOutbox {
    async fn send(&self, user: &UserId, item: Outgoing) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.keep
            && let Ok(mut m) = self.items.lock()
        {
            m.entry(user.clone()).or_default().push(item);
        }
    }
}

/// The buttons of the latest item that has any: the current question.
fn current_buttons(items: &[Outgoing]) -> Vec<Button> {
    items
        .iter()
        .rev()
        .find_map(|item| {
            let rows = match item {
                Outgoing::Message(m) => &m.buttons,
                Outgoing::Image { buttons, .. } => buttons,
                _ => return None,
            };
            (!rows.is_empty()).then(|| rows.iter().flatten().cloned().collect())
        })
        .unwrap_or_default()
}

/// Names a step in the per-step latency breakdown.
const START_LABEL: &str = "/deploy";
const SKIP_LABEL: &str = "Skip (ssh key)";
const COUNT_LABEL: &str = "count (typed)";

/// What the scripted user answers to the current question, and a name for
/// the step ([`PAY_LABEL`] for the payment, the last step).
fn next_input(shown: &[Outgoing]) -> (Input, &'static str) {
    let buttons = current_buttons(shown);
    for wanted in ANSWERS {
        if let Some(b) = buttons
            .iter()
            .find(|b| b.nav_key().is_none() && b.label.starts_with(wanted))
        {
            return (Input::Button(b.data.clone()), wanted);
        }
    }
    match buttons.iter().find(|b| b.nav_key() == Some('s')) {
        Some(skip) => (Input::Button(skip.data.clone()), SKIP_LABEL),
        None => (Input::from_message(NODE_COUNT), COUNT_LABEL),
    }
}

/// What the user last saw, for an error message.
fn last_text(items: &[Outgoing]) -> String {
    let text = match items.last() {
        Some(Outgoing::Message(m)) => m.text.clone(),
        Some(Outgoing::Image { caption, .. }) => caption.clone(),
        Some(Outgoing::Progress { text, .. }) => text.clone(),
        Some(Outgoing::Answered { answer }) => answer.clone(),
        Some(Outgoing::Withdrawn) => "(buttons withdrawn)".into(),
        None => "(nothing)".into(),
    };
    text.chars().take(200).collect()
}

/// A fresh temp dir, under `JUKEBOX_BENCH_DIR` if set.
fn temp_dir() -> tempfile::TempDir {
    let made = match std::env::var_os("JUKEBOX_BENCH_DIR") {
        Some(base) => tempfile::Builder::new()
            .prefix("jukebox-bench-")
            .tempdir_in(base),
        None => tempfile::Builder::new().prefix("jukebox-bench-").tempdir(),
    };
    made.expect("creating a temp dir for the benchmark")
}

/// The shipped dialogues, data in `data_dir`, an instant and failure-free grid.
fn bench_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Config::default()
    };
    config.grid.sim.deploy_seconds = 0.0;
    config.grid.sim.deploy_failure_rate = 0.0;
    config.grid.sim.node_down_rate_per_hour = 0.0;
    config
}

fn runtime() -> tokio::runtime::Runtime {
    // By default the same runtime as `jukebox serve`: one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The value at quantile `q` of sorted `values`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: utime and
    // stime are fields 14 and 15 of the line, 11 and 12 after the ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) as f64 / 100.0)
}

/// Sorted latencies of serial durable writes in `dir`: what one fsynced
/// record costs on this disk, without any contention.
fn durable_write_probe(dir: &Path) -> Vec<Duration> {
    std::fs::create_dir_all(dir).expect("creating the probe dir");
    let bytes = vec![b'x'; 512];
    let mut took: Vec<Duration> = (0..200)
        .map(|i| {
            let started = Instant::now();
            jukebox::store::write_atomic(&dir.join(format!("r{}.json", i % 4)), &bytes)
                .expect("a durable write");
            started.elapsed()
        })
        .collect();
    took.sort_unstable();
    took
}

/// Totals of a directory tree: allocated bytes, file bytes, files, dirs.
#[derive(Default)]
struct DiskUsage {
    allocated: u64,
    apparent: u64,
    files: u64,
    dirs: u64,
}

fn disk_usage(root: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt as _;
    let mut usage = DiskUsage::default();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        usage.dirs += 1;
        if let Ok(meta) = std::fs::symlink_metadata(&dir) {
            usage.allocated += meta.blocks() * 512;
        }
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                usage.files += 1;
                usage.allocated += meta.blocks() * 512;
                usage.apparent += meta.len();
            }
        }
    }
    usage
}

/// Latencies of every `handle` call, and the steps of each conversation.
type UserRun = (Vec<(&'static str, Duration)>, Vec<usize>);

/// One concurrent user's conversations. Each round is a new user id
/// (`ids[round]`): the paid-for month stays in the balance, so a second order
/// by the same user would skip the payment step.
async fn run_user(
    service: Service,
    outbox: Arc<BenchOutbox>,
    ids: Vec<UserId>,
) -> Result<UserRun, String> {
    let mut latencies = Vec::with_capacity(ids.len() * 12);
    let mut lengths = Vec::with_capacity(ids.len());
    for (round, user) in ids.iter().enumerate() {
        let mut shown: Vec<Outgoing> = Vec::new();
        let (mut input, mut label) = (Input::from_message(START_LABEL), START_LABEL);
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(format!(
                    "{user}, round {round}: no payment after {MAX_STEPS} steps; last shown: {:?}",
                    last_text(&shown)
                ));
            }
            let started = Instant::now();
            service
                .handle(user, DISPLAY_NAME, input, None)
                .await
                .map_err(|e| format!("{user}, round {round}, step {steps}: {e:#}"))?;
            latencies.push((label, started.elapsed()));
            shown = outbox.take(user);
            if label == PAY_LABEL {
                break;
            }
            (input, label) = next_input(&shown);
        }
        lengths.push(steps);
    }
    Ok((latencies, lengths))
}

/// Part 1: steps per second with concurrent users and durable writes.
fn steps_part(rows: &mut Rows) {
    let users = env_usize("JUKEBOX_BENCH_CONCURRENT", 100).max(1);
    let rounds = env_usize("JUKEBOX_BENCH_ROUNDS", 3).max(1);
    let dir = temp_dir();
    let config = bench_config(&dir.path().join("data"));
    let outbox = Arc::new(BenchOutbox::new(true));
    let rt = runtime();
    let service = jukebox::app::build_service(&config, outbox.clone(), Arc::new(SystemClock))
        .expect("the service starts");
    let probe = durable_write_probe(&dir.path().join("probe"));
    rows.push((
        "One durable record write, alone (`store::write_atomic`)".into(),
        format!(
            "p50 {} / p99 {} (200 serial writes of 512 bytes)",
            ms(quantile(&probe, 0.5)),
            ms(quantile(&probe, 0.99))
        ),
    ));
    eprintln!("steps: {users} concurrent users x {rounds} /deploy conversations ...");

    // ids[n][round]: concurrent user n's identity in that round.
    let ids: Vec<Vec<UserId>> = (0..users)
        .map(|n| {
            (0..rounds)
                .map(|r| UserId::parse(&format!("bench:c{n}-{r}")).expect("valid user id"))
                .collect()
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (wall, latencies, lengths, drain, cpu) = rt.block_on(async {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for user_ids in &ids {
            tasks.spawn(run_user(service.clone(), outbox.clone(), user_ids.clone()));
        }
        let (mut latencies, mut lengths) = (Vec::new(), Vec::new());
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("a user task panicked") {
                Ok((l, n)) => {
                    latencies.extend(l);
                    lengths.extend(n);
                }
                Err(e) => panic!("the benchmark conversation went wrong: {e}"),
            }
        }
        let wall = started.elapsed();
        let cpu = cpu_seconds()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        let drain_started = Instant::now();
        service.wait_idle().await;
        (wall, latencies, lengths, drain_started.elapsed(), cpu)
    });

    let (mut running, mut other) = (0u64, 0u64);
    for id in ids.iter().flatten() {
        let nodes: Nodes = service
            .store()
            .read(id, user::NODES)
            .expect("reading nodes")
            .unwrap_or_default();
        for node in &nodes.nodes {
            if node.state == NodeState::Running {
                running += 1;
            } else {
                other += 1;
            }
        }
    }

    // Mean per kind of step, in conversation order.
    let mut per_step: Vec<(&str, Duration, u32)> = Vec::new();
    for (label, took) in &latencies {
        match per_step.iter_mut().find(|(l, _, _)| l == label) {
            Some((_, total, n)) => {
                *total += *took;
                *n += 1;
            }
            None => per_step.push((label, *took, 1)),
        }
    }
    let per_step: Vec<String> = per_step
        .iter()
        .map(|(label, total, n)| format!("{label} {:.2}", (*total / *n).as_secs_f64() * 1000.0))
        .collect();
    let mut sorted: Vec<Duration> = latencies.iter().map(|(_, d)| *d).collect();
    sorted.sort_unstable();
    let steps = sorted.len() as u64;
    let mean = sorted.iter().sum::<Duration>() / u32::try_from(steps.max(1)).unwrap_or(u32::MAX);
    let rate = steps as f64 / wall.as_secs_f64();
    let p99 = quantile(&sorted, 0.99);
    rows.push((
        "Concurrent users".into(),
        format!(
            "{users}, each {rounds} × Dash full node `/deploy` through sandbox payment ({}–{} steps), a new user id each time",
            lengths.iter().min().unwrap_or(&0),
            lengths.iter().max().unwrap_or(&0)
        ),
    ));
    rows.push(("Steps (`Service::handle` calls)".into(), grouped(steps)));
    rows.push(("Wall time".into(), format!("{:.2} s", wall.as_secs_f64())));
    rows.push(("**Steps/s**".into(), format!("**{rate:.0}** (aim ≥ 1,000)")));
    rows.push((
        "`handle` latency p50 / p99 / max".into(),
        format!(
            "{} / **{}** / {} (aim p99 < 50 ms)",
            ms(quantile(&sorted, 0.5)),
            ms(p99),
            ms(sorted.last().copied().unwrap_or_default())
        ),
    ));
    rows.push(("`handle` latency mean".into(), ms(mean)));
    rows.push(("Mean latency per step (ms)".into(), per_step.join(" · ")));
    rows.push((
        "CPU used during the steps".into(),
        cpu.map_or_else(
            || "unknown".into(),
            |c| {
                format!(
                    "{c:.2} s of {:.2} s available ({:.0}% of {cores} cores)",
                    wall.as_secs_f64() * cores as f64,
                    100.0 * c / (wall.as_secs_f64() * cores as f64)
                )
            },
        ),
    ));
    rows.push((
        "Background deploys after the last step".into(),
        format!(
            "drained in {}; nodes running {running}, other {other}",
            ms(drain)
        ),
    ));
    rows.push((
        "Items sent to users".into(),
        grouped(outbox.sent.load(Ordering::Relaxed)),
    ));
    drop(service);
    drop(rt);
}

/// Part 2, in its own process: create many users, report memory and disk.
/// Prints `what\tvalue` lines on stdout for the parent.
fn memory_part() {
    let users = env_usize("JUKEBOX_BENCH_USERS", 100_000);
    let fill_tasks = env_usize("JUKEBOX_BENCH_FILL_TASKS", 64).max(1);
    let baseline = proc_status_bytes("VmRSS").unwrap_or(0);
    let dir = temp_dir();
    let data_dir = dir.path().join("data");
    let config = bench_config(&data_dir);
    let outbox = Arc::new(BenchOutbox::new(false));
    let rt = runtime();
    let service = jukebox::app::build_service(&config, outbox.clone(), Arc::new(SystemClock))
        .expect("the service starts");
    let started_rss = proc_status_bytes("VmRSS").unwrap_or(0);
    eprintln!("memory: creating {users} users with {fill_tasks} concurrent senders ...");

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..fill_tasks {
            let (service, next) = (service.clone(), next.clone());
            tasks.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= users {
                        return;
                    }
                    let user = UserId::parse(&format!("bench:u{n}")).expect("valid user id");
                    service
                        .handle(&user, DISPLAY_NAME, Input::from_message("/start"), None)
                        .await
                        .unwrap_or_else(|e| panic!("/start for {user} failed: {e:#}"));
                    if n > 0 && n % 10_000 == 0 {
                        eprintln!(
                            "memory: {n} users after {:.0} s, VmRSS {}",
                            started.elapsed().as_secs_f64(),
                            mib(proc_status_bytes("VmRSS").unwrap_or(0))
                        );
                    }
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("a /start sender panicked");
        }
        service.wait_idle().await;
    });
    let took = started.elapsed();
    let rss = proc_status_bytes("VmRSS").unwrap_or(0);
    let hwm = proc_status_bytes("VmHWM").unwrap_or(0);
    let stored = service.store().list_users().map_or(0, |u| u.len());
    let usage = disk_usage(&data_dir);

    let out = [
        (
            "Users created (`/start`, new profile + identity + conversation)".to_owned(),
            format!(
                "{} in {:.1} s ({:.0} users/s, {fill_tasks} concurrent senders); {} user dirs in the store",
                grouped(users as u64),
                took.as_secs_f64(),
                users as f64 / took.as_secs_f64(),
                grouped(stored as u64)
            ),
        ),
        (
            "**RSS with them stored (VmRSS)**".to_owned(),
            format!(
                "**{}** (aim < 300 MB); {} at process start, {} with the service open",
                mib(rss),
                mib(baseline),
                mib(started_rss)
            ),
        ),
        ("Peak RSS (VmHWM)".to_owned(), mib(hwm)),
        (
            "Data dir on disk".to_owned(),
            format!(
                "{} allocated ({} in {} files, {} dirs; {:.1} KiB per user)",
                mib(usage.allocated),
                mib(usage.apparent),
                grouped(usage.files),
                grouped(usage.dirs),
                usage.allocated as f64 / 1024.0 / users.max(1) as f64
            ),
        ),
    ];
    for (what, value) in out {
        println!("{what}\t{value}");
    }
    // Removing 100,000 user dirs takes a while; say so rather than look hung.
    eprintln!("memory: removing the temp data dir ...");
    drop(service);
    drop(rt);
    drop(dir);
}

/// Runs the memory part in a fresh process so its RSS is not inflated by the
/// steps part, and collects its rows.
fn memory_part_in_child(rows: &mut Rows) {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let output = std::process::Command::new(exe)
        .env(PART_VAR, "memory-child")
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("starting the memory part");
    if !output.status.success() {
        panic!("the memory part failed ({})", output.status);
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((what, value)) = line.split_once('\t') {
            rows.push((what.to_owned(), value.to_owned()));
        }
    }
}

fn main() {
    if std::env::var_os("JUKEBOX_MASTER_KEY").is_none() {
        // SAFETY: this runs first in main, before any thread (tokio runtime,
        // child process) exists, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("JUKEBOX_MASTER_KEY", "42".repeat(32)) };
    }
    let part = std::env::var(PART_VAR).unwrap_or_else(|_| "all".into());
    if part == "memory-child" {
        memory_part();
        return;
    }

    let probe = temp_dir();
    let fs = fs_type(probe.path());
    let base: PathBuf = probe
        .path()
        .parent()
        .map_or_else(PathBuf::new, Path::to_owned);
    drop(probe);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fsync = if fs == "tmpfs" || fs == "ramfs" {
        "on, but a no-op on this RAM file system: set JUKEBOX_BENCH_DIR to a disk"
    } else {
        "on (temp file + fsync + rename + dir fsync per record)"
    };
    let mut rows: Rows = vec![
        (
            "Machine".into(),
            format!("{cores} cores (nproc), {}", cpu_model()),
        ),
        (
            "Data dir".into(),
            format!("{} ({fs}); durable writes {fsync}", base.display()),
        ),
        (
            "Runtime".into(),
            format!("tokio multi-thread, {} workers; release build", workers()),
        ),
    ];
    match part.as_str() {
        "steps" => steps_part(&mut rows),
        "memory" => memory_part_in_child(&mut rows),
        _ => {
            steps_part(&mut rows);
            memory_part_in_child(&mut rows);
        }
    }

    println!();
    println!("| Measure | Result |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}
