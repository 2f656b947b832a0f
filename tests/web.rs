//! The website over real HTTP: sign-in, the chat page running the same
//! conversation as Telegram, "My nodes", live notifications, linking
//! Telegram, the operators' dashboard, and the security rules (CSRF,
//! same-origin, one user never touching another's nodes).

use crate::support;
use crate::support::fake_tfconnect;

use std::path::Path;

use fake_tfconnect::{FakeApp, FakeLoginServer};
use jukebox::config::Config;
use jukebox::ids::UserId;
use reqwest::Method;
use support::web_site::{Browser, Site, buttons, text_of};

/// A site in `dir` whose ThreeFold Connect sign-in goes to a fake login
/// server, and alice.3bot's app, registered there; `tweak` changes the
/// config further.
async fn tfconnect_site(
    dir: &Path,
    tweak: &dyn Fn(&mut Config),
) -> (FakeLoginServer, FakeApp, Site) {
    let login = FakeLoginServer::start().await;
    let alice_app = FakeApp::new("alice.3bot", 2);
    login.register(&alice_app);
    let url = login.url.clone();
    let site = Site::start(dir, &move |c| {
        c.web.tfconnect.login_url = url.clone();
        tweak(c);
    })
    .await;
    (login, alice_app, site)
}

/// Alice signed in through the sandbox with one Presearch node running:
/// her browser, her web account and the node's name.
pub(crate) async fn alice_with_a_node(site: &Site) -> (Browser, UserId, String) {
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    deploy_presearch(site, &mut alice).await;
    let alice_id = UserId::parse("web:sandbox-alice").unwrap();
    let name = site.service.overview(&alice_id).unwrap().nodes[0]
        .name
        .clone();
    (alice, alice_id, name)
}

/// Deploys one Presearch node through the chat page and pays with the
/// sandbox wallet, as a person would.
async fn deploy_presearch(site: &Site, browser: &mut Browser) {
    browser.say("/deploy").await;
    browser.press("Presearch").await;
    // Presearch has one node type: it is chosen for the user.
    browser.say("1").await;
    browser.press("Anywhere").await;
    browser.say("0123456789abcdef0123456789abc123").await;
    browser.press("Skip").await;
    browser.press("1 week").await;
    browser.press("Confirm").await;
    let chat = browser.get("/chat").await;
    assert!(
        chat.body.contains("src=\"data:image/png;base64,"),
        "the payment QR is shown inline"
    );
    browser.press("Pay with sandbox wallet").await;
    site.service.wait_idle().await;
}

#[tokio::test]
async fn a_sandbox_user_deploys_through_the_chat_page_and_sees_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    let landing = alice.get("/").await;
    assert!(landing.body.contains("Sign in with ThreeFold Connect"));
    assert!(landing.body.contains("Sandbox:"), "the sandbox is labelled");
    alice.sandbox_sign_in("alice").await;
    deploy_presearch(&site, &mut alice).await;

    let chat = text_of(&alice.get("/chat").await.body);
    assert!(chat.contains("/deploy"), "what the user typed is shown");
    assert!(
        chat.contains("› Presearch"),
        "answered questions show the answer"
    );
    let nodes = alice.get("/nodes").await;
    assert_eq!(nodes.status, 200);
    let text = text_of(&nodes.body);
    assert!(text.contains("presearch-"), "{text}");
    assert!(text.contains("running"), "{text}");
    assert!(text.contains("Balance:"), "{text}");

    // Status from "My nodes" runs /status and shows the reply on the page.
    let name = site
        .service
        .overview(&UserId::parse("web:sandbox-alice").unwrap())
        .unwrap()
        .nodes[0]
        .name
        .clone();
    let acted = alice
        .post(
            "/nodes/act",
            &[("action", "status"), ("node", &name)],
            false,
        )
        .await;
    assert_eq!(acted.status, 303);
    let location = acted.location.unwrap();
    assert!(location.starts_with("/nodes?since="), "{location}");
    let replies = alice.get(&location).await;
    assert!(text_of(&replies.body).contains(&format!("{name} — running")));

    // Delete asks first, right there; the answer comes back to My nodes.
    let asked = alice
        .post(
            "/nodes/act",
            &[("action", "delete"), ("node", &name)],
            false,
        )
        .await;
    let page = alice.get(&asked.location.unwrap()).await;
    let (_, yes) = buttons(&page.body)
        .into_iter()
        .find(|(label, _)| label.contains("Yes, delete it"))
        .expect("a confirmation button");
    let done = alice
        .post("/chat/press", &[("data", &yes), ("back", "/nodes")], false)
        .await;
    assert!(done.location.unwrap().starts_with("/nodes?since="));
    let nodes = text_of(&alice.get("/nodes").await.body);
    assert!(nodes.contains("You have no nodes yet"), "{nodes}");
}

/// The part of `text` from `start` to the end of `end`.
fn span<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)?;
    let to = from + text[from..].find(end)? + end.len();
    Some(&text[from..to])
}

#[tokio::test]
async fn my_nodes_states_the_funding_rule_in_the_words_of_balance() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    deploy_presearch(&site, &mut alice).await;
    alice.say("/balance").await;
    let chat = text_of(&alice.get("/chat").await.body);
    let said = span(&chat, "Your nodes cost", "all of them together.")
        .unwrap_or_else(|| panic!("/balance states the rule: {chat}"))
        .to_owned();
    assert!(said.contains("all paid from this balance"), "{said}");
    assert!(said.contains("Funded until "), "{said}");
    let nodes = text_of(&alice.get("/nodes").await.body);
    let shown = span(&nodes, "Your nodes cost", "all of them together.")
        .unwrap_or_else(|| panic!("My nodes states the rule: {nodes}"));
    // The same words: one sentence, from one place in the core.
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(shown), words(&said));
}

#[tokio::test]
async fn forms_need_the_session_token_and_a_same_site_origin() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;

    let forged = alice
        .post(
            "/chat/send",
            &[("text", "/deploy"), ("csrf", "wrong")],
            true,
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("Reload the page"));

    let response = alice
        .raw(Method::POST, "/chat/send")
        .header("origin", "https://evil.example")
        .form(&[("text", "/deploy"), ("csrf", alice.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    let mut stranger = site.browser();
    let refused = stranger
        .post("/chat/send", &[("text", "/deploy")], false)
        .await;
    assert_eq!(
        refused.location.as_deref(),
        Some("/"),
        "signed out: back to the start"
    );
    assert_eq!(stranger.get("/nodes").await.location.as_deref(), Some("/"));

    // A sign-in form without its token is refused too.
    let mut fresh = site.browser();
    let no_token = fresh
        .post("/login/sandbox", &[("name", "bob"), ("csrf", "x")], false)
        .await;
    assert_eq!(no_token.status, 403);
    let bad_name = {
        fresh.get("/").await;
        fresh
            .post("/login/sandbox", &[("name", "bob.3bot")], false)
            .await
    };
    assert_eq!(bad_name.status, 400);

    // Oversized input is refused with a clear message, and nothing is lost.
    let long = "x".repeat(5000);
    let too_long = alice.post("/chat/send", &[("text", &long)], true).await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.body.contains("too long"), "{}", too_long.body);

    let signed_out = alice.post("/logout", &[], false).await;
    assert_eq!(signed_out.location.as_deref(), Some("/"));
    assert!(!alice.cookies.contains_key("jb_session"));
    drop(site);
}

#[tokio::test]
async fn nobody_sees_or_touches_another_users_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut alice, alice_id, name) = alice_with_a_node(&site).await;

    let mut bob = site.browser();
    bob.sandbox_sign_in("bob").await;
    let nodes = text_of(&bob.get("/nodes").await.body);
    assert!(!nodes.contains(&name), "{nodes}");
    assert!(!text_of(&bob.get("/chat").await.body).contains("Presearch"));
    // Bob names Alice's node and replays Alice's button data: nothing happens.
    for action in ["delete", "redeploy", "status"] {
        let acted = bob
            .post("/nodes/act", &[("action", action), ("node", &name)], false)
            .await;
        let page = text_of(&bob.get(&acted.location.unwrap()).await.body);
        assert!(
            page.contains(&format!("You have no node named {name}"))
                || page.contains(&format!("I couldn't find \"{name}\"")),
            "{page}"
        );
    }
    let alice_chat = alice.get("/chat").await;
    for (_, data) in buttons(&alice_chat.body) {
        bob.post("/chat/press", &[("data", &data)], true).await;
    }
    // Alice's session cookie with Bob's token gets nowhere either.
    let mixed = alice
        .raw(Method::POST, "/nodes/act")
        .form(&[
            ("action", "delete"),
            ("node", name.as_str()),
            ("csrf", bob.csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status().as_u16(), 403);
    assert_eq!(
        site.service.overview(&alice_id).unwrap().nodes[0].state,
        "running"
    );
}

#[tokio::test]
async fn an_outage_notification_arrives_live() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    deploy_presearch(&site, &mut alice).await;
    let page = alice.get("/notifications").await;
    assert!(page.body.contains("Nothing yet"));
    let version: u64 = page
        .body
        .split("data-version=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|v| v.parse().ok())
        .expect("the page names its version");

    let mut events = alice
        .raw(Method::GET, &format!("/events?after={version}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );

    site.take_app_down(&UserId::parse("web:sandbox-alice").unwrap())
        .await;

    let mut received = String::new();
    while !received.contains("\"notice\":true") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains("event: entry"), "{received}");
    assert!(received.contains("is down"), "{received}");
    let listed = text_of(&alice.get("/notifications").await.body);
    assert!(listed.contains("is down"), "{listed}");
}

/// `/fault chain` from the website's chat: the operator (signed in on the
/// site) stalls a Dash node's simulated chain and lifts the fault, each
/// answered on the chat page; the owner's notifications page shows the
/// stall, once, and the recovery. A user who is not an operator cannot.
#[tokio::test]
async fn a_chain_fault_from_the_website_chat_is_seen_by_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|c| {
        c.admin.operators = vec!["web:sandbox-root".into()];
    })
    .await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    for step in ["/deploy", "Dash", "Dash full node", "1", "No", "Anywhere"] {
        if step.starts_with('/') || step == "1" {
            alice.say(step).await;
        } else {
            alice.press(step).await;
        }
    }
    for label in ["Skip", "1 week", "Confirm", "Pay with sandbox wallet"] {
        alice.press(label).await;
    }
    site.service.wait_idle().await;
    let alice_id = UserId::parse("web:sandbox-alice").unwrap();
    let name = site.service.overview(&alice_id).unwrap().nodes[0]
        .name
        .clone();
    // Fully synced first (about 12 hours), quietly.
    site.clock.advance(13 * 3600);
    site.service.sweep().await;

    alice.say(&format!("/fault chain {name} stall")).await;
    let refused = text_of(&alice.get("/chat").await.body);
    assert!(refused.contains("I don't know /fault"), "{refused}");

    let mut root = site.browser();
    root.sandbox_sign_in("root").await;
    root.say(&format!("/fault chain {name} stall")).await;
    let chat = text_of(&root.get("/chat").await.body);
    assert!(chat.contains("Done: the chain of"), "{chat}");
    for _ in 0..3 {
        site.clock.advance(60);
        site.service.sweep().await;
    }
    site.clock.advance(45 * 60);
    for _ in 0..6 {
        site.clock.advance(60);
        site.service.sweep().await;
    }
    site.deliver_alerts().await;
    let page = text_of(&alice.get("/notifications").await.body);
    assert_eq!(page.matches("stopped syncing").count(), 1, "{page}");

    root.say(&format!("/fault chain {name} clear")).await;
    let chat = text_of(&root.get("/chat").await.body);
    assert!(chat.contains("runs normally again"), "{chat}");
    for _ in 0..3 {
        site.clock.advance(60);
        site.service.sweep().await;
    }
    site.deliver_alerts().await;
    let page = text_of(&alice.get("/notifications").await.body);
    assert!(page.contains("is syncing again"), "{page}");
}

/// Sends /link from the Telegram account `tg` and returns the code the bot
/// answers with.
async fn link_code(site: &Site, tg: &UserId) -> String {
    site.service
        .handle(
            tg,
            "Tess",
            jukebox::dialogue::Input::from_message("/link"),
            None,
        )
        .await
        .unwrap();
    let said = support::texts_for(&site.telegram.take(), tg).join("\n");
    said.split("Your link code: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no code in {said:?}"))
        .to_owned()
}

#[tokio::test]
async fn a_telegram_account_links_once_and_shows_the_same_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let tg = UserId::parse("tg:4242").unwrap();
    let code = link_code(&site, &tg).await;

    let mut web = site.browser();
    web.sandbox_sign_in("tess").await;
    web.get("/link").await;
    let wrong = web.post("/link", &[("code", "ZZZZ-ZZZZ")], false).await;
    assert!(text_of(&wrong.body).contains("That code is not valid"));
    let linked = web
        .post("/link", &[("code", &code.to_lowercase())], false)
        .await;
    assert!(text_of(&linked.body).contains("Linked."), "{}", linked.body);
    let told = support::texts_for(&site.telegram.take(), &tg).join("\n");
    assert!(told.contains("is now linked"), "{told}");

    // The web deploys as the Telegram account; Telegram sees it too.
    deploy_presearch(&site, &mut web).await;
    assert_eq!(site.service.overview(&tg).unwrap().nodes.len(), 1);
    let nodes = text_of(&web.get("/nodes").await.body);
    assert!(nodes.contains("presearch-"), "{nodes}");
    let mirrored = support::texts_for(&site.telegram.take(), &tg).join("\n");
    assert!(mirrored.contains("Which blockchain"), "{mirrored}");

    // The code worked once.
    let mut other = site.browser();
    other.sandbox_sign_in("other").await;
    other.get("/link").await;
    let reused = other.post("/link", &[("code", &code)], false).await;
    assert!(text_of(&reused.body).contains("That code is not valid"));

    // Unlinking shows the sign-in's own (empty) account again; a restart
    // keeps links (they are stored).
    let links = site.service.web_links().unwrap();
    assert_eq!(links.len(), 1);
    let unlinked = web.post("/link/remove", &[], false).await;
    assert!(text_of(&unlinked.body).contains("Unlinked."));
    assert!(text_of(&web.get("/nodes").await.body).contains("You have no nodes yet"));
    assert!(site.service.web_links().unwrap().is_empty());

    // An expired code is refused.
    let code = link_code(&site, &tg).await;
    site.clock.advance(11 * 60);
    let late = other.post("/link", &[("code", &code)], false).await;
    assert!(text_of(&late.body).contains("That code has expired"));
}

// Several workers, as `jukebox run` has: requests are handled in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_wrong_link_codes_lock_linking_for_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let tg = UserId::parse("tg:4242").unwrap();
    let code = link_code(&site, &tg).await;
    let mut web = site.browser();
    web.sandbox_sign_in("tess").await;
    web.get("/link").await;

    // Sent all at once, wrong codes are still counted one by one: five are
    // tried, the rest are refused without being tried.
    let posts = (0..8).map(|_| {
        web.raw(Method::POST, "/link")
            .form(&[("code", "ZZZZ-ZZZZ"), ("csrf", web.csrf.as_str())])
            .send()
    });
    let mut tried = 0;
    let mut refused = 0;
    for response in futures_util::future::join_all(posts).await {
        let page = text_of(&response.unwrap().text().await.unwrap());
        if page.contains("That code is not valid") {
            tried += 1;
        } else if page.contains("Too many wrong codes") {
            refused += 1;
        }
    }
    assert_eq!((tried, refused), (5, 3));

    // Even the right code is refused now, and stays unused.
    let locked = web.post("/link", &[("code", &code)], false).await;
    assert!(text_of(&locked.body).contains("Too many wrong codes"));
    assert!(site.service.web_links().unwrap().is_empty());

    // Ten minutes later, a fresh code links.
    site.clock.advance(10 * 60);
    let code = link_code(&site, &tg).await;
    let linked = web.post("/link", &[("code", &code)], false).await;
    assert!(text_of(&linked.body).contains("Linked."), "{}", linked.body);
}

#[tokio::test]
async fn the_dashboard_is_for_operators_only() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|c| {
        c.admin.operators = vec!["web:sandbox-root".into()];
    })
    .await;
    let mut user = site.browser();
    user.sandbox_sign_in("mallory").await;
    assert_eq!(user.get("/admin").await.status, 404);
    assert!(!user.get("/chat").await.body.contains("/admin"));
    let refused = user
        .post("/admin/maintenance", &[("switch", "on")], false)
        .await;
    assert_eq!(refused.status, 404);
    assert!(site.service.maintenance().is_none());

    let mut root = site.browser();
    root.sandbox_sign_in("root").await;
    let dashboard = root.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    let text = text_of(&dashboard.body);
    for section in ["Stats", "Maintenance", "Outbox", "Users", "Nodes"] {
        assert!(text.contains(section), "{section} missing: {text}");
    }
    let switched = root
        .post(
            "/admin/maintenance",
            &[("switch", "on"), ("message", "Upgrading <the grid>")],
            false,
        )
        .await;
    assert_eq!(switched.location.as_deref(), Some("/admin"));
    let dashboard = root.get("/admin").await;
    assert!(
        dashboard.body.contains("Upgrading &lt;the grid&gt;"),
        "escaped"
    );
    // Users are told at /deploy; their running nodes are untouched.
    user.say("/deploy").await;
    let chat = text_of(&user.get("/chat").await.body);
    assert!(chat.contains("paused for maintenance"), "{chat}");
    let report = text_of(&root.get("/admin?user=web:sandbox-mallory").await.body);
    assert!(report.contains("web:sandbox-mallory"), "{report}");
}

#[tokio::test]
async fn a_threefold_connect_sign_in_goes_out_and_comes_back_signed_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let (login, alice_app, site) = tfconnect_site(dir.path(), &|_| {}).await;
    let mut browser = site.browser();
    let out = browser.get("/login/tfconnect").await;
    assert_eq!(out.status, 303);
    let redirect = out.location.expect("sent to the login server");
    assert!(
        redirect.starts_with(&format!("{}/?state=", login.url)),
        "{redirect}"
    );
    let host = site.base.trim_start_matches("http://");
    assert!(
        redirect.contains(&format!("appid={}", host.replace(':', "%3A"))),
        "{redirect}"
    );
    assert!(browser.cookies.contains_key("jb_login"));

    let query = alice_app.approve(&redirect, &fake_tfconnect::Approval::new());
    let back = browser.get(&format!("/auth/callback?{query}")).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location.as_deref(), Some("/chat"));
    let chat = browser.get("/chat").await;
    assert!(chat.body.contains("Sign out alice.3bot"), "{}", chat.body);
    browser.say("/start").await;
    assert!(
        site.service
            .store()
            .user_exists(&UserId::parse("web:alice.3bot").unwrap()),
        "the sign-in is its own account"
    );

    // The same callback again (a replay, even with the login cookie) fails.
    let mut thief = site.browser();
    thief.get("/login/tfconnect").await;
    let replayed = thief.get(&format!("/auth/callback?{query}")).await;
    assert_eq!(replayed.status, 401);
    assert!(!thief.cookies.contains_key("jb_session"));

    // A cancelled sign-in says so and signs nobody in.
    let mut cancelled = site.browser();
    cancelled.get("/login/tfconnect").await;
    let page = cancelled.get("/auth/callback?error=CancelledByUser").await;
    assert_eq!(page.status, 401);
    assert!(text_of(&page.body).contains("cancel"), "{}", page.body);
    // A callback without the login cookie (another browser) is refused.
    let mut stranger = site.browser();
    let page = stranger.get(&format!("/auth/callback?{query}")).await;
    assert_eq!(page.status, 401);
    assert!(text_of(&page.body).contains("sign in again"));
}

#[tokio::test]
async fn a_configured_callback_path_is_where_the_sign_in_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_login, alice_app, site) = tfconnect_site(dir.path(), &|c| {
        c.web.tfconnect.callback_path = "/signin/back".into();
    })
    .await;
    let mut browser = site.browser();
    let redirect = browser
        .get("/login/tfconnect")
        .await
        .location
        .expect("sent to the login server");
    assert!(
        redirect.contains("redirecturl=%2Fsignin%2Fback"),
        "{redirect}"
    );
    let query = alice_app.approve(&redirect, &fake_tfconnect::Approval::new());
    assert_eq!(
        browser.get(&format!("/auth/callback?{query}")).await.status,
        404
    );
    let back = browser.get(&format!("/signin/back?{query}")).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location.as_deref(), Some("/chat"));

    // Paths the router itself could not take (a page's path, capture
    // syntax) start the site all the same; the pages stay what they are.
    for odd in ["/chat", "/{state}", "/*rest"] {
        let dir = tempfile::tempdir().unwrap();
        let site = Site::start(dir.path(), &move |c| {
            c.web.tfconnect.callback_path = odd.into();
        })
        .await;
        assert_eq!(site.browser().get("/healthz").await.status, 200, "{odd}");
    }
}

#[tokio::test]
async fn a_notifications_buttons_answer_on_the_notifications_page() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut alice, alice_id, name) = alice_with_a_node(&site).await;
    site.take_app_down(&alice_id).await;

    let page = alice.get("/notifications").await;
    let on_page = buttons(&page.body);
    let data = |label: &str| {
        on_page
            .iter()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} button in {on_page:?}"))
            .1
            .clone()
    };
    let (status, redeploy) = (data("Status"), data("Redeploy"));

    // Without the script: back to the notifications page, answer on it.
    let pressed = alice
        .post(
            "/chat/press",
            &[("data", &status), ("back", "/notifications")],
            false,
        )
        .await;
    assert_eq!(pressed.status, 303);
    let location = pressed.location.unwrap();
    assert!(location.starts_with("/notifications?since="), "{location}");
    let shown = text_of(&alice.get(&location).await.body);
    let answer = shown
        .find(&format!("{name} — "))
        .expect("the status answer");
    assert!(shown[answer..].contains("per hour"), "{shown}");
    assert!(
        shown[answer..].contains("SIMULATED: this node runs on the simulated grid"),
        "/status says the grid is simulated: {shown}"
    );
    assert!(
        shown.contains("is down"),
        "the notification is still listed: {shown}"
    );

    let pressed = alice
        .post(
            "/chat/press",
            &[("data", &redeploy), ("back", "/notifications")],
            false,
        )
        .await;
    let shown = text_of(&alice.get(&pressed.location.unwrap()).await.body);
    assert!(shown.contains(&format!("Redeploying {name}")), "{shown}");
    // The status answer was for the earlier press; this page shows only
    // what this press answered.
    assert!(!shown.contains("per hour"), "{shown}");
    site.service.wait_idle().await;
}

#[tokio::test]
async fn titles_favicon_and_the_link_page_name_things_right() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    let landing = alice.get("/").await;
    assert!(
        landing.body.contains("<title>Jukebox</title>"),
        "{}",
        landing.body
    );
    assert!(!landing.body.contains("Jukebox · Jukebox"));
    assert!(landing.body.contains("rel=\"icon\" href=\"/favicon.svg\""));
    for path in ["/favicon.svg", "/favicon.ico"] {
        let icon = alice.get(path).await;
        assert_eq!(icon.status, 200, "{path}");
        assert!(icon.body.starts_with("<svg"), "{path}");
    }
    alice.sandbox_sign_in("alice").await;
    let chat = alice.get("/chat").await;
    assert!(chat.body.contains("<title>Chat · Jukebox</title>"));

    // Linked to a terminal account, the page says so (not "Telegram").
    let term = UserId::parse("term:alice").unwrap();
    let code = link_code(&site, &term).await;
    alice.get("/link").await;
    let linked = alice.post("/link", &[("code", &code)], false).await;
    assert!(text_of(&linked.body).contains("Linked."), "{}", linked.body);
    let page = text_of(&alice.get("/link").await.body);
    assert!(page.contains("Linked to terminal chat"), "{page}");
    assert!(page.contains("the terminal chat account"), "{page}");
    assert!(!page.contains("Telegram account"), "{page}");
}

/// Issue 19 item 4: My nodes shows a node's chain as `/status` words it,
/// with a real `<progress>` (labelled for screen readers, no JavaScript
/// needed) while it syncs, and a badge for a confirmed problem.
#[tokio::test]
async fn my_nodes_shows_the_chain_with_a_progress_bar() {
    use jukebox::lifecycle::chain::{ChainEpisodes, ClientVersion, Episode};
    use jukebox::lifecycle::chain_state::{ChainSnapshot, NodeChain};
    use jukebox::user::{NODES, Nodes};

    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    alice.say("/deploy").await;
    alice.press("Dash").await;
    alice.press("Dash full node").await;
    alice.say("1").await;
    alice.press("No").await;
    alice.press("Anywhere").await;
    alice.press("Skip").await;
    alice.press("1 week").await;
    alice.press("Confirm").await;
    alice.press("Pay with sandbox wallet").await;
    site.service.wait_idle().await;
    let id = UserId::parse("web:sandbox-alice").unwrap();
    let store_reading = |height: u64, stalled: bool| {
        let mut nodes: Nodes = site.service.store().read(&id, NODES).unwrap().unwrap();
        let node = nodes.nodes.iter_mut().find(|n| n.is_live()).unwrap();
        let now = jukebox::clock::Clock::now(site.clock.as_ref());
        node.chain_health = Some(NodeChain {
            contract: node.placed.as_ref().unwrap().contract,
            episodes: ChainEpisodes {
                stalled: stalled.then_some(Episode {
                    since: now - 7200,
                    height,
                    lag: 2_600_000 - height,
                }),
                ..ChainEpisodes::default()
            },
            last: Some(ChainSnapshot {
                at: now,
                height,
                network_height: Some(2_600_000),
                client: "/Dash Core:23.0.0/".into(),
                version: Some(ClientVersion::parse("23.0.0").unwrap()),
                eta_secs: Some(3 * 3600),
                layers: vec![],
            }),
            unreadable: None,
        });
        site.service.store().write(&id, NODES, &nodes).unwrap();
    };

    // Nothing read yet: no bar, no chain words.
    let page = alice.get("/nodes").await;
    assert!(!page.body.contains("<progress"), "{}", page.body);

    store_reading(1_230_000, false);
    let page = alice.get("/nodes").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<progress max=\"1000\" value=\"473\" aria-label=\"Chain sync of dash-full-"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(": 47.3%\">47.3%</progress>"),
        "{}",
        page.body
    );
    let text = text_of(&page.body);
    assert!(
        text.contains("Dash: syncing 47.3% (block 1,230,000 of 2,600,000), about 3 hours to go"),
        "{text}"
    );
    assert!(text.contains("Client: Dash Core:23.0.0."), "{text}");

    // Stuck: the badge says so and the bar still shows where it stopped.
    store_reading(1_230_000, true);
    let text = text_of(&alice.get("/nodes").await.body);
    assert!(text.contains("⛔ stuck at block 1,230,000"), "{text}");

    // In sync: no bar.
    store_reading(2_599_999, false);
    let page = alice.get("/nodes").await;
    assert!(!page.body.contains("<progress"), "{}", page.body);
    assert!(text_of(&page.body).contains("Dash: in sync, block 2,599,999"));
}
