//! Signing in and out: the landing page, the sandbox sign-in, ThreeFold
//! Connect (redirect out, callback back), and sign-out.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{self, Layout, PageContext};
use super::session::{
    LOGIN_COOKIE, LOGIN_TTL_SECS, PRE_COOKIE, PendingLogin, PreSession, SESSION_COOKIE, Session,
    csrf_ok,
};
use super::{CsrfForm, WebState, refuse};
use crate::crypto::random_alnum;
use crate::ids::UserId;

/// The sign-in forms' token lives this long.
const PRE_TTL_SECS: u64 = 3600;

/// The start page: what Jukebox does and how to sign in, or a welcome
/// back.
#[derive(Template)]
#[template(path = "landing.html")]
struct Landing<'a> {
    layout: Layout<'a>,
    /// The catalog's chains in words ("A, B and C").
    chains: String,
    sandbox_login: bool,
    sandbox_note: &'a str,
    /// The sign-in forms' token (before there is a session).
    pre_csrf: &'a str,
}

pub async fn landing(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    // The chains come from the catalog: nothing outside `dialogues/` names one.
    let chains = listed(
        state
            .service
            .engine()
            .catalog()
            .chains
            .iter()
            .map(|c| c.name.clone()),
    );
    if let Some(session) = state.session(&headers) {
        return render::html(&Landing {
            layout: state.layout(&session, "Jukebox", "/"),
            chains,
            sandbox_login: false,
            sandbox_note: "",
            pre_csrf: "",
        });
    }
    let now = state.now();
    let pre = state
        .signed_cookie::<PreSession>(&headers, PRE_COOKIE)
        .unwrap_or_else(|| PreSession {
            csrf: random_alnum(32),
            expires_at: now + PRE_TTL_SECS,
        });
    let sandbox = state.service.is_sandbox();
    let ctx = PageContext::signed_out(sandbox);
    let page = render::html(&Landing {
        layout: Layout::new("Jukebox", &ctx, "/"),
        chains,
        sandbox_login: state.config.sandbox_login,
        sandbox_note: if sandbox {
            "No password: anyone who types this name is you. For trying Jukebox with the simulated grid and the sandbox wallet only."
        } else {
            "No password: anyone who types this name is you. For trying Jukebox only."
        },
        pre_csrf: &pre.csrf,
    });
    let cookie = state.signer.set_cookie(
        PRE_COOKIE,
        &state.signer.sign(PRE_COOKIE, &pre),
        PRE_TTL_SECS,
    );
    ([(header::SET_COOKIE, cookie)], page).into_response()
}

#[derive(Deserialize)]
pub struct SandboxForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// A sandbox name: 1-24 of letters, digits, `_` and `-`, lower-cased. No
/// dot, so it can never equal a ThreeFold Connect name (`alice.3bot`).
fn sandbox_user(name: &str) -> Option<(UserId, String)> {
    let name = name.trim().to_ascii_lowercase();
    let ok = (1..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    let id = UserId::parse(&format!("web:sandbox-{name}")).ok()?;
    ok.then_some((id, name))
}

pub async fn sandbox_login(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<SandboxForm>,
) -> Response {
    if !state.config.sandbox_login {
        return refuse(
            &headers,
            StatusCode::NOT_FOUND,
            "The sandbox sign-in is off on this Jukebox.",
        );
    }
    let pre = state.signed_cookie::<PreSession>(&headers, PRE_COOKIE);
    if !state.same_origin(&headers) || !pre.is_some_and(|p| csrf_ok(&p.csrf, &form.csrf)) {
        return refuse(
            &headers,
            StatusCode::FORBIDDEN,
            "This sign-in form has expired. Open the start page again and sign in.",
        );
    }
    let Some((user, name)) = sandbox_user(&form.name) else {
        return refuse(
            &headers,
            StatusCode::BAD_REQUEST,
            "A sandbox name is 1 to 24 letters, digits, _ or -. Go back and pick another.",
        );
    };
    tracing::info!(user = %user, "sandbox sign-in on the website");
    start_session(&state, user, format!("{name} (sandbox)"))
}

/// Signs the browser in as `user` and sends it to the chat.
fn start_session(state: &WebState, user: UserId, name: String) -> Response {
    let ttl = state.config.session_hours * 3600;
    let session = Session {
        user,
        name,
        csrf: random_alnum(32),
        expires_at: state.now() + ttl,
    };
    let value = state.signer.sign(SESSION_COOKIE, &session);
    let mut response = Redirect::to("/chat").into_response();
    let headers = response.headers_mut();
    for cookie in [
        state.signer.set_cookie(SESSION_COOKIE, &value, ttl),
        state.signer.clear_cookie(LOGIN_COOKIE),
        state.signer.clear_cookie(PRE_COOKIE),
    ] {
        if let Ok(v) = cookie.parse() {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

pub async fn tfconnect_begin(State(state): State<Arc<WebState>>) -> Response {
    let start = state.tfconnect.begin_at(state.now());
    let pending = PendingLogin {
        state: start.state,
        expires_at: state.now() + LOGIN_TTL_SECS,
    };
    let cookie = state.signer.set_cookie(
        LOGIN_COOKIE,
        &state.signer.sign(LOGIN_COOKIE, &pending),
        LOGIN_TTL_SECS,
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&start.redirect_url),
    )
        .into_response()
}

pub async fn tfconnect_callback(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = state.now();
    let pending = state.signed_cookie::<PendingLogin>(&headers, LOGIN_COOKIE);
    let Some(pending) = pending else {
        return login_failed(
            &state,
            "This sign-in took too long or was started in another browser. Please sign in again.",
        );
    };
    let query = query.unwrap_or_default();
    match state.tfconnect.finish(&query, &pending.state, now).await {
        Ok(user) => {
            let Ok(id) = UserId::parse(&format!("web:{}", user.double_name)) else {
                return login_failed(
                    &state,
                    "Your ThreeFold Connect name cannot be used here. Please contact the operator.",
                );
            };
            tracing::info!(user = %id, "ThreeFold Connect sign-in on the website");
            start_session(&state, id, user.double_name)
        }
        Err(e) => {
            tracing::info!(reason = %e, "ThreeFold Connect sign-in refused");
            login_failed(&state, e.user_message())
        }
    }
}

fn login_failed(state: &WebState, message: &str) -> Response {
    let ctx = PageContext::signed_out(state.service.is_sandbox());
    let page = render::html(&render::MessagePage {
        layout: Layout::new("Sign-in did not work", &ctx, ""),
        heading: "Sign-in did not work",
        text: message,
        alert: true,
    });
    (
        StatusCode::UNAUTHORIZED,
        [(header::SET_COOKIE, state.signer.clear_cookie(LOGIN_COOKIE))],
        page,
    )
        .into_response()
}

pub async fn logout(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    state.authorise_post(&headers, &form.csrf)?;
    Ok((
        [(
            header::SET_COOKIE,
            state.signer.clear_cookie(SESSION_COOKIE),
        )],
        Redirect::to("/"),
    )
        .into_response())
}

/// "A", "A and B", "A, B and C": a list in words, for the landing page.
fn listed(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => "blockchain".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_names_are_checked_and_never_look_like_tfconnect_names() {
        let (id, name) = sandbox_user(" Alice_1 ").unwrap();
        assert_eq!(id.as_str(), "web:sandbox-alice_1");
        assert_eq!(name, "alice_1");
        for bad in ["", "alice.3bot", "a b", "x".repeat(25).as_str(), "<b>", "ä"] {
            assert!(sandbox_user(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_landing_page_lists_the_catalog_in_words() {
        let names = |n: &[&str]| listed(n.iter().map(|s| (*s).to_owned()));
        assert_eq!(names(&["A", "B", "C", "D"]), "A, B, C and D");
        assert_eq!(names(&["A", "B"]), "A and B");
        assert_eq!(names(&["A"]), "A");
        assert_eq!(names(&[]), "blockchain");
    }
}
