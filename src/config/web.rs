//! The `[web]` section: the deployer website's listener, sign-in methods and
//! session lifetime.

use super::Problem;
use serde::Deserialize;

use super::ops::{listen_addr, switched_on};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// An address like "127.0.0.1:8080"; empty turns the website off.
    pub listen: String,
    /// The address users reach the site at (behind a TLS proxy, say
    /// "https://jukebox.example.org"); empty means `http://<listen>`.
    /// ThreeFold Connect sends users back to it, and it decides whether
    /// cookies are marked Secure.
    pub public_url: String,
    /// Offer the clearly labelled local sign-in (any name, no password).
    /// For trying Jukebox out with the sandbox wallet; `jukebox check`
    /// refuses it with real payments.
    pub sandbox_login: bool,
    /// How long a sign-in lasts.
    pub session_hours: u64,
    pub tfconnect: TfConnectConfig,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            sandbox_login: true,
            session_hours: 24 * 7,
            tfconnect: Default::default(),
        }
    }
}

impl WebConfig {
    /// The address to bind, or `None` when the website is off.
    pub fn listen(&self) -> Option<&str> {
        switched_on(&self.listen)
    }

    /// The site's base URL without a trailing slash, given the address the
    /// listener actually bound (port 0 becomes the real port).
    pub fn base_url(&self, bound: std::net::SocketAddr) -> String {
        if self.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }

    pub fn validate(&self) -> Result<(), Problem> {
        listen_addr(&self.listen, "127.0.0.1:8080")?;
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "public_url {:?} must start with https:// (or http:// for local use)",
                self.public_url
            )
            .into());
        }
        if !(1..=24 * 90).contains(&self.session_hours) {
            return Err("session_hours must be 1 to 2160 (90 days)".into());
        }
        self.tfconnect
            .check()
            .map_err(|e| Problem::from(format!("{e:#}")))
    }

    /// The ThreeFold Connect settings the site runs with at `base_url`: an
    /// empty `app_id` becomes the site's host as the browser sees it (the
    /// login server shows it to the user and signs it into the attempt).
    pub fn login_config(&self, base_url: &str) -> TfConnectConfig {
        let mut login = self.tfconnect.clone();
        if login.app_id.is_empty() {
            login.app_id = base_url
                .split_once("://")
                .map(|(_, host)| host.to_owned())
                .unwrap_or_else(|| base_url.to_owned());
        }
        login
    }
}

/// `[web.tfconnect]` in `config.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TfConnectConfig {
    /// The login server, e.g. `https://login.threefold.me`.
    pub login_url: String,
    /// This site's host (and port), as the browser reaches it, e.g.
    /// `deployer.example.com` or `127.0.0.1:8080`. The app shows it to the
    /// person and signs it; the login page redirects back to it. Empty (the
    /// default): the host of `web.public_url`, or the address the website
    /// listens on.
    pub app_id: String,
    /// The path on this site the login page redirects back to.
    pub callback_path: String,
}

impl Default for TfConnectConfig {
    fn default() -> TfConnectConfig {
        TfConnectConfig {
            login_url: "https://login.threefold.me".to_owned(),
            app_id: String::new(),
            callback_path: "/auth/callback".to_owned(),
        }
    }
}

impl TfConnectConfig {
    /// Checks the values as written: the login URL, the callback path, and
    /// the app id when one is set (an empty one is filled in by the site,
    /// see `WebConfig::login_config`).
    pub fn check(&self) -> anyhow::Result<()> {
        check_login_url(&self.login_url)?;
        if !self.app_id.is_empty() {
            check_app_id(&self.app_id)?;
        }
        check_callback_path(&self.callback_path)
    }

    /// [`Self::check`], and an app id set: what the login protocol needs
    /// (the site fills an empty one in first, see `WebConfig::login_config`).
    pub fn check_complete(&self) -> anyhow::Result<()> {
        self.check()?;
        check_app_id(&self.app_id)
    }
}

fn check_login_url(login_url: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(login_url)
        .map_err(|e| anyhow::anyhow!("web.tfconnect.login_url {login_url:?} is not a URL: {e}"))?;
    let usable = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    anyhow::ensure!(
        usable,
        "web.tfconnect.login_url {login_url:?} must be an http(s) URL without query, fragment \
         or credentials, e.g. https://login.threefold.me"
    );
    Ok(())
}

fn check_app_id(app_id: &str) -> anyhow::Result<()> {
    let host_like = !app_id.is_empty()
        && app_id.len() <= 260
        && app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    anyhow::ensure!(
        host_like,
        "web.tfconnect.app_id {app_id:?} must be this site's host (and port) as browsers reach \
         it, e.g. deployer.example.com or 127.0.0.1:8080"
    );
    Ok(())
}

fn check_callback_path(path: &str) -> anyhow::Result<()> {
    let plain_path = path.starts_with('/')
        && path.len() <= 200
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'));
    anyhow::ensure!(
        plain_path,
        "web.tfconnect.callback_path {path:?} must be a path on this site, e.g. /auth/callback"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_checked() {
        let web = WebConfig::default();
        assert!(web.validate().is_ok());
        assert_eq!(web.listen(), Some("127.0.0.1:8080"));
        let bound = "127.0.0.1:4321".parse().unwrap();
        assert_eq!(web.base_url(bound), "http://127.0.0.1:4321");
        let public = WebConfig {
            public_url: "https://jukebox.example.org/".into(),
            ..WebConfig::default()
        };
        assert_eq!(public.base_url(bound), "https://jukebox.example.org");
        let off = WebConfig {
            listen: String::new(),
            ..WebConfig::default()
        };
        assert_eq!(off.listen(), None);
        for bad in [
            WebConfig {
                listen: "localhost".into(),
                ..WebConfig::default()
            },
            WebConfig {
                public_url: "jukebox.example.org".into(),
                ..WebConfig::default()
            },
            WebConfig {
                session_hours: 0,
                ..WebConfig::default()
            },
            WebConfig {
                tfconnect: TfConnectConfig {
                    login_url: "ftp://login".into(),
                    ..Default::default()
                },
                ..WebConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
