//! The HTTP side of the fake: `/bot<token>/<Method>` over axum, request
//! decoding (JSON, multipart, url-encoded, query string), the held
//! `getUpdates` long poll, and one function per Bot API method.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::markup::{png_size, telegram_len, visible_text};
use super::state::{BOT_ID, BOT_USERNAME, Msg, State, bot_user, now_unix};
use super::{AnsweredCallback, FakeError, LoggedRequest, RegisteredCommand, Shared};

/// An error reply: always 4xx, never 5xx (teloxide sleeps 10 s on a 5xx).
pub struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
}

fn bad(description: &str) -> ApiError {
    ApiError {
        code: 400,
        description: format!("Bad Request: {description}"),
        retry_after: None,
    }
}

impl From<FakeError> for ApiError {
    fn from(error: FakeError) -> ApiError {
        let (code, description, retry_after) = match error {
            FakeError::TooManyRequests { retry_after } => (
                429,
                format!("Too Many Requests: retry after {retry_after}"),
                Some(retry_after),
            ),
            FakeError::BadRequest(what) => (400, format!("Bad Request: {what}"), None),
            FakeError::Forbidden(what) => (403, format!("Forbidden: {what}"), None),
            FakeError::Api { code, description } => (code, description, None),
        };
        ApiError {
            code,
            description,
            retry_after,
        }
    }
}

type Reply = Result<Value, ApiError>;

fn envelope(reply: Reply) -> (u16, Value) {
    match reply {
        Ok(result) => (200, json!({"ok": true, "result": result})),
        Err(e) => {
            let mut body = json!({"ok": false, "error_code": e.code, "description": e.description});
            if let Some(retry_after) = e.retry_after {
                body["parameters"] = json!({"retry_after": retry_after});
            }
            (e.code, body)
        }
    }
}

fn respond((code, body): (u16, Value)) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(shared)
        // Photos may be up to 10 MB; axum's default limit is 2 MB.
        .layer(DefaultBodyLimit::max(16 << 20))
}

/// Request parameters, whatever the encoding: values from text encodings
/// stay strings, so readers accept both `7` and `"7"`.
pub struct Params {
    pub fields: Map<String, Value>,
    /// Multipart parts that carry a file name: name -> bytes.
    pub files: HashMap<String, Vec<u8>>,
}

impl Params {
    fn i64(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn bool(&self, key: &str) -> bool {
        matches!(self.fields.get(key), Some(Value::Bool(true)))
            || self.str(key).as_deref() == Some("true")
    }

    /// A JSON parameter (reply_markup, commands), sent inline or as a JSON string.
    fn json(&self, key: &str) -> Result<Option<Value>, ApiError> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| bad(&format!("can't parse {key} JSON object"))),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let not_found = || {
        respond((
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ))
    };
    let path = percent_decode(request.uri().path());
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, method)| !method.is_empty() && !method.contains('/'))
    else {
        return not_found();
    };
    let (token, method) = (token.to_owned(), method.to_ascii_lowercase());
    let params = match read_params(request).await {
        Ok(params) => params,
        Err(e) => return respond(envelope(Err(e))),
    };
    respond(shared.call(token, method, params).await)
}

async fn read_params(request: Request) -> Result<Params, ApiError> {
    let mut fields = Map::new();
    let query = request.uri().query().unwrap_or_default().to_owned();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            percent_decode(&k.replace('+', " ")),
            percent_decode(&v.replace('+', " ")),
        );
        fields.insert(k, Value::String(v));
    }
    let mut files = HashMap::new();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let malformed = |what: &str| bad(&format!("malformed {what} body"));
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| malformed("multipart"))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| malformed("multipart"))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            // Like Telegram, only a part with a file name is a file; a part
            // without one is a plain form value (hence "set the file name").
            let is_file = field.file_name().is_some();
            let bytes = field.bytes().await.map_err(|_| malformed("multipart"))?;
            if is_file {
                files.insert(name, bytes.to_vec());
            } else {
                fields.insert(
                    name,
                    Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                );
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, &())
            .await
            .map_err(|_| malformed("form"))?;
        fields.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    } else {
        let body = axum::body::Bytes::from_request(request, &())
            .await
            .map_err(|_| malformed("request"))?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice(&body) {
                Ok(Value::Object(map)) => fields.extend(map),
                _ => return Err(malformed("JSON")),
            }
        }
    }
    Ok(Params { fields, files })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Shared {
    async fn call(&self, token: String, method: String, params: Params) -> (u16, Value) {
        let (index, early) = {
            let mut st = self.state.lock().unwrap();
            if !st.tokens.contains(&token) {
                st.tokens.push(token);
            }
            let mut body = Value::Object(params.fields.clone());
            for (name, bytes) in &params.files {
                body[name] = json!({"file_bytes": bytes.len()});
            }
            st.requests.push(LoggedRequest {
                method: method.clone(),
                chat_id: params.i64("chat_id"),
                body,
                at: Instant::now(),
                status: 0,
            });
            let index = st.requests.len() - 1;
            let early = if !KNOWN_METHODS.contains(&method.as_str()) {
                Some(Err(ApiError {
                    code: 404,
                    description: "Not Found: method not found".into(),
                    retry_after: None,
                }))
            } else if let Some(fault) = st.take_fault(&method) {
                Some(Err(fault.into()))
            } else if params
                .i64("chat_id")
                .is_some_and(|chat| st.blocked.contains(&chat))
            {
                Some(Err(FakeError::Forbidden(
                    "bot was blocked by the user".into(),
                )
                .into()))
            } else if method == "getupdates" {
                None
            } else {
                Some(call_method(&mut st, &method, &params))
            };
            (index, early)
        };
        self.activity.send_modify(|n| *n += 1);
        let reply = match early {
            Some(reply) => reply,
            None => self.get_updates(&params).await,
        };
        let reply = envelope(reply);
        self.state.lock().unwrap().requests[index].status = reply.0;
        self.activity.send_modify(|n| *n += 1);
        reply
    }

    /// Holds the poll until an update at or past `offset` exists, the
    /// timeout passes, or a newer poll supersedes this one (409 Conflict).
    async fn get_updates(&self, params: &Params) -> Reply {
        let offset = params.i64("offset").unwrap_or(0);
        let limit = params.i64("limit").unwrap_or(100).clamp(1, 100) as usize;
        let timeout = Duration::from_secs(params.i64("timeout").unwrap_or(0).max(0) as u64);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.updates.subscribe();
        let generation = {
            let mut st = self.state.lock().unwrap();
            st.poll_generation += 1;
            st.poll_generation
        };
        self.updates.send_modify(|n| *n += 1);
        loop {
            // Mark the current version seen *before* looking, so a change
            // made after the look always wakes `changed()` below.
            changes.borrow_and_update();
            {
                let mut st = self.state.lock().unwrap();
                if st.poll_generation != generation {
                    return Err(ApiError {
                        code: 409,
                        description: "Conflict: terminated by other getUpdates request; make sure that only one \
                                      bot instance is running"
                            .into(),
                        retry_after: None,
                    });
                }
                let batch = st.take_updates(offset, limit);
                if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Ok(Value::Array(batch));
                }
            }
            // On timeout the loop looks once more and then answers `[]`.
            let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
        }
    }
}

const KNOWN_METHODS: &[&str] = &[
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

fn call_method(st: &mut State, method: &str, p: &Params) -> Reply {
    match method {
        "getme" => Ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Jukebox", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "getwebhookinfo" => Ok(
            json!({"url": st.webhook_url, "has_custom_certificate": false, "pending_update_count": st.pending.len()}),
        ),
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
