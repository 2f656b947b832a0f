//! Templates in scripts: `{placeholder}` substitution, checked at compile time.

/// Every placeholder a script may use. The engine provides each of them.
pub const PLACEHOLDERS: &[&str] = &[
    "chain",
    "chain_description",
    "node_type",
    "node_type_description",
    "resources",
    "count",
    "max_nodes",
    "ipv4_price",
    "with_ipv4",
    "order_summary",
    "node",
    "balance",
    "commands",
];

/// The placeholder names in `text`, or why its braces are malformed.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a `}` without a matching `{`".into());
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a `{` without a matching `}`")?;
        let name = &after[..close];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!("`{{{name}}}` is not a placeholder name"));
        }
        names.push(name.to_owned());
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// Replaces each `{name}` with `value(name)`. Templates are checked when the
/// scripts compile, so malformed braces here are left as they are.
pub fn render(text: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push_str(&value(&after[..close]));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_renders_placeholders() {
        assert_eq!(
            placeholders("a {chain} b {count}").unwrap(),
            ["chain", "count"]
        );
        assert!(placeholders("a {chain").is_err());
        assert!(placeholders("a }").is_err());
        assert!(placeholders("{Bad}").is_err());
        let out = render("run {chain} x{count}", &|n| n.to_uppercase());
        assert_eq!(out, "run CHAIN xCOUNT");
    }
}
