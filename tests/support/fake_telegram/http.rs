//! The HTTP side of the fake: `/bot<token>/<Method>` over axum, request
//! decoding (JSON, multipart, url-encoded, query string), logging, fault
//! injection, and the held `getUpdates` long poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::methods::{KNOWN_METHODS, call_method};
use super::{FakeError, LoggedRequest, Shared};

/// An error reply: always 4xx, never 5xx (teloxide sleeps 10 s on a 5xx).
pub struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
}

pub fn bad(description: &str) -> ApiError {
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

pub type Reply = Result<Value, ApiError>;

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
    pub fn i64(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn bool(&self, key: &str) -> bool {
        matches!(self.fields.get(key), Some(Value::Bool(true)))
            || self.str(key).as_deref() == Some("true")
    }

    /// A JSON parameter (reply_markup, commands), sent inline or as a JSON string.
    pub fn json(&self, key: &str) -> Result<Option<Value>, ApiError> {
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

const WEBHOOK_ACTIVE: &str = "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const OTHER_POLLER: &str =
    "terminated by other getUpdates request; make sure that only one bot instance is running";

fn conflict(what: &str) -> ApiError {
    ApiError {
        code: 409,
        description: format!("Conflict: {what}"),
        retry_after: None,
    }
}

impl Shared {
    async fn call(&self, token: String, method: String, params: Params) -> (u16, Value) {
        let chat_id = params.i64("chat_id");
        let (index, early, held) = {
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
                chat_id,
                body,
                at: Instant::now(),
                status: 0,
            });
            let index = st.requests.len() - 1;
            let shown = params.str("text").or_else(|| params.str("caption"));
            let hold = shown
                .as_deref()
                .and_then(|t| st.holds.iter().position(|n| t.contains(n.as_str())));
            if let Some(i) = hold {
                st.holds.remove(i);
                st.held.extend(shown);
            }
            let early = if hold.is_some() {
                None
            } else if !KNOWN_METHODS.contains(&method.as_str()) {
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
            } else if method == "getupdates" && !st.webhook_url.is_empty() {
                Some(Err(conflict(WEBHOOK_ACTIVE)))
            } else if method == "getupdates" {
                None
            } else {
                Some(call_method(&mut st, &method, &params))
            };
            (index, early, hold.is_some())
        };
        self.chat_changed(chat_id);
        self.activity.send_modify(|n| *n += 1);
        if held {
            // Never answered; dropped when the bot's connection closes.
            return std::future::pending().await;
        }
        let reply = match early {
            Some(reply) => reply,
            None => self.get_updates(&params).await,
        };
        let reply = envelope(reply);
        self.state.lock().unwrap().requests[index].status = reply.0;
        self.chat_changed(chat_id);
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
        // Like Telegram, a given list sticks until a later poll changes it.
        let allowed = params.json("allowed_updates")?;
        let mut changes = self.updates.subscribe();
        let generation = {
            let mut st = self.state.lock().unwrap();
            st.poll_generation += 1;
            if let Some(allowed) = allowed.as_ref().and_then(Value::as_array) {
                st.allowed_updates = allowed
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
            }
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
                    return Err(conflict(OTHER_POLLER));
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
