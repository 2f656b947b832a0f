//! Sending to Telegram: messages with inline keyboards, QR photos, progress
//! edited in place, answered questions; within rate limits, honouring 429
//! `retry_after` (retries run by backon), tolerant of "not modified" and "not found" edits, and
//! marking users who blocked the bot.
//!
//! The edit that marks a pressed question answered is held back and sent
//! together with the next message to that chat (both requests in flight at
//! once), so the next question does not wait for the edit's round trip; the
//! Bot API has no single call that edits one message and sends another.
//! Whatever is still held when the update has been handled is sent then
//! ([`TelegramOutbox::flush`]).
//!
//! Likewise, while an update is handled, a photo (the payment QR) is held
//! for the message that follows it: a plain message (no buttons) that fits
//! in the caption with it goes out as part of the caption, one `sendPhoto`
//! instead of a `sendPhoto` and a `sendMessage` (the payment link under the
//! QR it belongs to); anything else sends the photo first, as before.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use backon::Retryable as _;
use teloxide::RequestError;
use teloxide::payloads::{SendMessageSetters as _, SendPhotoSetters as _};
use teloxide::prelude::Requester as _;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId};
use teloxide::{ApiError, Bot};

use super::limiter::RateLimiter;
use crate::channel::{Outbox, Outgoing};
use crate::dialogue::Button;
use crate::ids::UserId;
use crate::service::WeakService;

/// Telegram's limits on message text and photo captions, in characters.
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;
/// 429 answers retried before a send is given up.
const MAX_RETRIES: u32 = 5;

/// The message a user just pressed a button under, to mark it answered.
#[derive(Clone, Debug)]
pub struct Pressed {
    pub message_id: i32,
    pub text: String,
}

pub struct TelegramOutbox {
    bot: Bot,
    limiter: RateLimiter,
    /// Per chat: the pressed message while its button press is handled.
    pressed: Mutex<HashMap<i64, Pressed>>,
    /// Per chat and progress key: the message being edited.
    progress: Mutex<HashMap<(i64, String), i32>>,
    /// Per chat: the "answered" edit held back for the next message
    /// (message id, new text).
    held: Mutex<HashMap<i64, (i32, String)>>,
    /// Chats whose update is being handled (between [`TelegramOutbox::begin`]
    /// and [`TelegramOutbox::flush`]): only there is a photo held, as only
    /// there is a flush sure to follow.
    handling: Mutex<HashSet<i64>>,
    /// Per chat: the photo held for the message after it (an `Image`).
    photo: Mutex<HashMap<i64, Outgoing>>,
    service: OnceLock<WeakService>,
}

/// The chat id of a Telegram user id (`tg:<id>`); private chats share the id.
pub fn chat_of(user: &UserId) -> Option<i64> {
    (user.channel() == "tg")
        .then(|| user.as_str()[3..].parse().ok())
        .flatten()
}

fn keyboard(rows: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    (!rows.is_empty()).then(|| {
        InlineKeyboardMarkup::new(rows.iter().map(|row| {
            row.iter()
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
                .collect::<Vec<_>>()
        }))
    })
}

/// Splits text into pieces Telegram accepts, at line breaks where possible.
fn split_text(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if current.chars().count() + line.chars().count() > limit && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        if line.chars().count() > limit {
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(limit) {
                pieces.push(chunk.iter().collect());
            }
        } else {
            current.push_str(line);
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// What to do after a failed request.
enum Failure {
    Retry(Duration),
    Blocked,
    Ignore,
    GiveUp(String),
}

/// The retries a request gets: [`MAX_RETRIES`] of them, each as long as
/// Telegram asks ([`telegrams_wait`] fills the wait in).
fn retries() -> std::iter::RepeatN<Duration> {
    std::iter::repeat_n(Duration::ZERO, MAX_RETRIES as usize)
}

fn is_retried(e: &RequestError) -> bool {
    matches!(classify(e), Failure::Retry(_))
}

/// The wait [`classify`] gives a retried failure, while retries are left.
fn telegrams_wait(e: &RequestError, retry_left: Option<Duration>) -> Option<Duration> {
    match classify(e) {
        Failure::Retry(wait) => retry_left.map(|_| wait),
        _ => None,
    }
}

fn classify(e: &RequestError) -> Failure {
    match e {
        RequestError::RetryAfter(after) => Failure::Retry(after.duration()),
        RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        ) => Failure::Blocked,
        RequestError::Api(ApiError::MessageNotModified) => Failure::Ignore,
        RequestError::Network(_) | RequestError::Io(_) => Failure::Retry(Duration::from_secs(1)),
        other => Failure::GiveUp(other.to_string()),
    }
}

impl TelegramOutbox {
    pub fn new(bot: Bot, limiter: RateLimiter) -> TelegramOutbox {
        TelegramOutbox {
            bot,
            limiter,
            pressed: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            handling: Mutex::new(HashSet::new()),
            photo: Mutex::new(HashMap::new()),
            service: OnceLock::new(),
        }
    }

    /// Lets the outbox tell the service about users who blocked the bot.
    pub fn attach(&self, service: WeakService) {
        let _ = self.service.set(service);
    }

    fn set_pressed(&self, chat: i64, pressed: Option<Pressed>) {
        if let Ok(mut map) = self.pressed.lock() {
            match pressed {
                Some(p) => map.insert(chat, p),
                None => map.remove(&chat),
            };
        }
    }

    /// An update of `chat` is about to be handled; `pressed` is the message
    /// whose button it pressed, if any. [`flush`](Self::flush) ends it.
    pub fn begin(&self, chat: i64, pressed: Option<Pressed>) {
        self.set_pressed(chat, pressed);
        if let Ok(mut handling) = self.handling.lock() {
            handling.insert(chat);
        }
    }

    /// Takes the edit held back for `chat`, if any.
    fn take_held(&self, chat: i64) -> Option<(i32, String)> {
        self.held.lock().ok().and_then(|mut m| m.remove(&chat))
    }

    fn take_photo(&self, chat: i64) -> Option<Outgoing> {
        self.photo.lock().ok().and_then(|mut m| m.remove(&chat))
    }

    /// Ends the handling of an update of `user`'s chat: sends the photo and
    /// the edit held back, if any, so nothing is left behind.
    pub async fn flush(&self, user: &UserId) {
        let Some(chat) = chat_of(user) else { return };
        self.set_pressed(chat, None);
        if let Ok(mut handling) = self.handling.lock() {
            handling.remove(&chat);
        }
        if let Some(photo) = self.take_photo(chat) {
            self.send_now(user, chat, photo).await;
        }
        if let Some((message_id, text)) = self.take_held(chat) {
            self.edit_text(user, chat, message_id, &text).await;
        }
    }

    /// A message that did not reach the user, in the metrics.
    fn count_failure(&self) {
        if let Some(service) = self.service.get().and_then(WeakService::upgrade) {
            service.metrics().alert_send_failure();
        }
    }

    /// Runs one request with rate limiting and retries (backon's `Retry`:
    /// each failure [`classify`] says to retry waits as long as it says, at
    /// most [`MAX_RETRIES`] times). Returns the message id it produced, if
    /// any.
    async fn call<F, Fut>(&self, user: &UserId, chat: i64, what: &str, request: F) -> Option<i32>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<i32>, RequestError>>,
    {
        let request = &request;
        let attempt = move || async move {
            self.limiter.acquire(chat).await;
            request().await
        };
        let result = attempt
            .retry(retries())
            .sleep(tokio::time::sleep)
            .when(is_retried)
            .adjust(telegrams_wait)
            .notify(|_, wait| {
                tracing::warn!(
                    chat,
                    what,
                    wait_secs = wait.as_secs(),
                    "Telegram asked to wait; retrying"
                );
            })
            .await;
        let error = match result {
            Ok(id) => return id,
            Err(e) => e,
        };
        match classify(&error) {
            Failure::Retry(_) => {
                tracing::error!(chat, what, "Telegram kept refusing; message dropped");
                self.count_failure();
            }
            Failure::Blocked => {
                tracing::info!(chat, "the user blocked the bot; marking inactive");
                self.count_failure();
                if let Some(service) = self.service.get().and_then(WeakService::upgrade) {
                    service.mark_blocked(user).await;
                }
            }
            Failure::Ignore => {}
            Failure::GiveUp(why) => {
                tracing::error!(chat, what, error = %why, "Telegram refused a request");
                self.count_failure();
            }
        }
        None
    }

    async fn send_text(
        &self,
        user: &UserId,
        chat: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Option<i32> {
        let pieces = split_text(text, MAX_TEXT);
        let last = pieces.len().saturating_sub(1);
        let mut id = None;
        for (i, piece) in pieces.iter().enumerate() {
            // Buttons go under the last piece, next to the question they answer.
            let markup = if i == last { keyboard(buttons) } else { None };
            id = self
                .call(user, chat, "sendMessage", || {
                    let mut req = self.bot.send_message(ChatId(chat), piece.clone());
                    if let Some(m) = &markup {
                        req = req.reply_markup(m.clone());
                    }
                    async move { req.await.map(|m| Some(m.id.0)) }
                })
                .await;
        }
        id
    }

    async fn edit_text(&self, user: &UserId, chat: i64, message_id: i32, text: &str) -> bool {
        let text: String = text.chars().take(MAX_TEXT).collect();
        let text = &text;
        let attempt = move || async move {
            self.limiter.acquire(chat).await;
            self.bot
                .edit_message_text(ChatId(chat), MessageId(message_id), text.clone())
                .await
        };
        let result = attempt
            .retry(retries())
            .sleep(tokio::time::sleep)
            .when(is_retried)
            .adjust(telegrams_wait)
            .await;
        match result {
            Ok(_) => true,
            Err(RequestError::Api(ApiError::MessageToEditNotFound)) => false,
            Err(e) => {
                if let Failure::Blocked = classify(&e)
                    && let Some(service) = self.service.get().and_then(WeakService::upgrade)
                {
                    service.mark_blocked(user).await;
                }
                true
            }
        }
    }
}

#[async_trait]
impl Outbox for TelegramOutbox {
    async fn send(&self, user: &UserId, item: Outgoing) {
        let Some(chat) = chat_of(user) else { return };
        if let Outgoing::Answered { answer } = item {
            let pressed = self.pressed.lock().ok().and_then(|mut m| m.remove(&chat));
            if let Some(p) = pressed {
                // Editing without a keyboard removes the buttons, so the
                // question cannot be answered twice from this message.
                let text = format!("{}\n\n✔ {answer}", p.text);
                let earlier = self
                    .held
                    .lock()
                    .ok()
                    .and_then(|mut m| m.insert(chat, (p.message_id, text)));
                if let Some((message_id, text)) = earlier {
                    self.edit_text(user, chat, message_id, &text).await;
                }
            }
            return;
        }
        let item = match self.take_photo(chat) {
            Some(photo) => match with_caption(photo, item) {
                Joined::One(merged) => merged,
                Joined::Two(photo, item) => {
                    self.send_now(user, chat, photo).await;
                    item
                }
            },
            // A photo whose caption may take the next message waits for
            // it, while the update is handled (a flush follows).
            None if holds_photo(&item) && self.handling.lock().is_ok_and(|h| h.contains(&chat)) => {
                if let Ok(mut photos) = self.photo.lock() {
                    photos.insert(chat, item);
                    return;
                }
                item
            }
            None => item,
        };
        self.send_now(user, chat, item).await;
    }
}

/// Whether `item` is a photo whose caption has room for more.
fn holds_photo(item: &Outgoing) -> bool {
    matches!(item, Outgoing::Image { caption, .. } if telegram_len(caption) < MAX_CAPTION)
}

/// Telegram counts a text's length in UTF-16 code units.
fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// A held photo and the item after it: one photo, or both as they were.
#[derive(Debug)]
enum Joined {
    One(Outgoing),
    Two(Outgoing, Outgoing),
}

/// `photo` with `next` as the end of its caption, when `next` is a plain
/// message (no buttons of its own) and the caption stays within Telegram's
/// limit; otherwise both, unchanged.
fn with_caption(photo: Outgoing, next: Outgoing) -> Joined {
    match (photo, next) {
        (
            Outgoing::Image {
                png,
                text_fallback,
                caption,
                buttons,
            },
            Outgoing::Message(m),
        ) if m.buttons.is_empty()
            && telegram_len(&caption) + 2 + telegram_len(&m.text) <= MAX_CAPTION =>
        {
            Joined::One(Outgoing::Image {
                png,
                text_fallback,
                caption: format!("{caption}\n\n{}", m.text),
                buttons,
            })
        }
        (photo, next) => Joined::Two(photo, next),
    }
}

impl TelegramOutbox {
    /// Delivers `item` now, together with the held "answered" edit, if any.
    async fn send_now(&self, user: &UserId, chat: i64, item: Outgoing) {
        match self.take_held(chat) {
            Some((message_id, text)) => {
                tokio::join!(
                    self.edit_text(user, chat, message_id, &text),
                    self.deliver(user, chat, item)
                );
            }
            None => self.deliver(user, chat, item).await,
        }
    }

    /// Sends one item (not an `Answered`, which `send` holds back).
    async fn deliver(&self, user: &UserId, chat: i64, item: Outgoing) {
        match item {
            Outgoing::Message(m) => {
                self.send_text(user, chat, &m.text, &m.buttons).await;
            }
            Outgoing::Image {
                png,
                caption,
                buttons,
                ..
            } => {
                let (short, rest) = if caption.chars().count() > MAX_CAPTION {
                    (String::new(), Some(caption.clone()))
                } else {
                    (caption.clone(), None)
                };
                let markup = keyboard(&buttons);
                let sent = self
                    .call(user, chat, "sendPhoto", || {
                        let mut req = self.bot.send_photo(
                            ChatId(chat),
                            InputFile::memory(png.clone()).file_name("qr.png"),
                        );
                        if !short.is_empty() {
                            req = req.caption(short.clone());
                        }
                        if let Some(m) = &markup {
                            req = req.reply_markup(m.clone());
                        }
                        async move { req.await.map(|m| Some(m.id.0)) }
                    })
                    .await;
                if let Some(rest) = rest.filter(|_| sent.is_some()) {
                    self.send_text(user, chat, &rest, &[]).await;
                }
            }
            Outgoing::Progress { key, text } => {
                let existing = self
                    .progress
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&(chat, key.clone())).copied());
                if let Some(id) = existing
                    && self.edit_text(user, chat, id, &text).await
                {
                    return;
                }
                if let Some(id) = self.send_text(user, chat, &text, &[]).await
                    && let Ok(mut m) = self.progress.lock()
                {
                    m.insert((chat, key), id);
                }
            }
            // Held back by `send`, never delivered from here.
            Outgoing::Answered { .. } => {}
            Outgoing::Withdrawn => {
                let pressed = self.pressed.lock().ok().and_then(|mut m| m.remove(&chat));
                if let Some(p) = pressed {
                    // editMessageReplyMarkup without a markup removes the
                    // keyboard and leaves the text (and a photo) as it was.
                    self.call(user, chat, "editMessageReplyMarkup", || {
                        let req = self
                            .bot
                            .edit_message_reply_markup(ChatId(chat), MessageId(p.message_id));
                        async move { req.await.map(|_| None) }
                    })
                    .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_at_lines_and_within_limits() {
        let text = format!("{}\n{}\n", "a".repeat(3000), "b".repeat(3000));
        let pieces = split_text(&text, 4096);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
        let huge = "x".repeat(9000);
        let pieces = split_text(&huge, 4096);
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), 9000);
        assert_eq!(split_text("", 10), vec![String::new()]);
    }

    fn photo(caption: &str) -> Outgoing {
        Outgoing::Image {
            png: b"png".to_vec(),
            text_fallback: "qr".into(),
            caption: caption.into(),
            buttons: vec![vec![Button {
                label: "Pay".into(),
                data: "pay".into(),
            }]],
        }
    }

    #[test]
    fn a_plain_message_after_a_photo_joins_its_caption_when_it_fits() {
        let link = Outgoing::Message(crate::dialogue::Message::text("Other wallets: link"));
        match with_caption(photo("Scan to pay"), link) {
            Joined::One(Outgoing::Image {
                caption, buttons, ..
            }) => {
                assert_eq!(caption, "Scan to pay\n\nOther wallets: link");
                assert_eq!(buttons[0][0].label, "Pay", "the photo's buttons stay");
            }
            other => panic!("not merged: {other:?}"),
        }
        // A message with buttons of its own stays a message.
        let question = Outgoing::Message(crate::dialogue::Message {
            text: "Sure?".into(),
            buttons: vec![vec![Button {
                label: "Yes".into(),
                data: "y".into(),
            }]],
        });
        assert!(matches!(
            with_caption(photo("Scan"), question),
            Joined::Two(..)
        ));
        // Past 1024 UTF-16 units (Telegram's caption limit) both go apart:
        // 1000 + 2 + 22 fits, one more unit does not, and an emoji is two
        // (22 characters, 23 units).
        let fits = Outgoing::Message(crate::dialogue::Message::text("x".repeat(22)));
        assert!(matches!(
            with_caption(photo(&"c".repeat(1000)), fits),
            Joined::One(_)
        ));
        let over = Outgoing::Message(crate::dialogue::Message::text("x".repeat(23)));
        assert!(matches!(
            with_caption(photo(&"c".repeat(1000)), over),
            Joined::Two(..)
        ));
        let emoji = Outgoing::Message(crate::dialogue::Message::text(format!(
            "{}🙂",
            "x".repeat(21)
        )));
        assert!(matches!(
            with_caption(photo(&"c".repeat(1000)), emoji),
            Joined::Two(..)
        ));
        // Progress and other items never join.
        let progress = Outgoing::Progress {
            key: "k".into(),
            text: "Deploying".into(),
        };
        assert!(matches!(
            with_caption(photo("Scan"), progress),
            Joined::Two(..)
        ));
        assert!(holds_photo(&photo("Scan")));
        assert!(!holds_photo(&photo(&"c".repeat(1024))));
    }

    #[test]
    fn only_telegram_users_have_chats() {
        assert_eq!(chat_of(&UserId::parse("tg:42").unwrap()), Some(42));
        assert_eq!(chat_of(&UserId::parse("term:42").unwrap()), None);
    }
}
