//! The chat page (the same conversation as in Telegram), its two inputs
//! (typed text, pressed buttons), the live event stream, and the
//! notifications page.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::stream::{self, StreamExt as _};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::hub::Entry;
use super::render::{csrf_field, entry_html};
use super::session::Session;
use super::{SignedIn, WebState, internal_error, is_fetch, refuse};
use crate::dialogue::Input;
use crate::validate::MAX_INPUT_CHARS;

/// Longest button data accepted (Telegram's callback data limit).
const MAX_BUTTON_DATA: usize = 64;

/// Shortcuts shown under the chat, sent as if typed.
const SHORTCUTS: &[(&str, &str)] = &[
    ("/deploy", "Deploy a node"),
    ("/list", "My nodes"),
    ("/balance", "Balance"),
    ("/help", "Help"),
];

pub async fn page(State(state): State<Arc<WebState>>, SignedIn(session): SignedIn) -> Response {
    let account = state.account(&session);
    let snapshot = state.hub.snapshot(&account);
    let mut feed = String::new();
    for entry in &snapshot.chat {
        feed.push_str(&entry_html(entry, &session.csrf, "/chat"));
    }
    if snapshot.chat.is_empty() {
        feed.push_str(
            "<article class=\"msg\"><p>Hello! Send /deploy to run a blockchain node, \
             or /help to see everything I can do.</p></article>",
        );
    }
    let mut shortcuts = String::from("<div class=\"buttons\"><div class=\"row\">");
    for (text, label) in SHORTCUTS {
        shortcuts.push_str(&format!(
            "<form method=\"post\" action=\"/chat/send\" class=\"press\">{}\
             <input type=\"hidden\" name=\"text\" value=\"{text}\">\
             <button type=\"submit\" class=\"secondary\">{label}</button></form>",
            csrf_field(&session.csrf)
        ));
    }
    shortcuts.push_str("</div></div>");
    let body = format!(
        "<h1>Chat</h1><div data-live data-version=\"{}\">\
         <section id=\"feed\" class=\"feed\" aria-live=\"polite\" aria-label=\"Conversation\">{feed}</section>\
         <form id=\"send-form\" method=\"post\" action=\"/chat/send\" class=\"send\">{}\
         <label for=\"text\" class=\"muted\" hidden>Message</label>\
         <input type=\"text\" id=\"text\" name=\"text\" maxlength=\"{MAX_INPUT_CHARS}\" autocomplete=\"off\" \
         aria-label=\"Message\" placeholder=\"Type an answer or a command, e.g. /deploy\" required>\
         <button type=\"submit\">Send</button></form>{shortcuts}</div><span id=\"end\"></span>",
        snapshot.version,
        csrf_field(&session.csrf)
    );
    state.page(&session, "Chat", "/chat", &body)
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub async fn send(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<SendForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    let text = match crate::validate::clean_input(&form.text) {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => {
            return Err(refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                "Type something first.",
            ));
        }
        Err(why) => {
            return Err(refuse(&headers, StatusCode::BAD_REQUEST, &why.to_string()));
        }
    };
    let account = state.account(&session);
    state.hub.said(&account, text);
    Ok(deliver(
        &state,
        &session,
        &headers,
        Input::from_message(text),
        "/chat",
    )
    .await)
}

#[derive(Deserialize)]
pub struct PressForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    data: String,
    /// The page to return to without JavaScript ("/chat", "/nodes", ...).
    #[serde(default)]
    back: String,
}

pub async fn press(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<PressForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    if form.data.is_empty() || form.data.len() > MAX_BUTTON_DATA {
        return Err(refuse(
            &headers,
            StatusCode::BAD_REQUEST,
            "That button is not valid any more. Reload the page.",
        ));
    }
    let back = match form.back.as_str() {
        "/nodes" | "/notifications" => form.back.as_str(),
        _ => "/chat",
    };
    Ok(deliver(&state, &session, &headers, Input::Button(form.data), back).await)
}

/// Hands one input to the service as the session's account. Replies reach
/// the page through the hub; a plain form post is sent back to `back`
/// (with the replies since this input when that is "My nodes").
pub(super) async fn deliver(
    state: &WebState,
    session: &Session,
    headers: &HeaderMap,
    input: Input,
    back: &str,
) -> Response {
    let account = state.account(session);
    let before = state.hub.version(&account);
    if let Err(e) = state
        .service
        .handle(&account, &session.name, input, None)
        .await
    {
        return internal_error(headers, &e);
    }
    if is_fetch(headers) {
        StatusCode::NO_CONTENT.into_response()
    } else if back == "/nodes" || back == "/notifications" {
        // The answer is shown on the page whose button was pressed.
        Redirect::to(&format!("{back}?since={before}#replies")).into_response()
    } else {
        Redirect::to(&format!("{back}#end")).into_response()
    }
}

#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    after: u64,
}

/// Server-sent events: every change to the account's feed after `after`
/// (or the browser's Last-Event-ID when it reconnects), as `entry` events
/// carrying the entry's HTML; `reload` when the page fell too far behind.
pub async fn events(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(query): Query<After>,
) -> Response {
    let Some(session) = state.session(&headers) else {
        return (StatusCode::UNAUTHORIZED, "signed out").into_response();
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(query.after);
    let account = state.account(&session);
    let (missed, receiver) = state.hub.follow(&account, after);
    let csrf = session.csrf.clone();
    let render = move |entry: Entry| -> Result<Event, Infallible> {
        let text = match &entry.kind {
            super::hub::EntryKind::Notice { text, .. } => text.clone(),
            _ => String::new(),
        };
        let data = serde_json::json!({
            "id": entry.id,
            "notice": entry.is_notice(),
            "html": entry_html(&entry, &csrf, "/chat"),
            "text": text,
        });
        Ok(Event::default()
            .event("entry")
            .id(entry.version.to_string())
            .data(data.to_string()))
    };
    let live = stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(entry) => Some((Some(entry), receiver)),
            Err(RecvError::Lagged(_)) => Some((None, receiver)),
            Err(RecvError::Closed) => None,
        }
    });
    let render_live = render.clone();
    let events =
        stream::iter(missed.into_iter().map(render)).chain(live.map(move |entry| match entry {
            Some(entry) => render_live(entry),
            None => Ok(Event::default().event("reload").data("behind")),
        }));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The conversation's replies since `since` (the version before a button on
/// `back` was pressed), shown on that page; an empty section when there are
/// none, which the site's script fills as replies arrive.
pub(super) fn replies_section(
    state: &WebState,
    account: &crate::ids::UserId,
    since: Option<u64>,
    csrf: &str,
    back: &str,
) -> String {
    let replies = since.map_or_else(Vec::new, |v| state.hub.chat_since(account, v));
    let mut html = String::from(
        "<section id=\"replies\" class=\"feed\" aria-live=\"polite\" aria-label=\"Replies\">",
    );
    for entry in &replies {
        html.push_str(&entry_html(entry, csrf, back));
    }
    html.push_str("</section>");
    html
}

#[derive(Deserialize)]
pub struct Since {
    since: Option<u64>,
}

pub async fn notifications(
    State(state): State<Arc<WebState>>,
    Query(query): Query<Since>,
    SignedIn(session): SignedIn,
) -> Response {
    let account = state.account(&session);
    let replies = replies_section(
        &state,
        &account,
        query.since,
        &session.csrf,
        "/notifications",
    );
    let snapshot = state.hub.snapshot(&account);
    let mut list = String::new();
    for entry in &snapshot.notices {
        list.push_str(&entry_html(entry, &session.csrf, "/notifications"));
    }
    let empty = if snapshot.notices.is_empty() {
        "<p id=\"no-notices\" class=\"muted\">Nothing yet. When one of your nodes goes down or comes \
         back, or your balance runs low, it shows up here at once.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Notifications</h1><div data-live data-version=\"{}\">{replies}{empty}\
         <section id=\"notices\" class=\"feed\" aria-live=\"polite\" aria-label=\"Notifications\">{list}</section></div>",
        snapshot.version
    );
    state.page(&session, "Notifications", "/notifications", &body)
}
