//! The one request to the ThreeFold Connect login server: a user's public
//! signing key, `GET {login_url}/api/users/{doubleName}`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use reqwest::StatusCode;
use serde::Deserialize;

use super::LoginError;

/// How long the whole request may take before the sign-in gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest user record read; a real one is about 200 bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{"doublename","publicKey"}`; some server versions name the key
/// `mainPublicKey`, and a record may carry both.
#[derive(Deserialize)]
struct UserRecord {
    #[serde(default)]
    doublename: Option<String>,
    #[serde(default, rename = "publicKey")]
    public_key: Option<String>,
    #[serde(default, rename = "mainPublicKey")]
    main_public_key: Option<String>,
}

/// The HTTP client for the login server: bounded time, no redirects (the
/// API answers directly; following one could lead the key lookup elsewhere).
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jukebox/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The signing keys the login server has for `double_name` (already
/// normalised and checked, so it goes into the path as it is). Every key
/// in the record that is a valid ed25519 key, at least one.
pub async fn user_keys(
    client: &reqwest::Client,
    login_url: &str,
    double_name: &str,
) -> Result<Vec<VerifyingKey>, LoginError> {
    let url = format!("{login_url}/api/users/{double_name}");
    let mut response = client.get(&url).send().await.map_err(unavailable)?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(LoginError::UnknownUser);
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(LoginError::LoginServerUnavailable(format!(
            "the user lookup answered HTTP {status}"
        )));
    }
    if !status.is_success() {
        return Err(LoginError::LoginServerInvalid(format!(
            "the user lookup answered HTTP {status}"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(invalid(format!(
                "the user record is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let record: UserRecord = serde_json::from_slice(&body)
        .map_err(|_| invalid("the user record is not the expected JSON"))?;
    if let Some(name) = &record.doublename
        && !name.eq_ignore_ascii_case(double_name)
    {
        return Err(invalid("the user record is for another user"));
    }
    let keys: Vec<VerifyingKey> = [record.public_key, record.main_public_key]
        .into_iter()
        .flatten()
        .filter_map(|encoded| parse_key(&encoded))
        .collect();
    if keys.is_empty() {
        return Err(invalid("the user record has no valid ed25519 public key"));
    }
    Ok(keys)
}

fn parse_key(encoded: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = STANDARD.decode(encoded.as_bytes()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

fn unavailable(e: reqwest::Error) -> LoginError {
    let what = if e.is_timeout() {
        format!("no answer within {} seconds", REQUEST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("could not connect ({})", crate::probe::innermost(&e))
    } else {
        format!("the request failed ({})", crate::probe::innermost(&e))
    };
    LoginError::LoginServerUnavailable(what)
}

fn invalid(what: impl Into<String>) -> LoginError {
    LoginError::LoginServerInvalid(what.into())
}
