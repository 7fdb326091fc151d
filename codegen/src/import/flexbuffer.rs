//! A reader for the FlexBuffers a TFLite custom operator keeps its options
//! in (`custom_options`, format FLEXBUFFERS): TFLM's signal library reads a
//! map of scalars and vectors from them. Only what options use is read: a
//! map at the root, keys, and integer, float and boolean values. Every read
//! is bounds checked, so a corrupted buffer is an error, never a panic.
//!
//! The layout (flatbuffers' `flexbuffers.h`): the last byte is the root's
//! width, the byte before it the root's packed type (type << 2 | log2 of
//! its children's width), and the root before them. A map's values are a
//! vector, preceded by the offset and width of its keys vector and its
//! length; each value's packed type follows the values.
//!
//! Layer: import; uses nothing but `std`.

/// Why a buffer could not be read.
pub type FlexResult<T> = Result<T, String>;

/// The value types of `flexbuffers::Type` that options hold.
const NULL: u8 = 0;
const INT: u8 = 1;
const UINT: u8 = 2;
const FLOAT: u8 = 3;
const INDIRECT_INT: u8 = 6;
const INDIRECT_UINT: u8 = 7;
const INDIRECT_FLOAT: u8 = 8;
const MAP: u8 = 9;
const BOOL: u8 = 26;

/// The root map of a FlexBuffer.
#[derive(Clone, Copy, Debug)]
pub struct Map<'a> {
    buf: &'a [u8],
    /// Where the values start.
    values: usize,
    /// The width of a value, and of the length and key fields before them.
    width: usize,
    len: usize,
    keys: usize,
    key_width: usize,
}

/// One value of a map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
    /// A type options do not use (a string, a vector, a nested map).
    Other(u8),
}

impl Value {
    /// The value as an integer, if it is one that fits.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(v),
            Value::Uint(v) => i64::try_from(v).ok(),
            Value::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }
}

fn uint(buf: &[u8], at: usize, width: usize) -> FlexResult<u64> {
    let bytes = at
        .checked_add(width)
        .and_then(|end| buf.get(at..end))
        .ok_or_else(|| format!("a {width}-byte value at {at} is past the end"))?;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

fn int(buf: &[u8], at: usize, width: usize) -> FlexResult<i64> {
    let v = uint(buf, at, width)?;
    let unused = 64 - 8 * width as u32;
    Ok(((v << unused) as i64) >> unused)
}

fn float(buf: &[u8], at: usize, width: usize) -> FlexResult<f64> {
    let v = uint(buf, at, width)?;
    match width {
        4 => Ok(f64::from(f32::from_bits(v as u32))),
        8 => Ok(f64::from_bits(v)),
        _ => Err(format!("a {width}-byte float")),
    }
}

/// The address `at - offset`, where `at` holds an offset of `width` bytes.
fn indirect(buf: &[u8], at: usize, width: usize) -> FlexResult<usize> {
    let offset = uint(buf, at, width)?;
    usize::try_from(offset)
        .ok()
        .and_then(|o| at.checked_sub(o))
        .ok_or_else(|| format!("an offset at {at} points before the buffer"))
}

fn width(log2: u8) -> usize {
    1 << (log2 & 3)
}

impl<'a> Map<'a> {
    /// The map at the root of `buf`.
    pub fn root(buf: &'a [u8]) -> FlexResult<Map<'a>> {
        let n = buf.len();
        if n < 3 {
            return Err(format!("{n} bytes are too few for a FlexBuffer"));
        }
        let root_width = usize::from(buf[n - 1]);
        if !matches!(root_width, 1 | 2 | 4 | 8) {
            return Err(format!("a root width of {root_width} bytes"));
        }
        let packed = buf[n - 2];
        if packed >> 2 != MAP {
            return Err(format!("the root is of type {}, not a map", packed >> 2));
        }
        let root = (n - 2)
            .checked_sub(root_width)
            .ok_or("the root is past the start")?;
        let values = indirect(buf, root, root_width)?;
        let width = width(packed);
        let field = |k: usize| {
            values
                .checked_sub(k * width)
                .ok_or_else(|| "a map's header is past the start".to_string())
        };
        let len = usize::try_from(uint(buf, field(1)?, width)?).map_err(|e| e.to_string())?;
        let key_width = usize::try_from(uint(buf, field(2)?, width)?).map_err(|e| e.to_string())?;
        if !matches!(key_width, 1 | 2 | 4 | 8) {
            return Err(format!("keys of {key_width} bytes"));
        }
        let keys = indirect(buf, field(3)?, width)?;
        // The values, then one type byte each, must lie in the buffer; so
        // must the keys' offsets.
        let end = len
            .checked_mul(width + 1)
            .and_then(|b| b.checked_add(values));
        let keys_end = len.checked_mul(key_width).and_then(|b| b.checked_add(keys));
        if end.is_none_or(|e| e > n) || keys_end.is_none_or(|e| e > n) {
            return Err(format!("a map of {len} entries is past the end"));
        }
        Ok(Map {
            buf,
            values,
            width,
            len,
            keys,
            key_width,
        })
    }

    /// The key of entry `i`.
    fn key(&self, i: usize) -> FlexResult<&'a [u8]> {
        let start = indirect(self.buf, self.keys + i * self.key_width, self.key_width)?;
        let rest = self.buf.get(start..).ok_or("a key is past the end")?;
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("a key without its terminating zero")?;
        Ok(&rest[..len])
    }

    /// The keys, in the map's (sorted) order.
    pub fn keys(&self) -> FlexResult<Vec<String>> {
        (0..self.len)
            .map(|i| Ok(String::from_utf8_lossy(self.key(i)?).into_owned()))
            .collect()
    }

    /// The value under `key`, if the map has one.
    pub fn get(&self, key: &str) -> FlexResult<Option<Value>> {
        for i in 0..self.len {
            if self.key(i)? == key.as_bytes() {
                return self.value(i).map(Some);
            }
        }
        Ok(None)
    }

    fn value(&self, i: usize) -> FlexResult<Value> {
        let at = self.values + i * self.width;
        let packed = self.buf[self.values + self.len * self.width + i];
        let (buf, w) = (self.buf, self.width);
        Ok(match packed >> 2 {
            NULL => Value::Null,
            INT => Value::Int(int(buf, at, w)?),
            UINT => Value::Uint(uint(buf, at, w)?),
            FLOAT => Value::Float(float(buf, at, w)?),
            BOOL => Value::Bool(uint(buf, at, w)? != 0),
            INDIRECT_INT => Value::Int(int(buf, indirect(buf, at, w)?, width(packed))?),
            INDIRECT_UINT => Value::Uint(uint(buf, indirect(buf, at, w)?, width(packed))?),
            INDIRECT_FLOAT => Value::Float(float(buf, indirect(buf, at, w)?, width(packed))?),
            other => Value::Other(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"shift": 12}` as TFLM's window kernel test holds it
    /// (`window_flexbuffers_generated_data.cc`).
    const SHIFT_12: [u8; 16] = [
        0x73, 0x68, 0x69, 0x66, 0x74, 0x00, 0x01, 0x07, 0x01, 0x01, 0x01, 0x0c, 0x04, 0x02, 0x24,
        0x01,
    ];

    #[test]
    fn reads_tflms_window_options() {
        let map = Map::root(&SHIFT_12).unwrap();
        assert_eq!(map.keys().unwrap(), ["shift"]);
        assert_eq!(map.get("shift").unwrap(), Some(Value::Int(12)));
        assert_eq!(map.get("other").unwrap(), None);
    }

    /// A map of several widths and types, laid out by hand: keys "a" (an
    /// int16 -300), "b" (a bool), "c" (a float32 1.5), with 4-byte values.
    #[test]
    fn reads_wider_values_of_each_type() {
        let mut b = b"a\0b\0c\0".to_vec();
        // The keys vector: its length, then offsets back to each key.
        b.push(3);
        let keys = b.len();
        for (i, key_at) in [0usize, 2, 4].into_iter().enumerate() {
            b.push((keys + i - key_at) as u8);
        }
        // The map's header: keys offset, keys width, length (4 bytes each).
        let header = b.len();
        b.extend_from_slice(&((header - keys) as u32).to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        let values = b.len();
        b.extend_from_slice(&(-300i32).to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1.5f32.to_bits().to_le_bytes());
        b.extend_from_slice(&[INT << 2 | 1, BOOL << 2, FLOAT << 2 | 2]);
        let root = b.len();
        b.push((root - values) as u8);
        b.extend_from_slice(&[MAP << 2 | 2, 1]);
        let map = Map::root(&b).unwrap();
        assert_eq!(map.get("a").unwrap(), Some(Value::Int(-300)));
        assert_eq!(map.get("b").unwrap(), Some(Value::Bool(true)));
        assert_eq!(map.get("c").unwrap(), Some(Value::Float(1.5)));
    }

    /// Every truncation and every single-byte corruption of a valid buffer
    /// is an error or a value, never a panic.
    #[test]
    fn corrupted_buffers_are_errors() {
        for n in 0..SHIFT_12.len() {
            let _ = Map::root(&SHIFT_12[..n]).and_then(|m| m.get("shift"));
        }
        for i in 0..SHIFT_12.len() {
            for v in [0u8, 1, 2, 0x24, 0x7f, 0xff] {
                let mut b = SHIFT_12;
                b[i] = v;
                let _ = Map::root(&b).and_then(|m| m.get("shift"));
            }
        }
        assert!(Map::root(&[]).is_err());
        assert!(
            Map::root(&[0x0c, 0x04, 0x01]).is_err(),
            "an int at the root"
        );
    }
}
