//! Sign-in with ThreeFold Connect: the login protocol the website calls.
//!
//! [`TfConnect::begin_at`] makes a random state and the URL that sends the
//! browser to the login server; the website keeps the state in its signed
//! session cookie. The person approves the login in the ThreeFold Connect
//! app, which signs an attempt and the login page redirects the browser to
//! the callback. [`TfConnect::finish`] then checks everything the protocol
//! offers before saying who signed in:
//!
//! 1. the callback is well formed and small (or says the person cancelled);
//! 2. the state the browser kept was issued here, recently, and has not
//!    completed a sign-in before (replay memory in `replay.rs`);
//! 3. the attempt is signed by a key the login server lists for the named
//!    user (`login_server.rs`), checked with strict ed25519 verification;
//! 4. the signed message names the same state, the same user and this site;
//! 5. the shared email decrypts with this site's key (NaCl box, keys
//!    converted from ed25519 to X25519) — see `attempt.rs`.
//!
//! Layout: `state.rs` issues and reads states, `attempt.rs` is the pure
//! parsing and cryptography, `login_server.rs` the one HTTP request,
//! `replay.rs` the used-state memory, `error.rs` the error enum with the
//! words a page shows.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

mod attempt;
mod error;
mod login_server;
mod replay;
mod state;
#[cfg(test)]
mod tests;

pub use attempt::MAX_QUERY_BYTES;
pub use error::LoginError;
pub use login_server::REQUEST_TIMEOUT;
pub use replay::MAX_CONSUMED_STATES;

use attempt::Callback;
use replay::ConsumedStates;

/// How long a login may take from [`TfConnect::begin_at`] to the callback.
pub const STATE_TTL_SECS: u64 = 15 * 60;

/// The scope this site asks for: the person's email address.
const SCOPE: &str = r#"{"email":true}"#;

// `[web.tfconnect]` is plain config data (`config/web.rs`), checked there;
// re-exported for the site's callers.
pub use crate::config::TfConnectConfig;

/// Where a new login starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginStart {
    /// Keep this in the browser's signed session; pass it to `finish`.
    pub state: String,
    /// Send the browser here.
    pub redirect_url: String,
}

/// Who signed in.
#[derive(Clone, PartialEq, Eq)]
pub struct TfConnectUser {
    /// The ThreeFold Connect name, in lower case, e.g. `alice.3bot`.
    pub double_name: String,
    /// The email address the person shared, if the app sent one.
    pub email: Option<String>,
    /// The ed25519 key that signed the attempt.
    pub public_key: [u8; 32],
}

impl fmt::Debug for TfConnectUser {
    // The email is personal data: logs see a masked form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TfConnectUser")
            .field("double_name", &self.double_name)
            .field("email", &self.email.as_deref().map(crate::crypto::mask))
            .field("public_key", &STANDARD.encode(self.public_key))
            .finish()
    }
}

/// The login protocol for one site: its config, its key and its memory of
/// completed logins. Share one per process (the replay memory is in it).
pub struct TfConnect {
    /// As given, with `login_url` without its trailing slashes.
    config: TfConnectConfig,
    client: reqwest::Client,
    /// The app's X25519 secret, from its ed25519 signing key.
    app_secret: crypto_box::SecretKey,
    /// The matching X25519 public key, base64, as sent to the login server.
    app_public_key: String,
    consumed: ConsumedStates,
}

impl fmt::Debug for TfConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TfConnect")
            .field("config", &self.config)
            .field("app_public_key", &self.app_public_key)
            .finish_non_exhaustive()
    }
}

impl TfConnect {
    /// Checks the config and derives the app's X25519 key pair from
    /// `app_key` (the same conversion libsodium and the app use).
    pub fn new(mut config: TfConnectConfig, app_key: SigningKey) -> anyhow::Result<TfConnect> {
        // The protocol needs an app id: an empty one must be filled in first.
        config.check_complete()?;
        let trimmed = config.login_url.trim_end_matches('/').len();
        config.login_url.truncate(trimmed);
        let scalar = Zeroizing::new(app_key.to_scalar_bytes());
        let app_secret = crypto_box::SecretKey::from_bytes(*scalar);
        let app_public_key = STANDARD.encode(app_key.verifying_key().to_montgomery().to_bytes());
        Ok(TfConnect {
            config,
            client: login_server::client()?,
            app_secret,
            app_public_key,
            consumed: ConsumedStates::new(MAX_CONSUMED_STATES),
        })
    }

    /// The app's X25519 public key in base64 (the `publickey` parameter).
    pub fn app_public_key(&self) -> &str {
        &self.app_public_key
    }

    /// A fresh login issued at `now_unix` (use the same clock as `finish`).
    pub fn begin_at(&self, now_unix: u64) -> LoginStart {
        let state = state::issue(now_unix);
        let redirect_url = format!(
            "{}/?state={}&appid={}&publickey={}&redirecturl={}&scope={}",
            self.config.login_url,
            encode(&state),
            encode(&self.config.app_id),
            encode(&self.app_public_key),
            encode(&self.config.callback_path),
            encode(SCOPE),
        );
        LoginStart {
            state,
            redirect_url,
        }
    }

    /// Completes a login from the callback's raw query string and the state
    /// the website kept for this browser. Each state completes once.
    pub async fn finish(
        &self,
        raw_query: &str,
        expected_state: &str,
        now_unix: u64,
    ) -> Result<TfConnectUser, LoginError> {
        let (double_name, signed_attempt) = match attempt::parse_callback(raw_query)? {
            Callback::Cancelled => return Err(LoginError::Cancelled),
            Callback::Attempt {
                double_name,
                signed_attempt,
            } => (double_name, signed_attempt),
        };
        let expires_at = state::issued_at(expected_state)?.saturating_add(STATE_TTL_SECS);
        if now_unix >= expires_at {
            return Err(LoginError::Expired);
        }
        // Checked before asking the login server, so a replay costs nothing;
        // `consume` below decides races between two concurrent callbacks.
        if self.consumed.contains(expected_state) {
            return Err(LoginError::Replayed);
        }
        let keys =
            login_server::user_keys(&self.client, &self.config.login_url, &double_name).await?;
        let (user_key, message) = attempt::open_signed(&signed_attempt, &keys)?;
        let message = attempt::parse_message(message)?;
        if message.signed_state != expected_state {
            return Err(LoginError::StateMismatch);
        }
        if attempt::normalise_double_name(&message.double_name)? != double_name {
            return Err(LoginError::Malformed(
                "the signed attempt names another user".to_owned(),
            ));
        }
        if message.app_id != self.config.app_id {
            return Err(LoginError::WrongApp);
        }
        let email = match &message.data {
            Some(scope) => Some(attempt::decrypt_email(scope, &user_key, &self.app_secret)?),
            None => None,
        };
        self.consumed
            .consume(expected_state, expires_at, now_unix)?;
        tracing::debug!(user = %double_name, "ThreeFold Connect sign-in verified");
        Ok(TfConnectUser {
            double_name,
            email,
            public_key: user_key.to_bytes(),
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one query value.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
