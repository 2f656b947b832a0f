//! "My nodes" (list, status, delete, redeploy, top-up, balance) and the
//! page that links a Telegram account with a one-time code.
//!
//! Actions run the very same commands as the chat (`/status NAME`,
//! `/delete NAME`, ...) as the session's own account, so ownership checks,
//! confirmations and payment requests are the conversation's; the replies
//! are shown right on the page.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::chat::deliver;
use askama::Template;

use super::render::{self, Layout, filters};
use super::{CsrfForm, SignedIn, WebState, internal_error, refuse};
use crate::dialogue::Input;
use crate::ids::UserId;
use crate::lifecycle::human_duration;
use crate::service::{Overview, Service};

/// Failed link codes allowed per sign-in in one window.
const LINK_ATTEMPTS: u32 = 5;
const LINK_WINDOW_SECS: u64 = 600;

/// Wrong link codes per sign-in: (window start, count).
///
/// An attempt is counted before its code is tried, so posts sent at once
/// cannot all pass the check while the first is still being tried; one that
/// turns out not to be a wrong code is given back afterwards. A request that
/// is dropped half-way keeps its count: its code may have been tried.
#[derive(Default)]
pub(super) struct LinkAttempts(Mutex<HashMap<UserId, (u64, u32)>>);

impl LinkAttempts {
    /// Counts one attempt by `user` at `now` and returns its window's start,
    /// or `None` when the window's attempts are used up.
    fn take(&self, user: &UserId, now: u64) -> Option<u64> {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        attempts.retain(|_, (start, _)| now < *start + LINK_WINDOW_SECS);
        let (start, count) = attempts.entry(user.clone()).or_insert((now, 0));
        if *count >= LINK_ATTEMPTS {
            return None;
        }
        *count += 1;
        Some(*start)
    }

    /// Gives back an attempt counted in the window that started at `window`
    /// (a sign-in without wrong codes has no window left).
    fn give_back(&self, user: &UserId, window: u64) {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Entry::Occupied(mut entry) = attempts.entry(user.clone())
            && entry.get().0 == window
        {
            let count = &mut entry.get_mut().1;
            *count = count.saturating_sub(1);
            if *count == 0 {
                entry.remove();
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Since {
    since: Option<u64>,
}

/// "My nodes".
#[derive(Template)]
#[template(path = "nodes.html")]
struct NodesPage<'a> {
    layout: Layout<'a>,
    /// The replies to the action just taken here, if any.
    replies: Option<Vec<String>>,
    overview: Overview,
}

pub async fn page(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(query): Query<Since>,
    SignedIn(session): SignedIn,
) -> Response {
    let account = state.account(&session);
    let overview = match state.service.overview(&account) {
        Ok(o) => o,
        Err(e) => return internal_error(&headers, &e),
    };
    let replies = query
        .since
        .is_some()
        .then(|| super::chat::replies(&state, &account, query.since, &session.csrf, "/nodes"));
    render::html(&NodesPage {
        layout: state.layout(&session, "My nodes", "/nodes"),
        replies,
        overview,
    })
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    arg: String,
    /// The page to return to ("/nodes" when none is named).
    #[serde(default)]
    back: String,
}

/// A node name as the site accepts it in forms and paths: 1-64 letters,
/// digits and `-` (the names Jukebox gives).
pub(super) fn node_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub async fn act(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<ActForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    let node_ok = node_name_ok(&form.node);
    let (name, arg) = match form.action.as_str() {
        "status" | "redeploy" | "delete" if node_ok => (form.action.as_str(), Some(form.node)),
        // The periods of /deploy and /topup: one length each (a month is
        // the grid's 730-hour billing month everywhere).
        "topup" if matches!(form.arg.as_str(), "1w" | "1m" | "3m") => ("topup", Some(form.arg)),
        "balance" => ("balance", None),
        _ => {
            return Err(refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                "That action is not valid. Reload My nodes and try again.",
            ));
        }
    };
    let input = Input::Command {
        name: name.to_owned(),
        arg,
    };
    let back = match super::chat::back_page(&form.back) {
        "/chat" => "/nodes",
        page => page,
    };
    Ok(deliver(&state, &session, &headers, input, back).await)
}

pub async fn link_page(
    State(state): State<Arc<WebState>>,
    SignedIn(session): SignedIn,
) -> Response {
    link_view(&state, &session, None)
}

/// The page that links a Telegram or terminal account.
#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage<'a> {
    layout: Layout<'a>,
    /// "Telegram" or "terminal chat" once linked.
    linked_channel: Option<&'static str>,
    /// The linked account, shortened (`tg:…42`).
    hint: String,
    /// What the last post did, and whether it worked.
    message: Option<(&'a str, bool)>,
    /// How long a code works, in words.
    ttl: String,
}

fn link_view(
    state: &WebState,
    session: &super::session::Session,
    message: Option<(&str, bool)>,
) -> Response {
    let account = state.account(session);
    let linked = account != session.user;
    render::html(&LinkPage {
        layout: state.layout(session, "Link", "/link"),
        linked_channel: linked.then(|| channel_name(&account)),
        hint: account_hint(&account),
        message,
        ttl: human_duration(Service::LINK_CODE_TTL_SECS),
    })
}

/// The channel an account id belongs to, in words.
fn channel_name(account: &crate::ids::UserId) -> &'static str {
    match account.as_str().split_once(':').map(|(channel, _)| channel) {
        Some("tg") => "Telegram",
        Some("term") => "terminal chat",
        _ => "other",
    }
}

/// Enough of an account id to recognise it on a shared screen: its
/// channel and last two characters.
fn account_hint(account: &crate::ids::UserId) -> String {
    let (channel, id) = account
        .as_str()
        .split_once(':')
        .unwrap_or(("", account.as_str()));
    let tail: String = id
        .chars()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{channel}:…{tail}")
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn link(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    let Some(window) = state.link_attempts.take(&session.user, state.now()) else {
        return Ok(link_view(
            &state,
            &session,
            Some((
                "Too many wrong codes. Wait 10 minutes, then ask the bot for a new code with /link.",
                false,
            )),
        ));
    };
    let view = match state
        .service
        .redeem_link_code(&session.user, &form.code)
        .await
    {
        Ok(account) => {
            state.link_attempts.give_back(&session.user, window);
            state.hub.set_link(&session.user, Some(account));
            link_view(
                &state,
                &session,
                Some((
                    "Linked. The chat, My nodes and notifications now show your Telegram account.",
                    true,
                )),
            )
        }
        Err(e) => {
            if !matches!(
                e,
                crate::service::LinkError::Unknown | crate::service::LinkError::Expired
            ) {
                state.link_attempts.give_back(&session.user, window);
            }
            if let crate::service::LinkError::Internal(inner) = &e {
                tracing::error!(error = %format!("{inner:#}"), "linking failed");
            }
            link_view(&state, &session, Some((&e.to_string(), false)))
        }
    };
    Ok(view)
}

pub async fn unlink(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    match state.service.unlink(&session.user).await {
        Ok(_) => {
            state.hub.set_link(&session.user, None);
            Ok(link_view(
                &state,
                &session,
                Some(("Unlinked. This sign-in shows its own nodes again.", true)),
            ))
        }
        Err(e) => Err(internal_error(&headers, &e)),
    }
}
