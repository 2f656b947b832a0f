//! The ThreeFold Connect login protocol end to end: the real client
//! (`jukebox::web::tfconnect`) against a fake login server on loopback and
//! a fake phone app that signs attempts the way the real one does.

use crate::support::fake_tfconnect;

use std::time::Duration;

use ed25519_dalek::SigningKey;
use fake_tfconnect::{Answer, Approval, FakeApp, FakeLoginServer};
use jukebox::web::tfconnect::{
    LoginError, REQUEST_TIMEOUT, STATE_TTL_SECS, TfConnect, TfConnectConfig, TfConnectUser,
};
use serde_json::json;

/// 2026-11-23 00:00 UTC, so tests never depend on the real date.
const START: u64 = 1_795_392_000;
/// When the callbacks arrive: a minute after the login started.
const NOW: u64 = START + 60;

struct Setup {
    server: FakeLoginServer,
    site: TfConnect,
    alice: FakeApp,
}

async fn setup() -> Setup {
    let server = FakeLoginServer::start().await;
    let alice = FakeApp::new("alice.3bot", 2);
    server.register(&alice);
    let site = site_for(&server.url);
    Setup {
        server,
        site,
        alice,
    }
}

fn site_for(login_url: &str) -> TfConnect {
    let config = TfConnectConfig {
        login_url: login_url.to_owned(),
        app_id: "127.0.0.1:8080".to_owned(),
        callback_path: "/auth/callback".to_owned(),
    };
    TfConnect::new(config, SigningKey::from_bytes(&[1; 32])).expect("site starts")
}

/// Starts a login on `setup`'s site and has `user` approve it: the state
/// the browser keeps and the callback query.
fn login(setup: &Setup, user: &FakeApp, approval: &Approval) -> (String, String) {
    let start = setup.site.begin_at(START);
    let query = user.approve(&start.redirect_url, approval);
    (start.state, query)
}

/// Alice approves a login on `setup`'s site as `approval` says; what the
/// site makes of her callback a minute later.
async fn finish_with(setup: &Setup, approval: Approval) -> Result<TfConnectUser, LoginError> {
    let (state, query) = login(setup, &setup.alice, &approval);
    setup.site.finish(&query, &state, NOW).await
}

#[tokio::test]
async fn a_valid_login_returns_the_double_name_and_email() {
    let s = setup().await;
    let user = finish_with(&s, Approval::new()).await.expect("signed in");
    assert_eq!(user.double_name, "alice.3bot");
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(user.public_key, s.alice.key.verifying_key().to_bytes());
    assert_eq!(s.server.requests(), ["/api/users/alice.3bot"]);
}

#[tokio::test]
async fn a_login_without_a_shared_email_signs_in_without_one() {
    let s = setup().await;
    let approval = Approval {
        email: None,
        ..Approval::new()
    };
    let user = finish_with(&s, approval).await.expect("signed in");
    assert_eq!(user.email, None);
}

#[tokio::test]
async fn a_double_name_in_capitals_is_normalised() {
    let s = setup().await;
    let shouting = FakeApp::new("Alice.3Bot", 2);
    let (state, query) = login(&s, &shouting, &Approval::new());
    let user = s.site.finish(&query, &state, NOW).await.expect("signed in");
    assert_eq!(user.double_name, "alice.3bot");
    assert_eq!(s.server.requests(), ["/api/users/alice.3bot"]);
}

#[tokio::test]
async fn a_record_with_main_public_key_is_accepted() {
    let s = setup().await;
    let bob = FakeApp::new("bob.3bot", 3);
    s.server.answer(
        "bob.3bot",
        Answer::Record(json!({"doublename": "bob.3bot", "mainPublicKey": bob.public_key_b64()})),
    );
    let (state, query) = login(&s, &bob, &Approval::new());
    let user = s.site.finish(&query, &state, NOW).await.expect("signed in");
    assert_eq!(user.double_name, "bob.3bot");

    // With both fields, the one that actually signed is the user's key.
    let other = FakeApp::new("x", 9);
    s.server.answer(
        "bob.3bot",
        Answer::Record(json!({
            "doublename": "bob.3bot",
            "publicKey": other.public_key_b64(),
            "mainPublicKey": bob.public_key_b64(),
        })),
    );
    let (state, query) = login(&s, &bob, &Approval::new());
    let user = s.site.finish(&query, &state, NOW).await.expect("signed in");
    assert_eq!(user.public_key, bob.key.verifying_key().to_bytes());
}

#[tokio::test]
async fn an_attempt_signed_by_another_key_is_refused() {
    let s = setup().await;
    let approval = Approval {
        signer: Some(SigningKey::from_bytes(&[66; 32])),
        ..Approval::new()
    };
    assert_eq!(
        finish_with(&s, approval).await,
        Err(LoginError::BadSignature)
    );
}

#[tokio::test]
async fn an_attempt_for_another_state_is_refused() {
    let s = setup().await;
    // The app signed some other login's state...
    let other_login = s.site.begin_at(START);
    let approval = Approval {
        signed_state: Some(other_login.state),
        ..Approval::new()
    };
    let (state, query) = login(&s, &s.alice, &approval);
    assert_eq!(
        s.site.finish(&query, &state, NOW).await,
        Err(LoginError::StateMismatch)
    );
    // ...or a genuine callback arrives in a browser that started another login.
    let (_, query) = login(&s, &s.alice, &Approval::new());
    let this_browser = s.site.begin_at(START).state;
    assert_eq!(
        s.site.finish(&query, &this_browser, NOW).await,
        Err(LoginError::StateMismatch)
    );
    // ...or in a browser with no login at all.
    assert_eq!(
        s.site.finish(&query, "", NOW).await,
        Err(LoginError::StateMismatch)
    );
}

#[tokio::test]
async fn a_replayed_callback_is_refused_without_asking_the_login_server() {
    let s = setup().await;
    let (state, query) = login(&s, &s.alice, &Approval::new());
    s.site
        .finish(&query, &state, NOW)
        .await
        .expect("first time signs in");
    assert_eq!(
        s.site.finish(&query, &state, NOW + 1).await,
        Err(LoginError::Replayed)
    );
    assert_eq!(s.server.requests().len(), 1);
}

#[tokio::test]
async fn of_two_concurrent_identical_callbacks_exactly_one_signs_in() {
    let s = setup().await;
    let (state, query) = login(&s, &s.alice, &Approval::new());
    let (a, b) = tokio::join!(
        s.site.finish(&query, &state, NOW),
        s.site.finish(&query, &state, NOW)
    );
    let outcomes = [a.map(|u| u.double_name), b.map(|u| u.double_name)];
    let signed_in = outcomes.iter().filter(|o| o.is_ok()).count();
    let replayed = outcomes
        .iter()
        .filter(|o| **o == Err(LoginError::Replayed))
        .count();
    assert_eq!((signed_in, replayed), (1, 1), "{outcomes:?}");
}

#[tokio::test]
async fn an_old_login_is_refused_as_expired() {
    let s = setup().await;
    let (state, query) = login(&s, &s.alice, &Approval::new());
    assert_eq!(
        s.site.finish(&query, &state, START + STATE_TTL_SECS).await,
        Err(LoginError::Expired)
    );
    assert!(s.server.requests().is_empty());
    // Just inside the lifetime it still works.
    let user = s
        .site
        .finish(&query, &state, START + STATE_TTL_SECS - 1)
        .await;
    assert!(user.is_ok(), "{user:?}");
}

#[tokio::test]
async fn a_cancelled_login_says_so() {
    let s = setup().await;
    let state = s.site.begin_at(START).state;
    let result = s.site.finish("error=CancelledByUser", &state, NOW).await;
    assert_eq!(result, Err(LoginError::Cancelled));
    assert!(s.server.requests().is_empty());
}

#[tokio::test]
async fn an_unknown_user_is_refused() {
    let s = setup().await;
    let carol = FakeApp::new("carol.3bot", 4);
    let (state, query) = login(&s, &carol, &Approval::new());
    assert_eq!(
        s.site.finish(&query, &state, NOW).await,
        Err(LoginError::UnknownUser)
    );
}

#[tokio::test]
async fn a_login_server_that_is_down_is_reported_as_unavailable() {
    // Nothing listens there.
    let (_refusing, addr) = crate::support::refusing_addr();
    let port = addr.port();
    let s = setup().await;
    let down = site_for(&format!("http://127.0.0.1:{port}"));
    let start = down.begin_at(START);
    let query = s.alice.approve(&start.redirect_url, &Approval::new());
    match down.finish(&query, &start.state, NOW).await {
        Err(LoginError::LoginServerUnavailable(what)) => {
            assert!(what.contains("could not connect"), "{what}")
        }
        other => panic!("expected LoginServerUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failing_login_server_is_reported_as_unavailable() {
    let s = setup().await;
    for code in [500, 502, 503, 429] {
        s.server.answer("alice.3bot", Answer::Status(code));
        match finish_with(&s, Approval::new()).await {
            Err(LoginError::LoginServerUnavailable(what)) => {
                assert!(what.contains(&code.to_string()), "{what}")
            }
            other => panic!("{code}: expected LoginServerUnavailable, got {other:?}"),
        }
    }
    // A failed lookup did not use up the login: it works once the server is back.
    s.server.answer("alice.3bot", Answer::Status(503));
    let (state, query) = login(&s, &s.alice, &Approval::new());
    assert!(s.site.finish(&query, &state, NOW).await.is_err());
    s.server.register(&s.alice);
    assert!(s.site.finish(&query, &state, NOW).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_login_server_that_never_answers_times_out() {
    let s = setup().await;
    s.server.answer("alice.3bot", Answer::Hang);
    let (state, query) = login(&s, &s.alice, &Approval::new());
    let started = tokio::time::Instant::now();
    let result = s.site.finish(&query, &state, NOW).await;
    let waited = started.elapsed();
    match result {
        Err(LoginError::LoginServerUnavailable(what)) => {
            assert!(what.contains("no answer within 10 seconds"), "{what}")
        }
        other => panic!("expected LoginServerUnavailable, got {other:?}"),
    }
    assert!(
        waited >= REQUEST_TIMEOUT && waited < REQUEST_TIMEOUT + Duration::from_secs(1),
        "{waited:?}"
    );
}

#[tokio::test]
async fn unusable_login_server_answers_are_reported() {
    let s = setup().await;
    let cases = [
        (
            Answer::Raw("<html>maintenance</html>"),
            "not the expected JSON",
        ),
        (
            Answer::Record(
                json!({"doublename": "mallory.3bot", "publicKey": s.alice.public_key_b64()}),
            ),
            "for another user",
        ),
        (
            Answer::Record(json!({"doublename": "alice.3bot"})),
            "no valid ed25519 public key",
        ),
        (
            Answer::Record(json!({"doublename": "alice.3bot", "publicKey": "c2hvcnQ="})),
            "no valid ed25519 public key",
        ),
        (Answer::Status(403), "HTTP 403"),
    ];
    for (answer, expected) in cases {
        s.server.answer("alice.3bot", answer);
        match finish_with(&s, Approval::new()).await {
            Err(LoginError::LoginServerInvalid(what)) => {
                assert!(what.contains(expected), "{what}")
            }
            other => panic!("{expected}: expected LoginServerInvalid, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_tampered_ciphertext_does_not_decrypt() {
    let s = setup().await;
    let approval = Approval {
        tamper_ciphertext: true,
        ..Approval::new()
    };
    assert_eq!(finish_with(&s, approval).await, Err(LoginError::Decrypt));
}

#[tokio::test]
async fn an_attempt_for_another_site_is_refused() {
    let s = setup().await;
    let approval = Approval {
        app_id: Some("phishing.example.com".to_owned()),
        ..Approval::new()
    };
    assert_eq!(finish_with(&s, approval).await, Err(LoginError::WrongApp));
}

#[tokio::test]
async fn an_attempt_naming_another_user_inside_is_refused() {
    let s = setup().await;
    let approval = Approval {
        inner_double_name: Some("bob.3bot".to_owned()),
        ..Approval::new()
    };
    match finish_with(&s, approval).await {
        Err(LoginError::Malformed(what)) => assert!(what.contains("another user"), "{what}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_and_malformed_callbacks_are_refused_before_any_lookup() {
    let s = setup().await;
    let state = s.site.begin_at(START).state;
    let (_, genuine) = login(&s, &s.alice, &Approval::new());
    let oversized = format!("{genuine}&padding={}", "x".repeat(16 * 1024));
    let truncated = &genuine[..genuine.len() / 2];
    for query in [
        oversized.as_str(),
        truncated,
        "",
        "signedAttempt=",
        "signedAttempt=%7B%7D",
        "error=SomethingElse",
    ] {
        let result = s.site.finish(query, &state, NOW).await;
        assert!(
            matches!(result, Err(LoginError::Malformed(_))),
            "{query:.80}: {result:?}"
        );
    }
    assert!(s.server.requests().is_empty());
}
