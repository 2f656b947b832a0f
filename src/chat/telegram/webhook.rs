//! Webhook mode: Telegram posts updates to our HTTPS URL (behind a TLS
//! proxy); an axum listener checks the secret token header and hands each
//! update to the same handling as long polling.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use teloxide::payloads::SetWebhookSetters as _;
use teloxide::prelude::Requester as _;
use teloxide::types::Update;

use super::Telegram;
use crate::ops::HttpListener;
use crate::service::Service;

struct Hook {
    telegram: Telegram,
    service: Service,
    secret: String,
}

pub(super) async fn run(
    telegram: Telegram,
    service: Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let secret = hex::encode(bytes);
    let url = reqwest::Url::parse(&telegram.config.webhook_url)?;
    telegram
        .bot
        .set_webhook(url.clone())
        .secret_token(secret.clone())
        .await
        .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
    let listen = telegram.config.webhook_listen.clone();
    let path = url.path().to_owned();
    let hook = Arc::new(Hook {
        telegram,
        service,
        secret,
    });
    let app = axum::Router::new()
        .route(&path, post(receive))
        .with_state(hook);
    let listener = HttpListener::bind(listen.as_str(), "the Telegram webhook").await?;
    tracing::info!(%listen, %path, "Telegram webhook listening");
    listener.serve(app, shutdown).await
}

async fn receive(
    State(hook): State<Arc<Hook>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let token = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(hook.secret.as_str()) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(update) = serde_json::from_slice::<Update>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    hook.telegram
        .handle_batch(&hook.service, vec![update])
        .await;
    StatusCode::OK
}
