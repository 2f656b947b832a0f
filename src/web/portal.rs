//! The portal pages: the catalog (every node type with its monthly price,
//! from the bot's own price list) and a page per node (state, addresses,
//! cost, uptime, its chain's sync and client, alerts, actions). Both are plain server-rendered HTML that
//! work without JavaScript; the script only adds copy buttons.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::render::{self, Layout, NoticeKind, PageContext, filters};
use super::{SignedIn, WebState, internal_error, refuse};
use crate::catalog::Ipv4Policy;
use crate::lifecycle::{human_duration, utc_datetime};
use crate::service::NodeDetails;

/// Alerts listed on a node page.
const NODE_ALERTS_SHOWN: usize = 20;

/// One chain of the catalog page.
struct ChainCards {
    id: String,
    name: String,
    description: String,
    cards: Vec<Card>,
}

/// One node type's card.
struct Card {
    id: String,
    name: String,
    description: String,
    resources: String,
    /// "required", "optional" or "not offered".
    ipv4: &'static str,
    per_month: String,
    per_month_usd: String,
    /// (TFT, USD) per month with the optional IPv4.
    with_ipv4: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage<'a> {
    layout: Layout<'a>,
    signed_in: bool,
    tft_price_usd: String,
    chains: Vec<ChainCards>,
}

/// The catalog, for everyone: visitors see prices before they sign in.
pub async fn catalog(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    let session = state.session(&headers);
    let signed_out = PageContext::signed_out(state.service.is_sandbox());
    let layout = match &session {
        Some(session) => state.layout(session, "Catalog", "/catalog"),
        None => Layout::new("Catalog", &signed_out, "/catalog"),
    };
    let service = &state.service;
    let mut chains: Vec<ChainCards> = Vec::new();
    let mut tft_price_usd = String::new();
    for entry in service.catalog_entries() {
        let (per_month_usd, price) = service.usd(entry.per_month);
        tft_price_usd = price;
        let card = Card {
            id: entry.node_type_id,
            name: entry.node_type,
            description: entry.description,
            resources: entry.resources,
            ipv4: match entry.ipv4 {
                Ipv4Policy::Required => "required (included in the price)",
                Ipv4Policy::Optional => "optional",
                Ipv4Policy::None => "not needed",
            },
            per_month: entry.per_month.to_string(),
            per_month_usd,
            with_ipv4: entry
                .per_month_with_ipv4
                .map(|tft| (tft.to_string(), service.usd(tft).0)),
        };
        match chains.last_mut() {
            Some(chain) if chain.id == entry.chain_id => chain.cards.push(card),
            _ => chains.push(ChainCards {
                id: entry.chain_id,
                name: entry.chain,
                description: entry.chain_description,
                cards: vec![card],
            }),
        }
    }
    render::html(&CatalogPage {
        layout,
        signed_in: session.is_some(),
        tft_price_usd,
        chains,
    })
}

/// One recorded alert of a node.
struct AlertRow {
    kind: NoticeKind,
    relative: String,
    absolute: String,
    iso: String,
    text: String,
}

#[derive(Template)]
#[template(path = "node.html")]
struct NodePage<'a> {
    layout: Layout<'a>,
    node: NodeDetails,
    /// Where the action forms come back to.
    back: String,
    replies: Option<Vec<String>>,
    down_since: String,
    per_month_usd: String,
    created: String,
    /// The uptime bar's SVG (`uptime.svg.html`).
    uptime: String,
    alerts: Vec<AlertRow>,
}

#[derive(Deserialize)]
pub struct Since {
    since: Option<u64>,
}

/// A node's page, for its owner only: anyone else (and a name that is no
/// node of theirs) gets "not found", as `/status` in chat says.
pub async fn node(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<Since>,
    SignedIn(session): SignedIn,
) -> Response {
    let account = state.account(&session);
    let node = match state.service.node_details(&account, &name) {
        Ok(Some(node)) => node,
        Ok(None) => {
            return refuse(
                &headers,
                StatusCode::NOT_FOUND,
                "You have no node by that name. My nodes lists yours.",
            );
        }
        Err(e) => return internal_error(&headers, &e),
    };
    let now = state.now();
    let back = format!("/node/{}", node.name);
    let replies = query
        .since
        .is_some()
        .then(|| super::chat::replies(&state, &account, query.since, &session.csrf, &back));
    let uptime = super::uptime::bar(
        &node.events,
        node.outage.as_ref().map(|o| o.since),
        node.created_at,
        now,
    )
    .render()
    .unwrap_or_default();
    let alerts = node
        .events
        .iter()
        .filter_map(|e| {
            let (kind, text) = match e.kind.as_str() {
                "node.down" => (NoticeKind::Outage, format!("Down: {}", e.detail)),
                "node.up" => (
                    NoticeKind::Recovery,
                    e.detail
                        .strip_prefix("back after ")
                        .and_then(|s| s.strip_suffix(" s"))
                        .and_then(|s| s.parse::<u64>().ok())
                        .map(|secs| format!("Back up after {}", human_duration(secs)))
                        .unwrap_or_else(|| "Back up".to_owned()),
                ),
                // Chain alerts are recorded with the words they were sent
                // in, which start with their kind's mark (⚠️ or ✅).
                "node.chain" => (NoticeKind::of(&e.detail), e.detail.clone()),
                _ => return None,
            };
            Some(AlertRow {
                kind,
                relative: render::ago(e.at, now),
                absolute: utc_datetime(e.at),
                iso: render::iso_datetime(e.at),
                text,
            })
        })
        .take(NODE_ALERTS_SHOWN)
        .collect();
    let page = NodePage {
        layout: state.layout(&session, &node.name, "/nodes"),
        down_since: node
            .outage
            .as_ref()
            .map(|o| format!("down for {}", human_duration(now.saturating_sub(o.since))))
            .unwrap_or_default(),
        per_month_usd: state.service.usd(node.price_per_month).0,
        created: utc_datetime(node.created_at),
        uptime,
        alerts,
        replies,
        back,
        node,
    };
    render::html(&page).into_response()
}
