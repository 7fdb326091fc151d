//! Reading and writing NumPy `.npy` files, the data interface of the CLI.
//!
//! Layer: io helper of the CLI; uses only `std`. Supports the little-endian
//! numeric types models take and give (int8/16/32/64, uint8/32/64, float32/64,
//! bool) in
//! C order, format versions 1 to 3.

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyType {
    I8,
    U8,
    I16,
    I32,
    I64,
    U32,
    U64,
    F32,
    F64,
    Bool,
}

impl NpyType {
    fn descr(self) -> &'static str {
        match self {
            NpyType::I8 => "|i1",
            NpyType::U8 => "|u1",
            NpyType::I16 => "<i2",
            NpyType::I32 => "<i4",
            NpyType::I64 => "<i8",
            NpyType::U32 => "<u4",
            NpyType::U64 => "<u8",
            NpyType::F32 => "<f4",
            NpyType::F64 => "<f8",
            NpyType::Bool => "|b1",
        }
    }

    fn from_descr(d: &str) -> Option<NpyType> {
        Some(match d {
            "|i1" | "<i1" | "i1" => NpyType::I8,
            "|u1" | "<u1" | "u1" => NpyType::U8,
            "<i2" => NpyType::I16,
            "<i4" => NpyType::I32,
            "<i8" => NpyType::I64,
            "<u4" => NpyType::U32,
            "<u8" => NpyType::U64,
            "<f4" => NpyType::F32,
            "<f8" => NpyType::F64,
            "|b1" | "b1" => NpyType::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            NpyType::I8 | NpyType::U8 | NpyType::Bool => 1,
            NpyType::I16 => 2,
            NpyType::I32 | NpyType::U32 | NpyType::F32 => 4,
            NpyType::I64 | NpyType::U64 | NpyType::F64 => 8,
        }
    }
}

/// An array: element type, shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub dtype: NpyType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl NpyArray {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Every element as f64 (for printing and for quantizing float data).
    pub fn to_f64(&self) -> Vec<f64> {
        let d = &self.data;
        match self.dtype {
            NpyType::I8 => d.iter().map(|&b| f64::from(b as i8)).collect(),
            NpyType::U8 => d.iter().map(|&b| f64::from(b)).collect(),
            NpyType::Bool => d.iter().map(|&b| f64::from(u8::from(b != 0))).collect(),
            NpyType::I16 => d
                .chunks_exact(2)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            NpyType::I32 => d
                .chunks_exact(4)
                .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            NpyType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64)
                .collect(),
            NpyType::U32 => d
                .chunks_exact(4)
                .map(|c| f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            NpyType::U64 => d
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as f64)
                .collect(),
            NpyType::F32 => d
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            NpyType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        }
    }
}

/// Reads and parses a `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes).map_err(|detail| Error::Data {
        path: path.to_owned(),
        detail: format!("not a usable .npy file: {detail}"),
    })
}

/// The reference outputs of a samples folder, in case order: row `k` of a
/// stacked `outputs.npy` (the project's own examples keep theirs that way,
/// one file per set), or else `output_0.npy`, `output_1.npy`, ... as
/// `../shared/golden` holds them. Empty when the folder has neither.
pub fn read_outputs(dir: &Path) -> Result<Vec<NpyArray>> {
    let stacked = dir.join("outputs.npy");
    if stacked.exists() {
        let all = read(&stacked)?;
        let rows = all.shape.first().copied().unwrap_or(0);
        if rows == 0 || all.data.len() % rows != 0 {
            return Err(Error::Data {
                path: stacked,
                detail: "expected a stack of outputs on the first axis".into(),
            });
        }
        let row_bytes = all.data.len() / rows;
        return Ok(all
            .data
            .chunks_exact(row_bytes)
            .map(|row| NpyArray {
                dtype: all.dtype,
                shape: all.shape[1..].to_vec(),
                data: row.to_vec(),
            })
            .collect());
    }
    (0..)
        .map(|k| dir.join(format!("output_{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| read(&p))
        .collect()
}

pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the NumPy magic bytes".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("header extends past the end of the file")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or(format!("header has no '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or("malformed header")?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed descr")?;
    let dtype = NpyType::from_descr(descr).ok_or(format!("unsupported element type '{descr}'"))?;
    if field("fortran_order")?.starts_with("True") {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed shape")?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension '{s}'"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape too large")?;
    let data = &bytes[start + header_len..];
    let expected = n.checked_mul(dtype.size()).ok_or("shape too large")?;
    if data.len() != expected {
        return Err(format!(
            "shape {shape:?} of {descr} needs {expected} bytes of data, the file has {}",
            data.len()
        ));
    }
    Ok(NpyArray {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

pub fn to_bytes(a: &NpyArray) -> Vec<u8> {
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        a.dtype.descr()
    );
    // Pad so that the data starts on a 64-byte boundary, ending in a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(&a.data);
    out
}

pub fn write(path: &Path, a: &NpyArray) -> Result<()> {
    std::fs::write(path, to_bytes(a)).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let a = NpyArray {
            dtype: NpyType::I8,
            shape: vec![1, 3],
            data: vec![1, 255, 7],
        };
        let bytes = to_bytes(&a);
        assert_eq!((bytes.len() - 3) % 64, 0);
        assert_eq!(parse(&bytes).unwrap(), a);
        assert_eq!(parse(&bytes).unwrap().to_f64(), vec![1.0, -1.0, 7.0]);
        let s = NpyArray {
            dtype: NpyType::F32,
            shape: vec![2],
            data: [1.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat(),
        };
        assert_eq!(parse(&to_bytes(&s)).unwrap(), s);
        // uint32 (the signal library's energies) keeps values above i32::MAX.
        let u = NpyArray {
            dtype: NpyType::U32,
            shape: vec![2],
            data: [u32::MAX.to_le_bytes(), 7u32.to_le_bytes()].concat(),
        };
        assert!(String::from_utf8_lossy(&to_bytes(&u)).contains("'<u4'"));
        assert_eq!(parse(&to_bytes(&u)).unwrap(), u);
        assert_eq!(
            parse(&to_bytes(&u)).unwrap().to_f64(),
            vec![4294967295.0, 7.0]
        );
        let w = NpyArray {
            dtype: NpyType::U64,
            shape: vec![1],
            data: (1u64 << 40).to_le_bytes().to_vec(),
        };
        assert!(String::from_utf8_lossy(&to_bytes(&w)).contains("'<u8'"));
        assert_eq!(
            parse(&to_bytes(&w)).unwrap().to_f64(),
            vec![(1u64 << 40) as f64]
        );
    }

    #[test]
    fn rejects_bad_files_with_reasons() {
        assert!(parse(b"hello").unwrap_err().contains("magic"));
        let a = NpyArray {
            dtype: NpyType::I8,
            shape: vec![4],
            data: vec![0; 4],
        };
        let mut b = to_bytes(&a);
        b.pop();
        assert!(parse(&b).unwrap_err().contains("needs 4 bytes"));
        let b = to_bytes(&a);
        for n in 0..b.len() - 4 {
            assert!(parse(&b[..n]).is_err(), "truncated to {n}");
        }
    }
}
