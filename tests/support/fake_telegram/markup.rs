//! What Telegram does to a text before showing it: `parse_mode` markup is
//! parsed away (and rejected when malformed, which is a classic production
//! bug a fake must not hide), lengths are checked, PNG sizes are read.

/// The text a user sees for `text` sent with `parse_mode`, or the
/// description of Telegram's 400 for malformed markup.
pub fn visible_text(text: &str, parse_mode: Option<&str>) -> Result<String, String> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(text.to_owned()),
        Some("html") => html(text),
        Some("markdownv2") => markdown_v2(text),
        // Legacy Markdown is lenient: markers vanish, nothing is rejected.
        Some("markdown") => Ok(text.replace(['*', '_', '`'], "")),
        Some(other) => return Err(format!("Bad Request: unsupported parse_mode \"{other}\"")),
    };
    parsed.map_err(|why| format!("Bad Request: can't parse entities: {why}"))
}

/// Telegram counts text limits in UTF-16 code units after entity parsing.
pub fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

fn html(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let at = text.len() - rest.len();
        match c {
            '<' => {
                let end = rest.find('>').ok_or_else(|| {
                    format!("Can't find end of the tag starting at byte offset {at}")
                })?;
                let tag = &rest[1..end];
                let closing = tag.starts_with('/');
                let name = tag
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if !HTML_TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {at}"
                    ));
                }
                if closing {
                    match open.pop() {
                        Some(expected) if expected == name => {}
                        expected => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {at}, expected \"</{}>\", found \"</{name}>\"",
                                expected.unwrap_or_default()
                            ));
                        }
                    }
                } else {
                    open.push(name);
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let entity = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
                    let decoded = match &rest[1..end] {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        num => num
                            .strip_prefix("#x")
                            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                            .or_else(|| num.strip_prefix('#').and_then(|d| d.parse().ok()))
                            .and_then(char::from_u32),
                    };
                    decoded.map(|ch| (ch, end))
                });
                // An `&` that starts no known entity is shown as it is.
                let (ch, len) = entity.map_or(('&', 1), |(ch, end)| (ch, end + 1));
                out.push(ch);
                rest = &rest[len..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.last() {
        Some(tag) => Err(format!(
            "Can't find end tag corresponding to start tag \"{tag}\""
        )),
        None => Ok(out),
    }
}

fn markdown_v2(text: &str) -> Result<String, String> {
    const RESERVED: &str = "_*[]()~`>#+-=|{}.!";
    let mut out = String::new();
    // Open style markers (`*`, `_`, `__`, `~`, `||`) with their byte offsets.
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut rest = text;
    let mut line_start = true;
    while let Some(c) = rest.chars().next() {
        let at = text.len() - rest.len();
        let mut step = c.len_utf8();
        match c {
            '\\' => {
                let escaped = rest[1..]
                    .chars()
                    .next()
                    .ok_or_else(|| format!("Character '\\' at byte offset {at} escapes nothing"))?;
                out.push(escaped);
                step += escaped.len_utf8();
            }
            '`' => {
                let fence = if rest.starts_with("```") { "```" } else { "`" };
                let body = &rest[fence.len()..];
                let end = body
                    .find(fence)
                    .ok_or_else(|| format!("Can't find end of Code entity at byte offset {at}"))?;
                let mut code = &body[..end];
                if fence == "```" {
                    // The first line of a pre block may name its language.
                    code = code.split_once('\n').map_or(code, |(_, c)| c);
                }
                out.push_str(&code.replace("\\`", "`").replace("\\\\", "\\"));
                step = fence.len() * 2 + end;
            }
            '*' | '_' | '~' | '|' => {
                let marker = ["__", "||", "*", "_", "~"]
                    .into_iter()
                    .find(|m| rest.starts_with(m))
                    .ok_or_else(|| reserved(c))?;
                match open.iter().rposition(|(m, _)| *m == marker) {
                    Some(i) => {
                        open.remove(i);
                    }
                    None => open.push((marker, at)),
                }
                step = marker.len();
            }
            '[' => {
                let close = find_unescaped(rest, ']').ok_or_else(|| {
                    format!("Can't find end of TextUrl entity at byte offset {at}")
                })?;
                let after = &rest[close + 1..];
                if !after.starts_with('(') {
                    return Err(reserved('['));
                }
                let url_end = find_unescaped(after, ')')
                    .ok_or_else(|| format!("Can't find end of a URL at byte offset {at}"))?;
                out.push_str(&markdown_v2(&rest[1..close])?);
                step = close + 1 + url_end + 1;
            }
            '>' if line_start => {}
            _ if RESERVED.contains(c) => return Err(reserved(c)),
            _ => out.push(c),
        }
        line_start = c == '\n';
        rest = &rest[step..];
    }
    match open.first() {
        Some((marker, at)) => Err(format!(
            "Can't find end of the entity \"{marker}\" starting at byte offset {at}"
        )),
        None => Ok(out),
    }
}

fn reserved(c: char) -> String {
    format!("Character '{c}' is reserved and must be escaped with the preceding '\\'")
}

fn find_unescaped(s: &str, wanted: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            _ if c == wanted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Width and height from a PNG's IHDR chunk; `None` for anything else.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}
