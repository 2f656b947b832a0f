//! Data-driven conversation transcripts (`tests/transcripts/*.txt`).
//!
//! Each line is one directive:
//! - `user NAME`: later lines act as `term:NAME`
//! - `> TEXT`: the user sends TEXT (alerts queued by then are delivered, as
//!   the service's dispatcher would; so are they after `press`)
//! - `sendfile PATH`: the user sends the whole content of
//!   `tests/fixtures/PATH`, line breaks included, as one message (a pasted
//!   key file)
//! - `press LABEL`: presses the latest button whose label starts with LABEL,
//!   looking at the newest message with buttons first and then further up,
//!   as a user scrolls (the test fails if there is none)
//! - `repress`: presses the previously pressed button again (double click)
//! - `< TEXT`: something shown since the last input contains TEXT
//! - `!< TEXT`: nothing shown since the last input contains TEXT
//! - `buttons A | B`: the latest buttons start with these labels, in order
//! - `wait`: lets background deployments finish
//! - `restart`: stops the service and starts a new one on the same data dir
//! - `hours N`: moves the clock on N hours, one at a time, running the
//!   billing sweep and delivering alerts after each
//! - `minutes N`: moves the clock on N minutes (nothing else)
//! - `sweep`: one monitor sweep, then delivers queued alerts; `sweep quiet`
//!   leaves them queued, and `deliver` delivers them
//! - `remember NODE` / `moved NODE`: notes the grid node hosting the user's
//!   node NODE / checks it now runs on another grid node, one that is up
//! - `chain FAULT NODE`: the operator's `/fault chain <contract> FAULT`
//!   (`stall`, `behind`, `oldversion`, `clear`) on the user's node NODE
//! - `count N TEXT`: exactly N things shown since the last input contain TEXT
//! - `grid down|up NODE`: takes the grid node hosting the user's node whose
//!   name starts with NODE down or up (also `workload` and `app`)
//! - `nofile TEXT`: no file under the data dir contains TEXT (secrets at rest)
//! - `reading NODE key=value...`: stores a reading of the user's node NODE's
//!   chain in its record as the monitor keeps it (`height`, `network`,
//!   `client`, `version`, `eta` seconds, `stalled` seconds ago, `behind`
//!   blocks), read now, for what `/status`, `/list` and My nodes show
//! - `set KEY VALUE` (before the first input): `failure_rate` of the grid
//! - `snapshot NAME`: everything shown since the last input, whole, equals
//!   the section NAME of `tests/transcripts/snapshots/<this file>`
//!   (`support/snapshot.rs`; `UPDATE_SNAPSHOTS=1` re-records)
//! - `#` starts a comment.

use std::path::Path;
use std::sync::Arc;

use jukebox::channel::Outgoing;
use jukebox::clock::ManualClock;
use jukebox::grid::NodeStatus;
use jukebox::ids::UserId;
use jukebox::user::{NODES, Nodes, ORDERS, Orders};

use super::snapshot::{Redactions, Snapshots, render};
use super::{START, TestApp, last_buttons, test_config, texts_for};

pub async fn run_file(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failure_rate = 0.0;
    let clock = Arc::new(ManualClock::new(START));
    let mut app: Option<TestApp> = None;
    let mut user = UserId::parse("term:alice").expect("valid id");
    let mut seen = 0usize;
    let mut last_pressed: Option<String> = None;
    let mut remembered = None;
    let mut snapshots = Snapshots::load(name);
    // Every user the transcript acts as, whose random values are redacted.
    let mut users = vec![user.clone()];
    // What earlier runs of the service showed; their buttons stay pressable
    // after a restart, as old Telegram messages do.
    let mut before_restart = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("{name}:{}: {line}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line
            .split_once(' ')
            .map_or((line, ""), |(w, r)| (w, r.trim()));
        if word == "set" {
            assert!(
                app.is_none(),
                "{at}: `set` must come before the first input"
            );
            let (key, value) = rest.split_once(' ').expect("set KEY VALUE");
            match key {
                "failure_rate" => failure_rate = value.parse().expect("a rate"),
                other => panic!("{at}: unknown setting {other}"),
            }
            continue;
        }
        if app.is_none() {
            let config = test_config(dir.path(), &|c| {
                c.grid.sim.deploy_failure_rate = failure_rate
            });
            app = Some(TestApp::start(&config, clock.clone()).await);
        }
        let a = app.as_ref().expect("started");
        let mut items = before_restart.clone();
        items.extend(a.outbox.all());
        let shown = texts_for(&items[seen.min(items.len())..], &user);
        match word {
            "user" => {
                user = UserId::parse(&format!("term:{rest}")).expect("valid user");
                if !users.contains(&user) {
                    users.push(user.clone());
                }
            }
            ">" => {
                seen = items.len();
                a.send(&user, rest).await;
                // The alert dispatcher runs all the time in the service.
                a.deliver_alerts().await;
            }
            "sendfile" => {
                seen = items.len();
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(rest);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{at}: {}: {e}", path.display()));
                a.send(&user, &text).await;
                a.deliver_alerts().await;
            }
            "press" => {
                let buttons = last_buttons(&items, &user);
                let button = buttons
                    .iter()
                    .find(|b| b.label.starts_with(rest))
                    .cloned()
                    .or_else(|| earlier_button(&items, &user, rest))
                    .unwrap_or_else(|| {
                        panic!("{at}: no button {rest:?}; buttons: {:?}", labels(&buttons))
                    });
                seen = items.len();
                last_pressed = Some(button.data.clone());
                a.press(&user, &button.data).await;
                a.deliver_alerts().await;
            }
            "repress" => {
                let data = last_pressed
                    .clone()
                    .unwrap_or_else(|| panic!("{at}: nothing pressed yet"));
                seen = items.len();
                a.press(&user, &data).await;
            }
            "<" => assert!(
                shown.iter().any(|t| t.contains(rest)),
                "{at}: not shown. Shown since the last input:\n{}",
                shown.join("\n---\n")
            ),
            "!<" => assert!(
                !shown.iter().any(|t| t.contains(rest)),
                "{at}: shown but should not be:\n{}",
                shown.join("\n---\n")
            ),
            "buttons" => {
                let want: Vec<&str> = rest.split('|').map(str::trim).collect();
                let have = labels(&last_buttons(&items, &user));
                let ok = want.len() == have.len()
                    && want.iter().zip(&have).all(|(w, h)| h.starts_with(w));
                assert!(ok, "{at}: buttons are {have:?}");
            }
            "wait" => a.service.wait_idle().await,
            "restart" => {
                a.service.wait_idle().await;
                before_restart = items.clone();
                seen = items.len();
                drop(app.take());
                let config = test_config(dir.path(), &|c| {
                    c.grid.sim.deploy_failure_rate = failure_rate
                });
                let fresh = TestApp::start(&config, clock.clone()).await;
                fresh.service.resume_pending().await.expect("resume");
                fresh.service.load_watchlist().await.expect("watch list");
                app = Some(fresh);
            }
            "hours" => {
                let hours: u64 = rest.parse().expect("hours N");
                for _ in 0..hours {
                    clock.advance(3600);
                    a.service.bill_all().await.expect("billing");
                    a.deliver_alerts().await;
                }
            }
            "minutes" => clock.advance(rest.parse::<u64>().expect("minutes N") * 60),
            "sweep" => {
                a.service.sweep().await;
                a.service.wait_idle().await;
                if rest != "quiet" {
                    a.deliver_alerts().await;
                }
            }
            // `sweeps N MINUTES`: N monitor sweeps, MINUTES apart (the clock
            // moves before each), alerts delivered after each; the next
            // `<` lines look at what they showed.
            "sweeps" => {
                seen = items.len();
                let (n, minutes) = rest.split_once(' ').expect("sweeps N MINUTES");
                let (n, minutes): (u32, u64) = (
                    n.parse().expect("a count"),
                    minutes.parse().expect("minutes"),
                );
                for _ in 0..n {
                    clock.advance(minutes * 60);
                    a.service.sweep().await;
                    a.service.wait_idle().await;
                    a.deliver_alerts().await;
                }
            }
            // `chain FAULT... NODE`: the operator's `/fault chain <contract>
            // FAULT` on the current user's node, which must succeed.
            "chain" => {
                let (fault, prefix) = rest.rsplit_once(' ').expect("chain FAULT NODE");
                let contract = a.node(&user, prefix).placed.expect("placed").contract;
                let operator = UserId::parse("term:operator").expect("valid user");
                let before = a.outbox.all().len();
                a.send(&operator, &format!("/fault chain {} {fault}", contract.0))
                    .await;
                let replies = texts_for(&a.outbox.all()[before..], &operator);
                assert!(
                    replies.iter().any(|t| t.starts_with("Done: the chain of")),
                    "{at}: the operator was told {replies:?}"
                );
            }
            "remember" => remembered = Some(a.node(&user, rest).placed.expect("placed").node.id),
            "moved" => {
                let now = a.node(&user, rest).placed.expect("placed").node.id;
                let before = remembered.expect("remember NODE first");
                assert_ne!(now, before, "{at}: still on grid node {now}");
                let status = a.sim.node(now).expect("grid node exists").status;
                assert_eq!(
                    status,
                    NodeStatus::Up,
                    "{at}: moved to a grid node that is not up"
                );
            }
            "deliver" => {
                a.deliver_alerts().await;
            }
            "count" => {
                let (n, text) = rest.split_once(' ').expect("count N TEXT");
                let n: usize = n.parse().expect("a count");
                let found = shown.iter().filter(|t| t.contains(text)).count();
                assert_eq!(
                    found,
                    n,
                    "{at}: shown since the last input:\n{}",
                    shown.join("\n---\n")
                );
            }
            "grid" | "workload" | "app" => {
                let (direction, prefix) = rest.split_once(' ').expect("down|up NODE");
                let placed = a.node(&user, prefix).placed.expect("placed");
                let down = direction == "down";
                let result = match word {
                    "grid" => a.sim.set_node_status(
                        placed.node.id,
                        if down {
                            NodeStatus::Down
                        } else {
                            NodeStatus::Up
                        },
                    ),
                    "workload" if down => a.sim.fail_workload(placed.contract, "disk full"),
                    "workload" => a.sim.restore_workload(placed.contract),
                    _ if down => a.sim.fail_app(placed.contract, "port closed"),
                    _ => a.sim.restore_app(placed.contract),
                };
                result.unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            "reading" => {
                let (prefix, pairs) = rest.split_once(' ').expect("reading NODE key=value...");
                chain_reading(
                    a,
                    &user,
                    prefix,
                    pairs,
                    jukebox::clock::Clock::now(clock.as_ref()),
                );
            }
            "nofile" => {
                a.service.wait_idle().await;
                let hits = files_containing(&dir.path().join("data"), rest.as_bytes());
                assert!(hits.is_empty(), "{at}: found in {hits:?}");
            }
            "snapshot" => {
                let redactions = random_values(a, &users);
                let whole = render(&items[seen.min(items.len())..], &user, &redactions);
                snapshots.check(&at, rest, whole);
            }
            other => panic!("{at}: unknown directive {other:?}"),
        }
    }
    snapshots.finish();
}

/// The values the service picks at random for `users` (node names, order
/// ids, payment memos, the sandbox's deposit account, mycelium addresses),
/// in the order of their records, so snapshots can name them by placeholder.
fn random_values(app: &TestApp, users: &[UserId]) -> Redactions {
    let mut redactions = Redactions::default();
    for user in users {
        let store = app.service.store();
        let orders: Orders = store
            .read(user, ORDERS)
            .expect("orders readable")
            .unwrap_or_default();
        let nodes: Nodes = store
            .read(user, NODES)
            .expect("nodes readable")
            .unwrap_or_default();
        for order in &orders.orders {
            redactions.add("order", &order.id);
            if let Some(payment) = &order.payment {
                redactions.add("memo", &payment.memo);
                // The sandbox's deposit account is made per data dir.
                redactions.add("address", &payment.address);
            }
        }
        for node in &nodes.nodes {
            redactions.add("node", &node.name);
            // Derived from the node's random seed; only the current
            // placement's is on record.
            if let Some(mycelium) = node.placed.as_ref().and_then(|p| p.mycelium.as_ref()) {
                redactions.add("mycelium", mycelium);
            }
        }
    }
    redactions
}

/// The newest button starting with `label` in any message shown to `user`.
fn earlier_button(
    items: &[(UserId, Outgoing)],
    user: &UserId,
    label: &str,
) -> Option<jukebox::dialogue::Button> {
    items
        .iter()
        .rev()
        .filter(|(u, _)| u == user)
        .filter_map(|(_, item)| match item {
            Outgoing::Message(m) => Some(&m.buttons),
            Outgoing::Image { buttons, .. } => Some(buttons),
            _ => None,
        })
        .flat_map(|rows| rows.iter().flatten())
        .find(|b| b.label.starts_with(label))
        .cloned()
}

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path);
        }
    }
    hits
}

fn labels(buttons: &[jukebox::dialogue::Button]) -> Vec<String> {
    buttons.iter().map(|b| b.label.clone()).collect()
}

/// `reading NODE key=value...`: writes a chain reading into the node's record
/// as the monitor stores it (`lifecycle::chain_state::NodeChain`), read at
/// `now`, for the contract the node runs on.
fn chain_reading(a: &TestApp, user: &UserId, prefix: &str, pairs: &str, now: u64) {
    use jukebox::lifecycle::chain::{ChainEpisodes, ClientVersion, Episode};
    use jukebox::lifecycle::chain_state::{ChainSnapshot, NodeChain};
    let name = a.node(user, prefix).name;
    let mut nodes: Nodes = a
        .service
        .store()
        .read(user, NODES)
        .expect("nodes readable")
        .unwrap_or_default();
    let node = nodes.get_mut(&name).expect("the node");
    let contract = node.placed.as_ref().expect("placed").contract;
    let mut snapshot = ChainSnapshot {
        at: now,
        height: 0,
        network_height: None,
        client: String::new(),
        version: None,
        eta_secs: None,
        layers: vec![],
    };
    let mut episodes = ChainEpisodes::default();
    for pair in pairs.split_whitespace() {
        let (key, value) = pair.split_once('=').expect("key=value");
        let number = || value.parse::<u64>().expect("a number");
        match key {
            "height" => snapshot.height = number(),
            "network" => snapshot.network_height = Some(number()),
            "client" => snapshot.client = value.replace('_', " "),
            "version" => snapshot.version = Some(ClientVersion::parse(value).expect("a version")),
            "eta" => snapshot.eta_secs = Some(number()),
            "stalled" => {
                episodes.stalled = Some(Episode {
                    since: now - number(),
                    height: snapshot.height,
                    lag: snapshot.network_height.unwrap_or(0) - snapshot.height,
                })
            }
            "behind" => {
                episodes.ever_in_sync = true;
                episodes.behind = Some(Episode {
                    since: now,
                    height: snapshot.height,
                    lag: number(),
                })
            }
            other => panic!("chain: unknown key {other}"),
        }
    }
    node.chain_health = Some(NodeChain {
        contract,
        episodes,
        last: Some(snapshot),
        unreadable: None,
    });
    a.service
        .store()
        .write(user, NODES, &nodes)
        .expect("nodes written");
}
