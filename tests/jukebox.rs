//! The integration tests, all in this one binary (Cargo.toml sets
//! `autotests = false`): linking the whole crate once instead of once per
//! file is what keeps CI fast on two cores. Its own tests here are whole
//! conversations against a real service on a temporary data dir (simulated
//! grid, sandbox wallet, durable store); every other file under `tests/` is
//! a module below, and `every_test_file_is_a_module_of_this_binary` fails
//! when one is not, so a new file cannot be silently left out of the run.

mod admin_command;
mod backup;
mod browser;
mod chain_probe;
mod check_command;
mod contracts;
mod crash;
mod node_dashboard;
mod polygon_monitor;
mod stellar;
mod store_durability;
mod support;
mod telegram;
mod terminal_chat;
mod tfconnect;
mod tfgrid;
mod tidy;
mod web;
mod web_deploy_form;
mod web_portal;

macro_rules! transcripts {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::transcript::run_file($file).await;
            }
        )*
    };
}

transcripts! {
    deploy_dash_full => "deploy_dash_full.txt",
    deploy_dash_masternode => "deploy_dash_masternode.txt",
    deploy_digibyte_farm => "deploy_digibyte_farm.txt",
    deploy_polygon_sentry => "deploy_polygon_sentry.txt",
    deploy_polygon_full => "deploy_polygon_full.txt",
    deploy_polygon_validator => "deploy_polygon_validator.txt",
    deploy_presearch => "deploy_presearch.txt",
    deploy_chain_and_type => "deploy_chain_and_type.txt",
    deploy_type_words => "deploy_type_words.txt",
    cancel_and_back => "cancel_and_back.txt",
    bad_input_everywhere => "bad_input_everywhere.txt",
    restart_mid_conversation => "restart_mid_conversation.txt",
    two_users_isolated => "two_users_isolated.txt",
    double_confirm => "double_confirm.txt",
    partial_payment_and_failure => "partial_payment_and_failure.txt",
    manage_nodes => "manage_nodes.txt",
    payment_expiry => "payment_expiry.txt",
    outage_and_redeploy => "outage_and_redeploy.txt",
    outage_recovery => "outage_recovery.txt",
    outage_blip => "outage_blip.txt",
    autoheal => "autoheal.txt",
    alerts_survive_restart => "alerts_survive_restart.txt",
    fault_injection => "fault_injection.txt",
    funds_reminders_and_resume => "funds_reminders_and_resume.txt",
    funds_expiry => "funds_expiry.txt",
    admin_commands => "admin_commands.txt",
    funding_all_nodes => "funding_all_nodes.txt",
    stale_alert_buttons => "stale_alert_buttons.txt",
    pay_once => "pay_once.txt",
    simulation_labels => "simulation_labels.txt",
    move_notices => "move_notices.txt",
    presearch_keys => "presearch_keys.txt",
    chain_alerts => "chain_alerts.txt",
    chain_synced => "chain_synced.txt",
    chain_mutes_and_version => "chain_mutes_and_version.txt",
    chain_fault_command => "chain_fault_command.txt",
    chain_status => "chain_status.txt",
}

/// A crash after the sandbox journaled an order's payment but before the
/// ledger credited it: after the restart the replayed press (and the payment
/// watcher, which sees the same payment) credit it exactly once, deploy the
/// order once, and a further press says it is already paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_cut_short_by_a_crash_is_credited_once_after_the_restart() {
    use jukebox::ledger::EntryKind;
    use jukebox::payments::sandbox::{Paid, SandboxWallet};
    use jukebox::user::{OrderState, Orders, PROFILE, Profile};

    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(jukebox::clock::ManualClock::new(support::START));
    let config = support::test_config(dir.path(), &|_| {});
    let alice = jukebox::ids::UserId::parse("term:alice").unwrap();
    let app = support::TestApp::start(&config, clock.clone()).await;
    app.send(&alice, "/deploy").await;
    for label in ["Dash", "Dash full node"] {
        app.press_label(&alice, label).await;
    }
    app.send(&alice, "1").await;
    for label in ["No", "Anywhere", "Skip", "1 week", "Confirm"] {
        app.press_label(&alice, label).await;
    }
    let orders: Orders = app
        .service
        .store()
        .read(&alice, jukebox::user::ORDERS)
        .unwrap()
        .unwrap();
    let order = orders.orders[0].clone();
    let request = order.payment.clone().expect("a payment request");
    drop(app);

    // What the killed process had done: the press's payment is durable in
    // the sandbox's journal, under the request's key, and nothing else.
    let sandbox = SandboxWallet::open(&config.data_dir.join("sandbox-wallet")).unwrap();
    let key = format!("request:{}", request.memo);
    let Paid::New(payment) = sandbox
        .pay_once(
            &key,
            &request.memo,
            request.amount,
            "sandbox-user-wallet",
            support::START,
        )
        .await
        .unwrap()
    else {
        panic!("a new payment")
    };
    drop(sandbox);

    let app = support::TestApp::start(&config, clock.clone()).await;
    app.service.resume_pending().await.unwrap();
    let pay = format!("pay:{}", order.id);
    app.press(&alice, &pay).await;
    app.service.poll_payments().await.unwrap();
    app.service.wait_idle().await;
    app.press(&alice, &pay).await;
    app.service.poll_payments().await.unwrap();
    app.service.wait_idle().await;

    let texts = support::texts_for(&app.outbox.all(), &alice);
    let received = texts.iter().filter(|t| t.contains("Received")).count();
    assert_eq!(received, 1, "{texts:#?}");
    assert!(
        texts.iter().any(|t| t.contains("is already paid")),
        "{texts:#?}"
    );
    let profile: Profile = app.service.store().read(&alice, PROFILE).unwrap().unwrap();
    let credits: Vec<_> = profile
        .account
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Credit)
        .collect();
    assert_eq!(credits.len(), 1, "{credits:?}");
    assert_eq!(credits[0].amount, payment.amount);
    assert!(profile.account.has_credited(&payment.id));
    let orders: Orders = app
        .service
        .store()
        .read(&alice, jukebox::user::ORDERS)
        .unwrap()
        .unwrap();
    assert_ne!(orders.orders[0].state, OrderState::AwaitingPayment);
    assert!(app.node(&alice, "dash-full-").placed.is_some());
}

/// With `autotests = false`, Cargo builds only this file's binary: a test
/// file that is not declared as a module here would never run. Every `.rs`
/// file directly in `tests/` and every directory holding a `mod.rs` must be
/// a module of this binary, and no directory may hold a `main.rs` (that was
/// the layout of a separate test binary).
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let root = std::fs::read_to_string(tests.join("jukebox.rs")).expect("tests/jukebox.rs");
    let declared = |name: &str| root.lines().any(|l| l.trim() == format!("mod {name};"));
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("tests/") {
        let path = entry.expect("a tests/ entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            assert!(
                !path.join("main.rs").exists(),
                "{} is a separate test binary's layout: rename it mod.rs and declare `mod {name};` in tests/jukebox.rs",
                path.join("main.rs").display()
            );
            if path.join("mod.rs").exists() && !declared(name) {
                missing.push(format!("{}/mod.rs", path.display()));
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && name != "jukebox"
            && !declared(name)
        {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "not part of the test binary, so never run (declare them as `mod NAME;` in tests/jukebox.rs): {missing:?}"
    );
}
