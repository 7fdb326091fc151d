//! A minimal, bounds-checked Protocol Buffers reader: the wire format
//! (varints, fixed 32/64-bit, length-delimited fields) read field by field,
//! every read returning an error instead of reading out of bounds.
//!
//! Layer: import; uses only `std`. ONNX files are protobuf messages; reading
//! the few fields kiln needs directly keeps the build free of code generators
//! (prost-build needs `protoc` and the schema at build time) and the reader
//! free of panics on corrupted input.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for PbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

pub type PbResult<T> = Result<T, PbError>;

/// A field's payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Varint(v) | Value::Fixed64(v) => Some(v),
            Value::Fixed32(v) => Some(u64::from(v)),
            Value::Bytes(_) => None,
        }
    }

    /// A signed integer (int32/int64 are two's complement in varints).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_u64().map(|v| v as i64)
    }

    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::Fixed32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

fn varint(buf: &[u8], pos: &mut usize) -> PbResult<u64> {
    let start = *pos;
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(PbError {
                offset: start,
                what: "varint runs past the end",
            });
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(PbError {
        offset: start,
        what: "varint longer than 10 bytes",
    })
}

/// Iterates over the fields of one message: `(field number, value)`.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = PbResult<(u32, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let result = self.read();
        self.failed = result.is_err();
        Some(result)
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> PbResult<(u32, Value<'a>)> {
        let at = self.pos;
        let key = varint(self.buf, &mut self.pos)?;
        let field = u32::try_from(key >> 3).map_err(|_| PbError {
            offset: at,
            what: "field number too large",
        })?;
        if field == 0 {
            return Err(PbError {
                offset: at,
                what: "field number 0",
            });
        }
        let value = match key & 7 {
            0 => Value::Varint(varint(self.buf, &mut self.pos)?),
            1 => {
                let bytes = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
            }
            2 => {
                let len = varint(self.buf, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| PbError {
                    offset: at,
                    what: "length too large",
                })?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let bytes = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
            }
            _ => {
                return Err(PbError {
                    offset: at,
                    what: "unsupported wire type (groups or corrupted)",
                })
            }
        };
        Ok((field, value))
    }

    fn take(&mut self, len: usize) -> PbResult<&'a [u8]> {
        let start = self.pos;
        match self.buf.get(start..start.saturating_add(len)) {
            Some(b) => {
                self.pos += len;
                Ok(b)
            }
            None => Err(PbError {
                offset: start,
                what: "field runs past the end",
            }),
        }
    }
}

/// Repeated integers, packed (one length-delimited field) or not (one
/// varint per field occurrence): appends to `out`.
pub fn push_ints(value: Value, out: &mut Vec<i64>) -> PbResult<()> {
    match value {
        Value::Bytes(b) => {
            let mut pos = 0;
            while pos < b.len() {
                out.push(varint(b, &mut pos)? as i64);
            }
            Ok(())
        }
        v => {
            out.push(v.as_i64().unwrap_or(0));
            Ok(())
        }
    }
}

/// Repeated floats, packed or not: appends to `out`.
pub fn push_floats(value: Value, out: &mut Vec<f32>) -> PbResult<()> {
    match value {
        Value::Bytes(b) => {
            if b.len() % 4 != 0 {
                return Err(PbError {
                    offset: 0,
                    what: "packed floats not a multiple of 4 bytes",
                });
            }
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            Ok(())
        }
        Value::Fixed32(v) => {
            out.push(f32::from_bits(v));
            Ok(())
        }
        _ => Err(PbError {
            offset: 0,
            what: "expected float32 values",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type() {
        // field 1 varint 150; field 2 bytes "hi"; field 3 fixed32 1.5; field 4 fixed64 7
        let mut b = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d];
        b.extend(1.5f32.to_le_bytes());
        b.push(0x21);
        b.extend(7u64.to_le_bytes());
        let got: Vec<_> = fields(&b).collect::<PbResult<_>>().unwrap();
        assert_eq!(got[0], (1, Value::Varint(150)));
        assert_eq!(got[1].1.as_str(), Some("hi"));
        assert_eq!(got[2].1.as_f32(), Some(1.5));
        assert_eq!(got[3], (4, Value::Fixed64(7)));
    }

    #[test]
    fn packed_and_unpacked_repeated_ints() {
        let mut out = Vec::new();
        push_ints(
            Value::Bytes(&[
                0x03, 0x8e, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ]),
            &mut out,
        )
        .unwrap();
        push_ints(Value::Varint(5), &mut out).unwrap();
        assert_eq!(out, vec![3, 270, -1, 5]);
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let b = [0x12, 0x05, b'a', b'b'];
        assert!(fields(&b).any(|f| f.is_err()));
        assert!(fields(&[0x0b]).any(|f| f.is_err()), "group wire type");
        assert!(
            fields(&[0x08, 0xff]).any(|f| f.is_err()),
            "unfinished varint"
        );
        assert!(fields(&[0x00, 0x01]).any(|f| f.is_err()), "field 0");
        let long = [0xffu8; 12];
        let mut pos = 0;
        assert!(varint(&long, &mut pos).is_err());
    }
}
