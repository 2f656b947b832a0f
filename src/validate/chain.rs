//! Chain keys and addresses checked the way the chains themselves check
//! them, so a node is never deployed with a value its chain will refuse or,
//! worse, accept and misuse.
//!
//! - Ethereum addresses: EIP-55 mixed-case checksum (ethereum/ERCs,
//!   `ERCS/erc-55.md`): the keccak-256 of the lowercase hex address decides,
//!   nibble by nibble, which letters are capitals.
//! - Ethereum-style signer private keys: a secp256k1 scalar, 32 bytes,
//!   `1 <= k < n`; the address is the last 20 bytes of the keccak-256 of the
//!   uncompressed public key without its 0x04 prefix (Ethereum yellow paper,
//!   appendix F; the same in go-ethereum `crypto.PubkeyToAddress`).
//! - BLS operator secret keys (masternodes): a BLS12-381 scalar, 32 bytes big-endian,
//!   nonzero (dashpay/dash `src/bls/bls.h`: an all-zero key is the "null",
//!   invalid key) and below the group order r (Chia-Network/bls-signatures
//!   `src/privatekey.cpp`, `PrivateKey::FromBytes`: "PrivateKey byte data must
//!   be less than the group order").
//! - RPC endpoints for a node on the grid: the node reaches them from a
//!   ThreeFold data centre, so a loopback or private address names the node
//!   itself or nothing at all.

// `core::net`: the address types only, no sockets (the core does no IO).
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use sha3::{Digest as _, Keccak256};
use zeroize::Zeroizing;

use super::Invalid;

/// The BLS12-381 group order r, big-endian (the scalar field modulus).
const BLS12_381_R: [u8; 32] = [
    0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
    0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
];

/// `input` without an optional `0x`, as exactly `len` hex digits, or a
/// sentence saying what is wrong with it.
pub(super) fn hex_digits(input: &str, len: usize) -> Result<&str, Invalid> {
    let hex = input
        .strip_prefix("0x")
        .or_else(|| input.strip_prefix("0X"))
        .unwrap_or(input);
    if let Some(found) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(Invalid::NotHex { found });
    }
    let got = hex.len();
    if got != len {
        return Err(Invalid::HexLength { expected: len, got });
    }
    Ok(hex)
}

fn decode32(hex: &str) -> Zeroizing<[u8; 32]> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    // `hex_digits` checked the length and the digits.
    let _ = hex::decode_to_slice(hex, bytes.as_mut());
    bytes
}

/// A secp256k1 private key (an Ethereum-style signer key): 64 hex digits, in range.
pub(super) fn eth_private_key(input: &str) -> Result<String, Invalid> {
    let hex = hex_digits(input, 64)?;
    let bytes = decode32(hex);
    k256::SecretKey::from_slice(bytes.as_ref()).map_err(|_| Invalid::EthKeyRange)?;
    Ok(hex.to_ascii_lowercase())
}

/// The Ethereum address (`0x` + 40 lowercase hex) of a private key that
/// [`eth_private_key`] accepted.
pub fn eth_address_of(private_key_hex: &str) -> Option<String> {
    let hex = hex_digits(private_key_hex, 64).ok()?;
    let bytes = decode32(hex);
    let secret = k256::SecretKey::from_slice(bytes.as_ref()).ok()?;
    let point = secret.public_key().to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    Some(format!("0x{}", hex::encode(&hash[12..])))
}

/// The EIP-55 form of 40 lowercase hex digits (without `0x`).
fn eip55(lower: &str) -> String {
    let hash = Keccak256::digest(lower.as_bytes());
    lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// An Ethereum address; when written in mixed case, its EIP-55 checksum
/// must hold. Kept in its checksummed form.
pub(super) fn eth_address(input: &str) -> Result<String, Invalid> {
    let digits = input
        .strip_prefix("0x")
        .or_else(|| input.strip_prefix("0X"))
        .ok_or(Invalid::EthAddress(None))?;
    let digits = hex_digits(digits, 40).map_err(|why| Invalid::EthAddress(Some(Box::new(why))))?;
    let lower = digits.to_ascii_lowercase();
    let checksummed = eip55(&lower);
    let mixed = digits.chars().any(|c| c.is_ascii_lowercase())
        && digits.chars().any(|c| c.is_ascii_uppercase());
    if mixed && digits != checksummed {
        return Err(Invalid::EthChecksum);
    }
    Ok(format!("0x{checksummed}"))
}

/// Whether `address` (an address [`eth_address`] accepted) is the one of
/// `private_key`; the refusal says why in one sentence.
pub fn check_address_of_key(address: &str, private_key: &str) -> Result<(), Invalid> {
    match eth_address_of(private_key) {
        Some(derived) if derived.eq_ignore_ascii_case(address) => Ok(()),
        Some(_) => Err(Invalid::NotAddressOfKey),
        None => Err(Invalid::KeyUnusable),
    }
}

/// A BLS operator secret key: 32 bytes, nonzero, below r.
pub(super) fn bls_secret_key(input: &str) -> Result<String, Invalid> {
    let hex = hex_digits(input, 64)?;
    let bytes = decode32(hex);
    if bytes.iter().all(|&b| b == 0) {
        return Err(Invalid::BlsZero);
    }
    // Big-endian byte arrays compare like the numbers they hold.
    if *bytes >= BLS12_381_R {
        return Err(Invalid::BlsRange);
    }
    Ok(hex.to_ascii_lowercase())
}

/// Why a node on the grid cannot use `host` as an endpoint, if it cannot:
/// loopback, private, link-local, shared (CGNAT) and unspecified addresses,
/// and `localhost` names, all mean the node itself or a network it is not on.
pub(super) fn non_public_host(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("localhost");
    }
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => ipv4_reason(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ipv4_reason(v4),
            None => ipv6_reason(v6),
        },
    }
}

fn ipv4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else {
        None
    }
}

fn ipv6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_unique_local() {
        Some("a private address")
    } else if ip.is_unicast_link_local() {
        Some("a link-local address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_test_vectors_from_the_erc() {
        // ethereum/ERCs ERCS/erc-55.md, "Test Cases".
        for address in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            assert_eq!(eth_address(address).unwrap(), address);
            assert_eq!(eth_address(&address.to_ascii_lowercase()).unwrap(), address);
        }
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let why = eth_address(typo).unwrap_err().to_string();
        assert!(why.contains("EIP-55 checksum"), "{why}");
        assert!(eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe").is_err());
        let why = eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeZ")
            .unwrap_err()
            .to_string();
        assert!(why.contains("contains 'Z'"), "{why}");
    }

    #[test]
    fn the_address_of_a_private_key() {
        // Private key 1: its address is well known (the generator point's).
        let one = format!("{:0>64}", "1");
        assert_eq!(
            eth_address_of(&one).unwrap(),
            "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
        );
        // go-ethereum crypto/crypto_test.go: testPrivHex and testAddrHex.
        let key = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032";
        assert_eq!(
            eth_address_of(key).unwrap(),
            "0x970e8128ab834e8eac17ab8e3812f010678cf791"
        );
        assert!(check_address_of_key("0x970E8128AB834E8EAC17Ab8E3812F010678CF791", key).is_ok());
        let why = check_address_of_key("0x7e5f4552091a69125d5dfcb7b8c2659029395bdf", key)
            .unwrap_err()
            .to_string();
        assert!(why.contains("not the address of the private key"), "{why}");
    }

    #[test]
    fn private_keys_must_be_in_range() {
        assert!(
            eth_private_key(&"0".repeat(64))
                .unwrap_err()
                .to_string()
                .contains("zero or too large")
        );
        // n itself and above are refused; n - 1 is the largest key.
        let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        let n_minus_1 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140";
        assert!(eth_private_key(n).is_err());
        assert!(eth_private_key(&"f".repeat(64)).is_err());
        assert_eq!(
            eth_private_key(&format!("0x{n_minus_1}")).unwrap(),
            n_minus_1
        );
        let why = eth_private_key(&format!("{}Z", "a".repeat(63)))
            .unwrap_err()
            .to_string();
        assert!(why.contains("contains 'Z'"), "{why}");
    }

    #[test]
    fn bls_keys_are_nonzero_and_below_r() {
        assert!(
            bls_secret_key(&"0".repeat(64))
                .unwrap_err()
                .to_string()
                .contains("all-zero")
        );
        let r = hex::encode(BLS12_381_R);
        assert!(
            bls_secret_key(&r)
                .unwrap_err()
                .to_string()
                .contains("group order")
        );
        assert!(bls_secret_key(&"ab".repeat(32)).is_err());
        let r_minus_1 = format!("{}0", &r[..63]);
        assert_eq!(bls_secret_key(&r_minus_1).unwrap(), r_minus_1);
        assert!(bls_secret_key(&format!("{:0>64}", "1")).is_ok());
    }

    #[test]
    fn hosts_a_grid_node_cannot_reach() {
        for host in [
            "localhost",
            "rpc.localhost",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.10",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "[::1]",
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:192.168.1.1]",
        ] {
            assert!(non_public_host(host).is_some(), "{host}");
        }
        for host in [
            "mainnet.infura.io",
            "8.8.8.8",
            "[2001:4860::8888]",
            "172.32.0.1",
        ] {
            assert_eq!(non_public_host(host), None, "{host}");
        }
    }
}
