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
use super::render::{csrf_field, escape};
use super::{CsrfForm, SignedIn, WebState, internal_error, refuse};
use crate::dialogue::Input;
use crate::ids::UserId;
use crate::lifecycle::human_duration;
use crate::service::Service;

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
    let csrf = csrf_field(&session.csrf);
    let mut body = String::from("<h1>My nodes</h1>");
    if query.since.is_some() {
        body.push_str(&super::chat::replies_section(
            &state,
            &account,
            query.since,
            &session.csrf,
            "/nodes",
        ));
    }
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"money\"><h2 id=\"money\">Balance: {}</h2><p>{}</p>\
         <form method=\"post\" action=\"/nodes/act\">{csrf}<input type=\"hidden\" name=\"action\" value=\"topup\">\
         <label for=\"topup\">Top up: fund all your nodes for</label><select id=\"topup\" name=\"arg\">\
         <option value=\"1w\">1 week</option><option value=\"1m\" selected>1 month</option>\
         <option value=\"3m\">3 months</option></select>\
         <p><button type=\"submit\">Get a payment QR</button></p></form></section>",
        escape(&overview.balance.to_string()),
        super::render::text_html(&overview.runway)
    ));
    if overview.nodes.is_empty() {
        body.push_str("<p>You have no nodes yet. <a href=\"/chat\">Open the chat</a> and send /deploy to run one.</p>");
    } else {
        body.push_str(
            "<table><caption class=\"muted\">Your nodes</caption><thead><tr><th scope=\"col\">Node</th>\
             <th scope=\"col\">State</th><th scope=\"col\" class=\"wide\">Where</th>\
             <th scope=\"col\" class=\"wide\">Cost</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
        );
        for node in &overview.nodes {
            let down = node
                .down
                .as_ref()
                .map(|d| format!(" <span class=\"badge\">{}</span>", escape(d)))
                .unwrap_or_default();
            let chain = node
                .chain
                .as_ref()
                .map(|c| chain_cell(&node.name, c))
                .unwrap_or_default();
            let address = node
                .address
                .as_ref()
                .map(|a| format!("<br><code>{}</code>", escape(a)))
                .unwrap_or_default();
            let mut actions = String::from("<div class=\"actions\">");
            let mut button = |action: &str, label: &str, class: &str| {
                actions.push_str(&format!(
                    "<form method=\"post\" action=\"/nodes/act\">{csrf}\
                     <input type=\"hidden\" name=\"action\" value=\"{action}\">\
                     <input type=\"hidden\" name=\"node\" value=\"{}\">\
                     <button type=\"submit\" class=\"{class}\" aria-label=\"{label} {}\">{label}</button></form>",
                    escape(&node.name),
                    escape(&node.name)
                ));
            };
            button("status", "Status", "secondary");
            if node.running {
                button("redeploy", "Redeploy", "secondary");
            }
            button("delete", "Delete", "danger");
            actions.push_str("</div>");
            body.push_str(&format!(
                "<tr><td><strong>{}</strong><br><span class=\"muted\">{}</span></td><td>{}{down}{chain}</td>\
                 <td class=\"wide\">{}{address}</td><td class=\"wide\">{} / day</td><td>{actions}</td></tr>",
                escape(&node.name),
                escape(&node.kind),
                escape(node.state),
                escape(&node.location),
                escape(&node.price_per_day.to_string()),
            ));
        }
        body.push_str("</tbody></table>");
    }
    state.page(&session, "My nodes", "/nodes", &body)
}

/// A node's chain in its row: a real `<progress>` while it syncs (read by
/// screen readers through its label, shown without JavaScript), the
/// summary, a badge for a confirmed problem and the client line.
fn chain_cell(name: &str, chain: &crate::user::chain_text::WebChain) -> String {
    let mut cell = String::from("<div class=\"chain\">");
    if let Some(permille) = chain.progress_permille {
        let percent = format!("{}.{}%", permille / 10, permille % 10);
        cell.push_str(&format!(
            "<progress max=\"1000\" value=\"{permille}\" aria-label=\"Chain sync of {}: {percent}\">{percent}</progress>",
            escape(name)
        ));
    }
    cell.push_str(&format!(
        "<span class=\"muted\">{}</span>",
        escape(&chain.summary)
    ));
    if let Some(problem) = &chain.problem {
        cell.push_str(&format!(
            " <span class=\"badge\">{}</span>",
            escape(problem)
        ));
    }
    cell.push_str(&format!(
        "<br><span class=\"muted\">{}</span></div>",
        escape(&chain.client)
    ));
    cell
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
}

pub async fn act(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<ActForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    let node_ok = !form.node.is_empty()
        && form.node.len() <= 64
        && form
            .node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
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
    Ok(deliver(&state, &session, &headers, input, "/nodes").await)
}

pub async fn link_page(
    State(state): State<Arc<WebState>>,
    SignedIn(session): SignedIn,
) -> Response {
    link_view(&state, &session, None)
}

fn link_view(
    state: &WebState,
    session: &super::session::Session,
    message: Option<(&str, bool)>,
) -> Response {
    let account = state.account(session);
    let csrf = csrf_field(&session.csrf);
    let linked = account != session.user;
    let mut body = if linked {
        format!("<h1>Linked to {}</h1>", channel_name(&account))
    } else {
        String::from("<h1>Link Telegram or the terminal chat</h1>")
    };
    if let Some((text, ok)) = message {
        let class = if ok { "card" } else { "error" };
        body.push_str(&format!(
            "<p class=\"{class}\" role=\"alert\">{}</p>",
            escape(text)
        ));
    }
    if linked {
        let channel = channel_name(&account);
        body.push_str(&format!(
            "<p>This sign-in is linked to the {channel} account <code>{}</code>: the chat, My nodes and \
             notifications here are the same as in {channel}.</p>\
             <form method=\"post\" action=\"/link/remove\">{csrf}<button type=\"submit\" class=\"secondary\">Unlink</button></form>",
            escape(&account_hint(&account))
        ));
    } else {
        body.push_str(&format!(
            "<p>Already use Jukebox in Telegram or in the terminal chat? Link it to see the same nodes and balance here.</p>\
             <ol><li>Send <code>/link</code> to Jukebox there (the Telegram bot, or <code>jukebox chat</code>).</li>\
             <li>Type the code it answers below (it works once, for {}).</li></ol>\
             <form method=\"post\" action=\"/link\">{csrf}<label for=\"code\">Link code</label>\
             <input type=\"text\" id=\"code\" name=\"code\" required maxlength=\"16\" autocomplete=\"one-time-code\" \
             placeholder=\"ABCD-EFGH\"><p><button type=\"submit\">Link</button></p></form>",
            human_duration(Service::LINK_CODE_TTL_SECS)
        ));
    }
    state.page(session, "Link", "/link", &body)
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
