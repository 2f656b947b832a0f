//! Debian's chromium driven through chromedriver with fantoccini (a W3C
//! WebDriver client), wrapped in the few steps the browser test takes to use
//! the website like a person: open pages, type, click, read text, run a
//! line of script, take screenshots. Elements are passed around as their
//! WebDriver ids. The browser itself is installed by `.ci/test`, not here.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::{Element, ElementRef};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for something to appear on a page.
pub const WAIT: Duration = Duration::from_secs(20);

/// Fails with what to run when chromium or chromedriver is missing: the
/// browser is installed by `.ci/test` (the README's test command), never
/// by a test.
pub fn ensure_browser() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "the browser test needs Debian's chromium and chromium-driver, and {} is missing: \
         run the tests with `.ci/test` (it installs them with apt-get as root), or \
         `apt-get install chromium chromium-driver`",
        missing.join(" and ")
    );
}

/// A running chromedriver with one headless chromium session.
pub struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless
    /// chromium with a phone-sized window.
    pub async fn start() -> Browser {
        Browser::launch(true).await
    }

    /// [`Browser::start`] with JavaScript switched off (chromium's content
    /// setting), as a person who disabled it meets the site.
    pub async fn start_without_javascript() -> Browser {
        Browser::launch(false).await
    }

    async fn launch(javascript: bool) -> Browser {
        ensure_browser();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("port").port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("browser profile dir");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=412,915",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            },
            // Keep the browser's console (page errors, failed loads, CSP
            // refusals) for `browser_log`: chromedriver's logging capability.
            "goog:loggingPrefs": { "browser": "ALL" }
        });
        let mut capabilities = capabilities;
        if !javascript {
            capabilities["goog:chromeOptions"]["prefs"] =
                json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are a JSON object")
        };
        // Plain HTTP to chromedriver on loopback: no TLS connector.
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        // chromedriver takes a moment to listen; until then the session
        // cannot be made.
        let client = loop {
            match builder.connect(&base).await {
                Ok(client) => break client,
                Err(e) => {
                    assert!(
                        started.elapsed() < WAIT,
                        "no browser session from chromedriver: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        Browser {
            driver,
            client,
            _profile: profile,
        }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open a page");
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default()
    }

    /// Every element matching an XPath expression, in document order (none
    /// while the page cannot answer, e.g. mid-navigation).
    pub async fn all(&self, xpath: &str) -> Vec<String> {
        self.client
            .find_all(Locator::XPath(xpath))
            .await
            .map(|found| found.iter().map(|e| e.element_id().to_string()).collect())
            .unwrap_or_default()
    }

    /// Waits for the last element matching `xpath` and returns it.
    pub async fn wait_for(&self, xpath: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(last) = self.all(xpath).await.pop() {
                return last;
            }
            assert!(
                started.elapsed() < WAIT,
                "{xpath} did not appear; the page says:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn element(&self, id: &str) -> Element {
        Element::from_element_id(self.client.clone(), ElementRef::from(id.to_owned()))
    }

    pub async fn click(&self, element: &str) {
        self.element(element).click().await.expect("click");
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.element(element)
            .send_keys(text)
            .await
            .expect("type into an element");
    }

    /// Runs `script` (a function body) and returns what it returns.
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("run a script")
    }

    /// The page's visible text (empty while the page cannot answer: this
    /// also explains a wait that timed out).
    pub async fn page_text(&self) -> String {
        self.client
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
            .ok()
            .and_then(|text| text.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Resizes the window (e.g. to a 375 px wide phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
    }

    /// Saves a PNG of the window to `path` and returns its size in bytes.
    pub async fn screenshot(&self, path: &Path) -> usize {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, &png).expect("screenshot saved");
        png.len()
    }

    /// The browser console's entries since the last call (chromedriver
    /// hands each out once): `{level, message, source, timestamp}`, level
    /// `SEVERE` for console errors, failed loads and CSP refusals.
    pub async fn browser_log(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            other => panic!("chromedriver gave no browser log: {other:?}"),
        }
    }

    /// Ends the session, which closes chromium.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After quit (or a failed test), the driver goes too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's log command (`POST /session/{id}/se/log`, type
/// `browser`), which the W3C protocol lacks and chromedriver keeps under
/// Selenium's `se/` prefix; fantoccini sends it as a custom command.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
