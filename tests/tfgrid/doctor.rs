//! `jukebox grid doctor` and `jukebox grid nodes` as processes, against the
//! three fakes: every step passing, a real deploy and cancel with the
//! doctor's own twin, and each failure an operator meets first (proxy
//! down, a runtime missing a call, a relay refusing the token, a funding
//! account too poor or missing), each with a non-zero exit and its FAIL
//! line's words.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use jukebox::grid::tfgrid::doctor::{address, doctor_key};

use super::fake_gridproxy::{FAKE_VERSION, FakeGridProxy, FakeNode};
use super::fake_hub::{FakeHub, catalog_flists};
use super::fake_relay::FakeRelay;
use super::fake_tfchain::{ContractState, FakeTfchain};
use super::setup::{TFT, fakes, healthy};

/// The operator's funding key in these tests.
const FUNDER_SEED: [u8; 32] = [9; 32];

fn funder() -> SigningKey {
    SigningKey::from_bytes(&FUNDER_SEED)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn line(&self, start: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in:\n{}{}", self.stdout, self.stderr))
    }
}

/// A config pointing at the fakes, in a fresh directory.
fn config_dir(proxy: &str, relay: &str, chain: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // A fixed hash, unless the test sets the terms itself: the default
    // link is not reachable from the tests.
    let terms = if extra.contains("terms_") {
        ""
    } else {
        "terms_hash = \"f4fa1c1b\"\n"
    };
    let text = format!(
        "data_dir = {data:?}\n\
         dialogues_dir = {dialogues:?}\n\
         [grid]\nkind = \"tfgrid\"\nnetwork = \"dev\"\n\
         [grid.tfgrid]\nproxy_url = {proxy:?}\nrelay_url = {relay:?}\ntfchain_url = {chain:?}\n\
         request_timeout_seconds = 5\npoll_seconds = 1\n{terms}{extra}\n\
         [payments]\nkind = \"bridge\"\n\
         [web]\nsandbox_login = false\n",
        data = dir.path().join("data"),
        dialogues = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
    );
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    dir
}

/// Runs `jukebox <args>` in `dir` (off the runtime, so the fakes keep
/// serving), with the funding seed in its environment when `seed`.
async fn jukebox(dir: &Path, args: &[&str], seed: bool, stdin: &str) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jukebox"));
        command
            .current_dir(&dir)
            .args(&args)
            .env_remove("JUKEBOX_TFCHAIN_FUNDER_SEED")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if seed {
            command.env("JUKEBOX_TFCHAIN_FUNDER_SEED", hex::encode(FUNDER_SEED));
        }
        let mut child = command.spawn().expect("runs");
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let out = child.wait_with_output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        };
        // The seed is never shown, whatever happened.
        let seed = hex::encode(FUNDER_SEED);
        assert!(!run.stdout.contains(&seed) && !run.stderr.contains(&seed));
        run
    })
    .await
    .unwrap()
}

struct World {
    proxy: FakeGridProxy,
    relay: FakeRelay,
    chain: FakeTfchain,
    /// The flist hub, holding every flist the catalog names.
    hub: FakeHub,
}

/// The fakes, the funding account holding `funds`, the relay reading twins
/// from the chain as the real one does.
async fn world(funds: u128) -> World {
    let (proxy, relay, chain) = fakes([healthy(), healthy(), healthy()]).await;
    chain.fund(funder().verifying_key().to_bytes(), funds);
    relay.state().chain_twins = Some(Arc::new(chain.twin_lookup()));
    World {
        proxy,
        relay,
        chain,
        hub: FakeHub::start(catalog_flists()).await,
    }
}

/// Gives the three Belgian nodes 8 TiB of SSD, as grid nodes built for
/// chains have: room for a Polygon node's 5 TB disk.
fn roomy(w: &World) {
    for node in &mut w.proxy.state().nodes {
        node.total_sru_gib = 8 * 1024;
    }
}

/// Gives the funding account a twin (as an operator who made one in the
/// dashboard has).
fn funder_twin(w: &World) -> u32 {
    let mut c = w.chain.world();
    c.twins.insert(
        2001,
        (funder().verifying_key().to_bytes(), "relay.fake".into()),
    );
    c.seal();
    2001
}

fn dir_for(w: &World, extra: &str) -> tempfile::TempDir {
    let extra = format!("flist_hub_url = {:?}\n{extra}", w.hub.url);
    config_dir(&w.proxy.url, &w.relay.url, &w.chain.url, &extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_passes_against_the_fakes() {
    let w = world(100 * TFT).await;
    roomy(&w);
    let twin = funder_twin(&w);
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
    assert!(
        run.line("ok   grid proxy:").contains(FAKE_VERSION),
        "{}",
        run.stdout
    );
    assert!(
        run.line("ok   TFChain:")
            .contains("runtime spec 152 (transaction version 2)")
    );
    // The indices come from the metadata the node serves.
    let metadata = run.line("ok   TFChain metadata:");
    for call in [
        "user_accept_tc 25/25",
        "create_twin 25/17",
        "update_twin 25/18",
        "create_node_contract 26/0",
        "cancel_contract 26/2",
    ] {
        assert!(metadata.contains(call), "{metadata}");
    }
    assert!(run.line("ok   relay:").contains(&format!("twin {twin}")));
    let funding = run.line("ok   funding account:");
    assert!(
        funding.contains(&address(funder().verifying_key().to_bytes()))
            && funding.contains("100.00 TFT")
            && funding.contains("enough for 49 new twin(s) at 2.00 TFT each"),
        "{funding}"
    );
    assert!(
        run.line("ok   terms:")
            .contains("with the hash f4fa1c1b set in grid.tfgrid.terms_hash")
    );
    // Every node type of the catalog, on the three Belgian nodes.
    for label in [
        "dash/full",
        "dash/masternode",
        "polygon/validator",
        "presearch/node",
    ] {
        let line = run.line(&format!("ok   nodes {label}:"));
        assert!(
            line.contains("3 candidate(s) in 1 farm(s), 1 country(ies): Belgium 3"),
            "{line}"
        );
    }
    assert!(run.stdout.ends_with("all steps passed\n"), "{}", run.stdout);
    // Nothing was written to the chain.
    assert!(w.chain.world().applied.is_empty());
}

/// Each flist of the catalog is checked on the hub: served, `ok`; missing,
/// `FAIL` naming the node types that boot it, the URL, the hub's answer and,
/// for an flist the operator makes, what from; a hub that is down fails
/// every flist step. The official Presearch flist stays `ok` throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_catalog_flist_is_checked_on_the_hub() {
    let w = world(100 * TFT).await;
    roomy(&w);
    funder_twin(&w);
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.line("ok   flist dash/full, dash/masternode:")
            .contains("https://hub.grid.tf/jukebox-operator/dashpay-dashd-23.flist is served")
    );
    run.line("ok   flist polygon/sentry, polygon/full, polygon/validator:");
    run.line("ok   flist digibyte/full:");
    run.line("ok   flist presearch/node:");

    w.hub.remove("jukebox-operator/dashpay-dashd-23.flist");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let dash = run.line("FAIL flist dash/full, dash/masternode:");
    assert!(
        dash.contains(
            "expected https://hub.grid.tf/jukebox-operator/dashpay-dashd-23.flist on the hub"
        ) && dash.contains("got HTTP 404 Not Found")
            && dash.contains(
                "make it from dashpay/dashd:23 and publish it on the hub (docs/catalog.md)"
            ),
        "{dash}"
    );
    run.line("ok   flist presearch/node:");

    // A hub that does not answer at all.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let dir = config_dir(
        &w.proxy.url,
        &w.relay.url,
        &w.chain.url,
        &format!("flist_hub_url = {down:?}"),
    );
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let presearch = run.line("FAIL flist presearch/node:");
    assert!(
        presearch.contains("got cannot connect")
            && presearch.contains("check the URL in dialogues/catalog.yaml"),
        "{presearch}"
    );
}

/// With no hash configured, the doctor fetches the terms document as twin
/// creation will and shows the hash a twin would accept (its hex MD5, as
/// tfgrid-sdk-ts `grid_client/src/clients/tf-grid/terms_and_conditions.ts`
/// makes it); a document it cannot fetch fails the step with what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terms_step_fetches_the_document_and_shows_its_hash() {
    use md5::Digest as _;
    let w = world(100 * TFT).await;
    let document = "<html>the terms under test</html>";
    let app = axum::Router::new().route(
        "/legal",
        axum::routing::get(move || async move { document }),
    );
    let (docs, _server) = super::fake_server::Server::http(app).await;
    let dir = dir_for(&w, &format!("terms_link = \"{docs}/legal\""));
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    let md5 = hex::encode(md5::Md5::digest(document.as_bytes()));
    let line = run.line("ok   terms:");
    assert!(
        line.contains(&format!(
            "{docs}/legal fetched; twins accept it with its MD5 {md5}"
        )),
        "{line}"
    );

    let dir = dir_for(&w, &format!("terms_link = \"{docs}/gone\""));
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let line = run.line("FAIL terms:");
    assert!(
        line.contains(&format!("{docs}/gone")) && line.contains("404"),
        "{line}"
    );
    assert!(line.contains("do: set grid.tfgrid.terms_hash"), "{line}");
    assert!(w.chain.world().applied.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_creates_the_doctors_twin_deploys_and_cancels() {
    let w = world(100 * TFT).await;
    roomy(&w);
    let dir = dir_for(&w, "");
    let run = jukebox(
        dir.path(),
        &["grid", "doctor", "--deploy", "--yes"],
        true,
        "",
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
    let doctor = doctor_key(&funder()).verifying_key().to_bytes();
    let cost = run.line("ok   cost:");
    assert!(
        cost.contains("1 cpu, 256 MiB, 0 GiB SSD machine")
            && cost.contains("per hour at TFChain's prices")
            && cost.contains(&format!(
                "first 2.00 TFT moves from the funding account to the doctor's account {}",
                address(doctor)
            )),
        "{cost}"
    );
    let twin = *w
        .chain
        .world()
        .twins
        .iter()
        .find(|(_, (account, _))| *account == doctor)
        .expect("the doctor's twin")
        .0;
    assert!(
        run.line("ok   twin:")
            .contains(&format!("twin {twin} (created now"))
    );
    // The relay step waited for the twin it signs as.
    assert!(run.line("ok   relay:").contains(&format!("twin {twin}")));
    assert!(
        run.line("ok   deployment:")
            .contains("created, handed over over RMB, workloads ok")
    );
    assert!(
        run.line("ok   status:")
            .contains("workloads ok as the node reports")
    );
    // TFChain removes a cancelled contract from storage (pallet-smart-contract
    // `grid_contract.rs` `remove_contract`), so it reads back as gone.
    assert!(run.line("ok   cancel:").contains("is gone from TFChain"));
    {
        let c = w.chain.world();
        let contracts: Vec<_> = c.contracts.values().collect();
        assert_eq!(contracts.len(), 1);
        assert_eq!(contracts[0].twin, twin);
        assert_eq!(contracts[0].state, ContractState::Deleted);
        // Topped up to the funding, less the fees and the bill.
        assert!(c.balances[&doctor] <= 2 * TFT);
    }
    let delivered = w.relay.state().delivered.clone();
    assert!(
        delivered
            .iter()
            .any(|(from, _, command)| *from == twin && command == "zos.deployment.deploy"),
        "{delivered:?}"
    );

    // A second run reuses the twin.
    let again = jukebox(
        dir.path(),
        &["grid", "doctor", "--deploy", "--yes"],
        true,
        "",
    )
    .await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again
            .line("ok   twin:")
            .contains(&format!("twin {twin} (exists"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_deploy_spends_nothing_and_fails() {
    let w = world(100 * TFT).await;
    roomy(&w);
    funder_twin(&w);
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor", "--deploy"], true, "n\n").await;
    assert_ne!(run.code, 0);
    assert!(
        run.stdout
            .contains("This spends real TFT: a 1 cpu, 256 MiB"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Deploy and cancel it now? [y/N] n\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.line("FAIL deploy:")
            .contains("got declined; do: answer y, or pass --yes"),
        "{}",
        run.stdout
    );
    let c = w.chain.world();
    assert!(c.applied.is_empty(), "{:?}", c.applied);
    assert!(c.contracts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_is_down_fails_its_step_and_the_node_steps() {
    let w = world(100 * TFT).await;
    funder_twin(&w);
    // A port nobody listens on.
    let (_refusing, addr) = crate::support::refusing_addr();
    let closed = format!("http://{addr}");
    let dir = config_dir(&closed, &w.relay.url, &w.chain.url, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let line = run.line("FAIL grid proxy:");
    assert!(
        line.contains(&format!("expected an answer to GET {closed}/version"))
            && line.contains("got cannot reach the grid proxy")
            && line.contains("do: check that this host reaches"),
        "{line}"
    );
    assert!(
        run.line("FAIL nodes dash/full:")
            .contains("the grid proxy's list of nodes")
    );
    // The other services still get their say.
    run.line("ok   TFChain:");
    run.line("ok   relay:");
    assert!(run.stdout.ends_with("some steps FAILED (see above)\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_without_a_call_jukebox_makes_fails_the_metadata_step() {
    let w = world(100 * TFT).await;
    funder_twin(&w);
    w.chain
        .without_call("SmartContractModule", "cancel_contract");
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let line = run.line("FAIL TFChain metadata:");
    assert!(
        line.contains("got call SmartContractModule.cancel_contract: pallet SmartContractModule has no call cancel_contract")
            && line.contains("do: this runtime is not one this Jukebox speaks"),
        "{line}"
    );
    // Reachable all the same, and its balances and twins still read.
    run.line("ok   TFChain:");
    run.line("ok   relay:");
    run.line("ok   funding account:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_the_token_fails_the_relay_step() {
    let w = world(100 * TFT).await;
    let twin = funder_twin(&w);
    // This relay knows no twin but the nodes: the funding twin's token is
    // refused, as a relay of another network would refuse it.
    w.relay.state().chain_twins = None;
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let line = run.line("FAIL relay:");
    assert!(
        line.contains(&format!("to accept a token signed as twin {twin}"))
            && line.contains("401")
            && line.contains("do: a refused token (401) means the relay does not know"),
        "{line}"
    );
    assert_eq!(w.relay.state().refused_tokens, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funding_account_too_poor_or_missing_fails_the_funding_step() {
    let w = world(TFT).await;
    funder_twin(&w);
    let dir = dir_for(&w, "");
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    let address = address(funder().verifying_key().to_bytes());
    let line = run.line("FAIL funding account:");
    assert!(
        line.contains(&format!("expected at least 2.01 TFT on {address}"))
            && line.contains("(one new twin's 2.00 TFT plus the 0.01 TFT the account must keep)")
            && line.contains("got 1.00 TFT")
            && line.contains(&format!("do: send TFT to {address} on the dev network")),
        "{line}"
    );

    // Nothing is spent on a path already known to be broken.
    let run = jukebox(
        dir.path(),
        &["grid", "doctor", "--deploy", "--yes"],
        true,
        "",
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.line("FAIL deploy:")
            .contains("expected every step above to pass before spending"),
        "{}",
        run.stdout
    );
    assert!(w.chain.world().applied.is_empty());

    let run = jukebox(dir.path(), &["grid", "doctor"], false, "").await;
    assert_ne!(run.code, 0);
    let line = run.line("FAIL funding account:");
    assert!(
        line.contains("expected JUKEBOX_TFCHAIN_FUNDER_SEED set")
            && line.contains("got it is not set"),
        "{line}"
    );
    // No key, no twin to sign a relay token as.
    assert!(
        run.line("FAIL relay:")
            .contains("JUKEBOX_TFCHAIN_FUNDER_SEED is not set")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_grid_needs_a_network_named() {
    let w = world(100 * TFT).await;
    let dir = dir_for(&w, "");
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let sim = text
        .replace("kind = \"tfgrid\"", "kind = \"sim\"")
        .replace("[payments]\nkind = \"bridge\"\n", "");
    std::fs::write(&config, sim).unwrap();
    let run = jukebox(dir.path(), &["grid", "doctor"], true, "").await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("name the network with --network dev|qa|test|main"),
        "{}",
        run.stderr
    );
    let run = jukebox(
        dir.path(),
        &["grid", "doctor", "--network", "dev"],
        true,
        "",
    )
    .await;
    run.line("ok   grid proxy:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_lists_the_candidates_and_says_why_there_are_none() {
    let w = world(100 * TFT).await;
    {
        let mut s = w.proxy.state();
        // A German node too small for a full Dash node, and a rented one.
        let mut small = FakeNode::new(4, 2, "Germany");
        small.total_mru_gib = 4;
        s.nodes.push(small);
        let mut rented = FakeNode::new(5, 1, "Belgium");
        rented.rented_by = Some(77);
        s.nodes.push(rented);
    }
    let dir = dir_for(&w, "");
    let args = ["grid", "nodes", "--chain", "dash", "--type", "full"];
    let run = jukebox(dir.path(), &args, false, "").await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0]
            .starts_with("3 candidate(s) for dash/full (4 cpu, 8192 MiB, 100 GiB SSD) anywhere"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[1],
        "node 1  farm 1 (Farm1)  Belgium  24 cpu, 65536 MiB memory free, 1024 GiB SSD free, \
         3 public IPv4 free in the farm"
    );
    assert!(lines[2].starts_with("node 2  ") && lines[3].starts_with("node 3  "));
    assert_eq!(lines.len(), 4);

    let run = jukebox(
        dir.path(),
        &[&args[..], &["--country", "Germany"]].concat(),
        false,
        "",
    )
    .await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("0 candidate(s) for dash/full"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("1 node(s) are up in Germany, none with room"),
        "{}",
        run.stdout
    );

    let run = jukebox(
        dir.path(),
        &[&args[..], &["--country", "France"]].concat(),
        false,
        "",
    )
    .await;
    assert!(
        run.stdout.contains("no node is up in France"),
        "{}",
        run.stdout
    );

    let run = jukebox(
        dir.path(),
        &[&args[..], &["--farm", "2"]].concat(),
        false,
        "",
    )
    .await;
    assert!(
        run.stdout.contains("1 node(s) are up in farm 2"),
        "{}",
        run.stdout
    );

    let run = jukebox(
        dir.path(),
        &["grid", "nodes", "--chain", "dash", "--type", "huge"],
        false,
        "",
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("the catalog has no node type \"huge\" of chain \"dash\""),
        "{}",
        run.stderr
    );
}
