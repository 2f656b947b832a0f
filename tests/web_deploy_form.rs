//! The website's deploy form over real HTTP, without JavaScript (plain form
//! posts, as a browser with scripts off sends them): the chat's questions
//! and validation messages per field, the price summary, placing the order,
//! the payment step and the deployed node; re-posted and stale forms never
//! order twice; nobody else sees the order; and the same order placed
//! through the chat and through the form is stored the same and costs the
//! same.

use crate::support;

use jukebox::ids::UserId;
use jukebox::user::{NodeRecord, Nodes, ORDERS, Order, Orders, StoredValue};
use reqwest::Method;
use support::web_site::{Browser, Site, form_value, text_of, unescape};

const FORM: &str = "/deploy/presearch/node";
const CODE: &str = "0123456789abcdef0123456789abc123";
const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

/// The message shown next to field `name`, if any.
fn field_error(html: &str, name: &str) -> Option<String> {
    let marker = format!("id=\"f-{}-error\" role=\"alert\">", name.replace('.', "-"));
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")? + start;
    Some(unescape(&html[start..end]))
}

/// The text of the element with id `id` (no nested tags).
fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')? + start;
    Some(unescape(&html[start..end]))
}

/// The values of a select's options, in order.
fn options(html: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\"");
    let Some(at) = html.find(&marker) else {
        return Vec::new();
    };
    let rest = &html[at..];
    let end = rest.find("</select>").unwrap_or(rest.len());
    rest[..end]
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next().map(unescape))
        .collect()
}

/// Posts the form with these answers and `intent`, carrying the page's
/// form key and (when placing) the quote it showed.
async fn post_form(
    browser: &mut Browser,
    page: &str,
    answers: &[(&str, &str)],
    intent: &str,
) -> support::web_site::Page {
    let key = form_value(page, "key").expect("the form's key");
    let quote = form_value(page, "quote").unwrap_or_default();
    let mut fields: Vec<(&str, &str)> = answers.to_vec();
    fields.push(("key", &key));
    fields.push(("intent", intent));
    fields.push(("quote", &quote));
    browser.post(FORM, &fields, false).await
}

fn answers<'a>(country: &'a str, code: &'a str, ssh: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("count", "1"),
        ("location", "country"),
        ("country", country),
        ("farm", ""),
        ("setting.registration_code", code),
        ("ssh_key", ssh),
        ("period", "1 week"),
        ("setting.node_private_key", ""),
        ("setting.node_public_key", ""),
    ]
}

fn orders_of(site: &Site, user: &UserId) -> Vec<Order> {
    site.service
        .store()
        .read::<Orders>(user, ORDERS)
        .unwrap()
        .map(|o| o.orders)
        .unwrap_or_default()
}

fn nodes_of(site: &Site, user: &UserId) -> Vec<NodeRecord> {
    site.service
        .store()
        .read::<Nodes>(user, jukebox::user::NODES)
        .unwrap()
        .map(|n| n.nodes)
        .unwrap_or_default()
}

/// Bob signed in, on the form page; returns the page and a country with room.
async fn bob_on_the_form(site: &Site) -> (Browser, String, String) {
    let mut bob = site.browser();
    bob.sandbox_sign_in("bob").await;
    let page = bob.get(FORM).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let country = options(&page.body, "country")
        .into_iter()
        .next()
        .expect("a country with room");
    (bob, page.body, country)
}

#[tokio::test]
async fn each_field_says_what_the_chat_says_about_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut bob, page, country) = bob_on_the_form(&site).await;
    let text = text_of(&page);
    // The chat's questions, under the script's labels, each labelled.
    for label in [
        "Number of nodes",
        "Location",
        "Country",
        "Farm",
        "Presearch registration code",
        "SSH public key",
        "Funding period",
        "Node private key",
    ] {
        assert!(text.contains(label), "{label}: {text}");
    }
    for id in [
        "f-count",
        "f-location",
        "f-setting-registration_code",
        "f-period",
    ] {
        assert!(page.contains(&format!("<label for=\"{id}\"")), "{id}");
    }
    assert_eq!(options(&page, "location"), ["random", "country", "farm"]);
    assert!(!options(&page, "farm").is_empty(), "the farm picker");
    assert!(page.contains("Answer Presearch registration code above"));

    let engine = site.service.engine();
    let (_, presearch) = engine.catalog().node_type("presearch", "node").unwrap();
    let code_rule = &presearch.settings[0].validate;
    let max: u32 = page
        .split("name=\"count\"")
        .nth(1)
        .and_then(|s| s.split("max=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("the count's maximum");
    // Each wrong answer gets the chat's own words for it, next to its field.
    let cases: [(&str, &str, String); 3] = [
        (
            "count",
            "0",
            jukebox::validate::Invalid::Count { max }.to_string(),
        ),
        (
            "setting.registration_code",
            "too-short",
            code_rule.check("too-short").unwrap_err().to_string(),
        ),
        (
            "ssh_key",
            "not a key",
            jukebox::validate::check_ssh_public_key("not a key")
                .unwrap_err()
                .to_string(),
        ),
    ];
    for (field, wrong, expected) in cases {
        let mut given = answers(&country, CODE, SSH_KEY);
        for answer in &mut given {
            if answer.0 == field {
                answer.1 = wrong;
            }
        }
        let checked = post_form(&mut bob, &page, &given, "check").await;
        assert_eq!(checked.status, 200);
        assert_eq!(
            field_error(&checked.body, field).as_deref(),
            Some(expected.as_str()),
            "{field}: {}",
            text_of(&checked.body)
        );
        assert!(checked.body.contains("aria-invalid=\"true\""));
        assert!(!checked.body.contains("value=\"place\""), "no order button");
        // What was typed stays in the form.
        assert!(
            checked.body.contains(&jukebox::web::render::escape(wrong)),
            "{field}"
        );
    }
    // Several wrong answers at once: each gets its own message (the walk
    // reads on past a refused choice or count with the chat's first
    // button in its place; a refused required text stops it).
    let mut given = answers("Atlantis", CODE, "not a key");
    given[0] = ("count", "0");
    let checked = post_form(&mut bob, &page, &given, "check").await;
    for field in ["count", "country", "ssh_key"] {
        assert!(
            field_error(&checked.body, field).is_some(),
            "{field}: {}",
            text_of(&checked.body)
        );
    }
    assert!(!checked.body.contains("value=\"place\""), "no order button");
    // A country not on offer, and a required answer left out.
    let mut given = answers("Atlantis", CODE, SSH_KEY);
    let checked = post_form(&mut bob, &page, &given, "check").await;
    assert!(field_error(&checked.body, "country").is_some());
    given.retain(|(k, _)| *k != "setting.registration_code");
    given[1] = ("location", "random");
    let checked = post_form(&mut bob, &page, &given, "check").await;
    assert_eq!(
        field_error(&checked.body, "setting.registration_code").as_deref(),
        Some("Please answer this question.")
    );
    // The key pair: a private key alone is refused as the chat refuses it.
    let mut given = answers(&country, CODE, "");
    given[7] = ("setting.node_private_key", "not a key");
    let checked = post_form(&mut bob, &page, &given, "check").await;
    assert!(
        field_error(&checked.body, "setting.node_private_key").is_some(),
        "{}",
        text_of(&checked.body)
    );
    assert!(orders_of(&site, &UserId::parse("web:sandbox-bob").unwrap()).is_empty());
}

#[tokio::test]
async fn the_summary_prices_the_order_with_the_bots_price_list() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut bob, page, country) = bob_on_the_form(&site).await;
    let engine = site.service.engine();
    let (_, presearch) = engine.catalog().node_type("presearch", "node").unwrap();
    let month = engine.prices().per_month(&presearch.capacity(true));
    let hours = jukebox::pricing::FundingPeriod::parse("1 week")
        .unwrap()
        .hours();
    let week = engine
        .prices()
        .per_hour(&presearch.capacity(true))
        .saturating_mul(i64::try_from(hours).unwrap());
    for (count, total) in [("1", week), ("3", week.saturating_mul(3))] {
        let mut given = answers(&country, CODE, SSH_KEY);
        given[0] = ("count", count);
        let checked = post_form(&mut bob, &page, &given, "check").await;
        let text = text_of(&checked.body);
        assert!(
            checked.body.contains(&format!(
                "<strong class=\"price\">{month}</strong> per node per month"
            )),
            "{text}"
        );
        assert_eq!(
            element_text(&checked.body, "to-pay").as_deref(),
            Some(total.to_string().as_str()),
            "{text}"
        );
        assert!(text.contains("Funded until"), "{text}");
        assert!(checked.body.contains("name=\"intent\" value=\"place\""));
        // The live summary (what the script fetches) says the same.
        let live = bob.post(&format!("{FORM}/quote"), &given, true).await;
        assert_eq!(live.status, 200);
        assert_eq!(
            element_text(&live.body, "to-pay"),
            element_text(&checked.body, "to-pay")
        );
        assert!(!live.body.contains("<html"), "a fragment");
    }
    // The periods carry what each costs now, as the chat's buttons do.
    let checked = post_form(&mut bob, &page, &answers(&country, CODE, SSH_KEY), "check").await;
    assert!(
        checked.body.contains(&format!("1 week · {week}")),
        "{}",
        checked.body
    );
}

#[tokio::test]
async fn without_javascript_the_form_orders_pays_and_deploys_once() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let bob_id = UserId::parse("web:sandbox-bob").unwrap();
    let (mut bob, page, country) = bob_on_the_form(&site).await;
    let given = answers(&country, CODE, SSH_KEY);
    let checked = post_form(&mut bob, &page, &given, "check").await;

    // A stale price (the page showed another) orders nothing.
    let key = form_value(&checked.body, "key").unwrap();
    let mut stale = given.clone();
    stale.extend([
        ("key", key.as_str()),
        ("intent", "place"),
        ("quote", "1x1week-1-1"),
    ]);
    let refused = bob.post(FORM, &stale, false).await;
    assert_eq!(refused.status, 200);
    assert!(
        text_of(&refused.body).contains("The price changed"),
        "{}",
        refused.body
    );
    assert!(orders_of(&site, &bob_id).is_empty());
    // A form without its key cannot be told from a new one: refused too.
    let mut keyless = given.clone();
    let quote = form_value(&checked.body, "quote").unwrap();
    keyless.extend([("intent", "place"), ("quote", quote.as_str())]);
    let refused = bob.post(FORM, &keyless, false).await;
    assert!(text_of(&refused.body).contains("This form has expired"));
    assert!(orders_of(&site, &bob_id).is_empty());

    let placed = post_form(&mut bob, &checked.body, &given, "place").await;
    assert_eq!(placed.status, 303, "{}", text_of(&placed.body));
    let order_page = placed.location.clone().unwrap();
    assert!(order_page.starts_with("/orders/w"), "{order_page}");
    // Posting the same form again (back button, double click) finds it.
    let again = post_form(&mut bob, &checked.body, &given, "place").await;
    assert_eq!(again.location.as_deref(), Some(order_page.as_str()));
    assert_eq!(orders_of(&site, &bob_id).len(), 1);

    let pay = bob.get(&order_page).await;
    assert_eq!(pay.status, 200);
    let order = &orders_of(&site, &bob_id)[0];
    let request = order.payment.clone().expect("a payment request");
    assert!(pay.body.contains("src=\"data:image/png;base64,"), "the QR");
    assert!(
        pay.body
            .contains(&format!("<code id=\"pay-memo\">{}</code>", request.memo))
    );
    assert!(pay.body.contains("data-copy=\"pay-memo\""), "a copy button");
    assert!(
        pay.body.contains(&format!(
            "<a href=\"{}\"",
            jukebox::web::render::escape(&request.sep7_uri())
        )),
        "the SEP-0007 link is a link"
    );
    assert!(text_of(&pay.body).contains(&request.amount.to_string()));
    assert!(pay.body.contains("Pay with sandbox wallet"));

    let id = order.id.clone();
    let paid = bob
        .post(&format!("/orders/{id}/act"), &[("action", "pay")], false)
        .await;
    assert_eq!(paid.location.as_deref(), Some(order_page.as_str()));
    // Pressed again (a stale page): nothing more is taken.
    bob.post(&format!("/orders/{id}/act"), &[("action", "pay")], false)
        .await;
    site.service.wait_idle().await;
    let profile = site
        .service
        .store()
        .read::<jukebox::user::Profile>(&bob_id, jukebox::user::PROFILE)
        .unwrap()
        .unwrap();
    let credited = profile
        .account
        .entries
        .iter()
        .filter(|e| e.kind == jukebox::ledger::EntryKind::Credit)
        .count();
    assert_eq!(credited, 1, "paid once");

    let done = bob.get(&order_page).await;
    let text = text_of(&done.body);
    assert!(text.contains("running"), "{text}");
    let name = nodes_of(&site, &bob_id)[0].name.clone();
    assert!(
        done.body.contains(&format!("<a href=\"/node/{name}\">")),
        "{}",
        done.body
    );
    assert!(!done.body.contains("data-poll"), "nothing left to follow");
    assert_eq!(bob.get(&format!("/node/{name}")).await.status, 200);
    // The order page's buttons no longer act: it is paid.
    bob.post(&format!("/orders/{id}/act"), &[("action", "cancel")], false)
        .await;
    assert_eq!(
        orders_of(&site, &bob_id)[0].state,
        jukebox::user::OrderState::Done
    );
    assert_eq!(nodes_of(&site, &bob_id).len(), 1);
}

#[tokio::test]
async fn nobody_else_sees_or_pays_an_order_and_every_post_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let bob_id = UserId::parse("web:sandbox-bob").unwrap();
    let (mut bob, page, country) = bob_on_the_form(&site).await;
    let given = answers(&country, CODE, SSH_KEY);
    let checked = post_form(&mut bob, &page, &given, "check").await;
    let placed = post_form(&mut bob, &checked.body, &given, "place").await;
    let order_page = placed.location.unwrap();
    let id = order_page.trim_start_matches("/orders/").to_owned();
    let memo = orders_of(&site, &bob_id)[0].payment.clone().unwrap().memo;

    let mut eve = site.browser();
    eve.sandbox_sign_in("eve").await;
    let seen = eve.get(&order_page).await;
    assert_eq!(seen.status, 404);
    assert!(!seen.body.contains(&memo) && !seen.body.contains(&id));
    for action in ["pay", "cancel"] {
        eve.post(&format!("/orders/{id}/act"), &[("action", action)], false)
            .await;
    }
    site.service.wait_idle().await;
    assert_eq!(
        orders_of(&site, &bob_id)[0].state,
        jukebox::user::OrderState::AwaitingPayment,
        "Eve's presses did nothing to Bob's order"
    );
    // Signed out: to the start page.
    assert_eq!(
        site.browser().get(&order_page).await.location.as_deref(),
        Some("/")
    );
    assert_eq!(
        site.browser().get(FORM).await.location.as_deref(),
        Some("/")
    );
    // No token, someone else's token, another site's Origin: refused.
    let key = form_value(&checked.body, "key").unwrap();
    let no_token = bob
        .raw(Method::POST, FORM)
        .form(&[("key", key.as_str()), ("intent", "check")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let foreign = bob
        .raw(Method::POST, FORM)
        .header("origin", "https://evil.example")
        .form(&[("csrf", bob.csrf.as_str()), ("intent", "check")])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let pay_foreign = bob
        .raw(Method::POST, &format!("/orders/{id}/act"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", bob.csrf.as_str()), ("action", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(pay_foreign.status(), 403);
    assert_eq!(eve.get("/deploy/presearch/nothing").await.status, 404);
    assert_eq!(orders_of(&site, &bob_id).len(), 1);
}

/// The value of a setting as the order stored it (unsealed).
fn plain(site: &Site, value: &StoredValue) -> String {
    match value {
        StoredValue::Plain(text) => text.clone(),
        StoredValue::Sealed(sealed) => site
            .service
            .master_key()
            .open_string(sealed)
            .unwrap()
            .to_string(),
    }
}

#[tokio::test]
async fn the_same_order_through_the_chat_and_the_form_is_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::start(dir.path(), &|_| {}).await;
    let (mut bob, page, country) = bob_on_the_form(&site).await;

    // Alice orders in the chat: one Presearch node in that country.
    let mut alice = site.browser();
    alice.sandbox_sign_in("alice").await;
    alice.say("/deploy").await;
    alice.press("Presearch").await;
    alice.say("1").await;
    alice.press("Pick a country").await;
    alice.press(&format!("{country} · ")).await;
    alice.say(CODE).await;
    alice.say(SSH_KEY).await;
    alice.press("1 week").await;
    let chat = text_of(&alice.get("/chat").await.body);
    let summary = &chat[chat.rfind("Your order").expect("the order summary")..];
    let chat_price = summary
        .split("Price: ")
        .nth(1)
        .and_then(|s| s.split(" per node per month").next())
        .unwrap()
        .trim()
        .to_owned();
    let chat_to_pay = summary
        .split("To pay now: ")
        .nth(1)
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap();
    alice.press("Confirm").await;

    // Bob the same through the form.
    let given = answers(&country, CODE, SSH_KEY);
    let checked = post_form(&mut bob, &page, &given, "check").await;
    assert_eq!(
        element_text(&checked.body, "to-pay").as_deref(),
        Some(chat_to_pay.as_str())
    );
    assert!(
        checked
            .body
            .contains(&format!("<strong class=\"price\">{chat_price}</strong>")),
        "{chat_price}"
    );
    let placed = post_form(&mut bob, &checked.body, &given, "place").await;
    assert_eq!(placed.status, 303, "{}", text_of(&placed.body));

    let alice_id = UserId::parse("web:sandbox-alice").unwrap();
    let bob_id = UserId::parse("web:sandbox-bob").unwrap();
    let (chat_orders, form_orders) = (orders_of(&site, &alice_id), orders_of(&site, &bob_id));
    assert_eq!((chat_orders.len(), form_orders.len()), (1, 1));
    let (a, b) = (&chat_orders[0], &form_orders[0]);
    assert_eq!(
        (
            &a.state,
            &a.chain,
            &a.node_type,
            a.nodes.len(),
            a.period,
            a.price_per_node_month,
            a.total
        ),
        (
            &b.state,
            &b.chain,
            &b.node_type,
            b.nodes.len(),
            b.period,
            b.price_per_node_month,
            b.total
        )
    );
    assert_eq!(a.total.to_string(), chat_to_pay, "nothing in the balance");
    let (pa, pb) = (a.payment.as_ref().unwrap(), b.payment.as_ref().unwrap());
    assert_eq!(
        (pa.amount, &pa.address, &pa.asset_code),
        (pb.amount, &pb.address, &pb.asset_code)
    );
    let (na, nb) = (&nodes_of(&site, &alice_id)[0], &nodes_of(&site, &bob_id)[0]);
    assert_eq!(
        (
            &na.chain,
            &na.node_type,
            &na.state,
            &na.placement,
            na.ipv4,
            &na.ssh_key,
            na.price_per_hour
        ),
        (
            &nb.chain,
            &nb.node_type,
            &nb.state,
            &nb.placement,
            nb.ipv4,
            &nb.ssh_key,
            nb.price_per_hour
        )
    );
    assert_eq!(
        na.placement,
        jukebox::model::Placement::Country(country.clone())
    );
    let settings = |n: &NodeRecord| -> Vec<(String, String)> {
        n.settings
            .iter()
            .map(|(k, v)| (k.clone(), plain(&site, v)))
            .collect()
    };
    assert_eq!(settings(na), settings(nb));
    assert_eq!(
        settings(na),
        [("registration_code".to_owned(), CODE.to_owned())]
    );
    assert_eq!(
        na.generated.keys().collect::<Vec<_>>(),
        nb.generated.keys().collect::<Vec<_>>()
    );
}
