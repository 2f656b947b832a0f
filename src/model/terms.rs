//! The terms and conditions pair (document link and hash) every account
//! accepts on TFChain before it may create a twin, checked as
//! pallet-tfgrid's `terms_cond.rs` checks it (`validate_document_link_input`,
//! `validate_document_hash_input`), so `jukebox check` catches a pair the
//! chain would refuse. Fetching a document to hash it is the backend's
//! (`grid/tfgrid/chain/terms.rs`).

/// The legal page the TypeScript grid client has every new account accept.
pub const DEFAULT_LINK: &str = "https://library.threefold.me/info/legal/#/";

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

/// Why TFChain would refuse a terms pair; the wording names the config key
/// at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadTerms {
    /// The link's length in bytes.
    #[error("terms_link must be 1 to {MAX_LINK_BYTES} bytes long (it has {0})")]
    LinkLength(usize),
    #[error("terms_link {link:?} has {bad:?}, which TFChain refuses in a document link")]
    LinkChar { link: String, bad: char },
    /// The hash's length in bytes.
    #[error(
        "terms_hash must be 1 to {MAX_HASH_BYTES} characters of A-Z, a-z, 0-9, - and _ \
         (it has {0} bytes): the hex MD5 of the document, like \
         \"cc6c00174f609cc33a945ffd3493714d\", or unset to hash the document fetched"
    )]
    HashLength(usize),
    #[error("terms_hash {hash:?} has {bad:?}; TFChain takes only A-Z, a-z, 0-9, - and _")]
    HashChar { hash: String, bad: char },
}

impl Terms {
    /// The pair, if pallet-tfgrid would accept it: a link of 1 to 2,048
    /// URL characters (`A-Z a-z 0-9 - . _ ~ : / ? # [ ] @ ! $ & ' ( ) * + ,
    /// ; =`) and a hash of 1 to 50 of `A-Z a-z 0-9 - _`. The message names
    /// the config key at fault.
    pub fn parse(link: &str, hash: &str) -> Result<Terms, BadTerms> {
        check_link(link)?;
        check_hash(hash)?;
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

/// A document link TFChain accepts (see [`Terms::parse`]).
pub fn check_link(link: &str) -> Result<(), BadTerms> {
    if link.is_empty() || link.len() > MAX_LINK_BYTES {
        return Err(BadTerms::LinkLength(link.len()));
    }
    if let Some(bad) = link.chars().find(|c| !link_char(*c)) {
        return Err(BadTerms::LinkChar {
            link: link.to_owned(),
            bad,
        });
    }
    Ok(())
}

/// A document hash TFChain accepts (see [`Terms::parse`]).
pub fn check_hash(hash: &str) -> Result<(), BadTerms> {
    if hash.is_empty() || hash.len() > MAX_HASH_BYTES {
        return Err(BadTerms::HashLength(hash.len()));
    }
    if let Some(bad) = hash.chars().find(|c| !hash_char(*c)) {
        return Err(BadTerms::HashChar {
            hash: hash.to_owned(),
            bad,
        });
    }
    Ok(())
}

/// `validate_document_link_input` in `terms_cond.rs`.
fn link_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c)
}

/// `validate_document_hash_input` in `terms_cond.rs`.
fn hash_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}
