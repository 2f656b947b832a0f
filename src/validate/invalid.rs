//! Why a user's typed value was refused: one error type for everything the
//! validators and the conversation check, with the re-prompt wording written
//! in one place (its `Display`). The wordings are the ones users already see
//! (the transcripts assert them).

use std::fmt;

/// A refused value, shown to the user as the reason before the question is
/// asked again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// More than `max` characters in one message.
    TooLong {
        max: usize,
    },
    ControlCharacters,
    /// A character that is not a hexadecimal digit.
    NotHex {
        found: char,
    },
    /// Hexadecimal, but `got` digits instead of `expected`.
    HexLength {
        expected: usize,
        got: usize,
    },
    /// A Tendermint/CometBFT node id, refused for the reason inside.
    NodeId(Box<Invalid>),
    /// Not `min` to `max` letters, digits, '-' or '_' (`got` characters).
    Token {
        min: usize,
        max: usize,
        got: usize,
    },
    /// Not `min` to `max` characters (`got` of them).
    TextLength {
        min: usize,
        max: usize,
        got: usize,
    },
    HttpsUrl,
    /// A host a node on the grid cannot reach (`what` it is: "localhost",
    /// "a private address"...).
    NonPublicHost {
        host: String,
        what: &'static str,
    },
    Enode,
    SshKey,
    /// Not `0x` + 40 hex digits, with the digits' own reason when the
    /// prefix was there.
    EthAddress(Option<Box<Invalid>>),
    EthChecksum,
    /// A secp256k1 key that is zero or not below the group order.
    EthKeyRange,
    /// A signer address that is not the address of the key sent before.
    NotAddressOfKey,
    /// The key sent before does not make an address.
    KeyUnusable,
    /// The key an address must belong to was never sent.
    KeyMissing,
    BlsZero,
    BlsRange,
    /// Not a PEM `PRIVATE KEY` (or `RSA PRIVATE KEY`) of RSA.
    RsaPrivateKey,
    /// Not a PEM `PUBLIC KEY` of RSA.
    RsaPublicKey,
    /// A well-formed key of another algorithm than RSA.
    NotRsa,
    /// A PEM whose `-----END ...-----` line is missing: cut short.
    PemCut,
    /// A PEM whose body is not base64.
    PemBase64,
    /// An RSA modulus of `bits` bits, outside what a node makes.
    RsaKeySize {
        bits: usize,
    },
    /// A public key that is not the private key's own.
    NotPublicOfKey,
    /// Typed text that matches none of the offered buttons.
    NotAChoice,
    /// Not a whole number from 1 to `max`.
    Count {
        max: u32,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::TooLong { max } => {
                write!(f, "That message is too long (more than {max} characters).")
            }
            Invalid::ControlCharacters => f.write_str(
                "That message contains control characters; please send plain text.",
            ),
            Invalid::NotHex { found } => {
                let shown = if *found == ' ' {
                    "a space".to_owned()
                } else {
                    format!("'{found}'")
                };
                write!(
                    f,
                    "That is not hexadecimal: it contains {shown} (only 0-9 and a-f are allowed)."
                )
            }
            Invalid::HexLength { expected, got } => write!(
                f,
                "Expected exactly {expected} hexadecimal characters; that has {got} ({}).",
                if got < expected {
                    "too short"
                } else {
                    "too long"
                }
            ),
            Invalid::NodeId(why) => {
                write!(f, "Expected a node id of 40 hexadecimal characters. {why}")
            }
            Invalid::Token { min, max, got } => {
                let got = match got {
                    0 => "nothing".to_owned(),
                    1 => "1 character".to_owned(),
                    n => format!("{n} characters"),
                };
                // A fixed length (a registration code) reads as one.
                if min == max {
                    write!(
                        f,
                        "Expected exactly {min} letters, digits, '-' or '_'; got {got}."
                    )
                } else {
                    write!(
                        f,
                        "Expected {min} to {max} letters, digits, '-' or '_'; got {got}."
                    )
                }
            }
            Invalid::TextLength { min, max, got } => {
                write!(f, "Expected {min} to {max} characters; got {got}.")
            }
            Invalid::HttpsUrl => f.write_str(
                "Expected a URL starting with https://, e.g. https://mainnet.infura.io/v3/KEY.",
            ),
            Invalid::NonPublicHost { host, what } => write!(
                f,
                "{host} is {what}: your node runs in a ThreeFold data centre, where that is not your server, so please send a URL with a public host name or address."
            ),
            Invalid::Enode => {
                f.write_str("Expected enode://<128 hexadecimal characters>@host:port.")
            }
            Invalid::SshKey => f.write_str(
                "Expected an SSH public key line such as `ssh-ed25519 AAAAC3Nza... you@laptop` \
                 (the content of ~/.ssh/id_ed25519.pub).",
            ),
            Invalid::EthAddress(why) => {
                f.write_str("Expected an address like 0x followed by 40 hexadecimal characters.")?;
                match why {
                    Some(why) => write!(f, " {why}"),
                    None => Ok(()),
                }
            }
            Invalid::EthChecksum => f.write_str(
                "That address's capital letters do not match its EIP-55 checksum, so a character \
                 is probably mistyped; please copy it again.",
            ),
            Invalid::EthKeyRange => f.write_str(
                "That is not a usable Ethereum private key: it must be a number from 1 to just \
                 below the secp256k1 group order, and this one is zero or too large.",
            ),
            Invalid::NotAddressOfKey => f.write_str(
                "That is not the address of the private key you sent: the validator would sign \
                 as a different account than the one staked, so please send the signer key's \
                 own address.",
            ),
            Invalid::KeyUnusable => f.write_str(
                "The private key sent earlier is not usable; please go Back and send it again.",
            ),
            Invalid::KeyMissing => f.write_str(
                "The private key this address belongs to is missing; please go Back and send it again.",
            ),
            Invalid::BlsZero => f.write_str(
                "An all-zero BLS key is not a key: the chain refuses it, so the node could never sign.",
            ),
            Invalid::BlsRange => f.write_str(
                "That is not a BLS secret key: it must be below the BLS12-381 group order \
                 (keys start with 0x00 to 0x73), so the chain would refuse it.",
            ),
            Invalid::RsaPrivateKey => f.write_str(
                "Expected the node's private key: the whole content of its id_rsa file, from \
                 -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----.",
            ),
            Invalid::RsaPublicKey => f.write_str(
                "Expected the node's public key: the whole content of its id_rsa.pub file, from \
                 -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----.",
            ),
            Invalid::NotRsa => f.write_str(
                "That key is not an RSA key, so it is not one a node made; please send the \
                 content of the node's own key file.",
            ),
            Invalid::PemCut => f.write_str(
                "That key is cut short: its -----END ...----- line is missing. Please send the \
                 whole file in one message.",
            ),
            Invalid::PemBase64 => f.write_str(
                "That key is damaged: between its BEGIN and END lines there is something other \
                 than base64. Please copy the file again.",
            ),
            Invalid::RsaKeySize { bits } => write!(
                f,
                "That is a {bits}-bit RSA key; a node's key has 1024 to 16384 bits, so this is not one."
            ),
            Invalid::NotPublicOfKey => f.write_str(
                "That public key does not belong to the private key you sent: the node would not \
                 start with the pair. Please send the id_rsa.pub from the same .keys folder.",
            ),
            Invalid::NotAChoice => {
                f.write_str("Please pick one of the buttons (or type its label or number).")
            }
            Invalid::Count { max } => write!(f, "Please send a whole number from 1 to {max}."),
        }
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_reasons_read_as_one_sentence_pair() {
        let why = Invalid::EthAddress(Some(Box::new(Invalid::HexLength {
            expected: 40,
            got: 3,
        })));
        assert_eq!(
            why.to_string(),
            "Expected an address like 0x followed by 40 hexadecimal characters. \
             Expected exactly 40 hexadecimal characters; that has 3 (too short)."
        );
        assert_eq!(
            Invalid::Token {
                min: 3,
                max: 5,
                got: 0
            }
            .to_string(),
            "Expected 3 to 5 letters, digits, '-' or '_'; got nothing."
        );
    }
}
