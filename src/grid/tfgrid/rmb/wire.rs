//! Just enough of the protobuf wire format for RMB envelopes: varints,
//! length-delimited fields, and skipping fields we do not know. Encoding by
//! hand keeps a build-time `protoc` out of the build for a dozen fields.

/// Wire types (the low three bits of a field key).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

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
}

/// Iterates the fields of one message: (field number, value).
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
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
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        let value = match (key & 7) as u8 {
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
            _ => return Err(WireError("unsupported wire type")),
        };
        Ok((field, value))
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
}
