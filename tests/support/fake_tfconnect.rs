//! A fake ThreeFold Connect: the login server's user API on loopback, and
//! the phone app that approves a login by building a signed attempt exactly
//! as the real app does (email scope boxed to the site's X25519 key taken
//! from the redirect URL, JSON message signed with the user's ed25519 key,
//! base64, wrapped in JSON, URL-encoded into the callback query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::Aead as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::json;

/// How the fake login server answers for one double name.
#[derive(Clone)]
pub enum Answer {
    /// 200 with this JSON body.
    Record(serde_json::Value),
    /// This status with a small JSON error body.
    Status(u16),
    /// 200 with this raw body.
    Raw(&'static str),
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Shared {
    answers: HashMap<String, Answer>,
    requests: Vec<String>,
}

/// The login server's `GET /api/users/{doubleName}`. Unknown names get 404.
pub struct FakeLoginServer {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeLoginServer {
    pub async fn start() -> FakeLoginServer {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/api/users/{name}", get(user))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake login server");
        });
        FakeLoginServer { url, shared }
    }

    /// Registers `user` as the current login server does (`publicKey`).
    pub fn register(&self, user: &FakeApp) {
        self.answer(
            &user.double_name,
            Answer::Record(json!({
                "doublename": user.double_name,
                "publicKey": user.public_key_b64(),
            })),
        );
    }

    pub fn answer(&self, double_name: &str, answer: Answer) {
        self.lock().answers.insert(double_name.to_owned(), answer);
    }

    /// The paths asked for so far.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("fake login server state")
    }
}

async fn user(State(shared): State<Arc<Mutex<Shared>>>, Path(name): Path<String>) -> Response {
    let answer = {
        let mut shared = shared.lock().expect("fake login server state");
        shared.requests.push(format!("/api/users/{name}"));
        shared.answers.get(&name).cloned()
    };
    match answer {
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "user not found"})),
        )
            .into_response(),
        Some(Answer::Record(body)) => axum::Json(body).into_response(),
        Some(Answer::Status(code)) => (
            StatusCode::from_u16(code).expect("valid status"),
            axum::Json(json!({"error": "fake failure"})),
        )
            .into_response(),
        Some(Answer::Raw(body)) => body.into_response(),
        Some(Answer::Hang) => std::future::pending().await,
    }
}

/// The ThreeFold Connect app of one user.
pub struct FakeApp {
    pub double_name: String,
    pub key: SigningKey,
}

/// What the app puts into one signed attempt; `Approval::new` is what the
/// real app sends, the other fields make it misbehave.
pub struct Approval {
    pub email: Option<String>,
    /// Replaces the state read from the redirect URL.
    pub signed_state: Option<String>,
    /// Replaces the appid read from the redirect URL.
    pub app_id: Option<String>,
    /// Replaces the double name inside the signed message.
    pub inner_double_name: Option<String>,
    /// Signs with this key instead of the user's.
    pub signer: Option<SigningKey>,
    /// Flips one bit of the ciphertext before signing.
    pub tamper_ciphertext: bool,
}

impl Approval {
    pub fn new() -> Approval {
        Approval {
            email: Some("alice@example.com".to_owned()),
            signed_state: None,
            app_id: None,
            inner_double_name: None,
            signer: None,
            tamper_ciphertext: false,
        }
    }
}

impl FakeApp {
    /// A user whose key comes from `seed`, so tests stay reproducible.
    pub fn new(double_name: &str, seed: u8) -> FakeApp {
        FakeApp {
            double_name: double_name.to_owned(),
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    pub fn public_key_b64(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// The callback query the login page sends after the user approved
    /// the login that `redirect_url` started.
    pub fn approve(&self, redirect_url: &str, approval: &Approval) -> String {
        let url = reqwest::Url::parse(redirect_url).expect("redirect URL parses");
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("redirect URL has no {name}"))
        };
        assert_eq!(param("scope"), r#"{"email":true}"#);
        let site_key: [u8; 32] = STANDARD
            .decode(param("publickey"))
            .expect("publickey is base64")
            .try_into()
            .expect("publickey is 32 bytes");

        let data = approval.email.as_ref().map(|email| {
            let scope = json!({"email": {"email": email, "sei": "fake-sei"}}).to_string();
            let mut nonce = [0u8; 24];
            getrandom::getrandom(&mut nonce).expect("randomness");
            let own_secret = crypto_box::SecretKey::from_bytes(self.key.to_scalar_bytes());
            let sealed = crypto_box::SalsaBox::new(&site_key.into(), &own_secret);
            let mut ciphertext = sealed
                .encrypt(&nonce.into(), scope.as_bytes())
                .expect("encrypts");
            if approval.tamper_ciphertext {
                ciphertext[20] ^= 1;
            }
            json!({"nonce": STANDARD.encode(nonce), "ciphertext": STANDARD.encode(ciphertext)})
        });
        let mut message = json!({
            "signedState": approval.signed_state.clone().unwrap_or_else(|| param("state")),
            "doubleName": approval.inner_double_name.clone().unwrap_or_else(|| self.double_name.clone()),
            "appId": approval.app_id.clone().unwrap_or_else(|| param("appid")),
            "selectedImageId": 4,
            "randomRoom": "fake-room",
        });
        if let Some(data) = data {
            message["data"] = data;
        }
        let message = message.to_string();
        let signer = approval.signer.as_ref().unwrap_or(&self.key);
        let mut signed = signer.sign(message.as_bytes()).to_bytes().to_vec();
        signed.extend_from_slice(message.as_bytes());
        let attempt = json!({
            "signedAttempt": STANDARD.encode(signed),
            "doubleName": self.double_name,
        });
        form_urlencoded::Serializer::new(String::new())
            .append_pair("signedAttempt", &attempt.to_string())
            .finish()
    }
}
