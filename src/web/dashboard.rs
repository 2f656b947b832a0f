//! The operators' dashboard: stats, a user, nodes, the alert outbox and the
//! maintenance switch. Only for `admin.operators` (a web sign-in listed
//! there, or one linked to a listed Telegram account); everyone else gets
//! "not found", as in chat, where the commands do not exist for them.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{csrf_field, escape};
use super::{SignedIn, WebState, internal_error, not_found};
use crate::lifecycle::utc_datetime;

/// Alerts listed in the outbox panel.
const OUTBOX_SHOWN: usize = 20;

#[derive(Deserialize)]
pub struct DashboardQuery {
    user: Option<String>,
    nodes: Option<String>,
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
    let csrf = csrf_field(&session.csrf);
    let mut body = format!(
        "<h1>Operators</h1><h2>Stats</h2><pre>{}</pre>",
        escape(&stats)
    );

    let maintenance = service.maintenance();
    body.push_str(&format!(
        "<h2>Maintenance</h2><p>{}</p><form method=\"post\" action=\"/admin/maintenance\">{csrf}\
         <label for=\"message\">Message to users (optional)</label>\
         <input type=\"text\" id=\"message\" name=\"message\" maxlength=\"300\">\
         <p><button type=\"submit\" name=\"switch\" value=\"on\" class=\"danger\">Pause new deployments</button> \
         <button type=\"submit\" name=\"switch\" value=\"off\" class=\"secondary\">Resume deployments</button></p></form>",
        match &maintenance {
            Some(m) => format!("<strong>ON</strong>: {}", escape(m)),
            None => "Off: users can deploy.".into(),
        }
    ));

    let alerts = service.alerts().stats();
    let pending = service.alerts().pending(OUTBOX_SHOWN);
    body.push_str(&format!(
        "<h2>Outbox</h2><p>{} alert(s) waiting, {} sent since start, {} remembered for de-duplication.</p>",
        alerts.queued, alerts.sent, alerts.remembered
    ));
    if !pending.is_empty() {
        body.push_str("<table><thead><tr><th scope=\"col\">Raised</th><th scope=\"col\">Priority</th><th scope=\"col\">User</th><th scope=\"col\">Message</th></tr></thead><tbody>");
        for alert in &pending {
            let first_line: String = alert
                .message
                .text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect();
            body.push_str(&format!(
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                escape(&utc_datetime(alert.raised_at)),
                alert.priority,
                escape(alert.user.as_str()),
                escape(&first_line)
            ));
        }
        body.push_str("</tbody></table>");
    }

    body.push_str(&format!(
        "<h2>Users</h2><form method=\"get\" action=\"/admin\"><label for=\"user\">User id, Telegram id or @name</label>\
         <input type=\"text\" id=\"user\" name=\"user\" maxlength=\"80\" value=\"{}\"><p><button type=\"submit\">Show</button></p></form>",
        escape(query.user.as_deref().unwrap_or(""))
    ));
    if let Some(user) = query.user.as_deref().filter(|u| !u.trim().is_empty()) {
        match service.operator_report(&operator, "user", Some(user)).await {
            Ok(Some(text)) => body.push_str(&format!("<pre>{}</pre>", escape(&text))),
            Ok(None) => {}
            Err(e) => return internal_error(&headers, &e),
        }
    }
    body.push_str(&format!(
        "<h2>Nodes</h2><form method=\"get\" action=\"/admin\"><label for=\"nodes\">Filter: a state, a chain, part of a name, or down</label>\
         <input type=\"text\" id=\"nodes\" name=\"nodes\" maxlength=\"40\" value=\"{}\"><p><button type=\"submit\">List</button></p></form>",
        escape(query.nodes.as_deref().unwrap_or(""))
    ));
    if let Some(filter) = &query.nodes {
        match service
            .operator_report(&operator, "nodes", Some(filter))
            .await
        {
            Ok(Some(text)) => body.push_str(&format!("<pre>{}</pre>", escape(&text))),
            Ok(None) => {}
            Err(e) => return internal_error(&headers, &e),
        }
    }
    state.page(&session, "Operators", "/admin", &body)
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
