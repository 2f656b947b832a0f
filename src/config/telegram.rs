//! `[telegram]`: how the Telegram channel receives updates and how fast it
//! may send, as plain data the channel (`chat::telegram`) reads.

use super::Problem;
use serde::Deserialize;

/// `telegram.mode`: how updates arrive. serde refuses any other value,
/// naming the key and the allowed values (`config::keyed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// getUpdates long polling (the default).
    Polling,
    /// Telegram posts updates to `webhook_url`.
    Webhook,
}

impl TelegramMode {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            TelegramMode::Polling => "polling",
            TelegramMode::Webhook => "webhook",
        }
    }
}

/// `[telegram]` in config.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    pub mode: TelegramMode,
    /// How long one getUpdates call waits for news, in seconds.
    pub poll_timeout_seconds: u32,
    /// The public https URL Telegram posts updates to (webhook mode).
    pub webhook_url: String,
    /// Where the webhook listener binds (webhook mode), behind a TLS proxy.
    pub webhook_listen: String,
    pub chat_messages_per_second: f64,
    pub chat_burst: f64,
    pub global_messages_per_second: f64,
}

impl Default for TelegramConfig {
    fn default() -> TelegramConfig {
        TelegramConfig {
            mode: TelegramMode::Polling,
            poll_timeout_seconds: 10,
            webhook_url: String::new(),
            webhook_listen: "127.0.0.1:8443".into(),
            chat_messages_per_second: 1.0,
            chat_burst: 5.0,
            global_messages_per_second: 30.0,
        }
    }
}

impl TelegramConfig {
    pub fn validate(&self) -> Result<(), Problem> {
        match self.mode {
            TelegramMode::Polling => {}
            TelegramMode::Webhook => {
                if !self.webhook_url.starts_with("https://") {
                    return Err("webhook mode needs webhook_url = \"https://...\"".into());
                }
                if self.webhook_listen.parse::<std::net::SocketAddr>().is_err() {
                    return Err("webhook_listen must be an address like 127.0.0.1:8443".into());
                }
            }
        }
        if !(1..=50).contains(&self.poll_timeout_seconds) {
            return Err("poll_timeout_seconds must be 1 to 50".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.chat_messages_per_second)
            || !positive(self.global_messages_per_second)
            || self.chat_burst < 1.0
        {
            return Err("message rates must be positive and chat_burst at least 1".into());
        }
        Ok(())
    }
}
