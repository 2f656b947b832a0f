//! CometBFT's `/status` (a CometBFT consensus layer) and Ethereum's
//! `eth_blockNumber` (an EVM execution client), read over HTTP.
//!
//! `/status` answers a JSON-RPC 2.0 envelope (cometbft rpc/jsonrpc/types
//! `RPCResponse`: `jsonrpc`, `id`, then `result` or `error` {code, message,
//! data}) around `ResultStatus` (rpc/core/types/responses.go): `node_info`
//! (p2p/nodeinfo `DefaultNodeInfo`: `network` is the chain id, `version`
//! CometBFT's) and `sync_info` (`latest_block_height`, an int64 that
//! cometbft's JSON encoder writes as a string, `latest_block_time` in
//! RFC 3339, `catching_up`). The execution layer beside it (`eth_blockNumber`,
//! `eth_syncing`) is `evm.rs`.
//!
//! A chain built on a CometBFT fork (v0.38) serves CometBFT's own `/status`;
//! the network id each chain expects is in dialogues/catalog.yaml, with its
//! upstream source.

use serde::Deserialize;

use super::ChainProbeError;
// An execution layer's JSON-RPC, read beside `/status` (`evm.rs`).
pub use super::evm::{block_number_request, parse_block_number};
use crate::lifecycle::chain::ClientVersion;

/// No honest answer here is longer; a longer body is refused unread.
const MAX_BODY: usize = 256 * 1024;

/// What `/status` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub network: String,
    /// CometBFT's version ("0.38.17").
    pub version: String,
    pub height: u64,
    /// Unix seconds of the latest block, if it parsed.
    pub latest_block_time: Option<u64>,
    pub catching_up: bool,
}

impl Status {
    pub fn client_version(&self) -> Option<ClientVersion> {
        ClientVersion::parse(&self.version).ok()
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    jsonrpc: String,
    // A missing `result` reads as None (serde's rule for Option fields).
    result: Option<T>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawStatus {
    node_info: RawNodeInfo,
    sync_info: RawSyncInfo,
}

#[derive(Deserialize)]
struct RawNodeInfo {
    network: String,
    version: String,
}

#[derive(Deserialize)]
struct RawSyncInfo {
    latest_block_height: String,
    latest_block_time: String,
    catching_up: bool,
}

fn result_of<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ChainProbeError> {
    let envelope: Envelope<T> = serde_json::from_slice(body).map_err(|e| {
        ChainProbeError::Garbage(format!("the answer is not CometBFT's JSON-RPC ({e})"))
    })?;
    if envelope.jsonrpc != "2.0" {
        return Err(ChainProbeError::Garbage(format!(
            "the answer says jsonrpc {:?}, not \"2.0\"",
            envelope.jsonrpc
        )));
    }
    if let Some(e) = envelope.error {
        let data = e.data.map(|d| format!(" ({d})")).unwrap_or_default();
        return Err(ChainProbeError::Rpc(format!(
            "{} {}{data}",
            e.code, e.message
        )));
    }
    envelope
        .result
        .ok_or_else(|| ChainProbeError::Garbage("the answer has neither result nor error".into()))
}

/// Parses a `/status` body; `network` is the chain id the node must report.
pub fn parse_status(body: &[u8], network: &str) -> Result<Status, ChainProbeError> {
    let raw: RawStatus = result_of(body)?;
    let height = parse_height(&raw.sync_info.latest_block_height)?;
    if raw.node_info.network != network {
        return Err(ChainProbeError::WrongNetwork {
            got: raw.node_info.network,
            expected: network.to_string(),
        });
    }
    Ok(Status {
        network: raw.node_info.network,
        version: raw.node_info.version,
        height,
        latest_block_time: parse_rfc3339(&raw.sync_info.latest_block_time),
        catching_up: raw.sync_info.catching_up,
    })
}

fn parse_height(text: &str) -> Result<u64, ChainProbeError> {
    let valid = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| {
            ChainProbeError::Garbage(format!("latest_block_height {text:?} is not a height"))
        })
}

/// "2019-08-01T11:52:22.818762194Z" (or with a ±hh:mm offset) as unix
/// seconds; `None` if it is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (num_of(rest.get(1..3)?)? * 3600 + num_of(rest.get(4..6)?)? * 60)
        }
    };
    let days = crate::lifecycle::days_from_civil(year, month, day);
    let (y, m, d) = crate::lifecycle::civil_from_days(days);
    if (y, m, d) != (year, month, day) {
        return None;
    }
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// Reads a response body, refusing one over [`MAX_BODY`].
pub(super) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, ChainProbeError> {
    let status = response.status();
    if !status.is_success() {
        return Err(ChainProbeError::HttpStatus(status.as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ChainProbeError::Unreachable(format!(
            "reading the answer failed: {}",
            super::innermost(&e)
        ))
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ChainProbeError::Garbage(format!(
                "the answer is over {} KiB",
                MAX_BODY / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cometbft's documented `/status` example (docs.cosmos.network,
    /// api-reference/rpc/info/status), network renamed.
    const STATUS: &str = r#"{"jsonrpc":"2.0","id":-1,"result":{"node_info":{"protocol_version":{"p2p":"8","block":"11","app":"0"},"id":"5576458aef205977e18fd50b274e9b5d9014525a","listen_addr":"tcp://0.0.0.0:26656","network":"heimdallv2-137","version":"0.38.17","channels":"40202122233038606100","moniker":"m","other":{"tx_index":"on","rpc_address":"tcp://0.0.0.0:26657"}},"sync_info":{"latest_block_hash":"790BA84C3545FCCC49A5C629CEE6EA58A6E875C3862175BDC11EE7AF54703501","latest_app_hash":"C9AEBB441B787D9F1D846DE51F3826F4FD386108B59B08239653ABF59455C3F8","latest_block_height":"1262196","latest_block_time":"2019-08-01T11:52:22.818762194Z","earliest_block_hash":"","earliest_app_hash":"","earliest_block_height":"1","earliest_block_time":"2019-08-01T11:52:22.818762194Z","catching_up":false},"validator_info":{"address":"5D6A51A8E9899C44079C6AF90618BA0369070E6E","pub_key":{"type":"tendermint/PubKeyEd25519","value":"A6DoBUypNtUAyEHWtQ9bFjfNg8Bo9CrnkUGl6k6OHN4="},"voting_power":"0"}}}"#;

    #[test]
    fn reads_the_documented_status() {
        let s = parse_status(STATUS.as_bytes(), "heimdallv2-137").unwrap();
        assert_eq!(s.height, 1_262_196);
        assert_eq!(s.version, "0.38.17");
        assert!(!s.catching_up);
        assert_eq!(s.latest_block_time, Some(1_564_660_342));
        assert_eq!(s.client_version(), ClientVersion::parse("0.38.17").ok());
    }

    #[test]
    fn refuses_another_network_errors_and_garbage() {
        let err = parse_status(STATUS.as_bytes(), "heimdall-137").unwrap_err();
        assert!(matches!(err, ChainProbeError::WrongNetwork { .. }), "{err}");
        let rpc = r#"{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"node is shutting down"}}"#;
        let err = parse_status(rpc.as_bytes(), "heimdallv2-137").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the node answered an error: -32603 Internal error (\"node is shutting down\")"
        );
        let number = STATUS.replace("\"1262196\"", "1262196");
        assert!(matches!(
            parse_status(number.as_bytes(), "heimdallv2-137"),
            Err(ChainProbeError::Garbage(_))
        ));
        for bad in [
            "<html>",
            "{}",
            r#"{"jsonrpc":"1.0","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            assert!(
                matches!(
                    parse_status(bad.as_bytes(), "heimdallv2-137"),
                    Err(ChainProbeError::Garbage(_))
                ),
                "{bad}"
            );
        }
        let negative = STATUS.replace("\"1262196\"", "\"-5\"");
        assert!(parse_status(negative.as_bytes(), "heimdallv2-137").is_err());
    }

    #[test]
    fn block_numbers_are_canonical_hex_quantities() {
        let ok = |q: &str| {
            parse_block_number(format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{q}"}}"#).as_bytes())
        };
        assert_eq!(ok("0x0").unwrap(), 0);
        assert_eq!(ok("0x4b7").unwrap(), 1207);
        for bad in ["0x", "0x04b7", "4b7", "0xzz", "0x10000000000000000"] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let err = parse_block_number(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"the method eth_blockNumber does not exist/is not available"}}"#);
        assert!(matches!(err, Err(ChainProbeError::Rpc(_))));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-07T05:00:00+01:00"),
            Some(1_796_616_000)
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-12-07 05:00:00Z",
            "2026-12-07T05:00:00",
            "x",
            "2026-12-07T05:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
