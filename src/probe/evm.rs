//! An execution client's height over Ethereum JSON-RPC (a go-ethereum
//! fork beside a CometBFT chain): `eth_blockNumber` and `eth_syncing`, sent as one
//! JSON-RPC 2.0 batch so a node costs one round trip over Mycelium.
//!
//! Upstream, ethereum/go-ethereum (which such forks follow):
//! - `internal/ethapi/api.go`: `BlockNumber` answers a `hexutil.Uint64`;
//!   `Syncing` answers `false` once the sync is done, otherwise an object
//!   whose `startingBlock`, `currentBlock` and `highestBlock` (and state
//!   counters, ignored here) are `hexutil.Uint64` quantities;
//! - `common/hexutil/json.go` (`Uint64.UnmarshalJSON`, `checkNumberText`):
//!   a quantity is a JSON string, "0x" (or "0X") then at most 16 hex digits,
//!   none leading with 0 except "0x0"; "0x" alone, a missing prefix, a
//!   leading zero or a number are refused;
//! - `rpc/json.go` and `rpc/handler.go`: JSON-RPC 2.0 messages (`jsonrpc`,
//!   `id`, then `result` or `error` {code, message, data}); a batch is an
//!   array answered by an array whose items carry the ids asked (matched by
//!   id, not position).

use serde::Deserialize;
use serde_json::Value;

use super::ChainProbeError;

/// What the execution client said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmStatus {
    /// `eth_blockNumber`: its head.
    pub height: u64,
    /// `eth_syncing` while it syncs: `(currentBlock, highestBlock)`, the
    /// second being the best height its peers announced.
    pub syncing: Option<(u64, u64)>,
}

const BLOCK_NUMBER_ID: u64 = 1;
const SYNCING_ID: u64 = 2;

/// The JSON-RPC request for an execution client's height alone (public
/// references: nothing else is asked of someone else's node).
pub fn block_number_request() -> Value {
    serde_json::json!({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": BLOCK_NUMBER_ID})
}

/// The batch asked of our own nodes: the height and the sync state.
pub fn status_request() -> Value {
    serde_json::json!([
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": BLOCK_NUMBER_ID},
        {"jsonrpc": "2.0", "method": "eth_syncing", "params": [], "id": SYNCING_ID},
    ])
}

#[derive(Deserialize)]
struct Message {
    jsonrpc: String,
    #[serde(default)]
    id: Value,
    // Present and `null`, or absent: both read as `None`, and only an
    // error may come without a result.
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

fn garbage(what: String) -> ChainProbeError {
    ChainProbeError::Garbage(what)
}

/// One message's result, or why there is none.
fn result(message: Message) -> Result<Value, ChainProbeError> {
    if message.jsonrpc != "2.0" {
        return Err(garbage(format!(
            "the answer says jsonrpc {:?}, not \"2.0\"",
            message.jsonrpc
        )));
    }
    if let Some(e) = message.error {
        let data = e.data.map(|d| format!(" ({d})")).unwrap_or_default();
        return Err(ChainProbeError::Rpc(format!(
            "{} {}{data}",
            e.code, e.message
        )));
    }
    message
        .result
        .ok_or_else(|| garbage("the answer has neither result nor error".into()))
}

fn not_json_rpc(e: serde_json::Error) -> ChainProbeError {
    garbage(format!("not Ethereum JSON-RPC ({e})"))
}

/// A `hexutil.Uint64` quantity, refused as go-ethereum refuses it.
pub fn parse_quantity(field: &str, value: &Value) -> Result<u64, ChainProbeError> {
    let Some(text) = value.as_str() else {
        return Err(garbage(format!(
            "{field} is {value}, not a hex quantity string"
        )));
    };
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| garbage(format!("{field} {text:?} has no 0x prefix")))?;
    let why = if digits.is_empty() {
        Some("has no digits")
    } else if digits.len() > 1 && digits.starts_with('0') {
        Some("has leading zero digits")
    } else if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some("is not hexadecimal")
    } else if digits.len() > 16 {
        Some("is over 64 bits")
    } else {
        None
    };
    match why {
        Some(why) => Err(garbage(format!("{field} {text:?} {why}"))),
        None => u64::from_str_radix(digits, 16)
            .map_err(|_| garbage(format!("{field} {text:?} is not a quantity"))),
    }
}

/// Parses an `eth_blockNumber` answer (a single message).
pub fn parse_block_number(body: &[u8]) -> Result<u64, ChainProbeError> {
    let message: Message = serde_json::from_slice(body).map_err(not_json_rpc)?;
    parse_quantity("eth_blockNumber", &result(message)?)
}

/// `eth_syncing`'s result: `false`, or the progress object.
fn parse_syncing(value: &Value) -> Result<Option<(u64, u64)>, ChainProbeError> {
    match value {
        Value::Bool(false) => Ok(None),
        Value::Object(progress) => {
            let field = |name: &str| {
                let value = progress
                    .get(name)
                    .ok_or_else(|| garbage(format!("eth_syncing's progress has no {name}")))?;
                parse_quantity(&format!("eth_syncing's {name}"), value)
            };
            Ok(Some((field("currentBlock")?, field("highestBlock")?)))
        }
        other => Err(garbage(format!(
            "eth_syncing answered {other}, neither false nor a progress object"
        ))),
    }
}

/// Parses the answer to [`status_request`]: an array holding one message
/// per id asked, in any order.
pub fn parse_status(body: &[u8]) -> Result<EvmStatus, ChainProbeError> {
    let value: Value = serde_json::from_slice(body).map_err(not_json_rpc)?;
    let Value::Array(items) = value else {
        // A server refusing the whole batch answers one message.
        let message: Message = serde_json::from_value(value).map_err(not_json_rpc)?;
        result(message)?;
        return Err(garbage(
            "the batch was answered with one message, not an array".into(),
        ));
    };
    let mut height = None;
    let mut syncing = None;
    for item in items {
        let message: Message = serde_json::from_value(item).map_err(not_json_rpc)?;
        let id = message.id.as_u64();
        let value = result(message)?;
        match id {
            Some(BLOCK_NUMBER_ID) if height.is_none() => {
                height = Some(parse_quantity("eth_blockNumber", &value)?);
            }
            Some(SYNCING_ID) if syncing.is_none() => syncing = Some(parse_syncing(&value)?),
            _ => {
                return Err(garbage(format!(
                    "the batch's answer has an unasked or repeated id ({id:?})"
                )));
            }
        }
    }
    match (height, syncing) {
        (Some(height), Some(syncing)) => Ok(EvmStatus { height, syncing }),
        _ => Err(garbage(
            "the batch's answer lacks eth_blockNumber or eth_syncing".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> Result<EvmStatus, ChainProbeError> {
        parse_status(body.as_bytes())
    }

    #[test]
    fn quantities_follow_hexutil() {
        let q = |s: &str| parse_quantity("x", &Value::String(s.into()));
        assert_eq!(q("0x0").unwrap(), 0);
        assert_eq!(q("0x4d3f9c8").unwrap(), 81_000_904);
        assert_eq!(q("0X4B7").unwrap(), 1207);
        assert_eq!(q("0xffffffffffffffff").unwrap(), u64::MAX);
        for (bad, why) in [
            ("0x", "has no digits"),
            ("0x04b7", "has leading zero digits"),
            ("0x00", "has leading zero digits"),
            ("4b7", "has no 0x prefix"),
            ("", "has no 0x prefix"),
            ("0xzz", "is not hexadecimal"),
            ("0x10000000000000000", "is over 64 bits"),
        ] {
            let err = q(bad).unwrap_err().to_string();
            assert!(err.ends_with(why), "{bad}: {err}");
        }
        // A JSON number is not a quantity (hexutil wants a string).
        assert!(parse_quantity("x", &serde_json::json!(1207)).is_err());
    }

    #[test]
    fn a_synced_and_a_syncing_node() {
        let synced = status(
            r#"[{"jsonrpc":"2.0","id":1,"result":"0x4d3f9c8"},{"jsonrpc":"2.0","id":2,"result":false}]"#,
        )
        .unwrap();
        assert_eq!(
            synced,
            EvmStatus {
                height: 81_000_904,
                syncing: None
            }
        );
        // Answers in another order, with go-ethereum's state counters.
        let syncing = status(
            r#"[{"jsonrpc":"2.0","id":2,"result":{"startingBlock":"0x0","currentBlock":"0x3e8","highestBlock":"0x4d3f9c8","syncedAccounts":"0x0","healedTrienodes":"0x0"}},{"jsonrpc":"2.0","id":1,"result":"0x3e8"}]"#,
        )
        .unwrap();
        assert_eq!(syncing.height, 1000);
        assert_eq!(syncing.syncing, Some((1000, 81_000_904)));
    }

    #[test]
    fn refusals() {
        for (body, want) in [
            ("<html>", "not Ethereum JSON-RPC"),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"empty batch"}}"#,
                "-32600 empty batch",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"}]"#,
                "lacks eth_blockNumber or eth_syncing",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":1,"result":"0x2"}]"#,
                "unasked or repeated id",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"result":"0x01"},{"jsonrpc":"2.0","id":2,"result":false}]"#,
                "leading zero",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":true}]"#,
                "neither false nor a progress object",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":{"currentBlock":"0x1"}}]"#,
                "no highestBlock",
            ),
            (
                r#"[{"jsonrpc":"1.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":false}]"#,
                "not \"2.0\"",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"the method eth_blockNumber does not exist/is not available"}},{"jsonrpc":"2.0","id":2,"result":false}]"#,
                "-32601 the method",
            ),
        ] {
            let err = status(body).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
