//! PLACEHOLDER, replaced by the tfconnect branch at merge.
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TfConnectConfig {
    pub login_url: String,
    pub app_id: String,
    pub callback_path: String,
}

impl Default for TfConnectConfig {
    fn default() -> Self {
        TfConnectConfig {
            login_url: "https://login.threefold.me".into(),
            app_id: String::new(),
            callback_path: "/auth/callback".into(),
        }
    }
}

pub struct LoginStart {
    pub state: String,
    pub redirect_url: String,
}

pub struct TfConnectUser {
    pub double_name: String,
    pub email: Option<String>,
    pub public_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cancelled")]
    Cancelled,
}

impl LoginError {
    pub fn user_message(&self) -> &'static str {
        "Sign-in was cancelled."
    }
}

pub struct TfConnect {
    config: TfConnectConfig,
}

impl TfConnect {
    pub fn new(
        config: TfConnectConfig,
        _app_key: ed25519_dalek::SigningKey,
    ) -> anyhow::Result<Self> {
        Ok(TfConnect { config })
    }
    pub fn begin(&self) -> LoginStart {
        LoginStart {
            state: "x".into(),
            redirect_url: self.config.login_url.clone(),
        }
    }
    pub async fn finish(
        &self,
        _raw_query: &str,
        _expected_state: &str,
        _now: u64,
    ) -> Result<TfConnectUser, LoginError> {
        Err(LoginError::Cancelled)
    }
}
