//! A website link code as a user retypes it (see `service/web.rs`, which
//! makes and redeems them): eight characters of Crockford's base32.

/// Crockford's base32 without I, L, O, U: unambiguous when retyped.
pub const LINK_CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A code as the user typed it, normalised: upper case, no separators,
/// and the look-alikes Crockford's alphabet leaves out mapped back. `None`
/// when it cannot be a code.
pub fn normalise_link_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == 8 && code.bytes().all(|b| LINK_CODE_ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_forgiving_when_typed() {
        assert_eq!(normalise_link_code("abcd efgh"), Some("ABCDEFGH".into()));
        assert_eq!(normalise_link_code("oIl0-0000"), Some("01100000".into()));
        assert_eq!(normalise_link_code("ABCD-EFG"), None);
        assert_eq!(
            normalise_link_code("ABCD-EFGU"),
            None,
            "U is not in the alphabet"
        );
        assert_eq!(normalise_link_code("../../etc"), None);
        assert_eq!(normalise_link_code(""), None);
    }
}
