//! The deploy form (`/deploy/<chain>/<type>`): the chat's /deploy questions
//! for one node type on one page, a price and funded-until summary, then
//! the payment step and the deployment's progress (`/orders/<id>`).
//!
//! The page only shows and posts: its fields are the deploy script's
//! questions and its answers are checked by the conversation engine
//! (`Service::deploy_form`, over `Engine::deploy_form` and
//! `Engine::check_form`); the order is placed by the chat's own order code
//! (`Service::place_form_order`), and the payment page's buttons are the
//! chat's payment buttons, handed to the service as if pressed in the
//! chat. Without JavaScript everything is a plain form post; with it,
//! `deploy.js` fetches the summary as answers change and polls the
//! progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;

use super::render::{self, Layout, StateLook, filters};
use super::{SignedIn, WebState, internal_error, is_fetch, refuse};
use crate::command::{Command, OrderAction, RecordKey};
use crate::dialogue::{Choice, FieldKind, FormCheck, FormQuote};
use crate::lifecycle::utc_datetime;
use crate::service::{DeployFormView, FormKey, Placed};
use crate::user::OrderState;

/// Form fields that are not answers.
const CONTROL_FIELDS: [&str; 4] = ["csrf", "key", "intent", "quote"];

/// One field as the page shows it.
struct FieldView {
    /// The answer key, the input's name.
    name: String,
    /// The element id (`f-<name>` with `.` as `-`).
    id: String,
    label: String,
    hint: String,
    /// "count", "select", "text" or "multiline".
    kind: &'static str,
    max: u32,
    choices: Vec<Choice>,
    value: String,
    optional: bool,
    error: Option<String>,
    /// `(answer, value)`: shown only after that answer (with the script).
    after: Option<(String, String)>,
}

/// The summary part of the page, also sent alone to the script.
#[derive(Template)]
#[template(path = "deploy_quote.html")]
struct QuoteHtml<'a> {
    quote: Option<&'a FormQuote>,
    /// The quote's price in USD, when there is a quote.
    usd: String,
    /// What stands in for the price while it cannot be given.
    waiting: String,
}

#[derive(Template)]
#[template(path = "deploy_form.html")]
struct FormPage<'a> {
    layout: Layout<'a>,
    action: String,
    chain: String,
    chain_name: String,
    type_name: String,
    description: String,
    key: String,
    fields: Vec<FieldView>,
    on_request: Vec<FieldView>,
    /// A sentence at the top: the order was not placed, and why.
    notice: Option<String>,
    quote: String,
}

/// The form for a node type, empty (the count at 1).
pub async fn page(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path((chain, node_type)): Path<(String, String)>,
    SignedIn(session): SignedIn,
) -> Response {
    let mut answers = BTreeMap::from([("count".to_owned(), "1".to_owned())]);
    let account = state.account(&session);
    let service = &state.service;
    // The form as a browser would send it untouched: each list at its
    // first choice (the pickers asked only after another answer aside).
    let first = match service
        .deploy_form(&account, &chain, &node_type, &answers)
        .await
    {
        Ok(Some(view)) => view,
        Ok(None) => return no_such_type(&headers),
        Err(e) => return internal_error(&headers, &e),
    };
    for field in &first.fields {
        if let (FieldKind::Select, None, false, Some(choice)) = (
            &field.kind,
            &field.after,
            field.on_request,
            field.choices.first(),
        ) {
            answers
                .entry(field.name.clone())
                .or_insert_with(|| choice.value.clone());
        }
    }
    match service
        .deploy_form(&account, &chain, &node_type, &answers)
        .await
    {
        Ok(Some(view)) => form_page(
            &state,
            &session,
            &chain,
            &node_type,
            &answers,
            view,
            &FormKey::random(),
            false,
            None,
        ),
        Ok(None) => no_such_type(&headers),
        Err(e) => internal_error(&headers, &e),
    }
}

/// "Check price" and "Place order": plain posts of the whole form.
pub async fn submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path((chain, node_type)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match state.authorise_post(&headers, control(&pairs, "csrf")) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let account = state.account(&session);
    let answers = answers_of(&pairs);
    let parsed_key = FormKey::parse(control(&pairs, "key"));
    let key = parsed_key.clone().unwrap_or_else(FormKey::random);
    if control(&pairs, "intent") == "place" && parsed_key.is_none() {
        // Without its key a repeated post could not be told from a new
        // order: the person is shown the form again, with a fresh key.
        return match state
            .service
            .deploy_form(&account, &chain, &node_type, &answers)
            .await
        {
            Ok(Some(view)) => form_page(
                &state,
                &session,
                &chain,
                &node_type,
                &answers,
                view,
                &key,
                true,
                Some("This form has expired, so the order was not placed. Check the answers and press Place order again.".to_owned()),
            ),
            Ok(None) => no_such_type(&headers),
            Err(e) => internal_error(&headers, &e),
        };
    }
    if control(&pairs, "intent") == "place" {
        let placed = state
            .service
            .place_form_order(
                &account,
                &chain,
                &node_type,
                &answers,
                &key,
                control(&pairs, "quote"),
            )
            .await;
        let (view, notice) = match placed {
            Ok(Placed::New(id) | Placed::Before(id)) => {
                return Redirect::to(&format!("/orders/{id}")).into_response();
            }
            Ok(Placed::NotPlaced(view)) => (
                *view,
                "The order was not placed: please check the answers marked below.",
            ),
            Ok(Placed::Changed(view)) => (
                *view,
                "The price changed since the form showed it, so the order was not placed. Check the new price and press Place order again.",
            ),
            Ok(Placed::Refused(text)) => {
                return refuse(&headers, StatusCode::SERVICE_UNAVAILABLE, &text);
            }
            Err(e) => return internal_error(&headers, &e),
        };
        return form_page(
            &state,
            &session,
            &chain,
            &node_type,
            &answers,
            view,
            &key,
            true,
            Some(notice.to_owned()),
        );
    }
    match state
        .service
        .deploy_form(&account, &chain, &node_type, &answers)
        .await
    {
        Ok(Some(view)) => form_page(
            &state, &session, &chain, &node_type, &answers, view, &key, true, None,
        ),
        Ok(None) => no_such_type(&headers),
        Err(e) => internal_error(&headers, &e),
    }
}

/// The summary alone, for the script (sent in the background as the
/// answers change): the same part the page shows after "Check price".
pub async fn quote(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path((chain, node_type)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match state.authorise_post(&headers, control(&pairs, "csrf")) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let answers = answers_of(&pairs);
    match state
        .service
        .deploy_form_quote(&state.account(&session), &chain, &node_type, &answers)
        .await
    {
        Ok(Some(view)) => render::html(&quote_html(&state, &view.check, &view)),
        Ok(None) => no_such_type(&headers),
        Err(e) => internal_error(&headers, &e),
    }
}

fn no_such_type(headers: &HeaderMap) -> Response {
    refuse(
        headers,
        StatusCode::NOT_FOUND,
        "There is no such node type. The catalog lists what you can deploy.",
    )
}

/// The value of the form's control field `name` ("csrf", "key", ...), or
/// "" when the post has none (the first wins, as for the answers).
fn control<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The answers among a form's fields (each name once: the first wins).
fn answers_of(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    let mut answers = BTreeMap::new();
    for (name, value) in pairs {
        if !CONTROL_FIELDS.contains(&name.as_str()) && name.len() <= 64 {
            answers.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    answers
}

fn quote_html<'a>(state: &WebState, check: &'a FormCheck, view: &DeployFormView) -> QuoteHtml<'a> {
    let label = |name: &str| {
        view.fields
            .iter()
            .find(|f| f.name == name)
            .map_or(name.to_owned(), |f| f.label.clone())
    };
    let waiting = if let Some(refused) = &check.refused {
        refused.clone()
    } else if let Some(field) = check.errors.keys().next() {
        format!("Check {} above to see the price.", label(field))
    } else if let Some(field) = check.missing.first() {
        format!("Answer {} above to see the price.", label(field))
    } else {
        "Answer the questions above to see the price.".to_owned()
    };
    QuoteHtml {
        quote: check.quote.as_ref(),
        usd: check
            .quote
            .as_ref()
            .map(|q| state.service.usd(q.price_per_node_month).0)
            .unwrap_or_default(),
        waiting,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page from its parts; a struct would only name them twice"
)]
fn form_page(
    state: &WebState,
    session: &super::session::Session,
    chain: &str,
    node_type: &str,
    answers: &BTreeMap<String, String>,
    view: DeployFormView,
    key: &FormKey,
    submitted: bool,
    notice: Option<String>,
) -> Response {
    let catalog = state.service.engine().catalog();
    let Some((chain_def, type_def)) = catalog.node_type(chain, node_type) else {
        return refuse(
            &HeaderMap::new(),
            StatusCode::NOT_FOUND,
            "There is no such node type.",
        );
    };
    let check = &view.check;
    let mut fields = Vec::new();
    let mut on_request = Vec::new();
    for field in &view.fields {
        let mut error = check.errors.get(&field.name).cloned();
        if submitted && error.is_none() && check.missing.contains(&field.name) {
            error = Some("Please answer this question.".to_owned());
        }
        let (kind, max) = match field.kind {
            FieldKind::Count { max } => ("count", max),
            FieldKind::Select => ("select", 0),
            FieldKind::Text => ("text", 0),
            FieldKind::Multiline => ("multiline", 0),
        };
        let shown = FieldView {
            name: field.name.clone(),
            id: format!("f-{}", field.name.replace('.', "-")),
            label: field.label.clone(),
            hint: field.hint.clone(),
            kind,
            max,
            choices: field.choices.clone(),
            value: answers.get(&field.name).cloned().unwrap_or_default(),
            optional: field.optional,
            error,
            after: field.after.clone(),
        };
        if field.on_request {
            on_request.push(shown);
        } else {
            fields.push(shown);
        }
    }
    let quote = quote_html(state, check, &view).render().unwrap_or_default();
    let title = format!("Deploy {} {}", chain_def.name, type_def.name);
    render::html(&FormPage {
        layout: state.layout(session, &title, "/catalog"),
        action: format!("/deploy/{chain}/{node_type}"),
        chain: chain.to_owned(),
        chain_name: chain_def.name.clone(),
        type_name: type_def.name.clone(),
        description: type_def.description.clone(),
        key: key.as_str().to_owned(),
        fields,
        on_request,
        notice,
        quote,
    })
}

/// One node of an order on its page.
struct NodeLine {
    name: String,
    state: &'static str,
    look: StateLook,
    running: bool,
}

/// The payment step's facts.
struct PaymentView {
    qr_base64: String,
    amount: String,
    address: String,
    memo: String,
    sep7: String,
    until: String,
    expired: bool,
}

#[derive(Template)]
#[template(path = "deploy_order.html")]
struct OrderPage<'a> {
    layout: Layout<'a>,
    id: String,
    /// "pay", "deploy", "done" or "cancelled": the step indicator's place.
    step: &'static str,
    what: String,
    total: String,
    balance: String,
    period: String,
    payment: Option<PaymentView>,
    nodes: Vec<NodeLine>,
    /// The page reloads itself (with the script) while this holds.
    poll: bool,
}

/// An order's payment step and progress, for its owner only.
pub async fn order(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    SignedIn(session): SignedIn,
) -> Response {
    let account = state.account(&session);
    let found = match state.service.form_order(&account, &id) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return refuse(
                &headers,
                StatusCode::NOT_FOUND,
                "You have no order by that name. My nodes lists yours.",
            );
        }
        Err(e) => return internal_error(&headers, &e),
    };
    let now = state.now();
    let order = &found.order;
    let payment = match (&order.state, &found.payment) {
        (OrderState::AwaitingPayment, Some(request)) => {
            let qr = crate::qr::png(&request.tft_uri()).unwrap_or_default();
            Some(PaymentView {
                qr_base64: base64::engine::general_purpose::STANDARD.encode(qr),
                amount: request.amount.to_string(),
                address: request.address.clone(),
                memo: request.memo.clone(),
                sep7: request.sep7_uri(),
                until: utc_datetime(request.expires_at),
                expired: request.is_expired(now),
            })
        }
        _ => None,
    };
    let nodes: Vec<NodeLine> = found
        .nodes
        .iter()
        .map(|(name, word, running)| NodeLine {
            name: name.clone(),
            state: word,
            look: StateLook::of(word, false),
            running: *running,
        })
        .collect();
    let step = match order.state {
        OrderState::AwaitingPayment => "pay",
        OrderState::Deploying => "deploy",
        OrderState::Done => "done",
        OrderState::Cancelled => "cancelled",
    };
    let catalog = state.service.engine().catalog();
    let what = catalog
        .node_type(&order.chain, &order.node_type)
        .map(|(_, t)| format!("{} × {}", order.nodes.len(), t.name))
        .unwrap_or_else(|| format!("{} nodes", order.nodes.len()));
    render::html(&OrderPage {
        layout: state.layout(&session, &format!("Order {}", order.id), "/nodes"),
        id: order.id.clone(),
        step,
        what,
        total: order.total.to_string(),
        balance: found.balance.to_string(),
        period: order.period.label().to_owned(),
        poll: order.state == OrderState::Deploying
            || (order.state == OrderState::AwaitingPayment && payment.is_some()),
        payment,
        nodes,
    })
}

#[derive(serde::Deserialize)]
pub struct OrderButton {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// The payment step's buttons: the chat's own order buttons (pay with the
/// sandbox wallet, a new payment request, cancel), pressed as the page's
/// account, so the same checks apply (their own order, still awaiting
/// payment, paid at most once).
pub async fn order_action(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<OrderButton>,
) -> Response {
    let session = match state.authorise_post(&headers, &form.csrf) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let action = match form.action.as_str() {
        "pay" => OrderAction::Pay,
        "new" => OrderAction::NewRequest,
        "cancel" => OrderAction::Cancel,
        _ => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                "That button is not valid any more. Reload the page.",
            );
        }
    };
    let Some(order) = RecordKey::new(&id) else {
        return refuse(
            &headers,
            StatusCode::NOT_FOUND,
            "You have no order by that name.",
        );
    };
    let data = Command::Order { action, order }.button("").data;
    let account = state.account(&session);
    if let Err(e) = state
        .service
        .handle(
            &account,
            &session.name,
            crate::dialogue::Input::Button(data),
            None,
        )
        .await
    {
        return internal_error(&headers, &e);
    }
    if is_fetch(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Redirect::to(&format!("/orders/{id}")).into_response()
    }
}
