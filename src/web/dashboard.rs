//! The operators' dashboard: stats, a user, nodes, the alert outbox and the
//! maintenance switch. Only for `admin.operators` (a web sign-in listed
//! there, or one linked to a listed Telegram account); everyone else gets
//! "not found", as in chat, where the commands do not exist for them.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use askama::Template;

use super::render::{self, Layout};
use super::{SignedIn, WebState, internal_error, not_found};
use crate::lifecycle::utc_datetime;

/// Alerts listed in the outbox panel.
const OUTBOX_SHOWN: usize = 20;

#[derive(Deserialize)]
pub struct DashboardQuery {
    user: Option<String>,
    nodes: Option<String>,
}

/// The operators' dashboard.
#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    layout: Layout<'a>,
    stats: String,
    maintenance: Option<String>,
    queued: usize,
    sent: u64,
    remembered: usize,
    /// The outbox: (raised, priority, user, first line of the message).
    pending: Vec<(String, String, String, String)>,
    user_query: &'a str,
    user_report: Option<String>,
    nodes_query: &'a str,
    nodes_report: Option<String>,
}

pub async fn page(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(query): Query<DashboardQuery>,
    SignedIn(session): SignedIn,
) -> Response {
    let operator = state.account(&session);
    let service = &state.service;
    let stats = match service.operator_report(&operator, "stats", None).await {
        Ok(Some(text)) => text,
        Ok(None) => return not_found().await,
        Err(e) => return internal_error(&headers, &e),
    };
    let alerts = service.alerts().stats();
    let pending = service
        .alerts()
        .pending(OUTBOX_SHOWN)
        .iter()
        .map(|alert| {
            let first_line: String = alert
                .message
                .text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect();
            (
                utc_datetime(alert.raised_at),
                format!("{:?}", alert.priority),
                alert.user.as_str().to_owned(),
                first_line,
            )
        })
        .collect();
    let mut user_report = None;
    if let Some(user) = query.user.as_deref().filter(|u| !u.trim().is_empty()) {
        match service.operator_report(&operator, "user", Some(user)).await {
            Ok(report) => user_report = report,
            Err(e) => return internal_error(&headers, &e),
        }
    }
    let mut nodes_report = None;
    if let Some(filter) = &query.nodes {
        match service
            .operator_report(&operator, "nodes", Some(filter))
            .await
        {
            Ok(report) => nodes_report = report,
            Err(e) => return internal_error(&headers, &e),
        }
    }
    render::html(&DashboardPage {
        layout: state.layout(&session, "Operators", "/admin"),
        stats,
        maintenance: service.maintenance(),
        queued: alerts.queued,
        sent: alerts.sent,
        remembered: alerts.remembered,
        pending,
        user_query: query.user.as_deref().unwrap_or(""),
        user_report,
        nodes_query: query.nodes.as_deref().unwrap_or(""),
        nodes_report,
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
