//! Unit tests of the pieces that need no login server: the redirect URL,
//! callback parsing, config checks, and a known-answer vector made with
//! PyNaCl (libsodium), the library ThreeFold's own Python login uses, so
//! the key conversion and box format are checked against another
//! implementation rather than only against themselves.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::attempt::{self, Callback};
use super::*;

/// The app key of the known-answer vector: ed25519 seed of 32 bytes 0x01.
fn app_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// The defaults, for a site at 127.0.0.1:8080 (the website fills in an
/// empty `app_id` from its own address).
fn local_config() -> TfConnectConfig {
    TfConnectConfig {
        app_id: "127.0.0.1:8080".into(),
        ..TfConnectConfig::default()
    }
}

fn tfconnect(config: TfConnectConfig) -> TfConnect {
    TfConnect::new(config, app_key()).expect("valid config")
}

// PyNaCl 1.6.2:
//   app = SigningKey(bytes([1]*32)); user = SigningKey(bytes([2]*32))
//   app.verify_key.to_curve25519_public_key()            -> KAT_APP_X25519
//   Box(user.to_curve25519_private_key(), app.verify_key.to_curve25519_public_key())
//     .encrypt(b'{"email":{"email":"alice@example.com","sei":"sei-token"}}', bytes([3]*24))
//   user.sign(json message with signedState "STATE", appId "127.0.0.1:8080",
//             doubleName "alice.3bot", selectedImageId 3, randomRoom "room")
const KAT_APP_X25519: &str = "GxtY3VDqFLYNoXt5DNAnVNlwybq4ZOuzwPMBb+UdP1c=";
const KAT_USER_PUBLIC: &str = "gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=";
const KAT_SIGNED_ATTEMPT: &str = "hOtmc8M0B8oA2oFEL0w5jtwHXtQTDxz6ZEoMUWrz4IdCYPd/cKMivmwOfGr1Q6s8BqIiXsNCbJZoIUCT4Fk+DXsic2lnbmVkU3RhdGUiOiJTVEFURSIsImRhdGEiOnsibm9uY2UiOiJBd01EQXdNREF3TURBd01EQXdNREF3TURBd01EQXdNRCIsImNpcGhlcnRleHQiOiI5U0FpdVZTZTZCUk1LZDVPRlF4L3dHOWE5c2dZSEQvQVZ0NE9sZ1poNUc5VkZmb0cvUlkwTElKSXpMV1YrY2JUaWNmWkQ5Slc3YWJEN2ZIKzdDamJsaWF4d0dDZzV6VjFmQT09In0sImRvdWJsZU5hbWUiOiJhbGljZS4zYm90IiwiYXBwSWQiOiIxMjcuMC4wLjE6ODA4MCIsInNlbGVjdGVkSW1hZ2VJZCI6MywicmFuZG9tUm9vbSI6InJvb20ifQ==";

#[test]
fn the_app_key_converts_to_x25519_as_libsodium_does() {
    let tf = tfconnect(local_config());
    assert_eq!(tf.app_public_key(), KAT_APP_X25519);
    // The secret half matches the public half.
    let public = STANDARD.encode(tf.app_secret.public_key().as_bytes());
    assert_eq!(public, KAT_APP_X25519);
}

#[test]
fn a_libsodium_signed_attempt_opens_and_its_email_decrypts() {
    let tf = tfconnect(local_config());
    let user_key: [u8; 32] = STANDARD
        .decode(KAT_USER_PUBLIC)
        .unwrap()
        .try_into()
        .unwrap();
    let user_key = VerifyingKey::from_bytes(&user_key).unwrap();
    assert_eq!(user_key, SigningKey::from_bytes(&[2; 32]).verifying_key());
    let signed = STANDARD.decode(KAT_SIGNED_ATTEMPT).unwrap();

    let (signer, message) = attempt::open_signed(&signed, &[user_key]).expect("signature verifies");
    assert_eq!(signer, user_key);
    let message = attempt::parse_message(message).expect("message parses");
    assert_eq!(message.signed_state, "STATE");
    assert_eq!(message.double_name, "alice.3bot");
    assert_eq!(message.app_id, "127.0.0.1:8080");
    let scope = message.data.expect("the email scope is there");
    let email = attempt::decrypt_email(&scope, &user_key, &tf.app_secret).expect("decrypts");
    assert_eq!(email, "alice@example.com");

    // Any other key refuses the signature.
    let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
    assert_eq!(
        attempt::open_signed(&signed, &[other]),
        Err(LoginError::BadSignature)
    );
    // A site with another key cannot read the email.
    let other_site = TfConnect::new(local_config(), SigningKey::from_bytes(&[7; 32])).unwrap();
    assert_eq!(
        attempt::decrypt_email(&scope, &user_key, &other_site.app_secret),
        Err(LoginError::Decrypt)
    );
}

#[test]
fn the_redirect_url_has_exactly_the_protocol_parameters() {
    let tf = tfconnect(TfConnectConfig {
        login_url: "https://login.threefold.me/".into(),
        app_id: "127.0.0.1:8080".into(),
        callback_path: "/auth/callback".into(),
    });
    let start = tf.begin_at(1_795_392_000);
    assert_eq!(
        start.redirect_url,
        format!(
            "https://login.threefold.me/?state={}&appid=127.0.0.1%3A8080\
             &publickey=GxtY3VDqFLYNoXt5DNAnVNlwybq4ZOuzwPMBb%2BUdP1c%3D\
             &redirecturl=%2Fauth%2Fcallback&scope=%7B%22email%22%3Atrue%7D",
            start.state
        )
    );
    // A standard URL parser reads back exactly what was meant.
    let url = reqwest::Url::parse(&start.redirect_url).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected = [
        ("state", start.state.as_str()),
        ("appid", "127.0.0.1:8080"),
        ("publickey", KAT_APP_X25519),
        ("redirecturl", "/auth/callback"),
        ("scope", r#"{"email":true}"#),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs, expected);
}

#[test]
fn every_login_gets_its_own_alphanumeric_state() {
    let tf = tfconnect(local_config());
    let a = tf.begin_at(1_795_392_000);
    let b = tf.begin_at(1_795_392_000);
    assert_ne!(a.state, b.state);
    for start in [&a, &b] {
        assert!(start.state.len() >= 32);
        assert!(start.state.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}

#[test]
fn callbacks_parse_into_cancel_or_attempt() {
    assert_eq!(
        attempt::parse_callback("error=CancelledByUser"),
        Ok(Callback::Cancelled)
    );
    assert_eq!(
        attempt::parse_callback("?error=CancelledByUser"),
        Ok(Callback::Cancelled)
    );
    let inner = format!(r#"{{"signedAttempt":"{KAT_SIGNED_ATTEMPT}","doubleName":"Alice.3Bot"}}"#);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("signedAttempt", &inner)
        .finish();
    match attempt::parse_callback(&query) {
        Ok(Callback::Attempt {
            double_name,
            signed_attempt,
        }) => {
            assert_eq!(double_name, "alice.3bot");
            assert_eq!(signed_attempt, STANDARD.decode(KAT_SIGNED_ATTEMPT).unwrap());
        }
        other => panic!("expected an attempt, got {other:?}"),
    }
}

#[test]
fn bad_callbacks_are_malformed_and_say_which_part() {
    let attempt_json = |signed: &str, name: &str| {
        let inner = format!(r#"{{"signedAttempt":"{signed}","doubleName":"{name}"}}"#);
        form_urlencoded::Serializer::new(String::new())
            .append_pair("signedAttempt", &inner)
            .finish()
    };
    let oversized = format!("signedAttempt={}", "a".repeat(MAX_QUERY_BYTES));
    let cases = [
        ("", "neither signedAttempt nor error"),
        ("foo=bar", "neither signedAttempt nor error"),
        ("error=Other%20Thing", "reported error \"OtherThing\""),
        ("error=CancelledByUser&error=x", "repeats error"),
        (oversized.as_str(), "longer than 16384 bytes"),
        ("signedAttempt=%7Bnot%20json", "not the expected JSON"),
        (&attempt_json("!!!", "alice.3bot"), "not base64"),
        (&attempt_json("AAAA", "alice.3bot"), "too short"),
        (
            &attempt_json(KAT_SIGNED_ATTEMPT, ""),
            "not a ThreeFold Connect name",
        ),
        (
            &attempt_json(KAT_SIGNED_ATTEMPT, "../admin"),
            "not a ThreeFold Connect name",
        ),
        (
            &attempt_json(KAT_SIGNED_ATTEMPT, "a/b"),
            "not a ThreeFold Connect name",
        ),
        (
            &attempt_json(KAT_SIGNED_ATTEMPT, "a..b"),
            "not a ThreeFold Connect name",
        ),
    ];
    for (query, expected) in cases {
        match attempt::parse_callback(query) {
            Err(LoginError::Malformed(what)) => {
                assert!(what.contains(expected), "{query:.60}: {what}")
            }
            other => panic!("{query:.60}: expected Malformed, got {other:?}"),
        }
    }
    // The message never echoes the input back.
    let secret_looking = "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let err = attempt::parse_callback(secret_looking).unwrap_err();
    assert!(!err.to_string().contains('<'), "{err}");
}

#[test]
fn every_error_has_a_page_message() {
    let all = [
        LoginError::Cancelled,
        LoginError::StateMismatch,
        LoginError::Expired,
        LoginError::Replayed,
        LoginError::BadSignature,
        LoginError::WrongApp,
        LoginError::UnknownUser,
        LoginError::Malformed("x".into()),
        LoginError::LoginServerUnavailable("x".into()),
        LoginError::LoginServerInvalid("x".into()),
        LoginError::Decrypt,
        LoginError::Busy,
    ];
    for error in all {
        let message = error.user_message();
        assert!(message.ends_with('.'), "{error:?}: {message}");
        assert!(message.len() > 40, "{error:?}: {message}");
    }
}

#[test]
fn config_reads_from_toml_with_defaults_and_refuses_unknown_keys() {
    let config: TfConnectConfig = toml::from_str(r#"app_id = "deployer.example.com""#).unwrap();
    assert_eq!(
        config,
        TfConnectConfig {
            app_id: "deployer.example.com".into(),
            ..TfConnectConfig::default()
        }
    );
    assert_eq!(config.login_url, "https://login.threefold.me");
    assert_eq!(config.callback_path, "/auth/callback");
    let err = toml::from_str::<TfConnectConfig>(r#"loginurl = "x""#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn bad_config_values_are_refused_with_the_key_named() {
    let cases = [
        ("login_url", "not a url"),
        ("login_url", "ftp://login.threefold.me"),
        ("login_url", "https://login.threefold.me/?x=1"),
        ("login_url", "https://user:pw@login.threefold.me"),
        ("app_id", ""),
        ("app_id", "https://deployer.example.com"),
        ("app_id", "deployer.example.com/path"),
        ("callback_path", "auth/callback"),
        ("callback_path", "//evil.example.com/cb"),
        ("callback_path", "/auth/callback?x=1"),
    ];
    for (key, value) in cases {
        let mut config = local_config();
        match key {
            "login_url" => config.login_url = value.into(),
            "app_id" => config.app_id = value.into(),
            _ => config.callback_path = value.into(),
        }
        let err = TfConnect::new(config, app_key()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("web.tfconnect.{key}")),
            "{value}: {err}"
        );
    }
}

#[test]
fn debug_output_hides_the_email_and_the_app_secret() {
    let user = TfConnectUser {
        double_name: "alice.3bot".into(),
        email: Some("alice.smith@example.com".into()),
        public_key: [2; 32],
    };
    let shown = format!("{user:?}");
    assert!(shown.contains("alice.3bot"), "{shown}");
    assert!(!shown.contains("smith@example"), "{shown}");

    let tf = tfconnect(local_config());
    let shown = format!("{tf:?}");
    let secret = STANDARD.encode(app_key().to_scalar_bytes());
    assert!(!shown.contains(&secret), "{shown}");
    assert!(!shown.contains(&hex::encode([1u8; 32])), "{shown}");
}
