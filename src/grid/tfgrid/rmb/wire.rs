//! Just enough of the protobuf wire format for RMB envelopes: varints,
//! length-delimited fields, and skipping fields we do not know. Encoding by
//! hand keeps a build-time `protoc` out of the build for a dozen fields.
//!
//! Reading follows what upstream's decoders (protobuf-go in rmb-sdk-go,
//! rust-protobuf in rmb-rs) accept: a field of any wire type, groups
//! included, parses and can be skipped; field numbers run from 1 to
//! 2^29 - 1; anything truncated is an error.

/// Wire types (the low three bits of a field key).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
/// Deprecated proto2 groups: nobody sends them to RMB, but a decoder must
/// still skip one whole.
pub const START_GROUP: u8 = 3;
pub const END_GROUP: u8 = 4;
pub const FIXED32: u8 = 5;

/// The largest field number protobuf allows.
const MAX_FIELD: u64 = (1 << 29) - 1;

/// A protobuf message that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub struct WireError(pub &'static str);

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

pub fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, VARINT);
    put_varint(out, v);
}

pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One field read from a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width values: skipped by envelopes, but they must parse.
    Fixed,
    /// A whole group (start to matching end), skipped.
    Group,
}

/// Iterates the fields of one message: (field number, value).
pub struct Reader<'a> {
    rest: &'a [u8],
    /// Groups open while skipping one.
    depth: u32,
}

/// How deep groups may nest before the message is refused: a bound on the
/// recursion, far below the stack's limit.
const MAX_GROUP_DEPTH: u32 = 100;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: bytes,
            depth: 0,
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .rest
                .split_first()
                .ok_or(WireError("truncated varint"))?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError("field runs past the end"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn next_field(&mut self) -> Option<Result<(u32, Value<'a>), WireError>> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.read_field())
    }

    fn read_field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let (field, wire) = self.key()?;
        if wire == END_GROUP {
            return Err(WireError("end of a group that was not started"));
        }
        Ok((field, self.value(field, wire)?))
    }

    /// A field key: (field number, wire type).
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        if field > MAX_FIELD {
            return Err(WireError("field number too large"));
        }
        // Checked against MAX_FIELD just above.
        Ok((field as u32, (key & 7) as u8))
    }

    fn value(&mut self, field: u32, wire: u8) -> Result<Value<'a>, WireError> {
        let value = match wire {
            VARINT => Value::Varint(self.varint()?),
            LEN => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| WireError("length too large"))?;
                Value::Bytes(self.take(len)?)
            }
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            START_GROUP => {
                self.skip_group(field)?;
                Value::Group
            }
            _ => return Err(WireError("unsupported wire type")),
        };
        Ok(value)
    }

    /// Skips the fields of group `field` up to and including its end.
    /// Nested groups recurse, at most [`MAX_GROUP_DEPTH`] deep.
    fn skip_group(&mut self, field: u32) -> Result<(), WireError> {
        self.depth += 1;
        if self.depth > MAX_GROUP_DEPTH {
            return Err(WireError("groups nested too deep"));
        }
        loop {
            if self.rest.is_empty() {
                return Err(WireError("group without an end"));
            }
            let (inner, wire) = self.key()?;
            if wire == END_GROUP {
                if inner != field {
                    return Err(WireError("group ends with another field number"));
                }
                self.depth -= 1;
                return Ok(());
            }
            self.value(inner, wire)?;
        }
    }
}

impl Value<'_> {
    pub fn as_u64(&self) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(*v),
            _ => Err(WireError("expected a varint")),
        }
    }

    pub fn as_u32(&self) -> Result<u32, WireError> {
        u32::try_from(self.as_u64()?).map_err(|_| WireError("value above 32 bits"))
    }

    pub fn as_bytes(&self) -> Result<&[u8], WireError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(WireError("expected length-delimited bytes")),
        }
    }

    pub fn as_string(&self) -> Result<String, WireError> {
        String::from_utf8(self.as_bytes()?.to_vec()).map_err(|_| WireError("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_bad_input_is_an_error() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_uint(&mut out, 3, v);
            let mut r = Reader::new(&out);
            let (field, value) = r.next_field().unwrap().unwrap();
            assert_eq!((field, value.as_u64().unwrap()), (3, v));
            assert!(r.next_field().is_none());
        }
        // 300 as field 1: the protobuf documentation's own example.
        let mut out = Vec::new();
        put_uint(&mut out, 1, 300);
        assert_eq!(out, [0x08, 0xac, 0x02]);
        let endless = [
            0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        ];
        for bad in [
            &[0x08][..],
            &[0x0a, 0x05, 1],
            &[0x0b],
            &[0x00, 0x01],
            &endless,
        ] {
            let mut r = Reader::new(bad);
            assert!(r.next_field().unwrap().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fixed_fields_are_skipped() {
        let bytes = [
            0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 2, 3, 4, 0x12, 0x01, b'x',
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.next_field().unwrap().unwrap(), (1, Value::Fixed));
        assert_eq!(r.next_field().unwrap().unwrap(), (2, Value::Fixed));
        assert_eq!(r.next_field().unwrap().unwrap(), (2, Value::Bytes(b"x")));
    }

    #[test]
    fn groups_are_skipped_whole_and_bad_ones_refused() {
        // Field 20 as a group holding field 1 (varint 5) and a nested
        // group 2 with a string; then field 2, a string.
        let bytes = [
            0xa3, 0x01, 0x08, 5, 0x13, 0x0a, 1, b'x', 0x14, 0xa4, 0x01, 0x12, 1, b'y',
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.next_field().unwrap().unwrap(), (20, Value::Group));
        assert_eq!(r.next_field().unwrap().unwrap(), (2, Value::Bytes(b"y")));
        assert!(r.next_field().is_none());
        for bad in [
            // A group that never ends, one that ends as another field, and
            // an end with no start.
            &[0xa3, 0x01, 0x08, 5][..],
            &[0xa3, 0x01, 0x08, 5, 0x0c],
            &[0x0c],
        ] {
            assert!(Reader::new(bad).next_field().unwrap().is_err(), "{bad:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n(0x0b, 200)
            .chain(std::iter::repeat_n(0x0c, 200))
            .collect();
        assert!(Reader::new(&deep).next_field().unwrap().is_err());
    }

    #[test]
    fn field_numbers_stay_within_protobufs_range() {
        // 2^29 - 1 is the largest; one more is refused.
        let mut ok = Vec::new();
        put_uint(&mut ok, (1 << 29) - 1, 1);
        assert_eq!(
            Reader::new(&ok).next_field().unwrap().unwrap(),
            ((1 << 29) - 1, Value::Varint(1))
        );
        let mut too_large = Vec::new();
        put_varint(&mut too_large, (1u64 << 32) | u64::from(VARINT));
        too_large.push(1);
        assert!(Reader::new(&too_large).next_field().unwrap().is_err());
    }
}
