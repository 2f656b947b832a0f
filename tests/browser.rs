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

/// Types `text` into the chat and sends it.
async fn say(browser: &Browser, text: &str) {
    let input = browser.wait_for("//input[@id='text']").await;
    browser.type_into(&input, &format!("{text}\n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deploys_pays_and_is_notified_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let browser = Browser::start().await;

    browser.open(&site.base).await;
    let name = browser.wait_for("//input[@id='name']").await;
    browser.type_into(&name, "alice").await;
    press(&browser, "Sign in to the sandbox").await;
    browser.wait_for("//h1[.='Chat']").await;
    assert!(browser.url().await.ends_with("/chat"));

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
    browser.quit().await;
}
