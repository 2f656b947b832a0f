//! The callback and the signed attempt inside it, parsed and checked without
//! any IO: the query string, the opened signature, the signed message and
//! the decrypted email scope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::Aead as _;
use ed25519_dalek::{SIGNATURE_LENGTH, Signature, VerifyingKey};
use serde::Deserialize;

use super::LoginError;

/// Longest callback query accepted; a real one is about 1 KiB.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Longest double name accepted (the login server's names are far shorter).
const MAX_DOUBLE_NAME_CHARS: usize = 100;
/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// The `error` value the login page sends when the person presses cancel.
const CANCELLED_BY_USER: &str = "CancelledByUser";

/// What the login page sent back to the callback.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    Cancelled,
    Attempt {
        /// Normalised (lower case) and checked: safe in a URL path.
        double_name: String,
        /// 64-byte signature followed by the signed message.
        signed_attempt: Vec<u8>,
    },
}

/// The `signedAttempt` query parameter, itself URL-encoded JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackAttempt {
    signed_attempt: String,
    double_name: String,
}

/// The message the user's app signed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedMessage {
    pub signed_state: String,
    /// The encrypted scope; absent when the app shared nothing.
    #[serde(default)]
    pub data: Option<EncryptedScope>,
    pub double_name: String,
    pub app_id: String,
    // `selectedImageId` and `randomRoom` are the app's own bookkeeping (the
    // emoji it showed, its socket room); nothing here depends on them.
}

#[derive(Debug, Deserialize)]
pub struct EncryptedScope {
    pub nonce: String,
    pub ciphertext: String,
}

/// The decrypted scope: `{"email":{"email","sei"}}`.
#[derive(Deserialize)]
struct Scope {
    #[serde(default)]
    email: Option<EmailScope>,
}

#[derive(Deserialize)]
struct EmailScope {
    email: String,
    // `sei` (a signed email identifier from the KYC service) is not checked
    // here; see the README.
}

/// Parses the callback's raw query string (with or without its `?`).
pub fn parse_callback(raw_query: &str) -> Result<Callback, LoginError> {
    if raw_query.len() > MAX_QUERY_BYTES {
        return Err(malformed(format!(
            "the callback query is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let mut signed_attempt = None;
    let mut error = None;
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        let slot = match key.as_ref() {
            "signedAttempt" => &mut signed_attempt,
            "error" => &mut error,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(malformed(format!("the callback repeats {key}")));
        }
    }
    if let Some(error) = error {
        if error == CANCELLED_BY_USER {
            return Ok(Callback::Cancelled);
        }
        return Err(malformed(format!(
            "the login page reported error {:?}",
            printable(&error)
        )));
    }
    let Some(signed_attempt) = signed_attempt else {
        return Err(malformed(
            "the callback has neither signedAttempt nor error",
        ));
    };
    let attempt: CallbackAttempt = serde_json::from_str(&signed_attempt)
        .map_err(|_| malformed("signedAttempt is not the expected JSON"))?;
    let double_name = normalise_double_name(&attempt.double_name)?;
    let signed_attempt = STANDARD
        .decode(attempt.signed_attempt.as_bytes())
        .map_err(|_| malformed("signedAttempt is not base64"))?;
    if signed_attempt.len() <= SIGNATURE_LENGTH {
        return Err(malformed("signedAttempt is too short to hold a signature"));
    }
    Ok(Callback::Attempt {
        double_name,
        signed_attempt,
    })
}

/// A double name in lower case, checked to be a plain name (so it can go
/// into the login server's URL path as it is).
pub fn normalise_double_name(name: &str) -> Result<String, LoginError> {
    let name = name.to_ascii_lowercase();
    let plain = !name.is_empty()
        && name.len() <= MAX_DOUBLE_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.contains("..");
    if plain {
        Ok(name)
    } else {
        Err(malformed("the double name is not a ThreeFold Connect name"))
    }
}

/// Opens the attached signature: the key among `keys` that signed the
/// message, and the message.
pub fn open_signed<'a>(
    signed_attempt: &'a [u8],
    keys: &[VerifyingKey],
) -> Result<(VerifyingKey, &'a [u8]), LoginError> {
    let (signature, message) = signed_attempt
        .split_first_chunk::<SIGNATURE_LENGTH>()
        .ok_or(LoginError::BadSignature)?;
    let signature = Signature::from_bytes(signature);
    keys.iter()
        .find(|key| key.verify_strict(message, &signature).is_ok())
        .map(|key| (*key, message))
        .ok_or(LoginError::BadSignature)
}

/// Parses the signed message.
pub fn parse_message(message: &[u8]) -> Result<SignedMessage, LoginError> {
    serde_json::from_slice(message)
        .map_err(|_| malformed("the signed message is not the expected JSON"))
}

/// Decrypts the email scope the user's app encrypted to this site: a NaCl
/// box from the user's key to the app's key, both converted to X25519.
pub fn decrypt_email(
    scope: &EncryptedScope,
    user_key: &VerifyingKey,
    app_secret: &crypto_box::SecretKey,
) -> Result<String, LoginError> {
    let nonce = STANDARD
        .decode(scope.nonce.as_bytes())
        .map_err(|_| LoginError::Decrypt)?;
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| LoginError::Decrypt)?;
    let ciphertext = STANDARD
        .decode(scope.ciphertext.as_bytes())
        .map_err(|_| LoginError::Decrypt)?;
    let user_x25519 = crypto_box::PublicKey::from(user_key.to_montgomery());
    let plaintext = zeroize::Zeroizing::new(
        crypto_box::SalsaBox::new(&user_x25519, app_secret)
            .decrypt(&nonce.into(), ciphertext.as_slice())
            .map_err(|_| LoginError::Decrypt)?,
    );
    let scope: Scope = serde_json::from_slice(&plaintext)
        .map_err(|_| malformed("the shared scope is not the expected JSON"))?;
    let email = scope
        .email
        .ok_or_else(|| malformed("the shared scope has no email"))?
        .email;
    if is_plausible_email(&email) {
        Ok(email)
    } else {
        Err(malformed("the shared email is not an email address"))
    }
}

/// One `@` between two non-empty parts, no spaces or control characters:
/// enough to refuse garbage without rejecting unusual real addresses.
fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.chars().count() <= MAX_EMAIL_CHARS
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// At most 40 letters and digits of an untrusted value, for a log line.
fn printable(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect()
}

fn malformed(what: impl Into<String>) -> LoginError {
    LoginError::Malformed(what.into())
}
