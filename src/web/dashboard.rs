//! The operators' dashboard: stats, a user, nodes, the alert outbox and the
//! maintenance switch, as tables with status colours, from the same
//! reports as `/stats`, `/user` and `/nodes` (`service::Dashboard`). Only for `admin.operators` (a web sign-in listed
//! there, or one linked to a listed Telegram account); everyone else gets
//! "not found", as in chat, where the commands do not exist for them.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use askama::Template;

use super::render::{self, Layout, NoticeKind};
use super::{SignedIn, WebState, internal_error, not_found};
use crate::alerts::Priority;
use crate::lifecycle::utc_datetime;
use crate::service::{Dashboard, UserPanel};

/// Alerts listed in the outbox panel.
const OUTBOX_SHOWN: usize = 20;

#[derive(Deserialize)]
pub struct DashboardQuery {
    user: Option<String>,
    nodes: Option<String>,
}

/// The colour class of a node state's key (`NodeState::key`, as the
/// reports count and filter by), as `StateLook` colours the words.
pub(super) fn state_key_class(key: &str) -> &'static str {
    match key {
        "running" => "state-ok",
        "failed" => "state-down",
        "pending" | "deploying" => "state-busy",
        "paused" => "state-warn",
        _ => "state-off",
    }
}

/// One alert waiting in the outbox.
struct PendingRow {
    raised: String,
    priority: String,
    /// The notice colour of its priority.
    class: &'static str,
    user: String,
    first_line: String,
}

/// One audit event of the user shown.
struct EventRow {
    at: String,
    actor: String,
    kind: String,
    node: String,
    detail: String,
}

/// The operators' dashboard.
#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    layout: Layout<'a>,
    d: Dashboard,
    sent: u64,
    remembered: usize,
    pending: Vec<PendingRow>,
    events: Vec<EventRow>,
    user_query: &'a str,
    nodes_query: &'a str,
}

impl DashboardPage<'_> {
    fn state_class(&self, key: &str) -> &'static str {
        state_key_class(key)
    }
}

pub async fn page(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(query): Query<DashboardQuery>,
    SignedIn(session): SignedIn,
) -> Response {
    let operator = state.account(&session);
    let service = &state.service;
    let d = match service
        .operator_dashboard(&operator, query.user.as_deref(), query.nodes.as_deref())
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return not_found().await,
        Err(e) => return internal_error(&headers, &e),
    };
    let alerts = service.alerts().stats();
    let pending = service
        .alerts()
        .pending(OUTBOX_SHOWN)
        .iter()
        .map(|alert| PendingRow {
            raised: utc_datetime(alert.raised_at),
            priority: format!("{:?}", alert.priority),
            class: match alert.priority {
                Priority::Outage => NoticeKind::Outage.class(),
                Priority::Recovery => NoticeKind::Recovery.class(),
                Priority::Notice | Priority::Reminder => NoticeKind::Info.class(),
            },
            user: alert.user.as_str().to_owned(),
            first_line: alert
                .message
                .text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect(),
        })
        .collect();
    let events = match &d.user {
        Some(UserPanel::Found { events, .. }) => events
            .iter()
            .map(|e| EventRow {
                at: utc_datetime(e.at),
                actor: e.actor.clone(),
                kind: e.kind.clone(),
                node: e.node.clone().unwrap_or_default(),
                detail: e.detail.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    render::html(&DashboardPage {
        layout: state.layout(&session, "Operators", "/admin"),
        d,
        sent: alerts.sent,
        remembered: alerts.remembered,
        pending,
        events,
        user_query: query.user.as_deref().unwrap_or(""),
        nodes_query: query.nodes.as_deref().unwrap_or(""),
    })
}

#[derive(Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    switch: String,
    #[serde(default)]
    message: String,
}

pub async fn maintenance(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(form): Form<MaintenanceForm>,
) -> Result<Response, Response> {
    let session = state.authorise_post(&headers, &form.csrf)?;
    let message = match crate::validate::clean_input(&form.message) {
        Ok(m) => m.chars().take(300).collect::<String>(),
        Err(e) => {
            return Err(super::refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
            ));
        }
    };
    let arg = match form.switch.as_str() {
        "on" if message.is_empty() => "on".to_owned(),
        "on" => format!("on {message}"),
        "off" => "off".to_owned(),
        _ => {
            return Err(super::refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                "Choose on or off.",
            ));
        }
    };
    let operator = state.account(&session);
    match state.service.switch_maintenance(&operator, &arg).await {
        Ok(Some(_)) => Ok(Redirect::to("/admin").into_response()),
        Ok(None) => Err(not_found().await),
        Err(e) => Err(internal_error(&headers, &e)),
    }
}
