//! The RMB envelope's protobuf messages, derived with `prost` from
//! upstream's schema: `proto/types.proto` of threefoldtech/rmb-rs (the same
//! file as `rmb-sdk-go/peer/types.proto` in threefoldtech/tfgrid-sdk-go).
//! Deriving instead of generating keeps `protoc` out of the build.
//!
//! The envelope is declared twice, and on purpose:
//! - [`DecodeEnvelope`] has the `message` oneof as upstream declares it, so
//!   prost's decoder applies protobuf's merge rules: a repeated singular
//!   field keeps its last value, a repeated message field (an address, the
//!   same member of a oneof) merges into the earlier one, a different oneof
//!   member replaces it, every `relays` occurrence is kept in order, and
//!   unknown fields of any wire type (groups included) are skipped.
//! - [`EncodeEnvelope`] spells the oneof as its five members, each an
//!   optional field of its own. prost writes a oneof where its lowest tag
//!   (7) sorts, but protobuf-go (rmb-sdk-go) and Google's runtimes write
//!   every field in number order, so an error (12) follows the signature
//!   (9) and a ping (15) the payload (13): declared this way, prost writes
//!   the same bytes as upstream, which the vectors in
//!   `tests/fixtures/rmb-envelope-vectors.json` pin.
//!
//! Where prost and upstream's decoders agree, beyond the merge rules: a
//! known field with the wrong wire type, a string that is not UTF-8, a
//! truncated field, field number 0, a key above 32 bits and groups nested
//! more than 100 deep are refused; a `uint32` read from a wider varint
//! keeps its low 32 bits, as protobuf-go's `consumeUint32` and
//! rust-protobuf's `read_uint32` do.

/// `message Request { string command = 1; }` (field 2 is reserved).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Request {
    #[prost(string, tag = "1")]
    pub command: String,
}

/// `Response`, `Ping` and `Pong`: messages with no fields we read.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Empty {}

/// `message Error { uint32 code = 1; string message = 2; }`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Error {
    #[prost(uint32, tag = "1")]
    pub code: u32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `message Address { uint32 twin = 1; optional string connection = 2; }`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Address {
    #[prost(uint32, tag = "1")]
    pub twin: u32,
    #[prost(string, optional, tag = "2")]
    pub connection: Option<String>,
}

/// The envelope's `message` oneof.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum Message {
    #[prost(message, tag = "7")]
    Request(Request),
    #[prost(message, tag = "8")]
    Response(Empty),
    #[prost(message, tag = "12")]
    Error(Error),
    #[prost(message, tag = "15")]
    Ping(Empty),
    #[prost(message, tag = "16")]
    Pong(Empty),
}

/// The envelope's `payload` oneof.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum Payload {
    #[prost(bytes = "vec", tag = "13")]
    Plain(Vec<u8>),
    #[prost(bytes = "vec", tag = "14")]
    Cipher(Vec<u8>),
}

/// `message Envelope` as read: the oneofs as upstream declares them.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DecodeEnvelope {
    #[prost(string, tag = "1")]
    pub uid: String,
    #[prost(string, optional, tag = "2")]
    pub tags: Option<String>,
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
    #[prost(uint64, tag = "4")]
    pub expiration: u64,
    #[prost(message, optional, tag = "5")]
    pub source: Option<Address>,
    #[prost(message, optional, tag = "6")]
    pub destination: Option<Address>,
    #[prost(oneof = "Message", tags = "7, 8, 12, 15, 16")]
    pub message: Option<Message>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub signature: Option<Vec<u8>>,
    #[prost(string, optional, tag = "10")]
    pub schema: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub federation: Option<String>,
    #[prost(oneof = "Payload", tags = "13, 14")]
    pub payload: Option<Payload>,
    #[prost(string, repeated, tag = "17")]
    pub relays: Vec<String>,
}

/// `message Envelope` as written: the same fields, with the `message`
/// oneof's members as separate fields so that they sort by number (at most
/// one is set).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EncodeEnvelope {
    #[prost(string, tag = "1")]
    pub uid: String,
    #[prost(string, optional, tag = "2")]
    pub tags: Option<String>,
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
    #[prost(uint64, tag = "4")]
    pub expiration: u64,
    #[prost(message, optional, tag = "5")]
    pub source: Option<Address>,
    #[prost(message, optional, tag = "6")]
    pub destination: Option<Address>,
    #[prost(message, optional, tag = "7")]
    pub request: Option<Request>,
    #[prost(message, optional, tag = "8")]
    pub response: Option<Empty>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub signature: Option<Vec<u8>>,
    #[prost(string, optional, tag = "10")]
    pub schema: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub federation: Option<String>,
    #[prost(message, optional, tag = "12")]
    pub error: Option<Error>,
    #[prost(oneof = "Payload", tags = "13, 14")]
    pub payload: Option<Payload>,
    #[prost(message, optional, tag = "15")]
    pub ping: Option<Empty>,
    #[prost(message, optional, tag = "16")]
    pub pong: Option<Empty>,
    #[prost(string, repeated, tag = "17")]
    pub relays: Vec<String>,
}

#[cfg(test)]
mod tests {
    //! The protobuf rules the envelope relies on, checked through prost as
    //! the hand-written reader that came before it was checked.
    use prost::Message as _;

    use super::*;

    fn decode(bytes: &[u8]) -> Result<DecodeEnvelope, prost::DecodeError> {
        DecodeEnvelope::decode(bytes)
    }

    /// A varint written out by hand, to build keys prost would not write.
    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    #[test]
    fn varints_round_trip_and_bad_input_is_an_error() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let env = EncodeEnvelope {
                timestamp: v,
                ..EncodeEnvelope::default()
            };
            assert_eq!(decode(&env.encode_to_vec()).unwrap().timestamp, v);
        }
        // 300 as field 1 of a varint: the protobuf documentation's own
        // example, here as an error's code.
        let err = Error {
            code: 300,
            message: String::new(),
        };
        assert_eq!(err.encode_to_vec(), [0x08, 0xac, 0x02]);
        let endless = [
            0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        ];
        for bad in [
            &[0x18][..],
            &[0x0a, 0x05, 1],
            &[0x0b],
            &[0x00, 0x01],
            &endless,
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fixed_fields_are_skipped() {
        // Fields 20 (fixed64) and 21 (fixed32), unknown, then uid "x".
        let bytes = [
            0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xad, 0x01, 1, 2, 3, 4, 0x0a, 0x01, b'x',
        ];
        assert_eq!(decode(&bytes).unwrap().uid, "x");
    }

    #[test]
    fn groups_are_skipped_whole_and_bad_ones_refused() {
        // Field 20 as a group holding field 1 (varint 5) and a nested
        // group 2 with a string; then field 1, a string.
        let bytes = [
            0xa3, 0x01, 0x08, 5, 0x13, 0x0a, 1, b'x', 0x14, 0xa4, 0x01, 0x0a, 1, b'y',
        ];
        assert_eq!(decode(&bytes).unwrap().uid, "y");
        for bad in [
            // A group that never ends, one that ends as another field, and
            // an end with no start.
            &[0xa3, 0x01, 0x08, 5][..],
            &[0xa3, 0x01, 0x08, 5, 0x0c],
            &[0x0c],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n(0x0b, 200)
            .chain(std::iter::repeat_n(0x0c, 200))
            .collect();
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn field_numbers_stay_within_protobufs_range() {
        // 2^29 - 1 is the largest (an unknown varint here, skipped); a key
        // above 32 bits is refused.
        let mut ok = varint(((1 << 29) - 1) << 3);
        ok.push(1);
        assert_eq!(decode(&ok).unwrap(), DecodeEnvelope::default());
        let mut too_large = varint(1 << 32);
        too_large.push(1);
        assert!(decode(&too_large).is_err());
    }

    #[test]
    fn a_wider_varint_in_a_uint32_keeps_its_low_bits_as_upstream_does() {
        // Address { twin: 2^32 + 7 } read as protobuf-go reads a uint32.
        let mut bytes = vec![0x2a, 6, 0x08];
        bytes.extend(varint((1 << 32) | 7));
        assert_eq!(decode(&bytes).unwrap().source.unwrap().twin, 7);
    }
}
