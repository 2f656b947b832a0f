//! HTML for the website: the askama templates' shared parts (the page
//! layout, feed entries, buttons) and their escaper. The same template
//! renders an entry whether it arrives with the page or later over
//! server-sent events.
//!
//! Templates live in `src/web/templates/` and are checked when the crate
//! compiles; every value they print is escaped by [`Html`] unless a
//! template says `|safe`, which only template output and [`linkify`]d text
//! (escaped here) get.

use std::fmt::Write as _;

use askama::Template;
use base64::Engine as _;

use super::hub::{Entry, EntryKind};
use crate::command::{Command, OrderAction, Pick};
use crate::dialogue::Button;

/// The templates' escaper (named in `askama.toml`): named entities, as
/// [`escape`] writes them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, string: &str) -> std::fmt::Result {
        dest.write_str(&escape(string))
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text with line breaks kept and `https://` links made clickable.
pub fn text_html(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                out.push(' ');
            }
            if word.starts_with("https://") && word.len() > 8 {
                let _ = write!(
                    out,
                    "<a href=\"{0}\" rel=\"noopener noreferrer\">{0}</a>",
                    escape(word)
                );
            } else {
                out.push_str(&escape(word));
            }
        }
    }
    out
}

/// The templates' own filters.
pub(super) mod filters {
    /// `{{ text|linkify }}`: [`super::text_html`], already escaped.
    #[askama::filter_fn]
    pub fn linkify(
        value: impl std::fmt::Display,
        _: &dyn askama::Values,
    ) -> askama::Result<askama::filters::Safe<String>> {
        Ok(askama::filters::Safe(super::text_html(&value.to_string())))
    }
}

/// What every page needs to know about the visitor.
pub struct PageContext<'a> {
    /// Signed-in name, if any.
    pub name: Option<&'a str>,
    pub csrf: &'a str,
    pub operator: bool,
    /// The embedded grid and the sandbox wallet are in use.
    pub sandbox: bool,
}

impl PageContext<'static> {
    /// A visitor who is not signed in.
    pub fn signed_out(sandbox: bool) -> PageContext<'static> {
        PageContext {
            name: None,
            csrf: "",
            operator: false,
            sandbox,
        }
    }
}

/// The navigation every signed-in visitor sees; operators also get
/// "Operators" at the end.
const NAV: &[(&str, &str)] = &[
    ("/catalog", "Catalog"),
    ("/chat", "Chat"),
    ("/nodes", "My nodes"),
    ("/notifications", "Notifications"),
    ("/link", "Link"),
];

/// One link of the navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The base layout's part of every page (`base.html`).
pub struct Layout<'a> {
    /// The document title ("Chat · Jukebox", or "Jukebox" for the start).
    pub title: String,
    pub name: Option<&'a str>,
    pub csrf: &'a str,
    pub sandbox: bool,
    pub nav: Vec<NavLink>,
}

impl<'a> Layout<'a> {
    pub fn new(title: &str, ctx: &PageContext<'a>, active: &str) -> Layout<'a> {
        let operators = ctx.operator.then_some(("/admin", "Operators"));
        let nav = if ctx.name.is_some() {
            NAV.iter()
                .copied()
                .chain(operators)
                .map(|(href, label)| NavLink {
                    href,
                    label,
                    current: href == active,
                })
                .collect()
        } else {
            Vec::new()
        };
        // The start page is just "Jukebox", not "Jukebox · Jukebox".
        let title = if title.is_empty() || title == "Jukebox" {
            "Jukebox".to_owned()
        } else {
            format!("{title} · Jukebox")
        };
        Layout {
            title,
            name: ctx.name,
            csrf: ctx.csrf,
            sandbox: ctx.sandbox,
            nav,
        }
    }
}

/// A page with a heading and a paragraph: errors and refusals.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub layout: Layout<'a>,
    pub heading: &'a str,
    pub text: &'a str,
    /// Shown as an alert (a failed sign-in) rather than plain text.
    pub alert: bool,
}

/// Renders a template; a template that fails to render (a formatting
/// error, never expected) becomes a short plain answer and a log line.
pub fn html(template: &impl Template) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match template.render() {
        Ok(body) => axum::response::Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Please try again in a minute.",
            )
                .into_response()
        }
    }
}

/// How a conversation button looks: most are primary; going back,
/// skipping and cancelling are secondary; confirming a deletion is danger.
pub fn button_style(button: &Button) -> &'static str {
    match Command::from_button(&button.data) {
        Command::Order {
            action: OrderAction::Cancel,
            ..
        } => "secondary",
        Command::Answer(answer) => match answer.pick {
            Pick::Back | Pick::Cancel | Pick::Skip => "secondary",
            // The dialogue's destructive answers ("Yes, delete it") are
            // the ones that say so.
            Pick::Choice(_) if button.label.starts_with("Yes, delete") => "danger",
            Pick::Choice(_) => "primary",
        },
        Command::Alert { .. } | Command::Broadcast { send: false, .. } => "secondary",
        _ => "primary",
    }
}

/// One feed entry as an element with a stable id (`e<id>`), so a later
/// version of it replaces it in place (`entry.html`).
#[derive(Template)]
#[template(path = "entry.html")]
pub struct EntryHtml<'a> {
    pub entry: &'a Entry,
    pub csrf: &'a str,
    /// Where a plain (script-less) button press returns to.
    pub back: &'a str,
    /// The time "5 minutes ago" is counted from.
    pub now: u64,
    /// The account's outages now, `(node, start)`, to disable the buttons
    /// of alerts about outages that are over; `None` when not looked up.
    pub live_outages: Option<&'a [(String, u64)]>,
}

impl EntryHtml<'_> {
    /// The QR image of an image entry, as a data URL's payload.
    fn png_base64(&self) -> String {
        match &self.entry.kind {
            EntryKind::Image { png, .. } => {
                base64::engine::general_purpose::STANDARD.encode(png.as_slice())
            }
            _ => String::new(),
        }
    }
}

/// One feed entry as HTML, as it arrives (times counted from its own
/// arrival, alert buttons live).
pub fn entry_html(entry: &Entry, csrf: &str, back: &str) -> String {
    EntryHtml {
        entry,
        csrf,
        back,
        now: entry.at,
        live_outages: None,
    }
    .render()
    .unwrap_or_default()
}

/// How a node's state looks: a colour class and an icon (the word is
/// always shown too, so colour is never the only signal).
pub struct StateLook {
    pub class: &'static str,
    pub icon: &'static str,
}

impl StateLook {
    /// From the state word the service gives (`state_word`) and whether
    /// an outage is confirmed.
    pub fn of(state: &str, down: bool) -> StateLook {
        let (class, icon) = match state {
            _ if down => ("state-down", "▼"),
            "running" => ("state-ok", "●"),
            "deploying" | "waiting for payment" => ("state-busy", "◌"),
            "paused until a top-up" => ("state-warn", "❚❚"),
            "failed" => ("state-down", "✕"),
            _ => ("state-off", "○"),
        };
        StateLook { class, icon }
    }
}

/// What a notification is about, by the alert's own first sign: the
/// monitor's outage alerts start with ⚠️ and its recoveries with ✅.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Outage,
    Recovery,
    Info,
}

impl NoticeKind {
    pub fn of(text: &str) -> NoticeKind {
        if text.starts_with('⚠') {
            NoticeKind::Outage
        } else if text.starts_with('✅') {
            NoticeKind::Recovery
        } else {
            NoticeKind::Info
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            NoticeKind::Outage => "notice-outage",
            NoticeKind::Recovery => "notice-recovery",
            NoticeKind::Info => "notice-info",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::Outage => "Outage",
            NoticeKind::Recovery => "Recovered",
            NoticeKind::Info => "Notice",
        }
    }
}

/// "just now", "5 minutes ago", "3 days ago": how long before `now`.
pub fn ago(at: u64, now: u64) -> String {
    let secs = now.saturating_sub(at);
    if secs < 60 {
        "just now".to_owned()
    } else {
        format!("{} ago", crate::lifecycle::human_duration(secs))
    }
}

/// `2026-12-07T08:10:00Z`, for `<time datetime>`.
pub fn iso_datetime(secs: u64) -> String {
    let (year, month, day) = crate::lifecycle::civil_from_days((secs / 86_400) as i64);
    let (hour, minute, second) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// A notification's kind and times, for `entry.html`.
pub struct NoticeView {
    pub kind: NoticeKind,
    pub relative: String,
    pub absolute: String,
    pub iso: String,
    /// The outage its buttons act on, `(node, outage start)`, if any.
    outage: Option<(String, u64)>,
}

impl NoticeView {
    pub fn new(entry: &Entry, now: &u64) -> NoticeView {
        let now = *now;
        let (text, buttons) = match &entry.kind {
            EntryKind::Notice { text, buttons } => (text.as_str(), buttons.as_slice()),
            _ => ("", &[][..]),
        };
        let outage = buttons
            .iter()
            .flatten()
            .find_map(|b| match Command::from_button(&b.data) {
                Command::Alert {
                    node,
                    outage: Some(since),
                    ..
                } => Some((node.as_str().to_owned(), since)),
                _ => None,
            });
        NoticeView {
            kind: NoticeKind::of(text),
            relative: ago(entry.at, now),
            absolute: crate::lifecycle::utc_datetime(entry.at),
            iso: iso_datetime(entry.at),
            outage,
        }
    }

    /// Whether the notification's buttons still act: an outage alert's
    /// only while that outage lasts (`live`: the user's current outages,
    /// `None` when not known, e.g. for an alert arriving this moment).
    pub fn buttons_apply(&self, live: &Option<&[(String, u64)]>) -> bool {
        match (&self.outage, live) {
            (Some(outage), Some(live)) => live.contains(outage),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_inject_markup() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        let html = text_html("hi <b>\nsee https://x.org/?a=1&b=\"2\" now");
        assert_eq!(
            html,
            "hi &lt;b&gt;<br>see <a href=\"https://x.org/?a=1&amp;b=&quot;2&quot;\" \
             rel=\"noopener noreferrer\">https://x.org/?a=1&amp;b=&quot;2&quot;</a> now"
        );
        assert!(!text_html("javascript:alert(1)").contains("href"));
    }

    #[test]
    fn entries_render_buttons_as_forms_with_the_token() {
        let entry = Entry {
            id: 7,
            version: 9,
            at: 0,
            kind: EntryKind::Message {
                text: "Which chain?".into(),
                buttons: vec![vec![Button {
                    label: "Dash <full>".into(),
                    data: "3:0".into(),
                }]],
                answer: None,
            },
        };
        let html = entry_html(&entry, "tok", "/chat");
        assert!(html.starts_with("<article class=\"msg\" id=\"e7\" data-v=\"9\">"));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("name=\"data\" value=\"3:0\">Dash &lt;full&gt;</button>"));
        let answered = Entry {
            kind: EntryKind::Message {
                text: "Which chain?".into(),
                buttons: vec![],
                answer: Some("Dash".into()),
            },
            ..entry
        };
        let html = entry_html(&answered, "tok", "/chat");
        assert!(!html.contains("<button"));
        assert!(html.contains("<p class=\"answer\">› Dash</p>"));
    }

    #[test]
    fn buttons_are_styled_by_what_they_do() {
        use crate::command::{AnswerButton, Key};
        let answer =
            |pick, label: &str| Command::Answer(AnswerButton { seq: 3, pick }).button(label);
        let cancel_order = Command::Order {
            action: OrderAction::Cancel,
            order: Key::new("o1").unwrap(),
        }
        .button("Cancel order");
        let pay = Command::Order {
            action: OrderAction::Pay,
            order: Key::new("o1").unwrap(),
        }
        .button("Pay with sandbox wallet");
        assert_eq!(button_style(&cancel_order), "secondary");
        assert_eq!(button_style(&pay), "primary");
        assert_eq!(
            button_style(&answer(Pick::Choice(0), "Yes, delete it")),
            "danger"
        );
        assert_eq!(
            button_style(&answer(Pick::Choice(1), "Presearch")),
            "primary"
        );
        for pick in [Pick::Back, Pick::Cancel, Pick::Skip] {
            assert_eq!(button_style(&answer(pick, "x")), "secondary");
        }
        // Forged data is shown, never trusted to look dangerous or safe.
        let forged = Button {
            label: "Yes, delete it".into(),
            data: "nonsense".into(),
        };
        assert_eq!(button_style(&forged), "primary");
    }

    #[test]
    fn notices_say_when_and_what_and_ended_outages_lose_their_buttons() {
        assert_eq!(NoticeKind::of("⚠️ n is down: x"), NoticeKind::Outage);
        assert_eq!(NoticeKind::of("✅ n is back up."), NoticeKind::Recovery);
        assert_eq!(NoticeKind::of("Your balance is low"), NoticeKind::Info);
        assert_eq!(ago(100, 130), "just now");
        assert_eq!(ago(0, 600), "10 minutes ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
        assert_eq!(iso_datetime(86_400 + 3661), "1970-01-02T01:01:01Z");
        let alert = Command::Alert {
            action: crate::command::AlertAction::Redeploy,
            node: crate::command::NodeKey::node("dash1").unwrap(),
            outage: Some(500),
        }
        .button("Redeploy now");
        let entry = Entry {
            id: 1,
            version: 1,
            at: 1_000,
            kind: EntryKind::Notice {
                text: "⚠️ dash1 is down: gone".into(),
                buttons: vec![vec![alert]],
            },
        };
        let view = NoticeView::new(&entry, &1_300);
        assert_eq!(view.relative, "5 minutes ago");
        assert!(view.buttons_apply(&Some(&[("dash1".to_owned(), 500)][..])));
        assert!(!view.buttons_apply(&Some(&[][..])));
        assert!(!view.buttons_apply(&Some(&[("dash1".to_owned(), 900)][..])));
        assert!(view.buttons_apply(&None));
        let page = EntryHtml {
            entry: &entry,
            csrf: "tok",
            back: "/chat",
            now: 1_300,
            live_outages: Some(&[]),
        }
        .render()
        .unwrap();
        assert!(page.contains("class=\"notice notice-outage\""), "{page}");
        assert!(page.contains(" disabled name=\"data\""), "{page}");
        assert!(page.contains("This outage is over"), "{page}");
        assert!(
            page.contains("<time datetime=\"1970-01-01T00:16:40Z\""),
            "{page}"
        );
    }
}
