//! No second contract and no contract left behind, whatever moment a crash
//! hits (issue 16, items 2 and 3), on the simulated grid: a service "dies"
//! right after the grid recorded a contract or right before it cancels one
//! (`support::crash_grid`), a fresh service starts on the same data dir and
//! the same grid, and the grid must end with exactly the contracts the node
//! records use. Then the reconciler: an orphan is cancelled only after the
//! safety delay, and a record whose contract vanished is reported once.

use std::sync::Arc;

use jukebox::clock::ManualClock;
use jukebox::config::Config;
use jukebox::crypto::IdentityKey;
use jukebox::grid::{ContractId, Grid};
use jukebox::ids::UserId;
use jukebox::user::{self, NodeRecord, NodeState, Nodes};

use crate::support::crash_grid::Moment;
use crate::support::{START, TestApp, test_config, texts_for};

struct World {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    alice: UserId,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            clock: Arc::new(ManualClock::new(START)),
            alice: UserId::parse("term:alice").unwrap(),
        }
    }

    /// Alice's identity key, unsealed as the deployer would: how the test
    /// acts for her twin directly on the grid (a cancel behind Jukebox's
    /// back).
    fn alice_identity(&self, app: &TestApp) -> IdentityKey {
        let profile: user::Profile = app
            .service
            .store()
            .read(&self.alice, user::PROFILE)
            .unwrap()
            .unwrap();
        IdentityKey::new(
            profile
                .identity
                .signing_key(app.service.master_key())
                .unwrap(),
        )
    }

    fn config(&self) -> Config {
        test_config(self.dir.path(), &|_| {})
    }

    /// A service on the data dir whose grid dies at `at` (or never).
    async fn start(&self, at: Option<Moment>) -> TestApp {
        TestApp::start_crashing(&self.config(), self.clock.clone(), at).await
    }

    /// A fresh service after a crash, resumed as `jukebox run` resumes.
    async fn restart(&self) -> TestApp {
        let app = self.start(None).await;
        app.service.resume_pending().await.expect("resumes");
        app.service.wait_idle().await;
        app
    }
}

/// Alice orders one Dash full node and pays; the deployment runs in the
/// background.
async fn order_and_pay(app: &TestApp, user: &UserId) {
    app.send(user, "/deploy").await;
    for label in ["Dash", "Dash full node"] {
        app.press_label(user, label).await;
    }
    app.send(user, "1").await;
    for label in ["No", "Anywhere", "Skip", "1 week", "Confirm"] {
        app.press_label(user, label).await;
    }
    app.press_label(user, "Pay with sandbox wallet").await;
}

/// Every node record of `user`, deleted ones too.
fn records(app: &TestApp, user: &UserId) -> Vec<NodeRecord> {
    let nodes: Nodes = app
        .service
        .store()
        .read(user, user::NODES)
        .unwrap()
        .unwrap_or_default();
    nodes.nodes
}

/// The contracts the grid holds live for `user`'s twin.
async fn live_contracts(app: &TestApp, user: &UserId) -> Vec<ContractId> {
    let profile: user::Profile = app
        .service
        .store()
        .read(user, user::PROFILE)
        .unwrap()
        .unwrap();
    let twin = profile.twin.expect("a twin");
    let mut ids: Vec<ContractId> = app
        .sim
        .twin_contracts(twin)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.contract)
        .collect();
    ids.sort();
    ids
}

/// A running node deployed without any crash; returns its record.
async fn running_node(w: &World) -> NodeRecord {
    let app = w.start(None).await;
    order_and_pay(&app, &w.alice).await;
    app.service.wait_idle().await;
    let node = app.node(&w.alice, "dash-full-");
    assert_eq!(node.state, NodeState::Running);
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_after_the_grid_recorded_its_contract_adopts_it() {
    let w = World::new();
    let first = w.start(Some(Moment::AfterDeploy)).await;
    order_and_pay(&first, &w.alice).await;
    first.service.wait_idle().await;
    // The process died with the grid's answer: the record knows only the
    // intent, written before the grid was asked.
    let node = first.node(&w.alice, "dash-full-");
    assert_eq!(node.state, NodeState::Deploying);
    assert_eq!(node.placed, None);
    let intent = node.intent.clone().expect("the intent is written first");
    let made = first
        .sim
        .contract_for(intent.grid_node, &intent.deployment_hash)
        .await
        .unwrap()
        .expect("the grid recorded the contract");
    assert_eq!(live_contracts(&first, &w.alice).await, [made]);
    // The reconciler leaves a contract that an intent accounts for alone,
    // however long ago it was made.
    w.clock.advance(3 * 3600);
    let pass = first.service.reconcile().await.unwrap();
    assert_eq!((pass.orphans_found, pass.orphans_cancelled), (0, 0));
    drop(first);

    let second = w.restart().await;
    let node = second.node(&w.alice, "dash-full-");
    assert_eq!(node.state, NodeState::Running);
    assert_eq!(node.contract(), Some(made), "the first contract is adopted");
    assert_eq!(node.placed.as_ref().unwrap().node.id, intent.grid_node);
    assert_eq!(node.intent, None);
    assert_eq!(live_contracts(&second, &w.alice).await, [made]);
    assert_eq!(second.sim.stats().contracts_active, 1);
}

/// A service whose grid dies once it made a move's new contract: `old` is
/// redeployed, the move's task dies with the grid's answer, and the move's
/// intent is left in the record. Returns the service and the new contract
/// the grid recorded.
async fn redeploy_dying_after_the_new_contract(
    w: &World,
    old: &NodeRecord,
) -> (TestApp, ContractId) {
    let app = w.start(Some(Moment::AfterDeploy)).await;
    app.send(&w.alice, &format!("/redeploy {}", old.name)).await;
    app.press_label(&w.alice, "Yes, redeploy").await;
    app.service.wait_idle().await;
    let intent = app
        .node(&w.alice, "dash-full-")
        .intent
        .clone()
        .expect("the move's intent");
    let new_contract = app
        .sim
        .contract_for(intent.grid_node, &intent.deployment_hash)
        .await
        .unwrap()
        .expect("the grid recorded the new contract");
    (app, new_contract)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_killed_after_the_new_contract_finishes_the_move_and_cancels_the_old_once() {
    let w = World::new();
    let old = running_node(&w).await;
    let old_contract = old.contract().unwrap();

    let (first, new_contract) = redeploy_dying_after_the_new_contract(&w, &old).await;
    let node = first.node(&w.alice, "dash-full-");
    assert_eq!(node.contract(), Some(old_contract), "not moved yet");
    assert_eq!(
        live_contracts(&first, &w.alice).await,
        [old_contract, new_contract]
    );
    drop(first);

    let second = w.restart().await;
    let node = second.node(&w.alice, "dash-full-");
    assert_eq!(node.state, NodeState::Running);
    assert_eq!(node.contract(), Some(new_contract), "the move is finished");
    assert_eq!((node.intent.clone(), node.retired.clone()), (None, vec![]));
    assert_eq!(live_contracts(&second, &w.alice).await, [new_contract]);
    assert!(
        texts_for(&second.outbox.all(), &w.alice)
            .iter()
            .any(|t| t.contains("Redeployed."))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_deleted_meanwhile_and_killed_after_the_new_contract_cancels_it_at_the_next_start() {
    let w = World::new();
    let old = running_node(&w).await;
    let old_contract = old.contract().unwrap();

    // The move's task dies once the grid made the new contract; the owner
    // deletes the node before anything retired that contract.
    let (first, new_contract) = redeploy_dying_after_the_new_contract(&w, &old).await;
    first.send(&w.alice, &format!("/delete {}", old.name)).await;
    first.press_label(&w.alice, "Yes, delete it").await;
    first.service.wait_idle().await;
    assert_eq!(live_contracts(&first, &w.alice).await, [new_contract]);
    drop(first);

    // The next start retires and cancels it at once, not an hour later as
    // an orphan.
    let second = w.restart().await;
    let node = records(&second, &w.alice)
        .into_iter()
        .find(|n| n.name == old.name)
        .expect("the record stays");
    assert_eq!(node.state, NodeState::Deleted);
    assert_eq!((node.intent.clone(), node.retired.clone()), (None, vec![]));
    assert!(live_contracts(&second, &w.alice).await.is_empty());
    assert_ne!(new_contract, old_contract);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_killed_before_the_old_contract_was_cancelled_cancels_it_at_the_next_start() {
    let w = World::new();
    let old = running_node(&w).await;
    let old_contract = old.contract().unwrap();

    let first = w.start(Some(Moment::BeforeCancel)).await;
    first
        .send(&w.alice, &format!("/redeploy {}", old.name))
        .await;
    first.press_label(&w.alice, "Yes, redeploy").await;
    first.service.wait_idle().await;
    // The new placement and the retired old contract were saved together.
    let node = first.node(&w.alice, "dash-full-");
    let new_contract = node.contract().unwrap();
    assert_ne!(new_contract, old_contract);
    assert_eq!(node.retired, [old_contract]);
    assert_eq!(
        live_contracts(&first, &w.alice).await,
        [old_contract, new_contract]
    );
    drop(first);

    let second = w.restart().await;
    let node = second.node(&w.alice, "dash-full-");
    assert_eq!(node.contract(), Some(new_contract));
    assert!(node.retired.is_empty());
    assert_eq!(live_contracts(&second, &w.alice).await, [new_contract]);

    // Then deleted: nothing of the node is left on the grid.
    second
        .send(&w.alice, &format!("/delete {}", node.name))
        .await;
    second.press_label(&w.alice, "Yes, delete it").await;
    assert!(live_contracts(&second, &w.alice).await.is_empty());
    assert_eq!(second.sim.stats().contracts_active, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_killed_before_the_cancel_cancels_at_the_next_start() {
    let w = World::new();
    let node = running_node(&w).await;

    let first = w.start(Some(Moment::BeforeCancel)).await;
    first
        .send(&w.alice, &format!("/delete {}", node.name))
        .await;
    // The delete runs in the conversation itself: it dies in this task.
    let service = first.service.clone();
    let alice = w.alice.clone();
    let data = jukebox::dialogue::Input::Button(
        crate::support::last_buttons(&first.outbox.all(), &w.alice)
            .into_iter()
            .find(|b| b.label.starts_with("Yes, delete it"))
            .expect("the confirm button")
            .data,
    );
    let died =
        tokio::spawn(async move { service.handle(&alice, "Tester", data, None).await }).await;
    assert!(died.is_err(), "the crash happened");
    let record = records(&first, &w.alice).remove(0);
    assert_eq!(record.state, NodeState::Deleted);
    assert_eq!(record.retired, [node.contract().unwrap()]);
    assert_eq!(first.sim.stats().contracts_active, 1);
    drop(first);

    let second = w.restart().await;
    assert_eq!(second.sim.stats().contracts_active, 0);
    assert!(records(&second, &w.alice)[0].retired.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_is_cancelled_only_after_the_safety_delay() {
    let w = World::new();
    let node = running_node(&w).await;
    let contract = node.contract().unwrap();
    let app = w.start(None).await;
    // A record that lost its contract without cancelling it (as an older
    // Jukebox could leave it): the contract pays for nothing.
    let mut nodes: Nodes = app
        .service
        .store()
        .read(&w.alice, user::NODES)
        .unwrap()
        .unwrap();
    nodes.nodes[0].state = NodeState::Failed("lost".into());
    app.service
        .store()
        .write(&w.alice, user::NODES, &nodes)
        .unwrap();

    let delay = w.config().reconciler.orphan_delay_minutes * 60;
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!(
        (pass.contracts, pass.orphans_found, pass.orphans_cancelled),
        (1, 1, 0)
    );
    w.clock.advance(delay - 1);
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.orphans_found, pass.orphans_waiting), (0, 1));
    assert_eq!(live_contracts(&app, &w.alice).await, [contract]);
    // The delay counts across a restart.
    drop(app);
    let app = w.start(None).await;
    w.clock.advance(1);
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.orphans_cancelled, pass.orphans_waiting), (1, 0));
    assert!(live_contracts(&app, &w.alice).await.is_empty());

    let operator = UserId::parse("term:operator").unwrap();
    app.send(&operator, "/stats").await;
    let shown = texts_for(&app.outbox.all(), &operator).join("\n");
    assert!(
        shown.contains("0 waiting out the safety delay, 1 cancelled this pass, 1 cancelled in all"),
        "{shown}"
    );
    app.send(&operator, "/user term:alice").await;
    let shown = texts_for(&app.outbox.all(), &operator).join("\n");
    assert!(shown.contains("contract.orphan_found"), "{shown}");
    assert!(shown.contains("contract.orphan_cancelled"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_contract_vanished_is_reported_once() {
    let w = World::new();
    let node = running_node(&w).await;
    let app = w.start(None).await;
    app.sim
        .cancel(&w.alice_identity(&app), node.contract().unwrap())
        .await
        .unwrap();

    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.contracts, pass.missing_found), (0, 1));
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!(pass.missing_found, 0, "reported once");

    let operator = UserId::parse("term:operator").unwrap();
    app.send(&operator, "/stats").await;
    let shown = texts_for(&app.outbox.all(), &operator).join("\n");
    let line = format!(
        "Node records whose contract is gone: 1: term:alice {} (contract {})",
        node.name,
        node.contract().unwrap()
    );
    assert!(shown.contains(&line), "{shown}");
    app.send(&operator, "/user term:alice").await;
    let shown = texts_for(&app.outbox.all(), &operator).join("\n");
    assert_eq!(shown.matches("node.contract_missing").count(), 1, "{shown}");
}

/// Bills `app`'s users after the clock moved `hours` on, as the hourly
/// sweep would, in a task of its own: a crash of the grid kills that task
/// only. Returns whether it died.
async fn bill_after(app: &TestApp, clock: &ManualClock, hours: u64) -> bool {
    clock.advance(hours * 3600);
    let service = app.service.clone();
    tokio::spawn(async move { service.bill_all().await.expect("billing") })
        .await
        .is_err()
}

/// A node paid for one week, left unpaid until the grace period ends, with
/// the process killed when expiry asks the grid to cancel. Returns the
/// crashed service and the node's contract.
async fn expiry_killed_before_the_cancel(w: &World) -> (TestApp, ContractId) {
    let node = running_node(w).await;
    let contract = node.contract().unwrap();
    let app = w.start(Some(Moment::BeforeCancel)).await;
    // The week runs out: the node is paused (no cancel yet).
    assert!(!bill_after(&app, &w.clock, 8 * 24).await);
    assert_eq!(app.node(&w.alice, "dash-full-").state, NodeState::Paused);
    // The grace period (14 days in the test config) runs out.
    assert!(
        bill_after(&app, &w.clock, 15 * 24).await,
        "the crash happened"
    );
    // The node was ended and its contract retired in one save, before the
    // grid was asked.
    let record = records(&app, &w.alice).remove(0);
    assert_eq!(record.state, NodeState::Expired);
    assert_eq!(record.retired, [contract]);
    assert_eq!(live_contracts(&app, &w.alice).await, [contract]);
    (app, contract)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_killed_before_the_cancel_cancels_at_the_next_start() {
    let w = World::new();
    let (first, _) = expiry_killed_before_the_cancel(&w).await;
    drop(first);

    // No billing sweep and no orphan delay: the start itself cancels it.
    let second = w.restart().await;
    assert!(live_contracts(&second, &w.alice).await.is_empty());
    assert_eq!(second.sim.stats().contracts_active, 0);
    let record = records(&second, &w.alice).remove(0);
    assert_eq!((record.state, record.retired), (NodeState::Expired, vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_killed_before_the_cancel_is_cancelled_by_the_next_reconciler_pass() {
    let w = World::new();
    let (first, _) = expiry_killed_before_the_cancel(&w).await;
    drop(first);

    // A fresh service that has not resumed anything yet: its first
    // reconciler pass cancels the retired contract at once, as a retired
    // one, not as an orphan waiting out the safety delay.
    let app = w.start(None).await;
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!(
        (pass.contracts, pass.orphans_found, pass.orphans_waiting),
        (0, 0, 0),
        "{pass:?}"
    );
    assert!(live_contracts(&app, &w.alice).await.is_empty());
    assert!(records(&app, &w.alice)[0].retired.is_empty());
    assert_eq!(app.sim.stats().contracts_active, 0);
    // Cancelled once: the next pass has nothing left to do.
    let pass = app.service.reconcile().await.unwrap();
    assert_eq!((pass.contracts, pass.orphans_cancelled), (0, 0));
}
