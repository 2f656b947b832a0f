//! The terms and conditions every account accepts on TFChain before it may
//! create a twin (`TfgridModule.user_accept_tc`): a document link and a
//! hash, checked here as pallet-tfgrid's `terms_cond.rs` checks them, so a
//! pair the chain would refuse is caught by `jukebox check` instead of by
//! the chain at a user's first order.
//!
//! The chain checks only the form of the hash, never the document. The
//! default pair is the link the TypeScript grid client accepts
//! (tfgrid-sdk-ts `grid_client/src/modules/tfchain.ts`, `createAccount`)
//! with the hex MD5 of that link's text: the TypeScript client hashes the
//! page it downloads, whose bytes change with every rebuild of the site and
//! cannot be fetched offline, while Zero-OS itself registers the MD5 of its
//! terms URL (zosbase `pkg/registrar/register.go`: "this is hash of the url
//! not the document"). An operator with a reviewed document sets both.

/// The legal page the TypeScript grid client has every new account accept.
pub const DEFAULT_LINK: &str = "https://library.threefold.me/info/legal/#/";
/// The hex MD5 of [`DEFAULT_LINK`]'s text.
pub const DEFAULT_HASH: &str = "cc6c00174f609cc33a945ffd3493714d";

/// The most a document link may hold, in bytes (`MAX_DOCUMENT_LINK_LENGTH`).
pub const MAX_LINK_BYTES: usize = 2048;
/// The most a document hash may hold, in bytes (`MAX_DOCUMENT_HASH_LENGTH`).
pub const MAX_HASH_BYTES: usize = 50;

/// A document link and hash TFChain accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    link: String,
    hash: String,
}

impl Terms {
    /// The pair, if pallet-tfgrid would accept it: a link of 1 to 2,048
    /// URL characters (`A-Z a-z 0-9 - . _ ~ : / ? # [ ] @ ! $ & ' ( ) * + ,
    /// ; =`) and a hash of 1 to 50 of `A-Z a-z 0-9 - _`. The message names
    /// the config key at fault.
    pub fn parse(link: &str, hash: &str) -> Result<Terms, String> {
        if link.is_empty() || link.len() > MAX_LINK_BYTES {
            return Err(format!(
                "terms_link must be 1 to {MAX_LINK_BYTES} bytes long (it has {})",
                link.len()
            ));
        }
        if let Some(bad) = link.chars().find(|c| !link_char(*c)) {
            return Err(format!(
                "terms_link {link:?} has {bad:?}, which TFChain refuses in a document link"
            ));
        }
        if hash.is_empty() || hash.len() > MAX_HASH_BYTES {
            return Err(format!(
                "terms_hash must be 1 to {MAX_HASH_BYTES} characters of A-Z, a-z, 0-9, - and _ \
                 (it has {} bytes): the hex MD5 of the document, e.g. {DEFAULT_HASH:?}",
                hash.len()
            ));
        }
        if let Some(bad) = hash.chars().find(|c| !hash_char(*c)) {
            return Err(format!(
                "terms_hash {hash:?} has {bad:?}; TFChain takes only A-Z, a-z, 0-9, - and _"
            ));
        }
        Ok(Terms {
            link: link.to_owned(),
            hash: hash.to_owned(),
        })
    }

    pub fn link(&self) -> &str {
        &self.link
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }
}

impl Default for Terms {
    fn default() -> Terms {
        Terms {
            link: DEFAULT_LINK.to_owned(),
            hash: DEFAULT_HASH.to_owned(),
        }
    }
}

/// `validate_document_link_input` in `terms_cond.rs`.
fn link_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c)
}

/// `validate_document_hash_input` in `terms_cond.rs`.
fn hash_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[cfg(test)]
mod tests {
    use md5::{Digest as _, Md5};

    use super::*;

    #[test]
    fn the_default_pair_is_accepted_and_its_hash_is_the_links_md5() {
        let md5 = hex::encode(Md5::digest(DEFAULT_LINK.as_bytes()));
        assert_eq!(DEFAULT_HASH, md5);
        let terms = Terms::parse(DEFAULT_LINK, DEFAULT_HASH).unwrap();
        assert_eq!(terms, Terms::default());
        assert_eq!((terms.link(), terms.hash()), (DEFAULT_LINK, DEFAULT_HASH));
        // Zero-OS's own pair has the same form.
        assert!(
            Terms::parse(
                "http://zos.tf/terms/v0.1",
                "9021d4dee05a661e2cb6838152c67f25"
            )
            .is_ok()
        );
    }

    #[test]
    fn what_the_chain_refuses_is_refused_here() {
        let hash = |h: &str| Terms::parse(DEFAULT_LINK, h);
        assert!(
            hash("")
                .unwrap_err()
                .starts_with("terms_hash must be 1 to 50")
        );
        assert!(hash(&"a".repeat(50)).is_ok());
        assert!(hash(&"a".repeat(51)).is_err());
        assert!(hash("f4fa1c1b").is_ok());
        assert!(hash("my_hash-1").is_ok());
        for bad in ["abc def", "0xabc!", "sha256:ab", "ab/c", "é"] {
            assert!(hash(bad).unwrap_err().contains("terms_hash"), "{bad}");
        }
        let link = |l: &str| Terms::parse(l, DEFAULT_HASH);
        assert!(link("").is_err());
        assert!(link(&format!("https://x.org/{}", "a".repeat(2048))).is_err());
        assert!(
            link("https://x.org/a b")
                .unwrap_err()
                .contains("terms_link")
        );
        assert!(link("https://x.org/<t>").is_err());
        assert!(link("https://x.org/legal?v=1&l=en#/terms_(v2)").is_ok());
    }
}
