//! The website in a real headless Chromium: sign in with the sandbox,
//! deploy a node through the chat page, see the QR image, pay with the
//! sandbox wallet, find the node in "My nodes", and watch an outage
//! notification arrive live. Screenshots go to
//! `target/web-screenshots/` (the file tool or any image viewer shows them).

use crate::support;

use std::path::PathBuf;

use jukebox::ids::UserId;
use support::web_site::Site;
use support::webdriver::Browser;

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots")
}

/// XPath for the newest button whose label contains `label`.
fn button(label: &str) -> String {
    format!("//main//button[contains(normalize-space(.), '{label}')]")
}

/// Clicks the newest button labelled `label` once it is there.
async fn press(browser: &Browser, label: &str) {
    let element = browser.wait_for(&button(label)).await;
    browser.click(&element).await;
}

/// Checks the open page the way a phone user and a screen reader meet it:
/// nothing scrolls sideways at the window's width (375 px), and every
/// control (input, select, textarea, button, link) has a name (a label, an
/// aria-label, its own text, or an image's alt); and that the browser said
/// nothing went wrong (`clean_console`).
async fn fits_and_is_labelled(browser: &Browser, page: &str) {
    let overflow = browser
        .script("var d = document.documentElement; return d.scrollWidth - d.clientWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "{page} scrolls sideways by {overflow} px"
    );
    let unlabelled = browser
        .script(
            "var bad = [];\
             document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]').forEach(function (e) {\
               var label = e.id && document.querySelector('label[for=\"' + e.id + '\"]');\
               var img = e.querySelector && e.querySelector('img[alt]');\
               var own = (e.tagName === 'BUTTON' || e.tagName === 'A') && (e.textContent.trim() || (img && img.alt.trim()));\
               var name = e.getAttribute('aria-label') || (label && label.textContent.trim()) || own;\
               if (!name) bad.push(e.outerHTML.slice(0, 120));\
             });\
             return bad;",
        )
        .await;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "{page}: controls without a name"
    );
    clean_console(browser, page).await;
}

/// Fails on anything the browser logged as an error since the last check
/// (a script error, a failed load such as a missing favicon, a request the
/// Content-Security-Policy refused) and on any request of the open page
/// that got an error status (Resource Timing's `responseStatus`).
async fn clean_console(browser: &Browser, page: &str) {
    let errors: Vec<serde_json::Value> = browser
        .browser_log()
        .await
        .into_iter()
        .filter(|e| e["level"] != "INFO" && e["level"] != "DEBUG" && e["level"] != "WARNING")
        .collect();
    assert!(errors.is_empty(), "{page}: the browser logged {errors:#?}");
    let failed = browser
        .script(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
               .filter(function (e) { return e.responseStatus >= 400; })\
               .map(function (e) { return e.name + ' ' + e.responseStatus; });",
        )
        .await;
    assert_eq!(failed, serde_json::json!([]), "{page}: failed requests");
}

/// Types `text` into the chat and sends it.
async fn say(browser: &Browser, text: &str) {
    let input = browser.wait_for("//input[@id='text']").await;
    browser.type_into(&input, &format!("{text}\n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deploys_pays_and_is_notified_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|c| {
        c.admin.operators = vec!["web:sandbox-root".into()];
    })
    .await;
    let browser = Browser::start().await;
    browser.resize(375, 812).await;

    browser.open(&site.base).await;
    fits_and_is_labelled(&browser, "the start page").await;
    // The page's icon loads as an image under the site's CSP (no console
    // error for it either: `clean_console` runs after each page).
    browser
        .script(
            "window.icon = new Image(); window.icon.src = document.querySelector('link[rel=icon]').href; return 1;",
        )
        .await;
    let mut icon_width = serde_json::Value::Null;
    for _ in 0..100 {
        icon_width = browser
            .script("return window.icon.complete ? window.icon.naturalWidth : null;")
            .await;
        if !icon_width.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        icon_width.as_u64().unwrap_or(0) > 0,
        "the favicon loads: {icon_width}"
    );
    clean_console(&browser, "the start page's icon").await;
    let name = browser.wait_for("//input[@id='name']").await;
    browser.type_into(&name, "alice").await;
    press(&browser, "Sign in to the sandbox").await;
    browser.wait_for("//h1[.='Chat']").await;
    assert!(browser.url().await.ends_with("/chat"));
    fits_and_is_labelled(&browser, "the chat page").await;

    say(&browser, "/deploy").await;
    press(&browser, "Presearch").await;
    // The answered question keeps its text and shows the answer.
    browser
        .wait_for("//p[@class='answer' and contains(., 'Presearch')]")
        .await;
    // Presearch has one node type: it is chosen for the user.
    browser.wait_for("//p[contains(., 'How many')]").await;
    say(&browser, "1").await;
    press(&browser, "Anywhere").await;
    browser
        .wait_for("//p[contains(., 'registration code')]")
        .await;
    say(&browser, "0123456789abcdef0123456789abc123").await;
    press(&browser, "Skip").await;
    press(&browser, "1 week").await;
    press(&browser, "Confirm").await;

    let qr = browser.wait_for("//img[@class='qr']").await;
    assert!(!qr.is_empty());
    let width = browser
        .script("var i = document.querySelector('img.qr'); return i.complete ? i.naturalWidth : 0;")
        .await;
    assert!(
        width.as_u64().unwrap_or(0) > 100,
        "the QR image rendered: {width}"
    );
    let shots = screenshot_dir();
    assert!(browser.screenshot(&shots.join("chat-payment-qr.png")).await > 1000);
    fits_and_is_labelled(&browser, "the chat's payment step").await;

    press(&browser, "Pay with sandbox wallet").await;
    site.service.wait_idle().await;
    browser
        .wait_for("//article[contains(., 'is running')]")
        .await;

    browser.open(&format!("{}/nodes", site.base)).await;
    browser.wait_for("//td[contains(., 'presearch-')]").await;
    let nodes = browser.page_text().await;
    assert!(nodes.contains("running"), "{nodes}");
    assert!(browser.screenshot(&shots.join("my-nodes.png")).await > 1000);
    fits_and_is_labelled(&browser, "My nodes").await;

    // The catalog: a card per node type, with prices and a Deploy button.
    browser.open(&format!("{}/catalog", site.base)).await;
    browser
        .wait_for("//article[contains(@class, 'product')]//button[.='Deploy']")
        .await;
    assert!(browser.page_text().await.contains("/ month"));
    fits_and_is_labelled(&browser, "the catalog").await;
    assert!(browser.screenshot(&shots.join("catalog.png")).await > 1000);
    // The README's pictures (docs/img/) are these, at a laptop's width.
    browser.resize(1100, 1080).await;
    assert!(browser.screenshot(&shots.join("catalog-wide.png")).await > 1000);
    browser.resize(375, 812).await;

    // The node's own page, reached from My nodes.
    browser.open(&format!("{}/nodes", site.base)).await;
    let link = browser.wait_for("//td//a[contains(., 'presearch-')]").await;
    browser.click(&link).await;
    browser.wait_for("//h2[.='Uptime, last 30 days']").await;
    browser
        .wait_for("//*[local-name()='svg' and @class='uptime']")
        .await;
    // With the script on, the addresses get copy buttons.
    browser.wait_for("//button[contains(@class, 'copy')]").await;
    fits_and_is_labelled(&browser, "the node page").await;
    assert!(browser.screenshot(&shots.join("node.png")).await > 1000);
    browser.resize(1100, 1080).await;
    assert!(browser.screenshot(&shots.join("node-wide.png")).await > 1000);
    browser.resize(375, 812).await;

    // A notification arrives on the open page without a reload.
    browser.open(&format!("{}/notifications", site.base)).await;
    browser.wait_for("//p[@id='no-notices']").await;
    browser.script("window.keptAlive = 'same page';").await;
    let alice = UserId::parse("web:sandbox-alice").unwrap();
    let nodes = site.service.overview(&alice).unwrap().nodes.len();
    assert_eq!(nodes, 1);
    site.take_app_down(&alice).await;
    browser
        .wait_for("//section[@id='notices']/article[contains(., 'is down')]")
        .await;
    assert_eq!(
        browser.script("return window.keptAlive;").await,
        serde_json::json!("same page"),
        "the notification came live, not by reloading"
    );
    assert!(browser.screenshot(&shots.join("notification.png")).await > 1000);
    fits_and_is_labelled(&browser, "the notifications").await;
    browser
        .wait_for("//section[@id='notices']/article[contains(@class, 'notice-outage')]")
        .await;

    // It comes back: the recovery arrives live, styled apart, and the
    // outage's buttons no longer act.
    let records: jukebox::user::Nodes = site
        .service
        .store()
        .read(&alice, jukebox::user::NODES)
        .unwrap()
        .unwrap();
    site.sim
        .restore_app(records.nodes[0].contract().unwrap())
        .unwrap();
    for _ in 0..3 {
        site.service.sweep().await;
        site.clock.advance(60);
    }
    assert!(site.deliver_alerts().await >= 1);
    browser
        .wait_for("//section[@id='notices']/article[contains(@class, 'notice-recovery')]")
        .await;
    browser
        .wait_for("//article[contains(@class, 'notice-outage')]//button[@disabled]")
        .await;
    assert_eq!(
        browser.script("return window.keptAlive;").await,
        serde_json::json!("same page"),
        "the recovery came live too"
    );
    assert!(
        browser
            .screenshot(&shots.join("notification-recovered.png"))
            .await
            > 1000
    );
    fits_and_is_labelled(&browser, "the notifications, recovered").await;

    // Linking a Telegram account.
    browser.open(&format!("{}/link", site.base)).await;
    browser.wait_for("//h1").await;
    fits_and_is_labelled(&browser, "the link page").await;
    assert!(browser.screenshot(&shots.join("link.png")).await > 1000);

    // An operator's dashboard, after signing out and in again as one.
    let sign_out = browser
        .wait_for("//header//button[contains(., 'Sign out')]")
        .await;
    browser.click(&sign_out).await;
    let name = browser.wait_for("//input[@id='name']").await;
    fits_and_is_labelled(&browser, "the start page, signed out").await;
    browser.type_into(&name, "root").await;
    press(&browser, "Sign in to the sandbox").await;
    browser.wait_for("//h1[.='Chat']").await;
    browser.open(&format!("{}/admin", site.base)).await;
    browser.wait_for("//h1[.='Operators']").await;
    fits_and_is_labelled(&browser, "the operators' dashboard").await;
    assert!(browser.screenshot(&shots.join("admin.png")).await > 1000);
    browser.quit().await;
}

// The deploy form (issue 20 item 2), with JavaScript on and off: one block,
// its own tests.

/// Signs in to the sandbox as `name`, opens the Presearch card's Deploy
/// form from the catalog, fills it, places the order, pays with the
/// sandbox wallet and follows the order to the node's page. `javascript`:
/// whether the browser runs the site's scripts (the price then appears by
/// itself and the order page follows the deployment; without, "Check
/// price" and the Refresh link do). Saves `deploy-form<suffix>.png` and
/// `deploy-payment<suffix>.png`.
async fn deploy_through_the_form(site: &Site, browser: &Browser, name: &str, suffix: &str) {
    let javascript = suffix.is_empty();
    let shots = screenshot_dir();
    browser.resize(375, 812).await;
    browser.open(&site.base).await;
    let field = browser.wait_for("//input[@id='name']").await;
    browser.type_into(&field, name).await;
    press(browser, "Sign in to the sandbox").await;
    browser.wait_for("//h1[.='Chat']").await;

    browser.open(&format!("{}/catalog", site.base)).await;
    let deploy = browser
        .wait_for("//article[contains(@class, 'product')]//button[.='Deploy' and starts-with(@aria-label, 'Deploy a Presearch')]")
        .await;
    browser.click(&deploy).await;
    browser
        .wait_for("//h1[starts-with(normalize-space(.), 'Deploy Presearch')]")
        .await;
    assert!(browser.url().await.contains("/deploy/presearch/"));
    // The site's script marks the page it runs on; without JavaScript it
    // does not run at all.
    assert_eq!(
        browser
            .script("return / js/.test(document.documentElement.className);")
            .await,
        serde_json::json!(javascript)
    );
    fits_and_is_labelled(browser, "the deploy form").await;
    let code = browser
        .wait_for("//*[@id='f-setting-registration_code']")
        .await;
    browser
        .type_into(&code, "0123456789abcdef0123456789abc123")
        .await;
    let key = browser.wait_for("//*[@id='f-ssh_key']").await;
    browser
        .type_into(
            &key,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@laptop",
        )
        .await;
    if javascript {
        // The summary follows the answers without a page load.
        browser
            .script("window.keptAlive = 'same page'; return 1;")
            .await;
        browser.wait_for("//strong[@id='to-pay']").await;
        assert_eq!(
            browser.script("return window.keptAlive;").await,
            serde_json::json!("same page"),
            "the price came live"
        );
        // The country picker shows only after "Pick a country".
        assert_eq!(
            browser
                .script("return document.getElementById('f-country').closest('.field').hidden;")
                .await,
            serde_json::json!(true)
        );
    } else {
        press(browser, "Check price").await;
        browser.wait_for("//strong[@id='to-pay']").await;
    }
    let text = browser.page_text().await;
    assert!(text.contains("Funded until"), "{text}");
    fits_and_is_labelled(browser, "the deploy form with its price").await;
    browser
        .script("document.getElementById('quote').scrollIntoView(); return 1;")
        .await;
    assert!(
        browser
            .screenshot(&shots.join(format!("deploy-form{suffix}.png")))
            .await
            > 1000
    );

    press(browser, "Place order").await;
    let qr = browser.wait_for("//img[@class='qr']").await;
    assert!(!qr.is_empty());
    browser
        .wait_for("//a[starts-with(@href, 'web+stellar:pay?')]")
        .await;
    browser.wait_for("//code[@id='pay-memo']").await;
    fits_and_is_labelled(browser, "the payment step").await;
    browser
        .script("document.getElementById('pay-h').scrollIntoView(); return 1;")
        .await;
    assert!(
        browser
            .screenshot(&shots.join(format!("deploy-payment{suffix}.png")))
            .await
            > 1000
    );
    press(browser, "Pay with sandbox wallet").await;
    site.service.wait_idle().await;
    // The page after the payment (the pay step's page had a Refresh link
    // too: waiting for this one first keeps the click off the old page).
    browser
        .wait_for("//ol[@class='steps']/li[@aria-current='step' and contains(., 'Deploy')]")
        .await;
    let deployed = "//ul[@class='progress']//a[starts-with(@href, '/node/presearch-')]";
    // With the script the order page follows the deployment by itself;
    // without it, a person refreshes until it is over (the pay post may
    // be answered while the deployment still runs in the background).
    let over = "//div[@id='order-live' and not(@data-poll)]";
    if !javascript {
        let started = std::time::Instant::now();
        while browser.all(over).await.is_empty() {
            assert!(
                started.elapsed() < support::webdriver::WAIT,
                "the order never finished: {}",
                browser.page_text().await
            );
            if let Some(refresh) = browser.all("//main//a[.='refresh']").await.pop() {
                browser.try_click(&refresh).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    browser.wait_for(over).await;
    let node = browser.wait_for(deployed).await;
    fits_and_is_labelled(browser, "the deployed order").await;
    browser.click(&node).await;
    browser.wait_for("//h2[.='Uptime, last 30 days']").await;
    assert!(browser.page_text().await.contains("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deploys_through_the_form_with_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let browser = Browser::start().await;
    deploy_through_the_form(&site, &browser, "carol", "").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deploys_through_the_form_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let browser = Browser::start_without_javascript().await;
    deploy_through_the_form(&site, &browser, "dave", "-nojs").await;
    browser.quit().await;
}

/// A Dash node ordered in the chat: its page shows the chain's sync as a
/// progress bar once the monitor has read it (issue 19 item 4 on the node
/// page), and its red Delete, confirmed, removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syncing_node_shows_its_progress_and_is_deleted_from_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let browser = Browser::start().await;
    browser.resize(375, 812).await;
    browser.open(&site.base).await;
    let name = browser.wait_for("//input[@id='name']").await;
    browser.type_into(&name, "erin").await;
    press(&browser, "Sign in to the sandbox").await;
    browser.wait_for("//h1[.='Chat']").await;
    say(&browser, "/deploy dash full").await;
    browser.wait_for("//p[contains(., 'How many')]").await;
    say(&browser, "1").await;
    for label in ["No", "Anywhere", "Skip", "1 week", "Confirm"] {
        press(&browser, label).await;
    }
    press(&browser, "Pay with sandbox wallet").await;
    site.service.wait_idle().await;
    browser
        .wait_for("//article[contains(., 'is running')]")
        .await;

    // The monitor reads the simulated chain a few times: it is syncing.
    for _ in 0..3 {
        site.clock.advance(600);
        site.service.sweep().await;
    }
    let erin = UserId::parse("web:sandbox-erin").unwrap();
    let node = site.service.overview(&erin).unwrap().nodes[0].name.clone();
    browser.open(&format!("{}/node/{node}", site.base)).await;
    let bar = browser
        .wait_for("//section[@aria-labelledby='chain']//progress[@aria-label]")
        .await;
    assert!(!bar.is_empty());
    let text = browser.page_text().await;
    assert!(text.contains("Dash"), "{text}");
    fits_and_is_labelled(&browser, "the node page, syncing").await;
    let shots = screenshot_dir();
    browser
        .script("document.getElementById('chain').scrollIntoView(); return 1;")
        .await;
    assert!(browser.screenshot(&shots.join("node-syncing.png")).await > 1000);

    // Delete is red and asks first; the node is gone once confirmed.
    let delete = browser
        .wait_for(&format!(
            "//button[contains(@class, 'danger') and @aria-label='Delete {node}']"
        ))
        .await;
    browser.click(&delete).await;
    press(&browser, "Yes, delete it").await;
    // The answer is shown on My nodes: the node's page is gone.
    browser
        .wait_for("//h1[.='My nodes']/following::*[starts-with(normalize-space(.), 'Deleted ')]")
        .await;
    site.service.wait_idle().await;
    let left = site.service.overview(&erin).unwrap().nodes;
    assert!(
        left.iter().all(|n| n.name != node),
        "still listed: {:?}",
        left.iter().map(|n| &n.name).collect::<Vec<_>>()
    );
    browser.open(&format!("{}/nodes", site.base)).await;
    browser.wait_for("//h1").await;
    let mine = browser.page_text().await;
    assert!(!mine.contains(&node), "{mine}");
    fits_and_is_labelled(&browser, "My nodes after the delete").await;
    browser.quit().await;
}
