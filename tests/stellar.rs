//! Real TFT payments on Stellar, against a fake Horizon on loopback: the
//! wallet alone (paging, the cursor across restarts, ignored records,
//! Horizon failing, slow or rate limiting), and whole services paid through
//! it (an order paid and deployed, partial, over and late payments,
//! unmatched payments kept for operators, restarts without double credit).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use jukebox::clock::{Backoff, ManualClock};
use jukebox::config::Config;
use jukebox::ids::UserId;
use jukebox::ledger::Account;
use jukebox::money::Tft;
use jukebox::payments::Wallet as _;
use jukebox::payments::stellar::{StellarSettings, StellarWallet};
use jukebox::payments::strkey::{self, ACCOUNT_ID};
use jukebox::user::Profile;
use support::fake_horizon::{FakeHorizon, Fault, Op, TFT_ISSUER};
use support::{START, TestApp, last_buttons, test_config, texts_for};

fn deposit() -> String {
    strkey::encode(ACCOUNT_ID, &[9; 32])
}

fn tft(text: &str) -> Tft {
    text.parse().expect("amount")
}

/// Wallet settings for `fake`: short waits, so failures cost milliseconds.
fn settings(fake: &FakeHorizon, page_limit: u32) -> StellarSettings {
    StellarSettings {
        horizon_url: fake.url(),
        asset_issuer: TFT_ISSUER.into(),
        deposit_address: deposit(),
        page_limit,
        request_timeout: Duration::from_secs(10),
        backoff: Backoff {
            first: Duration::from_millis(5),
            max: Duration::from_millis(20),
            attempts: 4,
        },
    }
}

fn memos(payments: &[jukebox::payments::IncomingPayment]) -> Vec<Option<&str>> {
    payments.iter().map(|p| p.memo.as_deref()).collect()
}

#[tokio::test]
async fn pages_are_followed_and_the_cursor_survives_a_restart() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let memo_names: Vec<String> = (0..7).map(|i| format!("m{i}")).collect();
    for memo in &memo_names {
        fake.add(Op::tft(&deposit(), "1.5", Some(memo), START));
    }
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 3)).expect("opens");
    let first = wallet.incoming().await.expect("reads");
    let want: Vec<Option<&str>> = memo_names.iter().map(|m| Some(m.as_str())).collect();
    assert_eq!(memos(&first), want);
    // Three pages (3 + 3 + 1), each asking after the previous page's last token.
    let asked = fake.requests();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(!asked[0].contains("cursor="), "{}", asked[0]);
    assert!(asked[0].contains("order=asc") && asked[0].contains("join=transactions"));
    assert!(asked[1].contains(&format!(
        "cursor={}",
        first[2].id.trim_start_matches("stellar-")
    )));
    // Not asked again yet: a crash now re-delivers the batch.
    drop(wallet);
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 3)).expect("reopens");
    assert_eq!(wallet.incoming().await.expect("reads"), first);
    // Asking again confirms the batch; nothing new is there.
    assert!(wallet.incoming().await.expect("reads").is_empty());
    fake.add(Op::tft(&deposit(), "2", Some("later"), START));
    drop(wallet);
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 3)).expect("reopens");
    assert_eq!(
        memos(&wallet.incoming().await.expect("reads")),
        [Some("later")]
    );
}

#[tokio::test]
async fn only_tft_paid_to_us_counts() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let us = deposit();
    let mut xlm = Op::tft(&us, "100", Some("xlm"), START);
    xlm.asset = None;
    let mut fake_tft = Op::tft(&us, "100", Some("fake"), START);
    fake_tft.asset = Some(("TFT".into(), strkey::encode(ACCOUNT_ID, &[1; 32])));
    let mut failed = Op::tft(&us, "100", Some("failed"), START);
    failed.successful = false;
    let mut created = Op::tft(&us, "100", Some("create"), START);
    created.kind = "create_account";
    let mut outgoing = Op::tft(&strkey::encode(ACCOUNT_ID, &[2; 32]), "100", None, START);
    outgoing.from = us.clone();
    let mut path = Op::tft(&us, "3", Some("path"), START);
    path.kind = "path_payment_strict_send";
    let mut id_memo = Op::tft(&us, "4", None, START);
    id_memo.memo = Some(("id".into(), "42".into()));
    for op in [xlm, fake_tft, failed, created, outgoing, path, id_memo] {
        fake.add(op);
    }
    fake.add(Op::tft(&us, "5.0000001", Some("good"), START));
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 200)).expect("opens");
    let got = wallet.incoming().await.expect("reads");
    assert_eq!(memos(&got), [Some("path"), Some("id:42"), Some("good")]);
    assert_eq!(got[2].amount, tft("5.0000001"));
    assert_eq!(got[2].received_at, START);
    assert!(got[2].transaction.as_deref().is_some_and(|h| h.len() == 64));
    assert!(wallet.incoming().await.expect("reads").is_empty());
    drop(wallet);
    // The skipped records are behind the cursor too.
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 200)).expect("reopens");
    assert!(wallet.incoming().await.expect("reads").is_empty());
}

#[tokio::test]
async fn horizon_down_loses_nothing_and_is_retried() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    fake.add(Op::tft(&deposit(), "10", Some("a"), START));
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 200)).expect("opens");
    // Down for longer than one call's attempts: the call fails.
    fake.fail_next([
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(502),
        Fault::Status(504),
    ]);
    let error = format!(
        "{:#}",
        wallet.incoming().await.expect_err("Horizon is down")
    );
    assert!(error.contains("504"), "{error}");
    assert_eq!(fake.requests().len(), 4);
    // Back up: the same payment, once.
    assert_eq!(memos(&wallet.incoming().await.expect("reads")), [Some("a")]);
    // Rate limited, then slow beyond the client's timeout, then garbage
    // from a proxy: all within one call's attempts.
    fake.add(Op::tft(&deposit(), "11", Some("b"), START));
    let mut impatient = settings(&fake, 200);
    impatient.request_timeout = Duration::from_secs(1);
    // Room for a spurious timeout on a loaded machine: each request takes
    // one fault whatever its timing, so only the outcome is asserted.
    impatient.backoff.attempts = 8;
    drop(wallet);
    let wallet = StellarWallet::open(dir.path(), impatient).expect("reopens");
    fake.fail_next([
        Fault::RateLimited(0),
        Fault::Slow(Duration::from_secs(3)),
        Fault::Status(500),
    ]);
    let got = wallet.incoming().await.expect("retried until it answered");
    // "a" again: the crash-safe re-delivery (it was never confirmed).
    assert_eq!(memos(&got), [Some("a"), Some("b")]);
    // A garbage answer is not retried and moves nothing.
    fake.fail_next([Fault::Garbage]);
    let error = format!("{:#}", wallet.incoming().await.expect_err("not JSON"));
    assert!(error.contains("not understood"), "{error}");
    assert!(wallet.incoming().await.expect("reads").is_empty());
}

#[tokio::test]
async fn a_missing_join_is_filled_from_the_transaction() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    fake.add(Op::tft(&deposit(), "10", Some("joined-later"), START));
    fake.drop_join(true);
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 200)).expect("opens");
    let got = wallet.incoming().await.expect("reads");
    assert_eq!(memos(&got), [Some("joined-later")]);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with("/transactions/"))
    );
}

#[tokio::test]
async fn an_unknown_account_is_a_clear_error() {
    let fake = FakeHorizon::start(&strkey::encode(ACCOUNT_ID, &[3; 32]));
    let dir = tempfile::tempdir().expect("temp dir");
    let wallet = StellarWallet::open(dir.path(), settings(&fake, 200)).expect("opens");
    let error = format!("{:#}", wallet.incoming().await.expect_err("404"));
    assert!(
        error.contains("404") && error.contains("Resource Missing"),
        "{error}"
    );
    // Not retried: it will not get better by asking again at once.
    assert_eq!(fake.requests().len(), 1);
}

// ---- whole services paid through Stellar ----

fn stellar_config(dir: &std::path::Path, fake: &FakeHorizon, page_limit: u32) -> Config {
    let url = fake.url();
    test_config(dir, &move |c| {
        c.payments.kind = jukebox::config::PaymentsKind::Stellar;
        c.payments.stellar.horizon_url = url.clone();
        c.payments.stellar.deposit_address = deposit();
        c.payments.stellar.page_limit = page_limit;
        c.payments.stellar.retry_first_ms = 5;
        c.payments.stellar.retry_max_seconds = 1;
    })
}

/// Orders one Presearch node for a week; returns the memo and amount of
/// the payment request shown.
async fn order_a_node(app: &TestApp, user: &UserId) -> (String, String) {
    app.send(user, "/deploy").await;
    app.press_label(user, "Presearch").await;
    app.send(user, "1").await;
    app.press_label(user, "Anywhere").await;
    app.send(user, "0123456789abcdef0123456789abc123").await;
    for label in ["Skip", "1 week", "Confirm"] {
        app.press_label(user, label).await;
    }
    let buttons = last_buttons(&app.outbox.all(), user);
    assert!(
        !buttons.iter().any(|b| b.label.contains("sandbox")),
        "no sandbox button with a real wallet: {buttons:?}"
    );
    latest_request(app, user)
}

/// The memo and amount of the latest SEP-0007 link shown to `user`.
fn latest_request(app: &TestApp, user: &UserId) -> (String, String) {
    let shown = texts_for(&app.outbox.all(), user);
    let link = shown
        .iter()
        .rev()
        .find_map(|t| {
            t.split_whitespace()
                .find(|w| w.starts_with("web+stellar:pay?"))
        })
        .expect("a payment link was shown")
        .to_owned();
    assert!(
        link.contains(&format!("destination={}", deposit())),
        "{link}"
    );
    assert!(
        link.contains(&format!("asset_issuer={TFT_ISSUER}")),
        "{link}"
    );
    let param = |name: &str| {
        link.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {link}"))
            .to_owned()
    };
    (param("memo"), param("amount"))
}

fn account(app: &TestApp, user: &UserId) -> Account {
    let profile: Profile = app
        .service
        .store()
        .read(user, jukebox::user::PROFILE)
        .expect("readable")
        .expect("profile");
    profile.account
}

fn shown_since(app: &TestApp, user: &UserId, seen: usize) -> Vec<String> {
    texts_for(&app.outbox.all()[seen..], user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_on_stellar_deploys() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(START));
    let app = TestApp::start(&stellar_config(dir.path(), &fake, 200), clock.clone()).await;
    let alice = UserId::parse("term:alice").expect("id");
    let (memo, amount) = order_a_node(&app, &alice).await;
    let shown = texts_for(&app.outbox.all(), &alice).join("\n");
    assert!(
        shown.contains(&format!("Memo: {memo} (required)")),
        "{shown}"
    );
    assert!(!shown.contains("SANDBOX"), "{shown}");
    // Pressing a forged sandbox button or /sandboxpay does not pay.
    app.send(&alice, "/sandboxpay 5").await;
    assert!(
        texts_for(&app.outbox.all(), &alice)
            .last()
            .expect("reply")
            .contains("real TFT on Stellar")
    );
    assert_eq!(app.service.poll_payments().await.expect("polls"), 0);
    let seen = app.outbox.all().len();
    fake.add(Op::tft(&deposit(), &amount, Some(&memo), START + 60));
    assert_eq!(app.service.poll_payments().await.expect("polls"), 1);
    app.service.wait_idle().await;
    let shown = shown_since(&app, &alice, seen).join("\n");
    assert!(shown.contains("Thank you"), "{shown}");
    assert!(shown.contains("is running"), "{shown}");
    assert_eq!(app.service.poll_payments().await.expect("polls"), 0);
    assert_eq!(
        account(&app, &alice)
            .entries
            .iter()
            .filter(|e| e.note.starts_with("payment stellar-"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn less_more_and_late_payments() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(START));
    let app = TestApp::start(&stellar_config(dir.path(), &fake, 200), clock.clone()).await;
    let alice = UserId::parse("term:alice").expect("id");
    let (memo, amount) = order_a_node(&app, &alice).await;
    let total = tft(&amount);
    // Less than asked: credited, the rest asked for with a fresh request.
    let seen = app.outbox.all().len();
    fake.add(Op::tft(&deposit(), "1", Some(&memo), START + 60));
    app.service.poll_payments().await.expect("polls");
    let shown = shown_since(&app, &alice, seen).join("\n");
    assert!(shown.contains("Received 1.00 TFT, thank you"), "{shown}");
    assert!(shown.contains("still missing"), "{shown}");
    let (memo2, rest) = latest_request(&app, &alice);
    assert_ne!(memo2, memo);
    assert_eq!(tft(&rest), total.saturating_sub(tft("1")));
    // The rest, late: after the request expired (an hour), still credited,
    // the user told, and the order (now covered) deploys; paid 10 TFT more
    // than asked, which stays in the balance.
    clock.advance(2 * 3600);
    let seen = app.outbox.all().len();
    let over = tft(&rest).saturating_add(tft("10"));
    fake.add(Op::tft(
        &deposit(),
        &over.to_decimal_string(),
        Some(&memo2),
        START + 2 * 3600,
    ));
    app.service.poll_payments().await.expect("polls");
    app.service.wait_idle().await;
    let shown = shown_since(&app, &alice, seen).join("\n");
    assert!(
        shown.contains("after its payment request had expired"),
        "{shown}"
    );
    assert!(shown.contains("is running"), "{shown}");
    // Nodes are charged hourly from the balance, so all of it is there.
    assert_eq!(
        account(&app, &alice).balance,
        total.saturating_add(tft("10"))
    );
    // A top-up paid after it expired: in the balance, and the user told.
    app.send(&alice, "/topup 20").await;
    let (memo3, _) = latest_request(&app, &alice);
    clock.advance(3 * 3600);
    let seen = app.outbox.all().len();
    fake.add(Op::tft(&deposit(), "20", Some(&memo3), START + 5 * 3600));
    app.service.poll_payments().await.expect("polls");
    let shown = shown_since(&app, &alice, seen).join("\n");
    assert!(
        shown.contains(
            "Received 20.00 TFT after its payment request had expired; it is in your balance"
        ),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_payments_are_kept_listed_and_credited_once() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(START));
    let config = stellar_config(dir.path(), &fake, 200);
    let app = TestApp::start(&config, clock.clone()).await;
    let alice = UserId::parse("term:alice").expect("id");
    let bob = UserId::parse("term:bob").expect("id");
    let operator = UserId::parse("term:operator").expect("id");
    app.send(&alice, "/start").await;
    app.send(&bob, "/start").await;
    let no_memo = fake.add(Op::tft(&deposit(), "7", None, START));
    fake.add(Op::tft(&deposit(), "8", Some("jb-0000000000000000"), START));
    fake.add(Op::tft(&deposit(), "9", Some("twin_12"), START));
    assert_eq!(app.service.poll_payments().await.expect("polls"), 3);
    // Re-delivered after a restart: kept once, not lost.
    drop(app);
    let app = TestApp::start(&config, clock.clone()).await;
    assert_eq!(app.service.poll_payments().await.expect("polls"), 3);
    assert_eq!(app.service.poll_payments().await.expect("polls"), 0);
    // Operators were told once per payment, across the restart.
    app.deliver_alerts().await;
    let told = texts_for(&app.outbox.all(), &operator);
    assert_eq!(
        told.iter()
            .filter(|t| t.contains("matched no request"))
            .count(),
        3,
        "{told:?}"
    );
    assert!(
        told.iter()
            .any(|t| t.contains(&format!("/credit stellar-{no_memo} <user>"))),
        "{told:?}"
    );
    app.send(&operator, "/unmatched").await;
    let list = texts_for(&app.outbox.all(), &operator)
        .pop()
        .expect("a reply");
    assert!(list.starts_with("3 unmatched payment(s) waiting"), "{list}");
    assert!(
        list.contains(&format!("stellar-{no_memo} — 7 TFT")),
        "{list}"
    );
    assert!(
        list.contains("memo none") && list.contains("(no memo)"),
        "{list}"
    );
    assert!(
        list.contains("memo twin_12") && list.contains("(unknown memo)"),
        "{list}"
    );
    // Not an operator: the command does not exist.
    app.send(&alice, "/unmatched").await;
    let reply = texts_for(&app.outbox.all(), &alice).pop().expect("a reply");
    assert!(!reply.contains("unmatched payment"), "{reply}");
    // Credited to alice once; not to bob as well; a retry changes nothing.
    let credit = format!("/credit stellar-{no_memo} term:alice");
    app.send(&operator, &credit).await;
    let reply = texts_for(&app.outbox.all(), &operator)
        .pop()
        .expect("a reply");
    assert!(
        reply.contains("is in term:alice's balance, now 7.00 TFT"),
        "{reply}"
    );
    assert!(
        texts_for(&app.outbox.all(), &alice)
            .iter()
            .any(|t| t.contains("Received 7.00 TFT"))
    );
    app.send(&operator, &format!("/credit stellar-{no_memo} term:bob"))
        .await;
    let reply = texts_for(&app.outbox.all(), &operator)
        .pop()
        .expect("a reply");
    assert!(reply.contains("already credited to term:alice"), "{reply}");
    app.send(&operator, &credit).await;
    assert_eq!(account(&app, &alice).balance, tft("7"));
    assert!(account(&app, &bob).balance == Tft::ZERO);
    app.send(&operator, "/unmatched").await;
    let list = texts_for(&app.outbox.all(), &operator)
        .pop()
        .expect("a reply");
    assert!(
        list.starts_with("2 unmatched payment(s) waiting")
            && list.contains("(1 credited by operators.)"),
        "{list}"
    );
    // The offline report reads the same records.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("JUKEBOX_DATA_DIR", &config.data_dir)
        .args(["admin", "unmatched"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("2 unmatched payment(s) waiting"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_stream_credits_nothing_twice() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(START));
    // One record per page: 12 payments are more than one call reads (10 pages).
    let config = stellar_config(dir.path(), &fake, 1);
    let app = TestApp::start(&config, clock.clone()).await;
    let alice = UserId::parse("term:alice").expect("id");
    app.send(&alice, "/topup 100").await;
    let (memo, _) = latest_request(&app, &alice);
    for i in 1..=12 {
        fake.add(Op::tft(&deposit(), &i.to_string(), Some(&memo), START));
    }
    assert_eq!(app.service.poll_payments().await.expect("polls"), 10);
    assert_eq!(account(&app, &alice).balance, tft("55"));
    // Crash before the batch was confirmed: it comes again after the restart.
    drop(app);
    let app = TestApp::start(&config, clock.clone()).await;
    assert_eq!(app.service.poll_payments().await.expect("polls"), 10);
    assert_eq!(account(&app, &alice).balance, tft("55"));
    assert_eq!(app.service.poll_payments().await.expect("polls"), 2);
    assert_eq!(app.service.poll_payments().await.expect("polls"), 0);
    assert_eq!(account(&app, &alice).balance, tft("78"));
    // Horizon down between pages: the pages read so far are handed out,
    // the rest comes with the next call.
    for i in [100, 200, 300] {
        fake.add(Op::tft(&deposit(), &i.to_string(), Some(&memo), START));
    }
    let before = fake.requests().len();
    fake.fail_next([Fault::Slow(Duration::ZERO), Fault::Slow(Duration::ZERO)]);
    // More failures than the configured attempts (5).
    fake.fail_next(std::iter::repeat_n(Fault::Status(500), 5));
    assert_eq!(app.service.poll_payments().await.expect("polls"), 2);
    assert!(fake.requests().len() >= before + 3);
    assert_eq!(app.service.poll_payments().await.expect("polls"), 1);
    assert_eq!(app.service.poll_payments().await.expect("polls"), 0);
    assert_eq!(account(&app, &alice).balance, tft("678"));
    let credits = account(&app, &alice)
        .entries
        .iter()
        .filter(|e| e.note.starts_with("payment stellar-"))
        .count();
    assert_eq!(credits, 15);
}

#[test]
fn check_says_the_deposit_address_is_needed() {
    let no_env = |_: &str| None;
    let d = Config::parse("config.toml", "[payments]\nkind = \"stellar\"\n", &no_env)
        .expect_err("needs an address");
    let text = d.to_string();
    assert!(text.contains("payments.stellar.deposit_address"), "{text}");
    assert!(text.contains("operator's own Stellar account"), "{text}");
    let ok = format!(
        "[payments]\nkind = \"stellar\"\n[payments.stellar]\nnetwork = \"testnet\"\ndeposit_address = \"{}\"\n[web]\nsandbox_login = false\n",
        deposit()
    );
    let config = Config::parse("config.toml", &ok, &no_env).expect("valid");
    // The website's name-only sandbox sign-in is refused next to real money.
    let with_sandbox_login = ok.replace("sandbox_login = false", "sandbox_login = true");
    let refused = Config::parse("config.toml", &with_sandbox_login, &no_env)
        .expect_err("sandbox sign-in with real payments");
    assert!(
        refused
            .to_string()
            .contains("web.sandbox_login must be false"),
        "{refused}"
    );
    assert_eq!(
        config.payments.stellar.horizon(),
        "https://horizon-testnet.stellar.org"
    );
    assert_eq!(
        config.payments.stellar.issuer(),
        "GA47YZA3PKFUZMPLQ3B5F2E3CJIB57TGGU7SPCQT2WAEYKN766PWIMB3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_credit_and_deploy_is_finished_on_redelivery() {
    let fake = FakeHorizon::start(&deposit());
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(START));
    let app = TestApp::start(&stellar_config(dir.path(), &fake, 200), clock.clone()).await;
    let alice = UserId::parse("term:alice").expect("id");
    let (memo, amount) = order_a_node(&app, &alice).await;
    let op = fake.add(Op::tft(&deposit(), &amount, Some(&memo), START + 60));
    // The state a crash right after the credit was saved leaves behind.
    let store = app.service.store();
    let mut profile: Profile = store
        .read(&alice, jukebox::user::PROFILE)
        .expect("readable")
        .expect("profile");
    profile.account.credit(
        &format!("stellar-{op}"),
        tft(&amount),
        "payment",
        START + 60,
    );
    store
        .write(&alice, jukebox::user::PROFILE, &profile)
        .expect("written");
    let seen = app.outbox.all().len();
    assert_eq!(app.service.poll_payments().await.expect("polls"), 1);
    app.service.wait_idle().await;
    let shown = shown_since(&app, &alice, seen).join("\n");
    assert!(shown.contains("is running"), "{shown}");
    assert_eq!(account(&app, &alice).balance, tft(&amount));
}
