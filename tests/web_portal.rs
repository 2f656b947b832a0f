//! The website's portal pages over real HTTP: the catalog with the bot's
//! prices, a page per node (owner only), notifications with times whose
//! outage buttons go once the outage is over, and the buttons' styles.

use crate::support;
use crate::web::alice_with_a_node;
use jukebox::ids::UserId;

use support::web_site::{Site, buttons, text_of};

#[tokio::test]
async fn the_catalog_shows_every_node_type_at_the_bots_price() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let mut visitor = site.browser();
    let page = visitor.get("/catalog").await;
    assert_eq!(page.status, 200);
    let text = text_of(&page.body);
    let engine = site.service.engine();
    let prices = engine.prices();
    for chain in &engine.catalog().chains {
        assert!(text.contains(&chain.name), "{} missing", chain.name);
        for t in &chain.node_types {
            assert!(text.contains(&t.name), "{} missing", t.name);
            // The same price list and capacity the bot's /deploy quotes.
            let month = prices.per_month(&t.capacity(false));
            let shown = format!("<strong class=\"price\">{month}</strong> / month");
            assert!(page.body.contains(&shown), "{month}: {text}");
        }
    }
    assert!(text.contains(&format!("1 TFT = ${}", prices.tft_price_usd())));
    // Visitors are asked to sign in; signed-in people get Deploy buttons
    // that start the chat's /deploy for that chain.
    assert!(text.contains("Sign in to deploy"));
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    let page = alice.get("/catalog").await;
    assert!(page.body.contains("aria-current=\"page\""));
    let chain = &engine.catalog().chains[0];
    let deploy = alice
        .post(
            "/chat/send",
            &[("text", &format!("/deploy {}", chain.id))],
            false,
        )
        .await;
    assert_eq!(deploy.status, 303);
    // "Deploy in chat" names the node type too (`/deploy dash full`).
    assert!(page.body.contains(&format!(
        "value=\"/deploy {} {}\"",
        chain.id, chain.node_types[0].id
    )));
    let chat = text_of(&alice.get("/chat").await.body);
    assert!(
        !chat.contains("Which blockchain"),
        "the chain is chosen: {chat}"
    );
    assert!(chat.contains(&chain.name), "{chat}");
    // What "Deploy in chat" sends: the node type is chosen too.
    let node_type = &chain.node_types[0];
    alice
        .post(
            "/chat/send",
            &[("text", &format!("/deploy {} {}", chain.id, node_type.id))],
            false,
        )
        .await;
    let chat = text_of(&alice.get("/chat").await.body);
    assert!(
        chat.contains(&format!("{} · {}", chain.name, node_type.name)),
        "{chat}"
    );
    assert!(chat.contains("How many nodes"), "{chat}");
}

#[tokio::test]
async fn a_node_page_is_its_owners_and_shows_outages_with_times() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut alice, alice_id, name) = alice_with_a_node(&site).await;

    // Without time passing there is nothing to measure yet.
    let fresh = text_of(&alice.get(&format!("/node/{name}")).await.body);
    assert!(fresh.contains("no data yet"), "{fresh}");
    site.clock.advance(3600);
    let page = alice.get(&format!("/node/{name}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = text_of(&page.body);
    assert!(text.contains("running"), "{text}");
    assert!(text.contains("100.00% up"), "{text}");
    assert!(page.body.contains("<svg class=\"uptime\""));
    assert!(text.contains("No outage recorded"), "{text}");
    assert!(page.body.contains("class=\"danger\" aria-label=\"Delete"));
    // Not another user's, nor a name that is no node.
    let mut bob = site.browser();
    bob.sandbox_sign_in("bob").await;
    let theirs = bob.get(&format!("/node/{name}")).await;
    assert_eq!(theirs.status, 404);
    assert!(
        !theirs.body.contains(&name),
        "nothing of alice's node shows"
    );
    assert_eq!(alice.get("/node/no-such-node").await.status, 404);
    assert_eq!(
        site.browser()
            .get(&format!("/node/{name}"))
            .await
            .location
            .as_deref(),
        Some("/")
    );

    site.take_app_down(&alice_id).await;
    let page = text_of(&alice.get(&format!("/node/{name}")).await.body);
    assert!(page.contains("down for"), "{page}");
    assert!(page.contains("Outage"), "{page}");
    assert!(!page.contains("100.00% up"), "{page}");
    let notices = alice.get("/notifications").await;
    assert!(
        notices.body.contains("notice notice-outage"),
        "{}",
        notices.body
    );
    assert!(text_of(&notices.body).contains("just now"));
    let redeploy = buttons(&notices.body)
        .into_iter()
        .find(|(label, _)| label.contains("Redeploy"))
        .expect("the alert's Redeploy button");
    assert!(!notices.body.contains(" disabled name=\"data\""));

    // Back up: the recovery is told apart, and the outage's buttons go.
    let nodes: jukebox::user::Nodes = site
        .service
        .store()
        .read(&alice_id, jukebox::user::NODES)
        .unwrap()
        .unwrap();
    site.sim
        .restore_app(nodes.nodes[0].contract().unwrap())
        .unwrap();
    for _ in 0..3 {
        site.service.sweep().await;
        site.clock.advance(60);
    }
    assert!(site.deliver_alerts().await >= 1);
    site.clock.advance(600);
    let notices = alice.get("/notifications").await;
    assert!(
        notices.body.contains("notice notice-recovery"),
        "{}",
        notices.body
    );
    assert!(
        text_of(&notices.body).contains("minutes ago"),
        "{}",
        notices.body
    );
    assert!(
        notices
            .body
            .contains(&format!(" disabled name=\"data\" value=\"{}\"", redeploy.1)),
        "{}",
        notices.body
    );
    assert!(text_of(&notices.body).contains("This outage is over"));
    let page = text_of(&alice.get(&format!("/node/{name}")).await.body);
    assert!(page.contains("Back up after"), "{page}");

    // Delete from the node page: asked there, confirmed with a red button.
    let asked = alice
        .post(
            "/nodes/act",
            &[
                ("action", "delete"),
                ("node", &name),
                ("back", &format!("/node/{name}")),
            ],
            false,
        )
        .await;
    let location = asked.location.unwrap();
    assert!(
        location.starts_with(&format!("/node/{name}?since=")),
        "{location}"
    );
    let page = alice.get(&location).await;
    assert!(
        page.body.contains("class=\"danger\" name=\"data\""),
        "{}",
        page.body
    );
    // A back page off the site is never followed.
    let elsewhere = alice
        .post(
            "/nodes/act",
            &[
                ("action", "status"),
                ("node", &name),
                ("back", "https://evil.example/"),
            ],
            false,
        )
        .await;
    assert!(elsewhere.location.unwrap().starts_with("/nodes?since="));
}

/// Issue 20 item 3: a Dash node's page shows its chain in `/status`'s own
/// words (`user::chain_text`): a labelled progress bar with height, network
/// height and ETA while it syncs, "in sync" and the client's verdict once
/// it caught up, and a chain alert with its times among the node's alerts.
#[tokio::test]
async fn a_node_page_shows_the_chain_as_status_words_it() {
    use jukebox::user::{NODES, Nodes, chain_text};

    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|c| {
        c.admin.operators = vec!["web:sandbox-root".into()];
    })
    .await;
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    alice.say("/deploy").await;
    for label in ["Dash", "Dash full node"] {
        alice.press(label).await;
    }
    alice.say("1").await;
    for label in [
        "No",
        "Anywhere",
        "Skip",
        "1 week",
        "Confirm",
        "Pay with sandbox wallet",
    ] {
        alice.press(label).await;
    }
    site.service.wait_idle().await;
    let alice_id = UserId::parse("web:sandbox-alice").unwrap();
    let name = site.service.overview(&alice_id).unwrap().nodes[0]
        .name
        .clone();
    let path = format!("/node/{name}");
    // What `/status` says of the chain, from the stored record, now.
    let status_lines = || {
        let nodes: Nodes = site
            .service
            .store()
            .read(&alice_id, NODES)
            .unwrap()
            .unwrap();
        let node = nodes.live().find(|n| n.name == name).unwrap();
        let engine = site.service.engine();
        let (chain, view) = chain_text::node_view(engine.catalog(), node).expect("a reading");
        chain_text::status_lines(
            chain,
            &view,
            &name,
            jukebox::clock::Clock::now(site.clock.as_ref()),
        )
    };

    // Not read yet: no chain section.
    let page = alice.get(&path).await;
    assert!(!page.body.contains("id=\"chain\""), "{}", page.body);

    // Syncing: a labelled bar, and every /status line about the chain.
    for _ in 0..3 {
        site.clock.advance(600);
        site.service.sweep().await;
    }
    let page = alice.get(&path).await;
    let text = text_of(&page.body);
    assert!(
        page.body.contains("<progress max=\"1000\" value=\"")
            && page
                .body
                .contains(&format!("aria-label=\"Chain sync of {name}: ")),
        "{}",
        page.body
    );
    let lines = status_lines();
    assert!(lines[0].contains("syncing, block"), "{lines:?}");
    assert!(lines[0].contains("to go at the rate measured"), "{lines:?}");
    for line in &lines {
        assert!(text.contains(line.as_str()), "{line} missing: {text}");
    }

    // Caught up (a Dash node syncs in about 12 hours): in sync, no bar.
    site.clock.advance(13 * 3600);
    site.service.sweep().await;
    let page = alice.get(&path).await;
    let text = text_of(&page.body);
    assert!(!page.body.contains("<progress"), "{}", page.body);
    let lines = status_lines();
    assert!(lines[0].contains("in sync, block"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("Client: ")), "{lines:?}");
    for line in &lines {
        assert!(text.contains(line.as_str()), "{line} missing: {text}");
    }
    assert!(text.contains("No outage recorded"), "{text}");

    // Its chain stalls: the alert is listed with its times, as an outage.
    let mut root = site.browser();
    root.sandbox_sign_in("root").await;
    root.say(&format!("/fault chain {name} stall")).await;
    for _ in 0..3 {
        site.clock.advance(60);
        site.service.sweep().await;
    }
    site.clock.advance(45 * 60);
    for _ in 0..6 {
        site.clock.advance(60);
        site.service.sweep().await;
    }
    site.clock.advance(300);
    let page = alice.get(&path).await;
    let text = text_of(&page.body);
    assert_eq!(
        text.matches("stopped syncing: its chain").count(),
        1,
        "{text}"
    );
    assert!(
        page.body.contains(
            "<li class=\"notice notice-outage\"><span class=\"tag\">Outage</span> <time datetime=\""
        ),
        "{}",
        page.body
    );
    assert!(text.contains("minutes ago"), "{text}");
    assert!(
        text.contains("⛔ Stopped syncing: still at block"),
        "{text}"
    );
    assert!(text.contains("⛔ stuck at block"), "{text}");
}

/// Issue 20 item 7: the favicon is served as an image browsers may cache,
/// under the same CSP as every page (`img-src 'self'` allows it).
#[tokio::test]
async fn the_favicon_is_served_cached_and_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let client = reqwest::Client::new();
    for path in ["/favicon.svg", "/favicon.ico"] {
        let icon = client
            .get(format!("{}{path}", site.base))
            .send()
            .await
            .unwrap();
        assert_eq!(icon.status(), 200, "{path}");
        let header = |name: &str| {
            icon.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), "image/svg+xml", "{path}");
        assert!(header("cache-control").contains("max-age="), "{path}");
        assert!(header("content-security-policy").contains("img-src 'self'"));
    }
}

/// Issue 20 (Why: "an admin page that is a text dump"): the operators'
/// dashboard shows `/stats`, `/user` and `/nodes` as tables with status
/// colours, from the same reports the commands give; still operators only.
#[tokio::test]
async fn the_operators_dashboard_is_tables_with_status_colours() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|c| {
        c.admin.operators = vec!["web:sandbox-root".into()];
    })
    .await;
    let (_alice, alice_id, name) = alice_with_a_node(&site).await;
    let mut root = site.browser();
    root.sandbox_sign_in("root").await;
    let root_id = UserId::parse("web:sandbox-root").unwrap();

    let page = root.get("/admin").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<pre>"), "no text dump: {}", page.body);
    assert!(
        page.body
            .contains("<td><span class=\"state state-ok\">running</span></td><td>1</td>"),
        "{}",
        page.body
    );
    // The figures are the ones /stats gives.
    let stats = site
        .service
        .operator_report(&root_id, "stats", None)
        .await
        .unwrap()
        .unwrap();
    assert!(stats.contains("Running nodes down now: 0"), "{stats}");
    assert!(
        page.body
            .contains("<dt>Running nodes down</dt><dd><strong class=\"state state-ok\">0</strong>"),
        "{}",
        page.body
    );

    site.take_app_down(&alice_id).await;
    let stats = site
        .service
        .operator_report(&root_id, "stats", None)
        .await
        .unwrap()
        .unwrap();
    assert!(stats.contains("Running nodes down now: 1"), "{stats}");
    let page = root.get("/admin?nodes=down").await;
    assert!(
        page.body.contains(
            "<dt>Running nodes down</dt><dd><strong class=\"state state-down\">1</strong>"
        ),
        "{}",
        page.body
    );
    // /nodes down as a table: the owner, the node, its state in red.
    let listed = site
        .service
        .operator_report(&root_id, "nodes", Some("down"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        listed.starts_with("1 node(s) matching \"down\""),
        "{listed}"
    );
    let text = text_of(&page.body);
    assert!(text.contains("1 node(s) matching \"down\""), "{text}");
    assert!(
        page.body.contains(&format!(
            "<tr><td>web:sandbox-alice</td><td>{name}</td><td><span class=\"state state-down\">"
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("<span class=\"badge\">down</span>"));

    // /user as facts and tables: nodes, money, events.
    let page = root.get("/admin?user=web:sandbox-alice").await;
    let text = text_of(&page.body);
    for caption in ["Nodes (1)", "Recent money", "Recent events"] {
        assert!(
            page.body.contains(&format!("<caption>{caption}</caption>")),
            "{caption}: {text}"
        );
    }
    assert!(text.contains(&name), "{text}");
    let nobody = text_of(&root.get("/admin?user=nobody-at-all").await.body);
    assert!(
        nobody.contains("No user matches \"nobody-at-all\"."),
        "{nobody}"
    );

    // Still for operators only.
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    assert_eq!(alice.get("/admin?nodes=down").await.status, 404);
}
