//! HTML for the website: the page layout and the feed entries, shared by
//! the pages and the live updates (the same function renders an entry
//! whether it arrives with the page or later over server-sent events).
//!
//! Every piece of text from users, the grid or the service passes
//! [`escape`]; nothing else builds markup from data.

use std::fmt::Write as _;

use base64::Engine as _;

use super::hub::{Entry, EntryKind};
use crate::dialogue::Button;

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
    ("/chat", "Chat"),
    ("/nodes", "My nodes"),
    ("/notifications", "Notifications"),
    ("/link", "Link"),
];

/// A whole page around `body`.
pub fn page(title: &str, ctx: &PageContext<'_>, active: &str, body: &str) -> String {
    let mut nav = String::new();
    if let Some(name) = ctx.name {
        let operators = ctx.operator.then_some(("/admin", "Operators"));
        for (href, label) in NAV.iter().copied().chain(operators) {
            let current = if href == active {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
        }
        let _ = write!(
            nav,
            "<form method=\"post\" action=\"/logout\" class=\"inline\">{}\
             <button type=\"submit\" class=\"link\">Sign out {}</button></form>",
            csrf_field(ctx.csrf),
            escape(name)
        );
    }
    let banner = if ctx.sandbox {
        "<p class=\"sandbox\" role=\"note\"><strong>Sandbox:</strong> this Jukebox runs on a \
         simulated grid with a sandbox wallet. No real TFT moves and no real machine is rented.</p>"
    } else {
        ""
    };
    // The start page is just "Jukebox", not "Jukebox · Jukebox".
    let title = if title.is_empty() || title == "Jukebox" {
        "Jukebox".to_owned()
    } else {
        format!("{} · Jukebox", escape(title))
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/assets/site.css\">\
         <script src=\"/assets/site.js\" defer></script></head>\
         <body><header><a class=\"brand\" href=\"/\">Jukebox</a><nav>{nav}</nav></header>\
         {banner}<main id=\"main\">{body}</main>\
         <div id=\"toast\" role=\"status\" aria-live=\"polite\"></div></body></html>"
    )
}

pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// Buttons as small forms that post the button's data; they work without
/// JavaScript, and the site's script sends them in the background.
fn buttons_html(buttons: &[Vec<Button>], csrf: &str, back: &str) -> String {
    if buttons.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"buttons\">");
    for row in buttons {
        out.push_str("<div class=\"row\">");
        for b in row {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/chat/press\" class=\"press\">{}\
                 <input type=\"hidden\" name=\"back\" value=\"{}\">\
                 <button type=\"submit\" name=\"data\" value=\"{}\">{}</button></form>",
                csrf_field(csrf),
                escape(back),
                escape(&b.data),
                escape(&b.label)
            );
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
    out
}

fn answer_html(answer: &Option<String>) -> String {
    answer
        .as_ref()
        .map(|a| format!("<p class=\"answer\">› {}</p>", escape(a)))
        .unwrap_or_default()
}

/// One feed entry as an element with a stable id (`e<id>`), so a later
/// version of it replaces it in place.
pub fn entry_html(entry: &Entry, csrf: &str, back: &str) -> String {
    let id = entry.id;
    let v = entry.version;
    match &entry.kind {
        EntryKind::Message {
            text,
            buttons,
            answer,
        } => format!(
            "<article class=\"msg\" id=\"e{id}\" data-v=\"{v}\"><p>{}</p>{}{}</article>",
            text_html(text),
            buttons_html(buttons, csrf, back),
            answer_html(answer)
        ),
        EntryKind::Image {
            png,
            caption,
            buttons,
            answer,
        } => format!(
            "<article class=\"msg image\" id=\"e{id}\" data-v=\"{v}\">\
             <img class=\"qr\" alt=\"Payment QR code: scan it with the ThreeFold Connect app\" \
             width=\"240\" height=\"240\" src=\"data:image/png;base64,{}\">\
             <p>{}</p>{}{}</article>",
            base64::engine::general_purpose::STANDARD.encode(png.as_slice()),
            text_html(caption),
            buttons_html(buttons, csrf, back),
            answer_html(answer)
        ),
        EntryKind::Progress { text, .. } => format!(
            "<article class=\"msg progress\" id=\"e{id}\" data-v=\"{v}\" aria-live=\"polite\"><p>{}</p></article>",
            text_html(text)
        ),
        EntryKind::Mine { text } => format!(
            "<article class=\"msg mine\" id=\"e{id}\" data-v=\"{v}\"><p>{}</p></article>",
            escape(text)
        ),
        EntryKind::Notice { text, buttons } => format!(
            "<article class=\"notice\" id=\"e{id}\" data-v=\"{v}\"><p>{}</p>{}</article>",
            text_html(text),
            buttons_html(buttons, csrf, "/notifications")
        ),
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
}
