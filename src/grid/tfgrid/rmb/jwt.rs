//! The token a twin presents when it opens its websocket to the relay
//! (`wss://relay/?<token>`): a JWT whose claims name the twin and the
//! session, signed with the twin's own key.
//!
//! The header says RS512 because that is what relays expect to read; the
//! signature is really the RMB signer's: base64url (no padding) of the type
//! prefix (`'e'` for ed25519) and the ed25519 signature of `header.claims`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::envelope::ED25519_PREFIX;

/// The fixed header, serialized in this field order.
const HEADER: &str = r#"{"alg":"RS512","typ":"JWT"}"#;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The twin id.
    pub sub: u32,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds (`tfgrid-v3.md`: `now + ttl`).
    pub exp: u64,
    /// The session: one twin may hold several connections.
    pub sid: String,
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not three base64url parts")]
    Malformed,
    #[error("the token's header or claims are unreadable")]
    Unreadable,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired or is not valid yet")]
    OutOfTime,
}

/// A token for `claims`, signed with `key`.
pub fn token(claims: &Claims, key: &SigningKey) -> String {
    // Serializing a struct of numbers and a string cannot fail.
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut sig = vec![ED25519_PREFIX];
    sig.extend_from_slice(&key.sign(signed.as_bytes()).to_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The claims of `token`, unverified: a relay reads `sub` to find the key.
pub fn claims(token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(_), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let claims = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&claims).map_err(|_| TokenError::Unreadable)
}

/// What a relay checks: the signature against the twin's key, and that `now`
/// lies between issue (give or take `skew` seconds) and expiry.
pub fn verify(token: &str, key: &VerifyingKey, now: u64, skew: u64) -> Result<Claims, TokenError> {
    let claims = claims(token)?;
    let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    let Some((&ED25519_PREFIX, raw)) = sig.split_first() else {
        return Err(TokenError::BadSignature);
    };
    let raw: [u8; 64] = raw.try_into().map_err(|_| TokenError::BadSignature)?;
    key.verify(
        signed.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&raw),
    )
    .map_err(|_| TokenError::BadSignature)?;
    if claims.iat > now.saturating_add(skew) || claims.exp < now {
        return Err(TokenError::OutOfTime);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_at(now: u64) -> Claims {
        Claims {
            sub: 42,
            iat: now,
            exp: now + 60,
            sid: "jukebox".into(),
        }
    }

    #[test]
    fn a_token_verifies_with_its_key_only_and_only_in_time() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let t = token(&claims_at(1000), &key);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), HEADER.as_bytes());
        assert_eq!(
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap(),
            r#"{"sub":42,"iat":1000,"exp":1060,"sid":"jukebox"}"#
        );
        // 'e' then 64 signature bytes.
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!((sig.len(), sig[0]), (65, b'e'));

        let vk = key.verifying_key();
        assert_eq!(verify(&t, &vk, 1030, 5), Ok(claims_at(1000)));
        assert_eq!(verify(&t, &vk, 1061, 5), Err(TokenError::OutOfTime));
        assert_eq!(verify(&t, &vk, 990, 5), Err(TokenError::OutOfTime));
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key();
        assert_eq!(verify(&t, &other, 1030, 5), Err(TokenError::BadSignature));
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":43,"iat":1000,"exp":1060,"sid":"x"}"#),
            parts[2]
        );
        assert_eq!(verify(&forged, &vk, 1030, 5), Err(TokenError::BadSignature));
        assert_eq!(claims("a.b"), Err(TokenError::Malformed));
        assert_eq!(claims("a.e30.c.d"), Err(TokenError::Malformed));
        assert_eq!(claims("a.e30.c"), Err(TokenError::Unreadable));
    }
}
