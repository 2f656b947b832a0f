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
use askama::Template;

use super::render::{self, EntryHtml, Layout, entry_html};
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

/// The chat page.
#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage<'a> {
    layout: Layout<'a>,
    /// The feed version the page shows; the script follows from there.
    version: u64,
    /// Each entry's HTML (`entry.html`).
    entries: Vec<String>,
    shortcuts: &'static [(&'static str, &'static str)],
    max_chars: usize,
}

pub async fn page(State(state): State<Arc<WebState>>, SignedIn(session): SignedIn) -> Response {
    let account = state.account(&session);
    let snapshot = state.hub.snapshot(&account);
    render::html(&ChatPage {
        layout: state.layout(&session, "Chat", "/chat"),
        version: snapshot.version,
        entries: snapshot
            .chat
            .iter()
            .map(|entry| entry_html(entry, &session.csrf, "/chat"))
            .collect(),
        shortcuts: SHORTCUTS,
        max_chars: MAX_INPUT_CHARS,
    })
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
    let back = back_page(&form.back);
    Ok(deliver(&state, &session, &headers, Input::Button(form.data), back).await)
}

/// The page a plain form post returns to: one of the pages with buttons
/// ("My nodes", the notifications, a node's page), else the chat. Never
/// anywhere else, so a form cannot redirect off the site.
pub(super) fn back_page(back: &str) -> &str {
    match back {
        "/nodes" | "/notifications" => back,
        _ if back
            .strip_prefix("/node/")
            .is_some_and(super::nodes::node_name_ok) =>
        {
            back
        }
        _ => "/chat",
    }
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
    // A node's page whose node is gone (its delete was just confirmed
    // there) would answer "not found": the answer is shown on My nodes.
    let back = match back.strip_prefix("/node/") {
        Some(name) if !matches!(state.service.node_details(&account, name), Ok(Some(_))) => {
            "/nodes"
        }
        _ => back,
    };
    if is_fetch(headers) {
        StatusCode::NO_CONTENT.into_response()
    } else if back != "/chat" {
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
    let account = account.clone();
    let csrf = session.csrf.clone();
    let site = state.clone();
    let render = move |entry: Entry| -> Result<Event, Infallible> {
        let text = match &entry.kind {
            super::hub::EntryKind::Notice { text, .. } => text.clone(),
            _ => String::new(),
        };
        // With a notification, the outages going on now: the page disables
        // the buttons of alerts whose outage is over (a recovery arrived).
        let live: Option<Vec<String>> = entry
            .is_notice()
            .then(|| site.service.current_outages(&account).ok())
            .flatten()
            .map(|outages| {
                outages
                    .iter()
                    .map(|(node, since)| render::outage_id(node, *since))
                    .collect()
            });
        let data = serde_json::json!({
            "id": entry.id,
            "notice": entry.is_notice(),
            "html": entry_html(&entry, &csrf, "/chat"),
            "text": text,
            "live": live,
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
/// `back` was pressed), each as HTML, shown on that page in a section the
/// site's script fills as more replies arrive.
pub(super) fn replies(
    state: &WebState,
    account: &crate::ids::UserId,
    since: Option<u64>,
    csrf: &str,
    back: &str,
) -> Vec<String> {
    since
        .map_or_else(Vec::new, |v| state.hub.chat_since(account, v))
        .iter()
        .map(|entry| entry_html(entry, csrf, back))
        .collect()
}

#[derive(Deserialize)]
pub struct Since {
    since: Option<u64>,
}

/// The notifications page: newest first, with times; an outage alert's
/// buttons are disabled once that outage is over.
#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage<'a> {
    layout: Layout<'a>,
    version: u64,
    replies: Vec<String>,
    notices: Vec<String>,
}

pub async fn notifications(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(query): Query<Since>,
    SignedIn(session): SignedIn,
) -> Response {
    let account = state.account(&session);
    let replies = replies(
        &state,
        &account,
        query.since,
        &session.csrf,
        "/notifications",
    );
    let live = match state.service.current_outages(&account) {
        Ok(live) => live,
        Err(e) => return internal_error(&headers, &e),
    };
    let now = state.now();
    let snapshot = state.hub.snapshot(&account);
    let notices = snapshot
        .notices
        .iter()
        .map(|entry| {
            EntryHtml {
                entry,
                csrf: &session.csrf,
                back: "/notifications",
                now,
                live_outages: Some(&live),
            }
            .render()
            .unwrap_or_default()
        })
        .collect();
    render::html(&NotificationsPage {
        layout: state.layout(&session, "Notifications", "/notifications"),
        version: snapshot.version,
        replies,
        notices,
    })
}
