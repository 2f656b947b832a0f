//! One function per Bot API method: Telegram's result shapes, its checks
//! and its exact error texts, applied to the fake's state.

use serde_json::{Value, json};

use super::http::{ApiError, Params, Reply, bad};
use super::markup::{png_size, telegram_len, visible_text};
use super::state::{Msg, State, bot_user, now_unix};
use super::{AnsweredCallback, BOT_ID, BOT_USERNAME, RegisteredCommand};

/// Lowercased: Telegram matches method names case-insensitively and
/// teloxide sends them in PascalCase.
pub const KNOWN_METHODS: &[&str] = &[
    "getme",
    "getwebhookinfo",
    "deletewebhook",
    "setwebhook",
    "setmycommands",
    "getupdates",
    "sendmessage",
    "sendphoto",
    "editmessagetext",
    "editmessagereplymarkup",
    "editmessagecaption",
    "deletemessage",
    "answercallbackquery",
    "sendchataction",
];

pub fn call_method(st: &mut State, method: &str, p: &Params) -> Reply {
    match method {
        "getme" => Ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Jukebox", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "getwebhookinfo" => Ok(json!({
            "url": st.webhook_url, "has_custom_certificate": false,
            "pending_update_count": st.pending.len(),
        })),
        "deletewebhook" => {
            st.webhook_url.clear();
            if p.bool("drop_pending_updates") {
                st.pending.clear();
            }
            Ok(json!(true))
        }
        "setwebhook" => {
            st.webhook_url = p.str("url").unwrap_or_default();
            Ok(json!(true))
        }
        "setmycommands" => set_my_commands(st, p),
        "sendmessage" => send_message(st, p),
        "sendphoto" => send_photo(st, p),
        "editmessagetext" | "editmessagecaption" | "editmessagereplymarkup" => {
            edit_message(st, method, p)
        }
        "deletemessage" => {
            let message_id = p.i64("message_id").unwrap_or_default();
            let chat = st
                .chats
                .get_mut(&chat_id(p)?)
                .ok_or_else(|| bad("chat not found"))?;
            let message = chat
                .message_mut(message_id)
                .ok_or_else(|| bad("message to delete not found"))?;
            message.deleted = true;
            Ok(json!(true))
        }
        "answercallbackquery" => {
            let id = p.str("callback_query_id").unwrap_or_default();
            let text = p.str("text");
            if text.as_deref().is_some_and(|t| telegram_len(t) > 200) {
                return Err(bad("MESSAGE_TOO_LONG"));
            }
            let press = st.presses.get(&id).ok_or_else(|| {
                bad("query is too old and response timeout expired or query id is invalid")
            })?;
            let answer = AnsweredCallback {
                id,
                user_id: press.user_id,
                chat_id: press.chat_id,
                message_id: press.message_id,
                data: press.data.clone(),
                text,
                show_alert: p.bool("show_alert"),
            };
            st.answered.push(answer);
            Ok(json!(true))
        }
        "sendchataction" => {
            existing_chat(st, p)?;
            Ok(json!(true))
        }
        _ => unreachable!("{method} is in KNOWN_METHODS"),
    }
}

fn chat_id(p: &Params) -> Result<i64, ApiError> {
    p.i64("chat_id").ok_or_else(|| bad("chat_id is empty"))
}

fn existing_chat(st: &mut State, p: &Params) -> Result<i64, ApiError> {
    let id = chat_id(p)?;
    st.chats
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| bad("chat not found"))
}

fn set_my_commands(st: &mut State, p: &Params) -> Reply {
    let commands = p
        .json("commands")?
        .and_then(|c| c.as_array().cloned())
        .ok_or_else(|| bad("commands not found"))?;
    if commands.len() > 100 {
        return Err(bad("BOT_COMMANDS_TOO_MUCH"));
    }
    // 1-32 of a-z, 0-9 and `_`; Telegram tolerates the leading `/` that
    // teloxide's `BotCommands` adds.
    let valid = |c: &Value| {
        let name = c["command"].as_str().unwrap_or_default();
        let name = name.strip_prefix('/').unwrap_or(name);
        (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !commands.iter().all(valid) {
        return Err(bad("BOT_COMMAND_INVALID"));
    }
    st.commands = commands
        .iter()
        .map(|c| RegisteredCommand {
            command: c["command"].as_str().unwrap_or_default().to_owned(),
            description: c["description"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    Ok(json!(true))
}

/// The inline keyboard to show, checked like Telegram checks it; `None`
/// when there is none (Telegram omits an empty keyboard).
fn inline_markup(p: &Params) -> Result<Option<Value>, ApiError> {
    let Some(markup) = p.json("reply_markup")? else {
        return Ok(None);
    };
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        // Reply keyboards and keyboard removal are not echoed in the Message.
        return Ok(None);
    };
    for button in rows.iter().filter_map(Value::as_array).flatten() {
        match button.get("callback_data").and_then(Value::as_str) {
            Some(data) if data.is_empty() || data.len() > 64 => {
                return Err(bad("BUTTON_DATA_INVALID"));
            }
            Some(_) => {}
            None if button.as_object().is_some_and(|b| b.len() <= 1) => {
                return Err(bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            }
            None => {}
        }
    }
    let empty = rows.iter().all(|r| r.as_array().is_none_or(Vec::is_empty));
    Ok((!empty).then(|| json!({"inline_keyboard": rows})))
}

fn checked_text(
    p: &Params,
    key: &str,
    max: usize,
    too_long: &str,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = p.str(key) else {
        return Ok(None);
    };
    let text =
        visible_text(&raw, p.str("parse_mode").as_deref()).map_err(|description| ApiError {
            code: 400,
            description,
            retry_after: None,
        })?;
    if telegram_len(&text) > max {
        return Err(bad(too_long));
    }
    Ok(Some(text))
}

fn new_message(st: &mut State, chat_id: i64, mut fields: Value, photo: Option<Vec<u8>>) -> Reply {
    let chat = st
        .chats
        .get_mut(&chat_id)
        .ok_or_else(|| bad("chat not found"))?;
    let mut json = json!({
        "message_id": chat.take_message_id(),
        "from": bot_user(),
        "chat": chat.json,
        "date": now_unix(),
    });
    json.as_object_mut()
        .unwrap()
        .append(fields.as_object_mut().unwrap());
    chat.messages.push(Msg {
        json: json.clone(),
        from_bot: true,
        edits: 0,
        deleted: false,
        photo,
        history: vec![],
    });
    Ok(json)
}

fn send_message(st: &mut State, p: &Params) -> Reply {
    let chat_id = existing_chat(st, p)?;
    let text = checked_text(p, "text", 4096, "message is too long")?.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(bad("message text is empty"));
    }
    let mut fields = json!({"text": text});
    if let Some(markup) = inline_markup(p)? {
        fields["reply_markup"] = markup;
    }
    new_message(st, chat_id, fields, None)
}

fn send_photo(st: &mut State, p: &Params) -> Reply {
    let chat_id = existing_chat(st, p)?;
    let caption = checked_text(p, "caption", 1024, "message caption is too long")?;
    let markup = inline_markup(p)?;
    let wrong_file = || bad("wrong file identifier/HTTP URL specified");
    let bytes = match (p.files.get("photo"), p.str("photo")) {
        (Some(bytes), _) => bytes.clone(),
        (None, Some(photo)) => match photo.strip_prefix("attach://") {
            Some(name) => p.files.get(name).cloned().ok_or_else(wrong_file)?,
            None => st.files.get(&photo).cloned().ok_or_else(wrong_file)?,
        },
        (None, None) => return Err(bad("there is no photo in the request")),
    };
    // The fake only decodes PNG, which is all Jukebox sends (QR codes).
    let (width, height) = png_size(&bytes).ok_or_else(|| bad("IMAGE_PROCESS_FAILED"))?;
    let size = bytes.len();
    let (file_id, file_unique_id) = st.new_file(bytes.clone());
    let mut fields = json!({"photo": [{
        "file_id": file_id, "file_unique_id": file_unique_id,
        "width": width, "height": height, "file_size": size,
    }]});
    if let Some(caption) = caption.filter(|c| !c.is_empty()) {
        fields["caption"] = json!(caption);
    }
    if let Some(markup) = markup {
        fields["reply_markup"] = markup;
    }
    new_message(st, chat_id, fields, Some(bytes))
}

fn edit_message(st: &mut State, method: &str, p: &Params) -> Reply {
    if p.fields.contains_key("inline_message_id") {
        return Err(bad("inline messages are not supported by the fake"));
    }
    let chat_id = chat_id(p)?;
    let message_id = p.i64("message_id").unwrap_or_default();
    let markup = inline_markup(p)?;
    // Checked before the message is looked up, like Telegram does.
    let new_text = match method {
        "editmessagetext" => {
            let text = checked_text(p, "text", 4096, "MESSAGE_TOO_LONG")?.unwrap_or_default();
            if text.trim().is_empty() {
                return Err(bad("message text is empty"));
            }
            Some(text)
        }
        "editmessagecaption" => checked_text(p, "caption", 1024, "message caption is too long")?,
        _ => None,
    };
    let chat = st
        .chats
        .get_mut(&chat_id)
        .ok_or_else(|| bad("chat not found"))?;
    let message = chat
        .message_mut(message_id)
        .ok_or_else(|| bad("message to edit not found"))?;
    if !message.from_bot {
        return Err(bad("message can't be edited"));
    }
    let has_text = message.json.get("text").is_some();
    let key = match method {
        "editmessagetext" if !has_text => {
            return Err(bad("there is no text in the message to edit"));
        }
        "editmessagetext" => Some("text"),
        "editmessagecaption" if has_text => {
            return Err(bad("there is no caption in the message to edit"));
        }
        "editmessagecaption" => Some("caption"),
        _ => None,
    };
    let old_text = key
        .and_then(|k| message.json.get(k))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let new_text = new_text.filter(|t| !t.is_empty());
    let same_text = key.is_none() || old_text == new_text;
    // Telegram drops the inline keyboard of an edit that does not repeat it.
    if same_text && message.json.get("reply_markup") == markup.as_ref() {
        return Err(bad(
            "message is not modified: specified new message content and reply markup are exactly the same as a \
             current content and reply markup of the message",
        ));
    }
    let json = message.json.as_object_mut().unwrap();
    if let Some(key) = key {
        if let Some(old) = old_text {
            message.history.push(old);
        }
        match new_text {
            Some(text) => json.insert(key.into(), json!(text)),
            None => json.remove(key),
        };
    }
    match markup {
        Some(markup) => json.insert("reply_markup".into(), markup),
        None => json.remove("reply_markup"),
    };
    json.insert("edit_date".into(), json!(now_unix()));
    message.edits += 1;
    Ok(message.json.clone())
}
