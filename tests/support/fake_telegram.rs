//! A fake Telegram Bot API server for tests that drive the real `jukebox`
//! binary (or teloxide directly) over loopback: real HTTP, real long
//! polling, Telegram's reply shapes and error texts, with a transcript per
//! chat, a request log, fault injection and waits that fail with a report
//! of what the bot did say.
//!
//! ```ignore
//! let tg = FakeTelegram::start();
//! let bot = Command::new(env!("CARGO_BIN_EXE_jukebox")).envs(tg.env()).spawn()?;
//! tg.send_text(7, "/start");
//! let menu = tg.wait_for_text(7, "Welcome", Duration::from_secs(10)).await?;
//! tg.press(7, menu.message_id, &menu.buttons[0][0].1);
//! ```
//!
//! The server runs on its own thread and runtime, so it keeps answering
//! whatever the test's runtime is doing (blocking on a child, paused time).

// `tests/support` is compiled into several test binaries; only the Telegram
// tests use this module, so the others would warn about every item.
#![allow(dead_code)]

mod http;
mod markup;
mod methods;
mod observe;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use state::State;

/// The bot's identity, as `getMe` tells it and as `from` of its messages.
pub const BOT_ID: i64 = 42;
pub const BOT_USERNAME: &str = "jukebox_bot";

/// The token [`FakeTelegram::env`] and [`FakeTelegram::bot`] use; any token is accepted.
pub const TOKEN: &str = "123456:TEST-TOKEN";

/// One message the bot sent, as the chat shows it now.
#[derive(Debug, Clone, PartialEq)]
pub struct BotMessage {
    pub message_id: i64,
    pub text: Option<String>,
    pub caption: Option<String>,
    /// The uploaded bytes (always a PNG: the fake rejects anything else).
    pub photo: Option<Vec<u8>>,
    /// Inline keyboard rows of `(label, callback_data)`; URL buttons have empty data.
    pub buttons: Vec<Vec<(String, String)>>,
    pub edits: u32,
    pub deleted: bool,
    /// Texts or captions this message showed before its edits, oldest first.
    pub history: Vec<String>,
}

impl BotMessage {
    /// The text, or the caption of a photo.
    pub fn shown(&self) -> &str {
        self.text
            .as_deref()
            .or(self.caption.as_deref())
            .unwrap_or_default()
    }

    /// The callback data of the button labelled `label`.
    pub fn button(&self, label: &str) -> Option<&str> {
        self.buttons
            .iter()
            .flatten()
            .find(|(l, _)| l == label)
            .map(|(_, d)| d.as_str())
    }
}

/// One request the bot made, in arrival order.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Lowercased, e.g. `sendmessage`.
    pub method: String,
    pub chat_id: Option<i64>,
    /// The parameters; multipart files appear as `{"file_bytes": n}`.
    pub body: Value,
    pub at: Instant,
    /// The HTTP status answered; 0 while a `getUpdates` is held (or if its
    /// client went away while it was held).
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnsweredCallback {
    pub id: String,
    pub user_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    pub data: String,
    pub text: Option<String>,
    pub show_alert: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredCommand {
    /// As sent; teloxide's `BotCommands` sends it with a leading `/`.
    pub command: String,
    pub description: String,
}

/// An error to answer instead of the next call(s) of a method.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeError {
    /// 429 with `parameters.retry_after`.
    TooManyRequests { retry_after: u32 },
    /// 400 `Bad Request: <text>`.
    BadRequest(String),
    /// 403 `Forbidden: <text>`.
    Forbidden(String),
    /// Anything else. Avoid 5xx: teloxide sleeps 10 s after one.
    Api { code: u16, description: String },
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped when the update queue changes or a newer poll arrives.
    updates: watch::Sender<u64>,
    /// Bumped on every bot request and every change a test makes.
    activity: watch::Sender<u64>,
    /// Per chat: bumped on every bot request naming the chat and every
    /// update a user makes in it, so a wait on one chat
    /// ([`FakeTelegram::wait_chat_until`]) wakes for that chat only and a
    /// hundred waiting users do not each look at every other chat's request.
    chat_activity: Mutex<HashMap<i64, watch::Sender<u64>>>,
}

impl Shared {
    /// The change counter of one chat, made on first use.
    fn chat_activity(&self, chat_id: i64) -> watch::Sender<u64> {
        self.chat_activity
            .lock()
            .unwrap()
            .entry(chat_id)
            .or_insert_with(|| watch::Sender::new(0))
            .clone()
    }

    /// Wakes the waits on `chat_id`, if any.
    fn chat_changed(&self, chat_id: Option<i64>) {
        let Some(chat_id) = chat_id else { return };
        if let Some(sender) = self.chat_activity.lock().unwrap().get(&chat_id) {
            sender.send_modify(|n| *n += 1);
        }
    }
}

pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Ends the server thread; its runtime drops held polls with it.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl FakeTelegram {
    /// Serves on 127.0.0.1 at a free port; usable from any test, async or not.
    pub fn start() -> FakeTelegram {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            updates: watch::Sender::new(0),
            activity: watch::Sender::new(0),
            chat_activity: Mutex::new(HashMap::new()),
        });
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = http::router(shared.clone());
        std::thread::Builder::new()
            .name(format!("fake-telegram-{}", addr.port()))
            .spawn(move || {
                // Two workers, like a server with some room: the bench's
                // thousands of requests a second must not queue behind one
                // thread of the fake (Telegram's servers are not what is
                // measured).
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("fake-telegram-worker")
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        served = axum::serve(listener, app) => served.expect("fake Telegram server"),
                        _ = stop => {}
                    }
                });
            })
            .expect("spawn fake Telegram thread");
        FakeTelegram {
            shared,
            addr,
            shutdown: Some(shutdown),
        }
    }

    /// The base URL for `TELOXIDE_API_URL`, e.g. `http://127.0.0.1:41234/`.
    pub fn api_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Environment for a spawned bot: `TELOXIDE_TOKEN` and `TELOXIDE_API_URL`.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("TELOXIDE_TOKEN", TOKEN.to_owned()),
            ("TELOXIDE_API_URL", self.api_url()),
        ]
    }

    /// A teloxide client talking to this fake (for tests of the fake itself).
    pub fn bot(&self) -> teloxide::Bot {
        teloxide::Bot::new(TOKEN).set_api_url(self.api_url().parse().expect("valid URL"))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    fn changed(&self, updates: bool) {
        self.changed_in(None, updates);
    }

    /// [`changed`](Self::changed), by a user's update in `chat_id`.
    fn changed_in(&self, chat_id: Option<i64>, updates: bool) {
        self.shared.chat_changed(chat_id);
        if updates {
            self.shared.updates.send_modify(|n| *n += 1);
        }
        self.shared.activity.send_modify(|n| *n += 1);
    }

    // ---- Driving: what users do -------------------------------------------

    /// Names a user (default: first name `User<id>`, username `user<id>`)
    /// and opens the private chat, so the bot may write first.
    pub fn add_user(&self, user_id: i64, first_name: &str, username: Option<&str>) {
        let mut st = self.state();
        st.users.insert(
            user_id,
            (first_name.to_owned(), username.map(str::to_owned)),
        );
        st.private_chat(user_id);
    }

    /// The user writes `text` to the bot in their private chat; returns the update id.
    pub fn send_text(&self, user_id: i64, text: &str) -> i64 {
        let id = {
            let mut st = self.state();
            st.private_chat(user_id);
            st.user_text(user_id, user_id, text)
        };
        self.changed_in(Some(user_id), true);
        id
    }

    /// The user writes `text` in group `chat_id` (a negative id, by Telegram's convention).
    pub fn send_group_text(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        let id = {
            let mut st = self.state();
            st.group_chat(chat_id, &format!("Group {chat_id}"));
            st.user_text(chat_id, user_id, text)
        };
        self.changed_in(Some(chat_id), true);
        id
    }

    /// The user presses a button of bot message `message_id` in their private
    /// chat. Any data may be sent: real clients can forge it.
    /// Panics if the message is not shown there.
    pub fn press(&self, user_id: i64, message_id: i64, callback_data: &str) -> i64 {
        self.press_in(user_id, user_id, message_id, callback_data)
    }

    /// [`press`](Self::press) in any chat, e.g. a group.
    pub fn press_in(
        &self,
        chat_id: i64,
        user_id: i64,
        message_id: i64,
        callback_data: &str,
    ) -> i64 {
        let id = self
            .state()
            .user_press(chat_id, user_id, message_id, callback_data);
        let id =
            id.unwrap_or_else(|why| panic!("press {callback_data:?}: {why}\n{}", self.describe()));
        self.changed_in(Some(chat_id), true);
        id
    }

    /// Presses the button labelled `label` on the newest bot message in the
    /// user's private chat that has one. Panics if there is none.
    pub fn click(&self, user_id: i64, label: &str) -> i64 {
        let found = self
            .chat(user_id)
            .into_iter()
            .rev()
            .filter(|m| !m.deleted)
            .find_map(|m| {
                let data = m.button(label)?.to_owned();
                Some((m.message_id, data))
            });
        let (message_id, data) = found.unwrap_or_else(|| {
            panic!("no button {label:?} in chat {user_id}\n{}", self.describe())
        });
        self.press(user_id, message_id, &data)
    }

    /// Puts an update the bot already confirmed back in the queue, as
    /// Telegram does when a crashed bot never confirmed its last batch. A
    /// restarted bot (which polls from offset 0) receives it again with the
    /// same `update_id`; a running bot's offset is already past it.
    pub fn redeliver(&self, update_id: i64) {
        {
            let mut st = self.state();
            assert!(
                st.updates.contains_key(&update_id),
                "no update {update_id} was ever sent"
            );
            st.pending.insert(update_id);
        }
        self.changed(true);
    }

    /// Update ids not yet confirmed by the bot.
    pub fn pending_updates(&self) -> Vec<i64> {
        self.state().pending.iter().copied().collect()
    }

    // ---- Faults ----------------------------------------------------------

    /// The next `n` calls of `method` (any case) answer `error`.
    pub fn fail_next(&self, method: &str, n: u32, error: FakeError) {
        let mut st = self.state();
        let queue = st.faults.entry(method.to_ascii_lowercase()).or_default();
        queue.extend(std::iter::repeat_n(error, n as usize));
    }

    /// The bot's next message (text or caption) containing `needle` is held:
    /// the request arrives and is logged, but is never answered, as when a
    /// send stalls. A test can then kill the bot in the middle of that send.
    pub fn hold_message(&self, needle: &str) {
        self.state().holds.push(needle.to_owned());
    }

    /// The texts of the messages held so far.
    pub fn held_messages(&self) -> Vec<String> {
        self.state().held.clone()
    }

    /// Every call naming `chat_id` answers 403 "bot was blocked by the user".
    pub fn block_user(&self, chat_id: i64) {
        self.state().blocked.insert(chat_id);
    }

    pub fn unblock_user(&self, chat_id: i64) {
        self.state().blocked.remove(&chat_id);
    }
}
