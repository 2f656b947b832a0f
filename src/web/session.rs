//! Signed cookies: who is signed in, the pending ThreeFold Connect login,
//! and the anti-CSRF token of forms shown before sign-in.
//!
//! Signing and checking is the `cookie` crate's signed jar (HMAC-SHA256,
//! checked in constant time), read through axum-extra's `SignedCookieJar`:
//! no MAC code of our own. The signed value is `<purpose>.<base64url(json)>`:
//! the jar's MAC covers the value only, so the purpose (the cookie's name)
//! is inside it, and a login cookie can never pass for a session. Nothing
//! secret is inside (ids, expiry, a random CSRF token); the key is derived
//! from the master key, so cookies survive restarts and stop working when
//! the master key changes. Cookies are HttpOnly, SameSite=Lax and, on https
//! sites, Secure.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, SignedCookieJar};

use crate::crypto::{MasterKey, constant_time_eq};
use crate::ids::UserId;

pub const SESSION_COOKIE: &str = "jb_session";
pub const LOGIN_COOKIE: &str = "jb_login";
pub const PRE_COOKIE: &str = "jb_pre";
/// A ThreeFold Connect sign-in must come back within this time.
pub const LOGIN_TTL_SECS: u64 = 600;
/// Longest cookie value accepted before any decoding.
const MAX_COOKIE_LEN: usize = 2048;

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The web sign-in (`web:alice.3bot`, `web:sandbox-bob`).
    pub user: UserId,
    /// Shown as the user's name.
    pub name: String,
    /// Every state-changing form carries this back.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// A ThreeFold Connect sign-in on its way (the state we sent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub expires_at: u64,
}

/// The anti-CSRF token of the sign-in forms, before there is a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreSession {
    pub csrf: String,
    pub expires_at: u64,
}

/// A signed cookie's content that stops being valid at a point in time.
pub trait Expiring {
    /// Unix seconds; the value is refused from then on.
    fn expires_at(&self) -> u64;
}

impl Expiring for Session {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl Expiring for PendingLogin {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl Expiring for PreSession {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

/// Signs and checks cookie values.
pub struct CookieSigner {
    /// The signed jar's key (its first half signs; the second would
    /// encrypt, which these cookies do not need).
    key: Key,
    /// Adds `Secure` (the site is served over https).
    secure: bool,
}

impl CookieSigner {
    pub fn new(master: &MasterKey, secure: bool) -> CookieSigner {
        let mut bytes = zeroize::Zeroizing::new([0u8; 64]);
        bytes[..32].copy_from_slice(&master.derive_key("jukebox web cookies v2 signing")[..]);
        bytes[32..].copy_from_slice(&master.derive_key("jukebox web cookies v2 unused")[..]);
        CookieSigner {
            key: Key::from(&bytes[..]),
            secure,
        }
    }

    /// The cookie value for `value`, signed for `purpose`.
    pub fn sign<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        // Serialising these plain structs cannot fail.
        let json = serde_json::to_vec(value).unwrap_or_default();
        let payload = format!("{purpose}.{}", URL_SAFE_NO_PAD.encode(json));
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(&self.key)
            .add(Cookie::new(purpose.to_owned(), payload));
        jar.get(purpose)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// The value inside a cookie, if it is ours, for `purpose`, intact.
    pub fn verify<T: DeserializeOwned>(&self, purpose: &str, cookie: &str) -> Option<T> {
        let mut headers = HeaderMap::new();
        let header = format!("{purpose}={cookie}").parse().ok()?;
        headers.insert(axum::http::header::COOKIE, header);
        self.verify_in(&headers, purpose)
    }

    /// The value of the signed cookie `purpose` a request carries, if it
    /// is ours, for `purpose`, intact.
    fn verify_in<T: DeserializeOwned>(&self, headers: &HeaderMap, purpose: &str) -> Option<T> {
        let jar = SignedCookieJar::from_headers(headers, self.key.clone());
        let checked = jar.get(purpose)?;
        if checked.value().len() > MAX_COOKIE_LEN {
            return None;
        }
        let payload = checked.value().strip_prefix(purpose)?.strip_prefix('.')?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// The fresh, intact value of the signed cookie `name` a request
    /// carries, if any.
    pub fn from_request<T: DeserializeOwned + Expiring>(
        &self,
        headers: &HeaderMap,
        name: &str,
        now: u64,
    ) -> Option<T> {
        self.verify_in::<T>(headers, name)
            .filter(|v| v.expires_at() > now)
    }

    /// A `Set-Cookie` header value.
    pub fn set_cookie(&self, name: &str, value: &str, max_age_secs: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
    }

    /// A `Set-Cookie` header value that removes the cookie.
    pub fn clear_cookie(&self, name: &str) -> String {
        self.set_cookie(name, "", 0)
    }

    /// The value inside cookie `name` (its purpose), if it is ours, intact
    /// and not expired at `now`.
    pub fn verify_fresh<T: DeserializeOwned + Expiring>(
        &self,
        name: &str,
        cookie: &str,
        now: u64,
    ) -> Option<T> {
        self.verify::<T>(name, cookie)
            .filter(|v| v.expires_at() > now)
    }
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a form's token matches the one the cookie vouches for.
pub fn csrf_ok(expected: &str, given: &str) -> bool {
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_alnum;

    fn signer() -> CookieSigner {
        CookieSigner::new(&MasterKey::from_bytes([3; 32]), false)
    }

    /// The session inside a cookie value, as the site reads it.
    fn read(s: &CookieSigner, value: &str, now: u64) -> Option<Session> {
        s.verify_fresh(SESSION_COOKIE, value, now)
    }

    fn session() -> Session {
        Session {
            user: UserId::parse("web:alice.3bot").unwrap(),
            name: "alice.3bot".into(),
            csrf: random_alnum(32),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_session_cookie_round_trips_until_it_expires() {
        let s = signer();
        let alice = session();
        let value = s.sign(SESSION_COOKIE, &alice);
        assert_eq!(read(&s, &value, 999), Some(alice));
        assert_eq!(read(&s, &value, 1_000), None);
    }

    #[test]
    fn tampered_foreign_or_repurposed_cookies_are_refused() {
        let s = signer();
        let value = s.sign(SESSION_COOKIE, &session());
        let (payload, mac) = value.split_once('.').unwrap();
        let mut forged = session();
        forged.user = UserId::parse("web:mallory.3bot").unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(read(&s, &format!("{forged_payload}.{mac}"), 0), None);
        assert_eq!(read(&s, &format!("{payload}.{}", &mac[1..]), 0), None);
        assert_eq!(read(&s, payload, 0), None);
        assert_eq!(read(&s, "", 0), None);
        assert_eq!(read(&s, &"a.b".repeat(2000), 0), None);
        let other = CookieSigner::new(&MasterKey::from_bytes([4; 32]), false);
        assert_eq!(read(&other, &value, 0), None);
        // A login cookie is no session, even with the same fields.
        let as_login = s.sign(LOGIN_COOKIE, &session());
        assert_eq!(read(&s, &as_login, 0), None);
    }

    #[test]
    fn cookie_headers_are_locked_down() {
        let plain = signer().set_cookie(SESSION_COOKIE, "v", 60);
        assert_eq!(
            plain,
            "jb_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let secure = CookieSigner::new(&MasterKey::from_bytes([3; 32]), true);
        assert!(secure.set_cookie("x", "v", 1).ends_with("; Secure"));
        assert!(signer().clear_cookie("x").contains("Max-Age=0"));
        assert_eq!(
            cookie_value("a=1; jb_session=xyz.abc; b=2", SESSION_COOKIE),
            Some("xyz.abc")
        );
        assert_eq!(cookie_value("a=1", SESSION_COOKIE), None);
    }

    #[test]
    fn tokens_are_random_alphanumeric_and_csrf_compares_exactly() {
        let a = random_alnum(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_alnum(32));
        assert!(csrf_ok(&a, &a.clone()));
        assert!(!csrf_ok(&a, &a[1..]));
        assert!(!csrf_ok("", ""));
    }
}
