//! A whole Jukebox with its website on 127.0.0.1:0 (started by
//! [`spawn_app`], as the binary starts it), and a small browser
//! stand-in (an HTTP client that keeps cookies and reads forms) to drive it
//! the way the pages do.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use jukebox::app::App;
use jukebox::channel::{MemoryOutbox, Outbox};
use jukebox::clock::ManualClock;
use jukebox::config::Config;
use jukebox::grid::sim::SimGrid;
use jukebox::ids::UserId;
use jukebox::service::Service;
use jukebox::web::WebHub;

use super::{START, spawn_app, test_config};

pub struct Site {
    pub service: Service,
    pub hub: Arc<WebHub>,
    pub sim: SimGrid,
    pub clock: Arc<ManualClock>,
    /// What Telegram (and the terminal) would have been sent.
    pub telegram: Arc<MemoryOutbox>,
    /// The alert dispatcher's outbox, as `jukebox run` wires it.
    pub alerts_outbox: Arc<dyn Outbox>,
    pub base: String,
    /// The process, as the binary builds it; dropping it stops the site.
    pub app: App,
}

impl Site {
    pub async fn start(dir: &Path, tweak: &dyn Fn(&mut Config)) -> Site {
        let config = test_config(dir, &|c| {
            c.web.listen = "127.0.0.1:0".into();
            tweak(c)
        });
        let clock = Arc::new(ManualClock::new(START));
        let telegram = Arc::new(MemoryOutbox::default());
        let app = spawn_app(config, clock.clone(), telegram.clone()).await;
        Site {
            alerts_outbox: app.alert_outbox(),
            service: app.service.clone(),
            hub: app.hub.clone(),
            sim: app.sim.clone().expect("embedded grid"),
            clock,
            telegram,
            base: app.website().expect("the website runs").to_owned(),
            app,
        }
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
            csrf: String::new(),
        }
    }

    /// Fails the app of `user`'s first node on the simulated grid, sweeps
    /// until the outage is confirmed, and delivers the alerts (at least one).
    pub async fn take_app_down(&self, user: &UserId) {
        let nodes: jukebox::user::Nodes = self
            .service
            .store()
            .read(user, jukebox::user::NODES)
            .unwrap()
            .unwrap();
        self.sim
            .fail_app(nodes.nodes[0].contract().unwrap(), "port closed")
            .unwrap();
        for _ in 0..3 {
            self.service.sweep().await;
            self.clock.advance(60);
        }
        assert!(self.deliver_alerts().await >= 1);
    }

    /// Delivers queued alerts the way the dispatcher does, without pacing.
    pub async fn deliver_alerts(&self) -> usize {
        self.service
            .alerts()
            .drain(self.alerts_outbox.as_ref(), super::unlimited_alerts())
            .await
            .expect("alerts delivered")
    }
}

/// What a page answered.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// An HTTP client that keeps cookies and the page's CSRF token, like a
/// browser tab.
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    /// The token of the last page that had forms.
    pub csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("cookie text");
            let pair = text.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().expect("location").to_owned());
        let body = response.text().await.expect("body");
        if let Some(token) = form_value(&body, "csrf") {
            self.csrf = token;
        }
        Page {
            status,
            location,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(response).await
    }

    /// Posts a form with the current CSRF token added (unless the fields
    /// name one), as a page's script would when `fetch` is set.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)], fetch: bool) -> Page {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            form.push(("csrf".into(), self.csrf.clone()));
        }
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(&form);
        if fetch {
            request = request.header("x-jukebox-fetch", "1");
        }
        let response = request.send().await.expect("POST");
        self.finish(response).await
    }

    /// A request to `path` carrying only this tab's session cookie: no CSRF
    /// token, no fetch header, no other cookie. For requests a page would
    /// never send, or streams read by hand.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header(
                "cookie",
                format!("jb_session={}", self.cookies["jb_session"]),
            )
    }

    /// Signs in to the sandbox as `name` from the start page.
    pub async fn sandbox_sign_in(&mut self, name: &str) {
        let landing = self.get("/").await;
        assert_eq!(landing.status, 200);
        let signed_in = self.post("/login/sandbox", &[("name", name)], false).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert_eq!(signed_in.location.as_deref(), Some("/chat"));
        let chat = self.get("/chat").await;
        assert_eq!(chat.status, 200);
    }

    /// Types `text` into the chat.
    pub async fn say(&mut self, text: &str) {
        let page = self.post("/chat/send", &[("text", text)], true).await;
        assert_eq!(page.status, 204, "{text:?}: {}", page.body);
    }

    /// Presses the newest button on the chat page whose label contains
    /// `label`.
    pub async fn press(&mut self, label: &str) {
        let chat = self.get("/chat").await;
        let data = buttons(&chat.body)
            .into_iter()
            .rev()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| panic!("no button {label:?} on the chat page:\n{}", chat.body))
            .1;
        let page = self
            .post("/chat/press", &[("data", &data), ("back", "/chat")], true)
            .await;
        assert_eq!(page.status, 204, "{label:?}: {}", page.body);
    }
}

/// Undoes the site's HTML escaping.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of the first hidden field `name` in `html`.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// Every conversation button on a page: (label, data), in page order.
pub fn buttons(html: &str) -> Vec<(String, String)> {
    let marker = "name=\"data\" value=\"";
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let Some(end) = rest.find('"') else { break };
        let data = unescape(&rest[..end]);
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest.find("</button>") else {
            break;
        };
        found.push((unescape(&rest[open + 1..close]), data));
    }
    found
}

/// The page's text without tags, unescaped, for plain assertions.
pub fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}
