//! Benchmark of the monitor and of the alert queue at full scale: one monitor
//! sweep over 100,000 running nodes on the embedded simulated grid (wall and
//! CPU time), and the alert delivery rate against the configured limit.
//!
//! It measures two things and prints them as one Markdown table:
//!
//! 1. **Monitor sweeps.** A real Jukebox (`app::build`) on a fresh data dir,
//!    with a simulated grid of 1,000 farms × 100 grid nodes (no deploy time,
//!    no deploy failures, no churn), gets 100,000 running Dash full nodes for
//!    20,000 users (5 each). They are seeded through the public APIs rather
//!    than 100,000 `/deploy` conversations: `/start` through
//!    `Service::handle` creates each profile and its intermediate identity;
//!    then, as `service::deploy` does, the twin is registered
//!    (`Grid::ensure_twin`, saved in the profile), and for each node the
//!    deployment is built and signed (`reservation::build_deployment`,
//!    `reservation::sign`), a grid node is picked (`Grid::candidates`) and the
//!    grid deploys it (`Grid::deploy`, which checks the signature against the
//!    twin's key). Each user's `nodes` document is written with the nodes
//!    Running. Nodes are placed by farm (users are dealt round-robin over the
//!    farms): a random placement scans all 100,000 grid nodes per deploy,
//!    which would make seeding take an hour. Then it times, on the same
//!    multi-thread runtime as `jukebox serve`:
//!    - `Service::load_watchlist` (the start-up read of every user's nodes);
//!    - a few `Service::sweep` calls, each checking every node (grid contract
//!      state in batches, then the simulated application probe, then each
//!      node's chain through the simulated chains answering the same
//!      `ChainProbe` trait as the real P2P/CometBFT probe, the network tip
//!      and one `ChainTracker` per node), wall time and process CPU time
//!      (user + system from `/proc/self/stat`). Sweep 1 stores each node's
//!      first chain reading (one `nodes` document per user); later sweeps
//!      write only what a user would see change (`NodeChain::needs_write`),
//!      which over a few seconds is nothing;
//!    - after 1% of the grid nodes hosting nodes are set Down
//!      (`SimGrid::set_node_status`), the two sweeps that see it: the first
//!      observes the outages, the second confirms them (the default
//!      `monitor.confirmations` is 2), so it stores each affected node's
//!      record and queues its alert (disk IO, unlike a steady sweep).
//!
//!    VmRSS / VmHWM from `/proc/self/status` are reported after seeding and
//!    after the sweeps.
//! 2. **Alert delivery against the limit.** 10,000 alerts for 2,000 users
//!    (priorities mixed) are enqueued into a fresh `AlertQueue`, as one batch,
//!    and into a second queue one by one (one fsync each), then the first is
//!    drained with `AlertLimits::default()` (20/s overall, burst 20) through a
//!    counting outbox on a tokio runtime with paused time, so the 500 s the
//!    limit imposes pass in simulated time. It reports the simulated duration,
//!    the achieved rate against the configured one, the most alerts sent in
//!    any one-second window (the limit allows burst + rate × 1 s), and the
//!    real wall and CPU time the queue itself spent (an fsynced journal
//!    append per acknowledgement).
//!
//! Run it with:
//!
//! ```text
//! cargo bench --bench monitor
//! ```
//!
//! Seeding takes about a minute: 100,000 deploys and 20,000 twins are as
//! many fsynced grid journal appends, plus four durable user document
//! writes per user (profile and conversation by `/start`, the profile with
//! its twin, the `nodes` document). The monitor's data dir therefore goes on `/dev/shm` when
//! it exists, where an fsync costs nothing. That does not flatter the
//! sweeps: a steady sweep does no disk IO at all (only the confirming sweep
//! writes, once per node that changed state). The alert queue's dir goes on
//! the system temp dir, a real disk, since its fsyncs are part of what it
//! measures.
//!
//! Environment knobs (all optional):
//!
//! - `JUKEBOX_BENCH_NODES` (default 100000): running nodes to seed.
//! - `JUKEBOX_BENCH_NODES_PER_USER` (default 5): nodes per user.
//! - `JUKEBOX_BENCH_FARMS` (default 1000) and `JUKEBOX_BENCH_NODES_PER_FARM`
//!   (default 100): the simulated grid (`farms × nodes_per_farm` at most
//!   100,000, as `config.toml` allows).
//! - `JUKEBOX_BENCH_SWEEPS` (default 3): steady sweeps timed.
//! - `JUKEBOX_BENCH_DOWN_PERCENT` (default 1): share of the hosting grid nodes
//!   set Down for the outage sweeps.
//! - `JUKEBOX_BENCH_SEED_TASKS` (default 8): users seeded concurrently.
//! - `JUKEBOX_BENCH_ALERTS` (default 10000) and `JUKEBOX_BENCH_ALERT_USERS`
//!   (default 2000).
//! - `JUKEBOX_BENCH_WORKERS` (default: the number of cores): tokio workers.
//! - `JUKEBOX_BENCH_PART` (`all`, `monitor` or `alerts`; default `all`).
//! - `JUKEBOX_BENCH_DIR`: where the monitor's temporary data dir goes
//!   (default `/dev/shm` if it exists, else the system temp dir).
//! - `JUKEBOX_BENCH_ALERT_DIR`: where the alert queues go (default the
//!   system temp dir).
//!
//! CPU time comes in clock ticks (`getconf CLK_TCK`, 100 per second unless it
//! says otherwise), so each CPU figure is good to about 10 ms.
//!
//! This is a benchmark, not a test: it prints numbers and asserts none. It
//! only stops with an error when the setup went wrong (a node could not be
//! seeded, or a steady sweep did not find every node healthy), since the
//! numbers would then mean nothing.

// Each benchmark uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::{Rows, cpu_model, env_usize, fs_type, grouped, mib, proc_status_bytes, workers};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use jukebox::alerts::{Alert, AlertLimits, AlertQueue, Priority};
use jukebox::catalog::{Generated, NodeType};
use jukebox::channel::{Outbox, Outgoing};
use jukebox::clock::SystemClock;
use jukebox::config::Config;
use jukebox::crypto::{IdentityKey, MasterKey};
use jukebox::dialogue::{Input, Message};
use jukebox::grid::{Capacity, GridNodeId, NodeStatus, Placement};
use jukebox::ids::UserId;
use jukebox::money::Tft;
use jukebox::reservation::{WorkloadSpec, build_deployment, sign};
use jukebox::service::{Service, SweepReport};
use jukebox::user::{self, NodeRecord, NodeState, Nodes, Profile, StoredValue};

/// Display name given to every benchmark user.
const DISPLAY_NAME: &str = "Bench";

/// The node type seeded: the catalog's Dash full node, without a public IPv4
/// (farms have few public addresses; the monitor does not care).
const CHAIN: &str = "dash";
const NODE_TYPE: &str = "full";

/// A fixed test key, so the benchmark can open the users' identities with
/// the same master key as the service (`JUKEBOX_MASTER_KEY` wins when set).
const MASTER_KEY_VAR: &str = "JUKEBOX_MASTER_KEY";

/// An outbox that counts what it is given and, for the alert part, when
/// (in tokio time, which the alert part pauses).
#[derive(Default)]
struct CountingOutbox {
    sent: AtomicU64,
    times: Option<Mutex<Vec<tokio::time::Instant>>>,
}

impl CountingOutbox {
    fn timed() -> CountingOutbox {
        CountingOutbox {
            sent: AtomicU64::new(0),
            times: Some(Mutex::new(Vec::new())),
        }
    }

    fn times(&self) -> Vec<tokio::time::Instant> {
        self.times
            .as_ref()
            .and_then(|t| t.lock().ok().map(|t| t.clone()))
            .unwrap_or_default()
    }
}

#[async_trait]
impl Outbox for CountingOutbox {
    async fn send(&self, _user: &UserId, _item: Outgoing) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(times) = &self.times
            && let Ok(mut times) = times.lock()
        {
            times.push(tokio::time::Instant::now());
        }
    }
}

/// Where the monitor's data dir goes: `JUKEBOX_BENCH_DIR`, else `/dev/shm`
/// when it exists, else the system temp dir.
fn monitor_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("JUKEBOX_BENCH_DIR") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Where the alert queues go: `JUKEBOX_BENCH_ALERT_DIR`, else the system
/// temp dir.
fn alert_base() -> PathBuf {
    std::env::var_os("JUKEBOX_BENCH_ALERT_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn temp_dir_in(base: &Path) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("jukebox-bench-")
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("creating a temp dir in {}: {e}", base.display()))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// VmRSS and VmHWM, for the table.
fn memory_now() -> String {
    format!(
        "VmRSS {} / VmHWM {}",
        mib(proc_status_bytes("VmRSS").unwrap_or(0)),
        mib(proc_status_bytes("VmHWM").unwrap_or(0))
    )
}

/// Clock ticks per second of `/proc/self/stat`, from `getconf CLK_TCK`;
/// 100 (what Linux uses everywhere) if that cannot be run.
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds(ticks_per_second: u64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: utime and
    // stime are fields 14 and 15 of the line, 11 and 12 after the ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second as f64)
}

/// Wall and process CPU time of a stretch of work.
struct Stopwatch {
    ticks: u64,
    wall: Instant,
    cpu: Option<f64>,
}

/// What a [`Stopwatch`] measured.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Option<f64>,
}

impl Stopwatch {
    fn start(ticks: u64) -> Stopwatch {
        Stopwatch {
            ticks,
            cpu: cpu_seconds(ticks),
            wall: Instant::now(),
        }
    }

    fn stop(&self) -> Took {
        let wall = self.wall.elapsed();
        let cpu = cpu_seconds(self.ticks)
            .zip(self.cpu)
            .map(|(after, before)| after - before);
        Took { wall, cpu }
    }
}

impl Took {
    /// "123.4 ms wall, 120 ms CPU".
    fn show(&self) -> String {
        let cpu = self.cpu.map_or_else(
            || "CPU unknown".into(),
            |c| format!("{:.0} ms CPU", c * 1000.0),
        );
        format!("{} wall, {cpu}", ms(self.wall))
    }
}

/// The shipped dialogues, data in `data_dir`, a big, instant, failure-free
/// and churn-free simulated grid.
fn bench_config(data_dir: &Path, farms: u32, nodes_per_farm: u32) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Config::default()
    };
    config.grid.sim.farms = farms;
    config.grid.sim.nodes_per_farm = nodes_per_farm;
    config.grid.sim.deploy_seconds = 0.0;
    config.grid.sim.deploy_failure_rate = 0.0;
    config.grid.sim.node_down_rate_per_hour = 0.0;
    config
}

/// What every seeding task shares.
struct Seeder {
    service: Service,
    master: MasterKey,
    node_type: NodeType,
    need: Capacity,
    price_per_hour: Tft,
    farms: u32,
}

impl Seeder {
    /// Creates user `n` with `count` running nodes the way the service
    /// would, and returns the grid nodes they were placed on.
    async fn seed_user(&self, n: usize, count: usize) -> anyhow::Result<Vec<GridNodeId>> {
        let service = &self.service;
        let grid = service.grid();
        let user = UserId::parse(&format!("bench:u{n}"))?;
        service
            .handle(&user, DISPLAY_NAME, Input::from_message("/start"), None)
            .await
            .context("/start")?;
        let mut profile: Profile = service
            .store()
            .read(&user, user::PROFILE)?
            .context("no profile after /start")?;
        let identity = IdentityKey::new(profile.identity.signing_key(&self.master)?);
        let twin = grid.ensure_twin(&identity).await?;
        profile.twin = Some(twin);
        service.store().write(&user, user::PROFILE, &profile)?;

        let mut rng = fastrand::Rng::with_seed(n as u64);
        let mut nodes = Nodes::default();
        let mut hosts = Vec::with_capacity(count);
        let first_farm = (n as u32 % self.farms) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for _ in 0..count {
            let nt = &self.node_type;
            let name =
                user::node_name(CHAIN, NODE_TYPE, &nodes.used_names, &mut |k| rng.usize(..k));
            // Generated values as an order makes them: sealed at rest, in
            // the machine's environment in plain text.
            let mut env: BTreeMap<String, String> = nt.env.clone();
            let mut generated = BTreeMap::new();
            for g in &nt.generated {
                let value = match g {
                    Generated::Fixed { value, .. } => value.clone(),
                    Generated::Password { length, .. } => {
                        (0..*length).map(|_| rng.alphanumeric()).collect()
                    }
                };
                generated.insert(
                    g.env().to_owned(),
                    StoredValue::Sealed(self.master.seal_str(&value)),
                );
                env.insert(g.env().to_owned(), value);
            }
            let mut seed = [0u8; 32];
            rng.fill(&mut seed);
            let spec = WorkloadSpec {
                name: name.clone(),
                flist: nt.flist.clone(),
                entrypoint: nt.entrypoint.clone(),
                cpu: nt.resources.cpu,
                memory_mib: nt.resources.memory_mib,
                disk_gib: nt.resources.disk_gib,
                public_ipv4: false,
                env,
                ssh_key: None,
            };
            let mut deployment = build_deployment(twin.0, &spec, &seed)?;
            sign(&mut deployment, twin.0, identity.signing_key());
            // The user's farm, or the next one with room if it is full.
            let mut placed = None;
            for step in 0..self.farms {
                let farm = (first_farm - 1 + step) % self.farms + 1;
                let placement = Placement::Farm(farm);
                let Some(candidate) = grid
                    .candidates(&self.need, &placement, &[], 1)
                    .await?
                    .into_iter()
                    .next()
                else {
                    continue;
                };
                let done = grid
                    .deploy(&identity, candidate.id, &self.need, &deployment)
                    .await?;
                placed = Some((placement, done));
                break;
            }
            let (placement, placed) = placed.context("the whole simulated grid is full")?;
            hosts.push(placed.node.id);
            nodes.nodes.push(NodeRecord {
                name: name.clone(),
                chain: CHAIN.into(),
                node_type: NODE_TYPE.into(),
                order: format!("bench-{n}"),
                state: NodeState::Running,
                placement,
                ipv4: false,
                settings: BTreeMap::new(),
                generated,
                ssh_key: None,
                seed: hex::encode(seed),
                placed: Some(placed),
                failed_on: Vec::new(),
                created_at: now,
                billed_until: now,
                price_per_hour: self.price_per_hour,
                outage: None,
                autoheal: false,
                intent: None,
                retired: Vec::new(),
                chain_health: None,
                node_link: None,
            });
            nodes.used_names.push(name);
        }
        service.store().write(&user, user::NODES, &nodes)?;
        Ok(hosts)
    }
}

/// Seeds `total` nodes, `per_user` per user, with `tasks` users at a time;
/// returns the grid node of each seeded node.
async fn seed(seeder: Arc<Seeder>, total: usize, per_user: usize, tasks: usize) -> Vec<GridNodeId> {
    let users = total.div_ceil(per_user);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (seeder, next, done) = (seeder.clone(), next.clone(), done.clone());
        set.spawn(async move {
            let mut hosts = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= users {
                    return hosts;
                }
                let count = per_user.min(total - n * per_user);
                let placed = seeder
                    .seed_user(n, count)
                    .await
                    .unwrap_or_else(|e| panic!("seeding user {n} failed: {e:#}"));
                hosts.extend(placed);
                let seeded = done.fetch_add(count, Ordering::Relaxed) + count;
                if seeded / 10_000 != (seeded - count) / 10_000 {
                    eprintln!(
                        "monitor: {seeded} nodes seeded after {:.0} s, VmRSS {}",
                        started.elapsed().as_secs_f64(),
                        mib(proc_status_bytes("VmRSS").unwrap_or(0))
                    );
                }
            }
        });
    }
    let mut hosts = Vec::with_capacity(total);
    while let Some(joined) = set.join_next().await {
        hosts.extend(joined.expect("a seeding task panicked"));
    }
    hosts
}

/// Runs one sweep and measures it.
async fn timed_sweep(service: &Service, ticks: u64) -> (SweepReport, Took) {
    let watch = Stopwatch::start(ticks);
    let report = service.sweep().await;
    (report, watch.stop())
}

fn sweep_counts(r: &SweepReport) -> String {
    format!(
        "checked {}, healthy {}, unhealthy {}, unknown {}, went down {}, came back {}; \
         chains read {} (unreadable {}), chain events {}, chain records written {}",
        grouped(r.checked as u64),
        grouped(r.healthy as u64),
        grouped(r.unhealthy as u64),
        grouped(r.unknown as u64),
        grouped(r.went_down as u64),
        grouped(r.came_back as u64),
        grouped(r.chain.read as u64),
        grouped(r.chain.unreadable as u64),
        grouped(r.chain.events as u64),
        grouped(r.chain.written as u64)
    )
}

/// Part 1: seed 100,000 running nodes, then time the monitor.
fn monitor_part(rows: &mut Rows, ticks: u64) {
    let total = env_usize("JUKEBOX_BENCH_NODES", 100_000).max(1);
    let per_user = env_usize("JUKEBOX_BENCH_NODES_PER_USER", 5).max(1);
    let farms = env_usize("JUKEBOX_BENCH_FARMS", 1000).clamp(1, 10_000) as u32;
    let per_farm = env_usize("JUKEBOX_BENCH_NODES_PER_FARM", 100).clamp(1, 1000) as u32;
    assert!(
        u64::from(farms) * u64::from(per_farm) <= 100_000,
        "JUKEBOX_BENCH_FARMS × JUKEBOX_BENCH_NODES_PER_FARM must be at most 100000, \
         as config.toml allows"
    );
    let sweeps = env_usize("JUKEBOX_BENCH_SWEEPS", 3).max(1);
    let down_percent = env_usize("JUKEBOX_BENCH_DOWN_PERCENT", 1).min(100);
    let tasks = env_usize("JUKEBOX_BENCH_SEED_TASKS", 8).max(1);

    let base = monitor_base();
    let dir = temp_dir_in(&base);
    let config = bench_config(&dir.path().join("data"), farms, per_farm);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let outbox = Arc::new(CountingOutbox::default());
    let app = jukebox::app::build(&config, outbox, Arc::new(SystemClock)).expect("the app builds");
    let service = app.service.clone();
    let sim = app.sim.clone().expect("the embedded grid is in use");
    let master = MasterKey::load_or_create(
        &config.master_key_path(),
        std::env::var(MASTER_KEY_VAR).ok().as_deref(),
    )
    .expect("the master key");
    let (_, node_type) = service
        .engine()
        .catalog()
        .node_type(CHAIN, NODE_TYPE)
        .expect("the catalog has the Dash full node");
    let node_type = node_type.clone();
    let need = node_type.capacity(false);
    let price_per_hour = service.engine().prices().per_hour(&need);
    let grid_stats = sim.stats();
    rows.push((
        "Monitor data dir".into(),
        format!(
            "{} ({}); seeding fsyncs ~{} grid journal lines and ~{} user documents, \
             sweep 1 stores each node's first chain reading, steady sweeps do no disk IO",
            base.display(),
            fs_type(&base),
            grouped((total + total.div_ceil(per_user)) as u64),
            grouped((4 * total.div_ceil(per_user)) as u64)
        ),
    ));
    rows.push((
        "Simulated grid".into(),
        format!(
            "{farms} farms × {per_farm} = {} grid nodes ({} up); deploy time 0, no failures, no churn",
            grouped((farms * per_farm) as u64),
            grouped(grid_stats.nodes_up as u64)
        ),
    ));

    let users = total.div_ceil(per_user);
    eprintln!("monitor: seeding {total} nodes for {users} users with {tasks} tasks ...");
    let seeder = Arc::new(Seeder {
        service: service.clone(),
        master,
        node_type,
        need: need.clone(),
        price_per_hour,
        farms,
    });
    let watch = Stopwatch::start(ticks);
    let hosts = rt.block_on(seed(seeder, total, per_user, tasks));
    let seeding = watch.stop();
    let mut per_host: BTreeMap<GridNodeId, usize> = BTreeMap::new();
    for host in &hosts {
        *per_host.entry(*host).or_default() += 1;
    }
    let stats = sim.stats();
    rows.push((
        "Nodes seeded".into(),
        format!(
            "{} Dash full nodes (4 vCPU, 8 GiB, 100 GiB, no IPv4) for {} users, placed by farm \
             on {} grid nodes; {} active contracts, {} twins",
            grouped(hosts.len() as u64),
            grouped(users as u64),
            grouped(per_host.len() as u64),
            grouped(stats.contracts_active as u64),
            grouped(stats.twins as u64)
        ),
    ));
    rows.push((
        "Seeding (`/start`, twin, build + sign + candidates + deploy, `nodes` doc)".into(),
        format!(
            "{:.1} s ({:.0} nodes/s, {tasks} users at a time); {}",
            seeding.wall.as_secs_f64(),
            hosts.len() as f64 / seeding.wall.as_secs_f64(),
            seeding
                .cpu
                .map_or_else(|| "CPU unknown".into(), |c| format!("{c:.1} s CPU"))
        ),
    ));
    rows.push(("Memory after seeding".into(), memory_now()));

    rt.block_on(async {
        let watch = Stopwatch::start(ticks);
        let watched = service
            .load_watchlist()
            .await
            .expect("loading the watch list");
        let took = watch.stop();
        assert_eq!(watched, total, "the watch list must hold every seeded node");
        rows.push((
            "`load_watchlist` (start-up: read every user's `nodes`)".into(),
            format!("{}; {} nodes watched", took.show(), grouped(watched as u64)),
        ));
        rows.push(("Memory with the watch list loaded".into(), memory_now()));

        for i in 1..=sweeps {
            let (report, took) = timed_sweep(&service, ticks).await;
            assert!(
                report.checked == total && report.healthy == total,
                "a steady sweep must find every node healthy: {report:?}"
            );
            rows.push((
                format!(
                    "**Sweep {i} of {} nodes, all healthy**",
                    grouped(total as u64)
                ),
                format!("**{}**; {}", took.show(), sweep_counts(&report)),
            ));
        }
    });
    rows.push(("Memory after the sweeps".into(), memory_now()));

    // Every k-th hosting grid node, so the outage is spread over farms.
    let hosting: Vec<GridNodeId> = per_host.keys().copied().collect();
    let down_count = (hosting.len() * down_percent).div_ceil(100);
    let stride = (hosting.len() / down_count.max(1)).max(1);
    let down: Vec<GridNodeId> = hosting
        .iter()
        .step_by(stride)
        .take(down_count)
        .copied()
        .collect();
    let affected: usize = down.iter().map(|id| per_host[id]).sum();
    for id in &down {
        sim.set_node_status(*id, NodeStatus::Down)
            .expect("setting a grid node down");
    }
    rows.push((
        "Outage".into(),
        format!(
            "{} grid nodes set Down ({down_percent}% of the {} hosting nodes), hosting {} nodes",
            grouped(down.len() as u64),
            grouped(hosting.len() as u64),
            grouped(affected as u64)
        ),
    ));
    rt.block_on(async {
        let (report, took) = timed_sweep(&service, ticks).await;
        rows.push((
            "Sweep seeing the outage (not yet confirmed)".into(),
            format!("{}; {}", took.show(), sweep_counts(&report)),
        ));
        let queued_before = service.alerts().depth();
        let (report, took) = timed_sweep(&service, ticks).await;
        rows.push((
            "**Sweep confirming it** (stores each record, queues each alert)".into(),
            format!(
                "**{}**; {}; {} alerts queued",
                took.show(),
                sweep_counts(&report),
                grouped(service.alerts().depth().saturating_sub(queued_before) as u64)
            ),
        ));
        service.wait_idle().await;
    });
    rows.push(("Memory at the end".into(), memory_now()));

    eprintln!("monitor: removing the temp data dir ...");
    drop(service);
    drop(app);
    drop(rt);
    drop(dir);
}

/// `count` alerts for `users` users, priorities taking turns.
fn make_alerts(count: usize, users: usize, tag: &str) -> Vec<Alert> {
    const PRIORITIES: [Priority; 4] = [
        Priority::Outage,
        Priority::Recovery,
        Priority::Notice,
        Priority::Reminder,
    ];
    let ids: Vec<UserId> = (0..users.max(1))
        .map(|n| UserId::parse(&format!("bench:a{n}")).expect("valid user id"))
        .collect();
    (0..count)
        .map(|i| {
            let user = ids[i % ids.len()].clone();
            Alert {
                key: format!("{user}:{tag}:{i}"),
                user,
                priority: PRIORITIES[i % PRIORITIES.len()],
                message: Message::text(format!(
                    "⚠️ bench-node-{i} is down: grid node {} is down.",
                    i % 997
                )),
                raised_at: 1_700_000_000 + (i / 100) as u64,
            }
        })
        .collect()
}

/// The most instants in any window of `width` (half-open) of sorted `times`.
fn max_in_window(times: &[tokio::time::Instant], width: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= width {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Part 2: enqueue, then drain under the default limits in paused time.
fn alerts_part(rows: &mut Rows, ticks: u64) {
    let count = env_usize("JUKEBOX_BENCH_ALERTS", 10_000).max(1);
    let users = env_usize("JUKEBOX_BENCH_ALERT_USERS", 2_000).max(1);
    let base = alert_base();
    let dir = temp_dir_in(&base);
    let limits = AlertLimits::default();
    // Paused time: sleeps until the next token are skipped at once once the
    // runtime is idle, so the simulated clock shows what the limit costs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("building the paused tokio runtime");
    eprintln!(
        "alerts: {count} alerts for {users} users in {} ...",
        base.display()
    );
    rows.push((
        "Alert queue dir".into(),
        format!(
            "{} ({}); one fsynced journal append per batch and per acknowledgement",
            base.display(),
            fs_type(&base)
        ),
    ));
    rt.block_on(async {
        let batch_queue = AlertQueue::open(&dir.path().join("batch")).expect("opening a queue");
        let alerts = make_alerts(count, users, "batch");
        let watch = Stopwatch::start(ticks);
        let added = batch_queue.enqueue(alerts).expect("enqueueing the batch");
        let took = watch.stop();
        assert_eq!(added, count, "every alert of the batch is new");
        rows.push((
            format!("`enqueue` of {} alerts as one batch", grouped(count as u64)),
            format!(
                "{} ({:.1} µs per alert)",
                took.show(),
                took.wall.as_secs_f64() * 1e6 / count as f64
            ),
        ));

        let single_queue = AlertQueue::open(&dir.path().join("single")).expect("opening a queue");
        let alerts = make_alerts(count, users, "single");
        let watch = Stopwatch::start(ticks);
        for alert in alerts {
            single_queue
                .enqueue(vec![alert])
                .expect("enqueueing one alert");
        }
        let took = watch.stop();
        rows.push((
            format!("`enqueue` of {} alerts one by one", grouped(count as u64)),
            format!(
                "{} ({:.1} µs per alert)",
                took.show(),
                took.wall.as_secs_f64() * 1e6 / count as f64
            ),
        ));
        drop(single_queue);

        let outbox = CountingOutbox::timed();
        let simulated_start = tokio::time::Instant::now();
        let watch = Stopwatch::start(ticks);
        let sent = batch_queue
            .drain(&outbox, limits)
            .await
            .expect("draining the queue");
        let took = watch.stop();
        let simulated = tokio::time::Instant::now() - simulated_start;
        assert_eq!(sent, count, "every alert is delivered");
        let times = outbox.times();
        let span = match (times.first(), times.last()) {
            (Some(first), Some(last)) => *last - *first,
            _ => Duration::ZERO,
        };
        let window = max_in_window(&times, Duration::from_secs(1));
        rows.push((
            format!(
                "`drain` with `AlertLimits::default()` ({}/s overall, burst {}; {}/s, burst {} per user)",
                limits.global_per_second,
                limits.global_burst,
                limits.per_user_per_second,
                limits.per_user_burst
            ),
            format!(
                "{} sent in **{:.1} s simulated** (first to last send {:.1} s)",
                grouped(sent as u64),
                simulated.as_secs_f64(),
                span.as_secs_f64()
            ),
        ));
        rows.push((
            "**Achieved alert rate vs configured**".into(),
            format!(
                "**{:.2}/s** vs {}/s ({:.2}/s after the initial burst)",
                sent as f64 / simulated.as_secs_f64(),
                limits.global_per_second,
                (sent as f64 - limits.global_burst) / span.as_secs_f64().max(f64::EPSILON)
            ),
        ));
        rows.push((
            "Most alerts in any 1 s window".into(),
            format!(
                "{window} (limit allows burst + rate × 1 s = {})",
                limits.global_burst + limits.global_per_second
            ),
        ));
        rows.push((
            "Real time spent by the queue while draining".into(),
            format!(
                "{} ({:.1} µs wall per alert, mostly the acknowledgement's fsync)",
                took.show(),
                took.wall.as_secs_f64() * 1e6 / count as f64
            ),
        ));
    });
    drop(rt);
    drop(dir);
}

fn main() {
    if std::env::var_os(MASTER_KEY_VAR).is_none() {
        // SAFETY: this runs first in main, before any thread (tokio runtime)
        // exists, so nothing reads the environment concurrently.
        unsafe { std::env::set_var(MASTER_KEY_VAR, "42".repeat(32)) };
    }
    let ticks = clock_ticks();
    let part = std::env::var("JUKEBOX_BENCH_PART").unwrap_or_else(|_| "all".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows: Rows = vec![
        (
            "Machine".into(),
            format!("{cores} cores (nproc), {}", cpu_model()),
        ),
        (
            "Runtime".into(),
            format!(
                "monitor: tokio multi-thread, {} workers; alerts: current-thread, paused time; \
                 release build; CPU from /proc/self/stat at {ticks} ticks/s",
                workers()
            ),
        ),
    ];
    match part.as_str() {
        "monitor" => monitor_part(&mut rows, ticks),
        "alerts" => alerts_part(&mut rows, ticks),
        _ => {
            monitor_part(&mut rows, ticks);
            alerts_part(&mut rows, ticks);
        }
    }

    println!();
    println!("| Measure | Result |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}
