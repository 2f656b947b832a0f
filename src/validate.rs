//! Validation of everything a user types.
//!
//! Each [`Validator`] turns raw text into a normalised value or explains, in
//! words a user understands, what was expected. Catalog settings name their
//! validator in YAML, so adding a chain never needs new Rust unless it needs a
//! new kind of value.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

mod chain;
mod invalid;
mod link_code;
mod rsa_pem;

pub use chain::{check_address_of_key, eth_address_of};
pub use invalid::Invalid;
pub use link_code::{LINK_CODE_ALPHABET, normalise_link_code};

/// Longest reply accepted anywhere, in characters. Telegram messages are at most
/// 4096 characters; anything longer is refused before any parsing.
pub const MAX_INPUT_CHARS: usize = 4096;

/// Refuses over-long input and control characters (other than plain spaces),
/// and trims surrounding white space.
pub fn clean_input(raw: &str) -> Result<&str, Invalid> {
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(Invalid::TooLong {
            max: MAX_INPUT_CHARS,
        });
    }
    let text = raw.trim();
    if text.chars().any(|c| c.is_control()) {
        return Err(Invalid::ControlCharacters);
    }
    Ok(text)
}

/// As [`clean_input`], but keeps line breaks (and tabs) inside the text:
/// for values that span lines, such as a key file in PEM.
pub fn clean_multiline_input(raw: &str) -> Result<&str, Invalid> {
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(Invalid::TooLong {
            max: MAX_INPUT_CHARS,
        });
    }
    let text = raw.trim();
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Invalid::ControlCharacters);
    }
    Ok(text)
}

/// A kind of value a setting accepts, named in the catalog YAML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validator {
    /// Exactly `length` hexadecimal digits (an optional 0x prefix is dropped).
    Hex { length: usize },
    /// An `https://` URL with a public host (a node on the grid cannot
    /// reach localhost or a private network).
    HttpsUrl,
    /// An Ethereum address: 0x followed by 40 hexadecimal digits, its EIP-55
    /// checksum checked when written in mixed case. With `of_key`, it must be
    /// the address of the private key given in that (earlier) setting.
    EthAddress {
        #[serde(default)]
        of_key: Option<String>,
    },
    /// An Ethereum (secp256k1) private key: 64 hexadecimal digits, a number
    /// from 1 to just below the group order.
    EthPrivateKey,
    /// A BLS12-381 secret key (a masternode operator key): 64 hexadecimal digits,
    /// nonzero and below the group order r.
    BlsSecretKey,
    /// A devp2p node URL: `enode://<128 hex>@host:port`.
    EnodeUrl,
    /// A Tendermint node id: 40 hexadecimal digits.
    TendermintNodeId,
    /// Letters, digits, '-' and '_' only, between `min` and `max` characters.
    Token { min: usize, max: usize },
    /// Any printable text between `min` and `max` characters.
    Text { min: usize, max: usize },
    /// An RSA private key in PEM (PKCS#8 `PRIVATE KEY` or PKCS#1), kept as
    /// canonical PEM (`rsa_pem.rs`).
    RsaPrivateKey,
    /// An RSA public key in PEM (`PUBLIC KEY`); with `of_key`, it must be
    /// the public half of the private key given in that (earlier) setting.
    RsaPublicKey {
        #[serde(default)]
        of_key: Option<String>,
    },
}

impl Validator {
    /// Checks `input` (already cleaned) and returns the value to keep.
    pub fn check(&self, input: &str) -> Result<String, Invalid> {
        let input = input.trim();
        match self {
            Validator::Hex { length } => {
                chain::hex_digits(input, *length).map(|hex| hex.to_ascii_lowercase())
            }
            Validator::HttpsUrl => check_https_url(input),
            Validator::EthAddress { .. } => chain::eth_address(input),
            Validator::EthPrivateKey => chain::eth_private_key(input),
            Validator::BlsSecretKey => chain::bls_secret_key(input),
            Validator::EnodeUrl => check_enode(input),
            Validator::TendermintNodeId => chain::hex_digits(input, 40)
                .map(|hex| hex.to_ascii_lowercase())
                .map_err(|why| Invalid::NodeId(Box::new(why))),
            Validator::Token { min, max } => {
                let n = input.chars().count();
                let charset = input
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if n >= *min && n <= *max && charset {
                    Ok(input.to_owned())
                } else {
                    Err(Invalid::Token {
                        min: *min,
                        max: *max,
                        got: n,
                    })
                }
            }
            Validator::Text { min, max } => {
                let n = input.chars().count();
                if n >= *min && n <= *max {
                    Ok(input.to_owned())
                } else {
                    Err(Invalid::TextLength {
                        min: *min,
                        max: *max,
                        got: n,
                    })
                }
            }
            Validator::RsaPrivateKey => rsa_pem::private_key(input),
            Validator::RsaPublicKey { .. } => rsa_pem::public_key(input),
        }
    }

    /// The earlier setting this one's value must match (`of_key`), if any.
    pub fn of_key(&self) -> Option<&str> {
        match self {
            Validator::EthAddress { of_key } | Validator::RsaPublicKey { of_key } => {
                of_key.as_deref()
            }
            _ => None,
        }
    }

    /// Whether a value spans lines (a PEM file): line breaks are then not
    /// refused as control characters.
    pub fn multiline(&self) -> bool {
        matches!(
            self,
            Validator::RsaPrivateKey | Validator::RsaPublicKey { .. }
        )
    }

    /// How an accepted value reads in a summary when the value itself is
    /// too long or too secret to show (a key file: its kind and size).
    pub fn summary(&self, value: &str) -> Option<String> {
        match self {
            Validator::RsaPrivateKey | Validator::RsaPublicKey { .. } => rsa_pem::describe(value),
            _ => None,
        }
    }

    /// Checks a value this validator accepted against the user's earlier
    /// answers (`earlier` gives a setting's value by key): the address of a
    /// signer must be the address of the key given before it.
    pub fn check_against(
        &self,
        value: &str,
        earlier: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Invalid> {
        match self {
            Validator::EthAddress {
                of_key: Some(key), ..
            } => match earlier(key) {
                Some(private_key) => check_address_of_key(value, &private_key),
                None => Err(Invalid::KeyMissing),
            },
            Validator::RsaPublicKey { of_key: Some(key) } => match earlier(key) {
                Some(private_key) => rsa_pem::check_pair(value, &private_key),
                None => Err(Invalid::KeyMissing),
            },
            _ => Ok(()),
        }
    }

    /// A one-line description for help texts and `jukebox check` output.
    pub fn describe(&self) -> String {
        match self {
            Validator::Hex { length } => format!("{length} hexadecimal characters"),
            Validator::HttpsUrl => "an https:// URL".into(),
            Validator::EthAddress { of_key: None } => {
                "0x followed by 40 hexadecimal characters".into()
            }
            Validator::EthAddress { of_key: Some(key) } => {
                format!("the Ethereum address of the key in {key}")
            }
            Validator::EthPrivateKey => {
                "an Ethereum private key (64 hexadecimal characters)".into()
            }
            Validator::BlsSecretKey => "a BLS secret key (64 hexadecimal characters)".into(),
            Validator::EnodeUrl => "enode://<128 hex>@host:port".into(),
            Validator::TendermintNodeId => "40 hexadecimal characters".into(),
            Validator::Token { min, max } if min == max => {
                format!("{min} letters, digits, - or _")
            }
            Validator::Token { min, max } => format!("{min}-{max} letters, digits, - or _"),
            Validator::Text { min, max } => format!("{min}-{max} characters"),
            Validator::RsaPrivateKey => {
                "an RSA private key in PEM (-----BEGIN PRIVATE KEY-----)".into()
            }
            Validator::RsaPublicKey { of_key: None } => {
                "an RSA public key in PEM (-----BEGIN PUBLIC KEY-----)".into()
            }
            Validator::RsaPublicKey { of_key: Some(key) } => {
                format!("the RSA public key of the private key in {key}")
            }
        }
    }

    /// Rejects validators that can never accept anything (caught by `jukebox check`).
    pub fn sanity_check(&self) -> Result<(), String> {
        match self {
            Validator::Hex { length: 0 } => Err("hex length must be at least 1".into()),
            Validator::Token { min, max } | Validator::Text { min, max } if min > max => {
                Err(format!("min ({min}) is greater than max ({max})"))
            }
            Validator::Token { max, .. } | Validator::Text { max, .. }
                if *max > MAX_INPUT_CHARS =>
            {
                Err(format!("max may be at most {MAX_INPUT_CHARS}"))
            }
            _ => Ok(()),
        }
    }
}

fn check_https_url(input: &str) -> Result<String, Invalid> {
    let rest = input.strip_prefix("https://").ok_or(Invalid::HttpsUrl)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_only = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let host_ok = !host_only.is_empty()
        && host_only
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && !input.contains(char::is_whitespace);
    if !(host_ok && input.len() <= 512) {
        return Err(Invalid::HttpsUrl);
    }
    // An IPv6 literal is bracketed, and its colons are not a port.
    let bare = match host.strip_prefix('[') {
        Some(inside) => inside.split(']').next().unwrap_or(""),
        None => host_only,
    };
    match chain::non_public_host(bare) {
        Some(what) => Err(Invalid::NonPublicHost {
            host: bare.to_owned(),
            what,
        }),
        None => Ok(input.to_owned()),
    }
}

fn check_enode(input: &str) -> Result<String, Invalid> {
    let rest = input.strip_prefix("enode://").ok_or(Invalid::Enode)?;
    let (id, address) = rest.split_once('@').ok_or(Invalid::Enode)?;
    let address = address.split('?').next().unwrap_or("");
    let (host, port) = address.rsplit_once(':').ok_or(Invalid::Enode)?;
    let id_ok = id.len() == 128 && id.chars().all(|c| c.is_ascii_hexdigit());
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    if id_ok && host_ok && port_ok {
        Ok(input.to_owned())
    } else {
        Err(Invalid::Enode)
    }
}

/// Checks an OpenSSH public key line (`ssh-ed25519 AAAA... comment`): a known
/// key type whose base64 body decodes and names the same type.
pub fn check_ssh_public_key(input: &str) -> Result<String, Invalid> {
    const TYPES: [&str; 5] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    let mut parts = input.split_whitespace();
    let (Some(kind), Some(body)) = (parts.next(), parts.next()) else {
        return Err(Invalid::SshKey);
    };
    if !TYPES.contains(&kind) {
        return Err(Invalid::SshKey);
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| Invalid::SshKey)?;
    // The blob starts with a length-prefixed copy of the key type.
    let named = blob
        .get(0..4)
        .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(kind.as_bytes()) || blob.len() < 4 + kind.len() + 16 {
        return Err(Invalid::SshKey);
    }
    let comment: Vec<&str> = parts.collect();
    Ok(if comment.is_empty() {
        format!("{kind} {body}")
    } else {
        format!("{kind} {body} {}", comment.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

    #[test]
    fn hex_accepts_exact_length_and_normalises() {
        let v = Validator::Hex { length: 4 };
        assert_eq!(v.check("0xABcd").unwrap(), "abcd");
        assert!(
            v.check("abc")
                .unwrap_err()
                .to_string()
                .contains("that has 3 (too short)")
        );
        // A wrong character is named, not the (right) length.
        let why = v.check("abcZ").unwrap_err().to_string();
        assert!(why.contains("contains 'Z'") && !why.contains("4"), "{why}");
        assert!(
            v.check("ab d")
                .unwrap_err()
                .to_string()
                .contains("contains a space")
        );
    }

    #[test]
    fn urls_and_addresses() {
        assert!(
            Validator::HttpsUrl
                .check("https://mainnet.infura.io/v3/abc")
                .is_ok()
        );
        assert!(Validator::HttpsUrl.check("http://example.com").is_err());
        assert!(Validator::HttpsUrl.check("https://").is_err());
        assert!(Validator::HttpsUrl.check("https://a b").is_err());
        for local in [
            "https://localhost:8545",
            "https://127.0.0.1/",
            "https://192.168.1.5:8545/rpc",
            "https://[::1]:8545",
            "https://10.0.0.2",
        ] {
            let why = Validator::HttpsUrl.check(local).unwrap_err().to_string();
            assert!(why.contains("ThreeFold data centre"), "{local}: {why}");
        }
        let addr = Validator::EthAddress { of_key: None };
        let zeros = format!("0x{}", "0".repeat(40));
        assert_eq!(addr.check(&zeros).unwrap(), zeros);
        assert!(addr.check("0x123").is_err());
        let enode = format!("enode://{}@1.2.3.4:30303", "b".repeat(128));
        assert!(Validator::EnodeUrl.check(&enode).is_ok());
        assert!(
            Validator::EnodeUrl
                .check("enode://x@1.2.3.4:30303")
                .is_err()
        );
        assert!(
            Validator::EnodeUrl
                .check(&format!("enode://{}@1.2.3.4:0", "b".repeat(128)))
                .is_err()
        );
    }

    #[test]
    fn a_signer_address_must_belong_to_the_key_given_before() {
        let v = Validator::EthAddress {
            of_key: Some("eth_private_key".into()),
        };
        let key = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032";
        let given = |k: &str| (k == "eth_private_key").then(|| key.to_owned());
        let own = v
            .check("0x970e8128ab834e8eac17ab8e3812f010678cf791")
            .unwrap();
        assert!(v.check_against(&own, &given).is_ok());
        let other = v.check(&format!("0x{}", "1".repeat(40))).unwrap();
        let why = v.check_against(&other, &given).unwrap_err().to_string();
        assert!(why.contains("not the address of the private key"), "{why}");
        assert!(v.check_against(&own, &|_| None).is_err());
    }

    #[test]
    fn tokens_and_text() {
        let t = Validator::Token { min: 3, max: 5 };
        assert!(t.check("ab-c").is_ok());
        assert!(t.check("ab c").is_err());
        assert!(t.check("abcdef").is_err());
        let t = Validator::Text { min: 8, max: 10 };
        assert!(t.check("12345678").is_ok());
        assert!(t.check("1234567").is_err());
    }

    #[test]
    fn ssh_keys() {
        assert_eq!(check_ssh_public_key(ED25519_KEY).unwrap(), ED25519_KEY);
        assert!(check_ssh_public_key("ssh-ed25519 notbase64!!").is_err());
        assert!(
            check_ssh_public_key(
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
            )
            .is_err()
        );
        assert!(check_ssh_public_key("hello").is_err());
    }

    #[test]
    fn clean_input_refuses_control_characters_and_long_text() {
        assert_eq!(clean_input("  hi  ").unwrap(), "hi");
        assert!(clean_input("a\u{0007}b").is_err());
        assert!(clean_input(&"x".repeat(MAX_INPUT_CHARS + 1)).is_err());
    }
}
