//! A whole Jukebox with `grid.kind = "tfgrid"` and `payments.kind =
//! "bridge"`, started by `app::App::build` as the binary starts it,
//! against the three fakes: a user deploys through the conversation, pays
//! through the bridge (the fake chain mints onto their twin), gets a running
//! node, sees TFChain's billing in their balance, redeploys and deletes.

use std::sync::Arc;

use jukebox::channel::{MemoryOutbox, Outgoing};
use jukebox::clock::ManualClock;
use jukebox::config::Config;
use jukebox::dialogue::Input;
use jukebox::grid::ContractId;
use jukebox::ids::UserId;
use jukebox::money::Tft;
use jukebox::service::Service;
use jukebox::user::{NodeRecord, NodeState, Nodes, Orders, Profile};

use super::fake_gridproxy::FakeGridProxy;
use super::fake_relay::FakeRelay;
use super::fake_tfchain::{ContractState as ChainState, FakeTfchain};
use super::setup::{TFT, fakes, healthy};
use crate::support::crash_grid::{CrashingGrid, Moment};

const START: u64 = 1_795_392_000;
const FUNDER_SEED: [u8; 32] = [9; 32];
/// What the fake chain's bridge keeps of a deposit here (`DepositFee`, units).
const BRIDGE_FEE_UNITS: u64 = 5_000_000;

struct RealGridApp {
    proxy: FakeGridProxy,
    relay: FakeRelay,
    chain: FakeTfchain,
    service: Service,
    outbox: Arc<MemoryOutbox>,
    clock: Arc<ManualClock>,
    config: Config,
    _dir: tempfile::TempDir,
}

/// Jukebox on devnet with bridge payments, data in `dir`; the hosts are
/// the public ones until a test points them at its fakes.
fn real_grid_config(dir: &tempfile::TempDir) -> Config {
    let mut config = Config {
        data_dir: dir.path().join("data"),
        dialogues_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Config::default()
    };
    config.grid.kind = jukebox::config::GridKind::Tfgrid;
    config.grid.network = jukebox::config::Network::Dev;
    config.payments.kind = jukebox::config::PaymentsKind::Bridge;
    config.web.sandbox_login = false;
    config
}

/// Grid nodes 1-3 in Belgium (twins 1001-1003) behind the relay, a funded
/// operator account, and Jukebox configured for the real grid on them.
async fn real_grid_app() -> RealGridApp {
    real_grid_app_dying(None).await
}

/// [`real_grid_app`], its service seeing the grid through a grid that dies
/// at `at` (see `support/crash_grid.rs`).
async fn real_grid_app_dying(at: Option<Moment>) -> RealGridApp {
    let (proxy, relay, chain) = fakes([healthy(), healthy(), healthy()]).await;
    let funder = ed25519_dalek::SigningKey::from_bytes(&FUNDER_SEED);
    chain.fund(funder.verifying_key().to_bytes(), 1000 * TFT);

    let dir = tempfile::tempdir().unwrap();
    let mut config = real_grid_config(&dir);
    let tfgrid = &mut config.grid.tfgrid;
    tfgrid.proxy_url = proxy.url.clone();
    tfgrid.tfchain_url = chain.url.clone();
    tfgrid.relay_url = relay.url.clone();
    tfgrid.relay_domain = "relay.fake".into();
    tfgrid.terms_hash = Some(super::setup::TERMS_HASH.into());
    tfgrid.cache_seconds = 0;
    tfgrid.poll_seconds = 1;
    tfgrid.deploy_timeout_seconds = 20;
    config.admin.operators = vec!["term:operator".into()];

    // This chain's bridge keeps half a TFT of each deposit, not the
    // genesis 1 TFT.
    chain.world().deposit_fee = Some(BRIDGE_FEE_UNITS);
    chain.seal();
    // As `jukebox run` does: quotes use what the chain bills with, and
    // payment requests the bridge's fee the chain holds.
    jukebox::app::use_chain_prices(&mut config).await.unwrap();
    assert_eq!(config.pricing.cu_per_hour, 100_000);
    assert_eq!(config.pricing.tft_price_usd(), "0.050");
    assert_eq!(
        config.payments.bridge_deposit_fee,
        Some(Tft::from_units(BRIDGE_FEE_UNITS as i64))
    );

    let outbox = Arc::new(MemoryOutbox::default());
    let clock = Arc::new(ManualClock::new(START));
    let app = build(&config, &outbox, &clock, at).await;
    assert!(app.sim.is_none());
    assert_eq!(app.service.grid().kind(), "tfgrid");
    RealGridApp {
        proxy,
        relay,
        chain,
        service: app.service,
        outbox,
        clock,
        config,
        _dir: dir,
    }
}

/// The process as `jukebox run` starts it (`App::build`), with the
/// operator's funding key, the chat kept in `outbox`, the workers stepped by
/// the test, no listeners, and the grid seen through a grid that dies at
/// `at`. On the real grid `App::build` reads TFChain's prices itself; the
/// fake chain answers it as it answered `use_chain_prices` above.
async fn build(
    config: &Config,
    outbox: &Arc<MemoryOutbox>,
    clock: &Arc<ManualClock>,
    at: Option<Moment>,
) -> jukebox::app::App {
    let seed = hex::encode(FUNDER_SEED);
    let env = move |name: &str| (name == "JUKEBOX_TFCHAIN_FUNDER_SEED").then(|| seed.clone());
    start(config, outbox, clock, &env, &|grid| {
        CrashingGrid::new(grid, at)
    })
    .await
}

/// Starts the whole process with `env` for secrets and `wrap` around the grid.
async fn start(
    config: &Config,
    outbox: &Arc<MemoryOutbox>,
    clock: &Arc<ManualClock>,
    env: &dyn Fn(&str) -> Option<String>,
    wrap: &dyn Fn(Arc<dyn jukebox::grid::Grid>) -> Arc<dyn jukebox::grid::Grid>,
) -> jukebox::app::App {
    let mut config = config.clone();
    config.web.listen = String::new();
    config.ops.listen = String::new();
    let setup = jukebox::app::Setup {
        clock: clock.clone(),
        env,
        wrap_grid: wrap,
        chain_probe: None,
        node_status_probe: None,
        chat_outbox: Some(outbox.clone()),
        background: jukebox::app::Background::Stepped,
        exit_deadline: std::time::Duration::from_secs(10),
    };
    jukebox::app::App::build(config, setup)
        .await
        .expect("the real-grid process starts")
}

impl RealGridApp {
    /// The payment request of `user`'s last order, paid in full through
    /// the bridge (minted onto their twin, which the relay learns from the
    /// chain), and the watcher run until the deployment it starts is done.
    async fn pay_through_the_bridge(&self, user: &UserId) {
        let profile = self.profile(user);
        let account = profile.identity.public_key;
        let twin = profile.twin.expect("a twin for the payment request");
        self.relay.register_twin(
            twin.0,
            ed25519_dalek::VerifyingKey::from_bytes(&account).unwrap(),
        );
        let orders: Orders = self
            .service
            .store()
            .read(user, jukebox::user::ORDERS)
            .unwrap()
            .unwrap();
        let request = orders.orders.last().unwrap().payment.clone().unwrap();
        self.chain
            .fund(account, u128::try_from(request.amount.units()).unwrap());
        assert!(self.service.poll_payments().await.unwrap() > 0);
        self.service.wait_idle().await;
    }

    async fn send(&self, user: &UserId, text: &str) {
        self.service
            .handle(user, "Tester", Input::from_message(text), None)
            .await
            .expect("handled");
    }

    /// Presses the newest button whose label contains `label`.
    async fn press(&self, user: &UserId, label: &str) {
        let data = self
            .outbox
            .all()
            .iter()
            .rev()
            .filter(|(u, _)| u == user)
            .find_map(|(_, item)| {
                let rows = match item {
                    Outgoing::Message(m) => &m.buttons,
                    Outgoing::Image { buttons, .. } => buttons,
                    _ => return None,
                };
                rows.iter()
                    .flatten()
                    .find(|b| b.label.contains(label))
                    .map(|b| b.data.clone())
            })
            .unwrap_or_else(|| panic!("no button {label:?}; sent: {:#?}", self.texts(user)));
        self.service
            .handle(user, "Tester", Input::Button(data), None)
            .await
            .expect("handled");
    }

    fn texts(&self, user: &UserId) -> Vec<String> {
        self.outbox
            .all()
            .into_iter()
            .filter(|(u, _)| u == user)
            .map(|(_, item)| match item {
                Outgoing::Message(m) => m.text,
                Outgoing::Image { caption, .. } => caption,
                Outgoing::Progress { text, .. } => text,
                Outgoing::Answered { answer } => answer,
                Outgoing::Withdrawn => "(buttons withdrawn)".into(),
            })
            .collect()
    }

    fn said(&self, user: &UserId, needle: &str) -> bool {
        self.texts(user).iter().any(|t| t.contains(needle))
    }

    fn profile(&self, user: &UserId) -> Profile {
        self.service
            .store()
            .read(user, jukebox::user::PROFILE)
            .unwrap()
            .unwrap()
    }

    fn node(&self, user: &UserId) -> NodeRecord {
        let nodes: Nodes = self
            .service
            .store()
            .read(user, jukebox::user::NODES)
            .unwrap()
            .unwrap_or_default();
        nodes
            .nodes
            .into_iter()
            .find(|n| n.is_live())
            .expect("a live node")
    }

    fn chain_balance(&self, account: [u8; 32]) -> u128 {
        self.chain
            .world()
            .balances
            .get(&account)
            .copied()
            .unwrap_or(0)
    }

    fn contract_state(&self, id: ContractId) -> ChainState {
        self.chain.world().contracts[&id.0].state.clone()
    }
}

fn tft(units: u128) -> Tft {
    Tft::from_units(units as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deploys_pays_through_the_bridge_and_manages_a_node_on_the_real_grid() {
    let app = real_grid_app().await;
    let alice = UserId::parse("term:alice").unwrap();

    app.send(&alice, "/deploy").await;
    app.press(&alice, "Presearch").await;
    app.send(&alice, "1").await;
    app.press(&alice, "Anywhere").await;
    app.send(&alice, "0123456789abcdef0123456789abc123").await;
    app.press(&alice, "Skip").await;
    app.press(&alice, "1 week").await;
    app.press(&alice, "Confirm").await;

    // Asking for payment registered Alice's identity as a twin, funded by
    // the operator's account first, and the request names the dev bridge
    // vault with her twin as the memo.
    let profile = app.profile(&alice);
    let twin = profile
        .twin
        .expect("a twin was registered for the payment request");
    let account = profile.identity.public_key;
    assert_eq!(app.chain.world().twins[&twin.0].0, account);
    let orders: Orders = app
        .service
        .store()
        .read(&alice, jukebox::user::ORDERS)
        .unwrap()
        .unwrap();
    let order = orders.orders.last().unwrap().clone();
    let request = order.payment.clone().expect("a payment request");
    assert_eq!(request.memo, format!("twin_{}", twin.0));
    assert_eq!(request.address, jukebox::config::BRIDGE_VAULTS[2]);
    assert!(
        app.said(&alice, "TFChain bridge"),
        "{:#?}",
        app.texts(&alice)
    );
    // The twin's starting funds (from the operator) already count.
    let before = app.chain_balance(account);
    assert!(before > 0 && before <= 2 * TFT, "{before}");
    assert_eq!(
        request.amount,
        order
            .total
            .saturating_sub(app.profile(&alice).account.balance)
            .saturating_add(Tft::from_units(BRIDGE_FEE_UNITS as i64)),
        "the request adds the bridge's fee, as TFChain holds it, to what is due"
    );

    // The relay learns twins from the chain.
    app.relay.register_twin(
        twin.0,
        ed25519_dalek::VerifyingKey::from_bytes(&account).unwrap(),
    );

    // Nothing arrived yet: the watcher finds no change and nothing deploys.
    app.service.poll_payments().await.unwrap();
    assert_eq!(app.node(&alice).state, NodeState::Pending);

    // The bridge mints the payment, less its fee, onto the twin's account.
    let minted = u128::try_from(request.amount.units()).unwrap() - u128::from(BRIDGE_FEE_UNITS);
    app.chain.fund(account, minted);
    assert!(app.service.poll_payments().await.unwrap() > 0);
    app.service.wait_idle().await;
    assert_eq!(app.profile(&alice).account.balance, tft(before + minted));
    let node = app.node(&alice);
    assert_eq!(node.state, NodeState::Running, "{:#?}", app.texts(&alice));
    let placed = node.placed.clone().unwrap();
    assert_eq!(app.contract_state(placed.contract), ChainState::Created);
    assert_eq!(app.chain.world().contracts[&placed.contract.0].twin, twin.0);
    assert!(
        app.relay
            .state()
            .node_has(1000 + placed.node.id.0, placed.contract.0)
    );

    // /status asks the grid.
    app.send(&alice, &format!("/status {}", node.name)).await;
    assert!(
        app.said(&alice, &format!("grid node {}", placed.node.id)),
        "{:#?}",
        app.texts(&alice)
    );

    // The monitor's sweep reads the contract on chain and its grid node
    // through the proxy, without asking the node over RMB; the application
    // check then probes the node's addresses over TCP (the fake's addresses
    // lead nowhere, so the verdict itself is not asserted here).
    let frames = app.relay.state().frames;
    app.service.load_watchlist().await.unwrap();
    let report = app.service.sweep().await;
    assert_eq!((report.checked, report.unknown), (1, 0), "{report:?}");
    assert_eq!(app.relay.state().frames, frames);

    // TFChain bills the twin; the billing sweep records what it took and
    // never charges on its own.
    let billed = 3 * TFT;
    let ledger_before = app.profile(&alice).account.balance;
    {
        let mut c = app.chain.world();
        *c.balances.get_mut(&account).unwrap() -= billed;
    }
    app.chain.seal();
    app.service.bill_all().await.unwrap();
    let profile = app.profile(&alice);
    assert_eq!(profile.account.balance, tft(app.chain_balance(account)));
    let last = profile.account.entries.back().unwrap();
    // The bill, plus the fee the contract's creation cost the account.
    assert_eq!(
        last.amount,
        ledger_before.saturating_sub(tft(app.chain_balance(account)))
    );
    assert!(last.amount >= tft(billed));
    assert!(last.note.contains("billed on TFChain"), "{}", last.note);
    // A second sweep with no new bill records nothing more.
    let entries = profile.account.entries.len();
    app.service.bill_all().await.unwrap();
    assert_eq!(app.profile(&alice).account.entries.len(), entries);

    // Redeploy: the new contract first, on another grid node, then the old
    // one cancelled.
    app.send(&alice, &format!("/redeploy {}", node.name)).await;
    app.press(&alice, "Yes").await;
    app.service.wait_idle().await;
    let moved = app.node(&alice).placed.unwrap();
    assert_ne!(moved.contract, placed.contract);
    assert_ne!(moved.node.id, placed.node.id);
    assert_eq!(app.contract_state(placed.contract), ChainState::Deleted);
    assert_eq!(app.contract_state(moved.contract), ChainState::Created);

    // Delete cancels the contract on chain.
    app.send(&alice, &format!("/delete {}", node.name)).await;
    app.press(&alice, "Yes").await;
    app.service.wait_idle().await;
    assert_eq!(app.contract_state(moved.contract), ChainState::Deleted);
    assert!(!app.proxy.take_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_grid_service_starts_and_chats_while_tfchain_is_unreachable() {
    // Nothing listens there: the chain client connects only when used.
    let (_refusing, addr) = crate::support::refusing_addr();
    let url = format!("ws://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let mut config = real_grid_config(&dir);
    config.grid.tfgrid.tfchain_url = url;
    assert!(jukebox::app::use_chain_prices(&mut config).await.is_err());
    let outbox = Arc::new(MemoryOutbox::default());
    let clock = Arc::new(ManualClock::new(START));
    let app = start(&config, &outbox, &clock, &|_| None, &jukebox::app::as_is).await;
    let alice = UserId::parse("term:alice").unwrap();
    app.service
        .handle(&alice, "Alice", Input::from_message("/balance"), None)
        .await
        .unwrap();
    let said: Vec<String> = outbox
        .all()
        .into_iter()
        .filter_map(|(_, o)| match o {
            Outgoing::Message(m) => Some(m.text),
            _ => None,
        })
        .collect();
    assert!(said.iter().any(|t| t.contains("Balance")), "{said:#?}");
}

/// Alice orders a Presearch node and pays through the bridge; returns the
/// running node.
async fn deployed(app: &RealGridApp, alice: &UserId) -> NodeRecord {
    app.send(alice, "/deploy").await;
    app.press(alice, "Presearch").await;
    app.send(alice, "1").await;
    app.press(alice, "Anywhere").await;
    app.send(alice, "0123456789abcdef0123456789abc123").await;
    app.press(alice, "Skip").await;
    app.press(alice, "1 week").await;
    app.press(alice, "Confirm").await;
    app.pay_through_the_bridge(alice).await;
    let node = app.node(alice);
    assert_eq!(node.state, NodeState::Running, "{:#?}", app.texts(alice));
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_cancels_an_orphan_on_the_real_grid_only_after_the_delay() {
    let app = real_grid_app().await;
    let alice = UserId::parse("term:alice").unwrap();
    let node = deployed(&app, &alice).await;
    let contract = node.contract().unwrap();

    // Every contract is a node's: nothing to do.
    super::setup::index(&app.proxy, &app.chain);
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!(
        (pass.twins, pass.contracts, pass.orphans_found),
        (1, 1, 0),
        "{pass:?}"
    );

    // The record lets go of its contract without cancelling it: an orphan,
    // which TFChain keeps billing until someone cancels it.
    let mut nodes: Nodes = app
        .service
        .store()
        .read(&alice, jukebox::user::NODES)
        .unwrap()
        .unwrap();
    nodes.nodes[0].state = NodeState::Failed("lost".into());
    app.service
        .store()
        .write(&alice, jukebox::user::NODES, &nodes)
        .unwrap();
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.orphans_found, pass.orphans_cancelled), (1, 0));
    app.clock.advance(59 * 60);
    app.service.reconcile().await.unwrap();
    assert_eq!(app.contract_state(contract), ChainState::Created);
    app.clock.advance(60);
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.orphans_cancelled, pass.orphans_waiting), (1, 0));
    assert_eq!(app.contract_state(contract), ChainState::Deleted);

    // The proxy has not indexed the cancel yet and still lists the contract
    // as created: TFChain says otherwise, so nothing more happens.
    let applied = app.chain.world().applied.len();
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.contracts, pass.orphans_found), (0, 0));
    assert_eq!(app.chain.world().applied.len(), applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_after_tfchain_recorded_its_contract_adopts_it_on_restart() {
    let app = real_grid_app_dying(Some(Moment::AfterDeploy)).await;
    let alice = UserId::parse("term:alice").unwrap();
    app.send(&alice, "/deploy").await;
    app.press(&alice, "Presearch").await;
    app.send(&alice, "1").await;
    app.press(&alice, "Anywhere").await;
    app.send(&alice, "0123456789abcdef0123456789abc123").await;
    app.press(&alice, "Skip").await;
    app.press(&alice, "1 week").await;
    app.press(&alice, "Confirm").await;
    app.pay_through_the_bridge(&alice).await;

    // Died with TFChain's answer: one contract on chain, deployed on its
    // node, and a record that knows only its intent.
    let node = app.node(&alice);
    assert_eq!(
        (node.state.clone(), node.placed.clone()),
        (NodeState::Deploying, None)
    );
    let made: Vec<u64> = app.chain.world().contracts.keys().copied().collect();
    assert_eq!(made.len(), 1);

    // A fresh Jukebox on the same data dir and the same grid, once the
    // dead one let go of the data dir.
    let RealGridApp {
        proxy,
        relay,
        chain,
        service,
        outbox,
        clock,
        config,
        _dir,
    } = app;
    drop(service);
    let service = build(&config, &outbox, &clock, None).await.service.clone();
    let app = RealGridApp {
        proxy,
        relay,
        chain,
        service,
        outbox,
        clock,
        config,
        _dir,
    };
    app.service.resume_pending().await.unwrap();
    app.service.wait_idle().await;
    let node = app.node(&alice);
    assert_eq!(node.state, NodeState::Running, "{:#?}", app.texts(&alice));
    assert_eq!(node.contract(), Some(ContractId(made[0])));
    assert_eq!(app.chain.world().contracts.len(), 1, "no second contract");
    assert_eq!(app.contract_state(ContractId(made[0])), ChainState::Created);
}

/// The env of the zmachine in the deployment `node`'s grid node holds for
/// its contract, as Zero-OS received it.
fn deployed_env(
    app: &RealGridApp,
    node: &NodeRecord,
) -> serde_json::Map<String, serde_json::Value> {
    let placed = node.placed.as_ref().expect("placed");
    let relay = app.relay.state();
    let json = relay
        .deployment(placed.contract.0)
        .expect("the grid node holds the deployment");
    json["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["type"] == "zmachine")
        .and_then(|w| w["data"]["env"].as_object().cloned())
        .expect("a zmachine with env")
}

/// Issue 19 item 2: a Presearch node's own keys, given at /deploy, reach
/// Zero-OS as the variables the flist restores them from
/// (threefoldtech/tf-images `tfgrid3/presearch/ps/prerestorer.yaml`), in
/// PEM, and a redeploy sends the same keys to the new grid node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presearch_nodes_keys_reach_zero_os_and_move_with_a_redeploy() {
    let app = real_grid_app().await;
    let alice = UserId::parse("term:alice").unwrap();
    let fixture = |name: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/presearch-keys")
                .join(name),
        )
        .unwrap()
    };
    let (private, public) = (fixture("id_rsa"), fixture("id_rsa.pub"));
    app.send(&alice, "/deploy").await;
    app.press(&alice, "Presearch").await;
    app.send(&alice, "1").await;
    app.press(&alice, "Anywhere").await;
    app.send(&alice, "0123456789abcdef0123456789abc123").await;
    app.press(&alice, "Skip").await;
    app.press(&alice, "1 week").await;
    app.press(&alice, "Give the node's keys").await;
    app.send(&alice, &private).await;
    app.send(&alice, &public).await;
    app.press(&alice, "Confirm").await;
    app.pay_through_the_bridge(&alice).await;
    let node = app.node(&alice);
    assert_eq!(node.state, NodeState::Running, "{:#?}", app.texts(&alice));

    let env = deployed_env(&app, &node);
    assert_eq!(env["PRESEARCH_BACKUP_PRI_KEY"], private.trim());
    assert_eq!(env["PRESEARCH_BACKUP_PUB_KEY"], public.trim());
    assert_eq!(
        env["PRESEARCH_REGISTRATION_CODE"],
        "0123456789abcdef0123456789abc123"
    );

    app.send(&alice, &format!("/redeploy {}", node.name)).await;
    app.press(&alice, "Yes").await;
    app.service.wait_idle().await;
    let moved = app.node(&alice);
    assert_ne!(
        moved.placed.as_ref().unwrap().contract,
        node.placed.as_ref().unwrap().contract
    );
    let env = deployed_env(&app, &moved);
    assert_eq!(env["PRESEARCH_BACKUP_PRI_KEY"], private.trim());
    assert_eq!(env["PRESEARCH_BACKUP_PUB_KEY"], public.trim());
    assert!(app.said(&alice, "The node kept its identity"));
}
