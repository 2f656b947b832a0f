//! Everything the fake Telegram remembers: users and chats, every message
//! as it is currently shown, the update queue, and what the bot asked for.
//! Plain data behind one mutex; nothing here awaits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{
    AnsweredCallback, BOT_ID, BOT_USERNAME, BotMessage, FakeError, LoggedRequest, RegisteredCommand,
};

/// Telegram's ids are arbitrary; teloxide keeps offsets in an `i32`.
const FIRST_UPDATE_ID: i64 = 100_000;

pub fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Jukebox", "username": BOT_USERNAME})
}

/// Unix seconds; never 0, which teloxide reads as "inaccessible message".
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

pub struct Msg {
    /// The Message object exactly as Telegram would return it now.
    pub json: Value,
    pub from_bot: bool,
    pub edits: u32,
    pub deleted: bool,
    pub photo: Option<Vec<u8>>,
    /// Earlier texts or captions, oldest first, so a quickly edited progress
    /// message can still be waited for.
    pub history: Vec<String>,
}

impl Msg {
    /// Whether the text or caption, now or before an edit, contains `needle`
    /// (what [`BotMessage::shown`] and `history` would show).
    pub fn shows(&self, needle: &str) -> bool {
        let now = self.json.get("text").or_else(|| self.json.get("caption"));
        now.and_then(Value::as_str)
            .is_some_and(|t| t.contains(needle))
            || self.history.iter().any(|h| h.contains(needle))
    }

    pub fn view(&self) -> BotMessage {
        let str_field = |key: &str| {
            self.json
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let buttons = self.json["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                let cell = |b: &Value, key: &str| b[key].as_str().unwrap_or_default().to_owned();
                row.as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| (cell(b, "text"), cell(b, "callback_data")))
                    .collect()
            })
            .collect();
        BotMessage {
            message_id: self.json["message_id"].as_i64().unwrap_or_default(),
            text: str_field("text"),
            caption: str_field("caption"),
            photo: self.photo.clone(),
            buttons,
            edits: self.edits,
            deleted: self.deleted,
            history: self.history.clone(),
        }
    }
}

pub struct Chat {
    /// The Chat object used in messages.
    pub json: Value,
    /// Message ids are per chat and shared by the user's and the bot's messages.
    pub next_message_id: i64,
    pub messages: Vec<Msg>,
}

impl Chat {
    pub fn message_mut(&mut self, message_id: i64) -> Option<&mut Msg> {
        self.messages
            .iter_mut()
            .find(|m| m.json["message_id"].as_i64() == Some(message_id) && !m.deleted)
    }

    pub fn take_message_id(&mut self) -> i64 {
        self.next_message_id += 1;
        self.next_message_id
    }
}

/// A callback query the bot has not answered yet (or has; kept for lookups).
pub struct Press {
    pub user_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    pub data: String,
}

pub struct State {
    pub started: Instant,
    pub users: HashMap<i64, (String, Option<String>)>,
    pub chats: BTreeMap<i64, Chat>,
    next_update_id: i64,
    /// Every update ever injected, so one can be redelivered.
    pub updates: BTreeMap<i64, Value>,
    /// Updates not yet confirmed by a `getUpdates` offset past them.
    pub pending: BTreeSet<i64>,
    /// Bumped by every `getUpdates`: an older held poll sees it and answers
    /// 409 Conflict, like Telegram does when two bot instances poll.
    pub poll_generation: u64,
    /// The latest `allowed_updates` of a poll; empty means every kind.
    pub allowed_updates: Vec<String>,
    pub presses: HashMap<String, Press>,
    next_press: u64,
    pub requests: Vec<LoggedRequest>,
    pub answered: Vec<AnsweredCallback>,
    pub commands: Vec<RegisteredCommand>,
    pub tokens: Vec<String>,
    pub faults: HashMap<String, VecDeque<FakeError>>,
    pub blocked: HashSet<i64>,
    /// Texts whose next message from the bot gets no answer (see `hold_message`).
    pub holds: Vec<String>,
    /// The texts of messages held so far.
    pub held: Vec<String>,
    pub webhook_url: String,
    /// Uploaded photos by file_id, so the bot can resend one by id.
    pub files: HashMap<String, Vec<u8>>,
    next_file: u64,
}

impl State {
    pub fn new() -> State {
        State {
            started: Instant::now(),
            users: HashMap::new(),
            chats: BTreeMap::new(),
            next_update_id: FIRST_UPDATE_ID,
            updates: BTreeMap::new(),
            pending: BTreeSet::new(),
            poll_generation: 0,
            allowed_updates: Vec::new(),
            presses: HashMap::new(),
            next_press: 0,
            requests: Vec::new(),
            answered: Vec::new(),
            commands: Vec::new(),
            tokens: Vec::new(),
            faults: HashMap::new(),
            blocked: HashSet::new(),
            holds: Vec::new(),
            held: Vec::new(),
            webhook_url: String::new(),
            files: HashMap::new(),
            next_file: 0,
        }
    }

    pub fn user_json(&self, user_id: i64) -> Value {
        let (first_name, username) = self.user(user_id);
        let mut user = json!({"id": user_id, "is_bot": false, "first_name": first_name});
        if let Some(username) = username {
            user["username"] = json!(username);
        }
        user
    }

    fn user(&self, user_id: i64) -> (String, Option<String>) {
        self.users
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| (format!("User{user_id}"), Some(format!("user{user_id}"))))
    }

    /// The private chat with `user_id`, opened on first use.
    pub fn private_chat(&mut self, user_id: i64) -> &mut Chat {
        let first_name = self.user(user_id).0;
        self.chats.entry(user_id).or_insert_with(|| Chat {
            json: json!({"id": user_id, "type": "private", "first_name": first_name}),
            next_message_id: 0,
            messages: Vec::new(),
        })
    }

    pub fn group_chat(&mut self, chat_id: i64, title: &str) -> &mut Chat {
        self.chats.entry(chat_id).or_insert_with(|| Chat {
            json: json!({"id": chat_id, "type": "group", "title": title}),
            next_message_id: 0,
            messages: Vec::new(),
        })
    }

    /// A user's text message in `chat_id` (which must exist), queued as an update.
    pub fn user_text(&mut self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        let from = self.user_json(user_id);
        let chat = self
            .chats
            .get_mut(&chat_id)
            .expect("chat opened before the user writes");
        let mut message = json!({
            "message_id": chat.take_message_id(),
            "from": from,
            "chat": chat.json,
            "date": now_unix(),
            "text": text,
        });
        if text.starts_with('/') {
            let command = text.split_whitespace().next().unwrap_or(text);
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": command.encode_utf16().count()}]);
        }
        chat.messages.push(Msg {
            json: message.clone(),
            from_bot: false,
            edits: 0,
            deleted: false,
            photo: None,
            history: Vec::new(),
        });
        self.push_update("message", message)
    }

    /// A press on a button of the bot's message, as the client would send it.
    pub fn user_press(
        &mut self,
        chat_id: i64,
        user_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<i64, String> {
        let from = self.user_json(user_id);
        let chat = self
            .chats
            .get_mut(&chat_id)
            .ok_or_else(|| format!("no chat {chat_id}"))?;
        let message = chat
            .message_mut(message_id)
            .filter(|m| m.from_bot)
            .ok_or_else(|| format!("no bot message {message_id} shown in chat {chat_id}"))?
            .json
            .clone();
        self.next_press += 1;
        let id = (1_795_000_000_000_000_000 + self.next_press).to_string();
        self.presses.insert(
            id.clone(),
            Press {
                user_id,
                chat_id,
                message_id,
                data: data.to_owned(),
            },
        );
        let query = json!({
            "id": id,
            "from": from,
            "message": message,
            "chat_instance": format!("-{}", 4_000_000_000 + chat_id.unsigned_abs()),
            "data": data,
        });
        Ok(self.push_update("callback_query", query))
    }

    fn push_update(&mut self, kind: &str, payload: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        self.updates
            .insert(id, json!({"update_id": id, kind: payload}));
        self.pending.insert(id);
        id
    }

    /// Confirms (forgets) updates below a positive `offset`, as Telegram
    /// does, drops kinds the bot did not allow, and returns up to `limit`.
    pub fn take_updates(&mut self, offset: i64, limit: usize) -> Vec<Value> {
        let allowed = &self.allowed_updates;
        let updates = &self.updates;
        // Telegram never keeps an update of a kind the bot did not ask for.
        let wanted = |id: &i64| {
            allowed.is_empty()
                || updates[id]
                    .as_object()
                    .is_some_and(|u| u.keys().any(|k| allowed.contains(k)))
        };
        self.pending
            .retain(|id| (offset <= 0 || *id >= offset) && wanted(id));
        self.pending
            .iter()
            .take(limit)
            .map(|id| self.updates[id].clone())
            .collect()
    }

    pub fn new_file(&mut self, bytes: Vec<u8>) -> (String, String) {
        self.next_file += 1;
        let file_id = format!("AgACAgIAAxkBAAI{:08}", self.next_file);
        self.files.insert(file_id.clone(), bytes);
        (file_id, format!("AQAD{:08}", self.next_file))
    }

    /// The next injected fault for `method`, if any is left.
    pub fn take_fault(&mut self, method: &str) -> Option<FakeError> {
        let queue = self.faults.get_mut(method)?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.faults.remove(method);
        }
        fault
    }
}
