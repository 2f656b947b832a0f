//! The deployer website: the same conversation as Telegram in the browser,
//! "My nodes", live notifications, linking Telegram, and the operators'
//! dashboard, the catalog and a page per node. Server-rendered HTML from
//! compile-checked askama templates with a little JavaScript; every form
//! also works without it.
//!
//! Layout:
//! - `hub.rs`: the web channel (feeds per account, live changes);
//! - `session.rs`: signed cookies and CSRF tokens;
//! - `render.rs`: the templates' shared parts (layout, feed entries,
//!   buttons, escaping); the templates are in `templates/`;
//! - `auth.rs`: the landing page, sandbox sign-in, ThreeFold Connect
//!   sign-in (protocol in `tfconnect.rs`), sign-out;
//! - `chat.rs`: the chat page, its inputs, the live event stream and the
//!   notifications page;
//! - `nodes.rs`: "My nodes" and the Telegram link page;
//! - `portal.rs`: the catalog with prices and a page per node (its uptime
//!   bar drawn in `uptime.rs`);
//! - `deploy_form.rs`: the deploy form per node type, its payment step
//!   and progress (questions and checks from the conversation engine);
//! - `dashboard.rs`: the operators' dashboard.
//!
//! Security: a request acts only as the account its signed session cookie
//! names (or the account that sign-in is linked to); every state-changing
//! request is a POST carrying the session's CSRF token (and, when the
//! browser sends one, a same-site `Origin`); responses forbid framing and
//! inline scripts.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::config::WebConfig;
use crate::ids::UserId;
use crate::ops::{HttpListener, HttpServer};
use crate::service::Service;

mod auth;
mod chat;
mod dashboard;
mod deploy_form;
pub mod hub;
mod nodes;
mod portal;
pub mod render;
pub mod session;
pub mod tfconnect;
pub mod uptime;

pub use hub::WebHub;
use render::PageContext;
use serde::de::DeserializeOwned;
use session::{CookieSigner, Expiring, SESSION_COOKIE, Session, csrf_ok};

/// Largest request body accepted (forms are small; chat text is limited to
/// 4096 characters before it reaches the engine).
const MAX_BODY_BYTES: usize = 16 * 1024;
/// The header the site's script sets on background form posts: they get a
/// status and a short text instead of a redirect.
const FETCH_HEADER: &str = "x-jukebox-fetch";

/// A form whose only field is the session's CSRF token.
#[derive(serde::Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The signed-in browser a page is for. Extracting it sends everyone else
/// to the start page; state-changing requests check more, through
/// [`WebState::authorise_post`].
pub(super) struct SignedIn(pub Session);

impl FromRequestParts<Arc<WebState>> for SignedIn {
    type Rejection = Redirect;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<SignedIn, Redirect> {
        state
            .session(&parts.headers)
            .map(SignedIn)
            .ok_or_else(|| Redirect::to("/"))
    }
}

/// Everything the handlers share.
pub struct WebState {
    pub service: Service,
    pub hub: Arc<WebHub>,
    signer: CookieSigner,
    tfconnect: tfconnect::TfConnect,
    config: WebConfig,
    /// The site's own origin, e.g. "http://127.0.0.1:8080".
    base_url: String,
    /// Wrong link codes per sign-in.
    link_attempts: nodes::LinkAttempts,
}

/// A running website.
pub struct WebServer {
    /// The site's own origin, e.g. "http://127.0.0.1:8080".
    pub base_url: String,
    pub http: HttpServer,
}

impl WebServer {
    /// Waits until the listener has stopped.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.http.stopped().await
    }
}

/// Binds `config.listen` (the caller has seen that the website is on) and
/// serves the site until `stop` resolves.
pub async fn serve(
    config: &WebConfig,
    service: Service,
    hub: Arc<WebHub>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<WebServer> {
    let listener = HttpListener::bind(config.listen.as_str(), "the website").await?;
    let addr = listener.addr();
    let base_url = config.base_url(addr);
    let app_key = ed25519_dalek::SigningKey::from_bytes(
        &service.master_key().derive_key("tfconnect app key v1"),
    );
    let signer = CookieSigner::new(service.master_key(), base_url.starts_with("https://"));
    let state = Arc::new(WebState {
        service,
        hub,
        signer,
        tfconnect: tfconnect::TfConnect::new(config.login_config(&base_url), app_key)?,
        config: config.clone(),
        base_url: base_url.clone(),
        link_attempts: Default::default(),
    });
    let http = listener.spawn(router(state), stop);
    tracing::info!(%addr, url = %base_url, "website listening");
    Ok(WebServer { base_url, http })
}

fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(auth::landing))
        .route("/login/sandbox", post(auth::sandbox_login))
        .route("/login/tfconnect", get(auth::tfconnect_begin))
        .route("/logout", post(auth::logout))
        .route("/chat", get(chat::page))
        .route("/chat/send", post(chat::send))
        .route("/chat/press", post(chat::press))
        .route("/events", get(chat::events))
        .route("/notifications", get(chat::notifications))
        .route("/nodes", get(nodes::page))
        .route("/nodes/act", post(nodes::act))
        .route("/node/{name}", get(portal::node))
        .route("/catalog", get(portal::catalog))
        .route(
            "/deploy/{chain}/{node_type}",
            get(deploy_form::page).post(deploy_form::submit),
        )
        .route(
            "/deploy/{chain}/{node_type}/quote",
            post(deploy_form::quote),
        )
        .route("/orders/{id}", get(deploy_form::order))
        .route("/orders/{id}/act", post(deploy_form::order_action))
        .route("/link", get(nodes::link_page).post(nodes::link))
        .route("/link/remove", post(nodes::unlink))
        .route("/admin", get(dashboard::page))
        .route("/admin/maintenance", post(dashboard::maintenance))
        .route("/assets/site.css", get(css))
        .route("/assets/site.js", get(js))
        .route("/assets/deploy.js", get(deploy_js))
        // Browsers ask for /favicon.ico even when a page names its icon.
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(callback_or_not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("web/assets/site.css"),
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("web/assets/favicon.svg"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("web/assets/site.js"),
    )
}

async fn deploy_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("web/assets/deploy.js"),
    )
}

/// The ThreeFold Connect return path is configured (`web.tfconnect.
/// callback_path`), so it is matched here rather than registered as a
/// route: whatever the operator writes can never make the router refuse
/// to start (axum panics on a path that clashes with a page or uses its
/// capture syntax); a path that is also a page is served as that page.
async fn callback_or_not_found(
    State(state): State<Arc<WebState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    query: axum::extract::RawQuery,
) -> Response {
    if method == axum::http::Method::GET && uri.path() == state.config.tfconnect.callback_path {
        auth::tfconnect_callback(State(state), headers, query).await
    } else {
        not_found().await
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        plain_page("Not found", "There is nothing here."),
    )
        .into_response()
}

/// A minimal page for errors, outside any session: a heading, a sentence
/// and a link back to the start.
fn plain_page(title: &str, text: &str) -> Response {
    render::html(&render::MessagePage {
        layout: render::Layout::new(title, &PageContext::signed_out(false), ""),
        heading: title,
        text,
        alert: false,
    })
}

impl WebState {
    fn now(&self) -> u64 {
        self.service.current_time()
    }

    /// The signed-in browser, if any.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        self.signed_cookie(headers, SESSION_COOKIE)
    }

    /// The fresh, intact value of the signed cookie `name`, if the browser
    /// sent one.
    fn signed_cookie<T: DeserializeOwned + Expiring>(
        &self,
        headers: &HeaderMap,
        name: &str,
    ) -> Option<T> {
        self.signer.from_request(headers, name, self.now())
    }

    /// The account a session acts as (itself, or its linked account).
    fn account(&self, session: &Session) -> UserId {
        self.hub.account_of(&session.user)
    }

    fn context<'a>(&self, session: &'a Session) -> PageContext<'a> {
        PageContext {
            name: Some(&session.name),
            csrf: &session.csrf,
            operator: self.service.is_operator(&self.account(session)),
            sandbox: self.service.is_sandbox(),
        }
    }

    /// The layout of a page for a signed-in visitor.
    fn layout<'a>(&self, session: &'a Session, title: &str, active: &str) -> render::Layout<'a> {
        render::Layout::new(title, &self.context(session), active)
    }

    /// Checks a state-changing request: a live session, its CSRF token,
    /// and a same-site Origin when the browser sends one. `Err` is the
    /// answer to send instead.
    #[expect(
        clippy::result_large_err,
        reason = "the refusal is the response itself, sent at once; boxing it would only add an allocation"
    )]
    fn authorise_post(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
        if !self.same_origin(headers) {
            return Err(refuse(
                headers,
                StatusCode::FORBIDDEN,
                "This request came from another site and was refused.",
            ));
        }
        let Some(session) = self.session(headers) else {
            return Err(if is_fetch(headers) {
                (
                    StatusCode::UNAUTHORIZED,
                    "You are signed out. Reload the page and sign in again.",
                )
                    .into_response()
            } else {
                Redirect::to("/").into_response()
            });
        };
        if !csrf_ok(&session.csrf, csrf) {
            return Err(refuse(
                headers,
                StatusCode::FORBIDDEN,
                "This form has expired. Reload the page and try again.",
            ));
        }
        Ok(session)
    }

    fn same_origin(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        if origin == self.base_url {
            return true;
        }
        // Reached by another name for the same listener (localhost for
        // 127.0.0.1): the Origin must match the Host the browser used.
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let scheme = if self.base_url.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        host.is_some_and(|host| origin == format!("{scheme}://{host}"))
    }
}

/// Whether the site's script sent the request in the background.
fn is_fetch(headers: &HeaderMap) -> bool {
    headers.contains_key(FETCH_HEADER)
}

/// A refusal: a short text for background posts, a page otherwise.
fn refuse(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    if is_fetch(headers) {
        (status, message.to_owned()).into_response()
    } else {
        (status, plain_page("That did not work", message)).into_response()
    }
}

/// What a failed service call shows: what happened and what to do.
fn internal_error(headers: &HeaderMap, error: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{error:#}"), "website request failed");
    refuse(
        headers,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side and nothing was changed. Please try again in a minute.",
    )
}
