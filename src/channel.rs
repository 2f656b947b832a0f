//! The boundary between the service and chat channels (terminal, Telegram, web).
//!
//! The service pushes [`Outgoing`] items to an [`Outbox`]; each channel renders
//! them its own way. Channels know nothing of orders or grids, and the service
//! knows nothing of Telegram.

use async_trait::async_trait;

use crate::dialogue::{Button, Message};
use crate::ids::UserId;

/// Something to show one user.
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// A new message with optional buttons.
    Message(Message),
    /// An image (PNG) with a caption and optional buttons, e.g. a payment QR.
    Image {
        png: Vec<u8>,
        /// What a text-only channel shows instead (e.g. the QR in Unicode blocks).
        text_fallback: String,
        caption: String,
        buttons: Vec<Vec<Button>>,
    },
    /// A message updated in place while work progresses; `key` names it so
    /// later updates replace the earlier text (Telegram edits one message).
    Progress { key: String, text: String },
    /// The question whose button was pressed is answered with `answer`.
    Answered { answer: String },
    /// The buttons of the message just pressed no longer mean what they
    /// said (an outage that is over, a broadcast already sent): they are
    /// removed where the channel can (Telegram edits the keyboard away);
    /// the text stays, and the service says why in a message of its own.
    Withdrawn,
}

/// Where the service sends what users should see.
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn send(&self, user: &UserId, item: Outgoing);
}

impl dyn Outbox {
    /// Sends a plain text: the commonest reply, shared by every component
    /// that answers a user.
    pub async fn say(&self, user: &UserId, text: impl Into<String>) {
        self.send(user, Outgoing::Message(Message::text(text)))
            .await;
    }
}

/// Sends each user's items to the outbox of their channel (the part of the
/// user id before ':'), so several channels share one service.
#[derive(Default)]
pub struct RoutingOutbox {
    routes: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<dyn Outbox>>>,
}

impl RoutingOutbox {
    pub fn route(&self, channel: &str, outbox: std::sync::Arc<dyn Outbox>) {
        if let Ok(mut routes) = self.routes.write() {
            routes.insert(channel.to_owned(), outbox);
        }
    }
}

#[async_trait]
impl Outbox for RoutingOutbox {
    async fn send(&self, user: &UserId, item: Outgoing) {
        let target = self
            .routes
            .read()
            .ok()
            .and_then(|r| r.get(user.channel()).cloned());
        match target {
            Some(outbox) => outbox.send(user, item).await,
            None => tracing::warn!(user = %user, "no channel for this user; message dropped"),
        }
    }
}

/// An outbox that keeps everything in memory, for tests and benchmarks.
#[derive(Default)]
pub struct MemoryOutbox {
    items: std::sync::Mutex<Vec<(UserId, Outgoing)>>,
    notify: tokio::sync::Notify,
}

impl MemoryOutbox {
    /// Everything sent so far, oldest first, without removing it.
    pub fn all(&self) -> Vec<(UserId, Outgoing)> {
        self.items.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Removes and returns everything sent so far.
    pub fn take(&self) -> Vec<(UserId, Outgoing)> {
        self.items
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Waits until something is sent (or returns at once if something is there).
    pub async fn changed(&self) {
        let pending = self.notify.notified();
        if self.items.lock().map(|v| v.is_empty()).unwrap_or(true) {
            pending.await;
        }
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn send(&self, user: &UserId, item: Outgoing) {
        if let Ok(mut v) = self.items.lock() {
            v.push((user.clone(), item));
        }
        self.notify.notify_waiters();
    }
}
