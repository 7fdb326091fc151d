//! ONNX's protobuf messages as the importer reads them: tensors, nodes with
//! their attributes, and value infos, decoded with the bounds-checked reader
//! (field numbers follow `onnx.proto`).
//!
//! Layer: import (part of the ONNX importer); uses `protobuf`, `ir` and
//! `error`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::import::protobuf::{fields, push_floats, push_ints, PbError, Value};
use crate::ir::DataType;

#[derive(Clone, Debug, Default)]
pub struct OnnxTensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub raw: Vec<u8>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
}

impl OnnxTensor {
    pub fn shape(&self) -> Option<Vec<usize>> {
        self.dims.iter().map(|&d| usize::try_from(d).ok()).collect()
    }

    /// Saturating: the importer refuses shapes past `ir::MAX_ELEMENTS`
    /// before using their data, and a hostile one must not wrap first.
    pub fn elements(&self) -> usize {
        self.shape()
            .map_or(0, |s| s.iter().fold(1usize, |n, &d| n.saturating_mul(d)))
    }

    /// Values as f32 (float tensors).
    pub fn f32s(&self) -> Option<Vec<f32>> {
        match self.data_type {
            1 if !self.raw.is_empty() => Some(
                self.raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            1 => Some(self.floats.clone()),
            _ => None,
        }
        .filter(|v| v.len() == self.elements())
    }

    /// Values as i64 (integer tensors: shapes, axes, pads).
    pub fn i64s(&self) -> Option<Vec<i64>> {
        let v: Vec<i64> = match self.data_type {
            7 if !self.raw.is_empty() => self
                .raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            6 if !self.raw.is_empty() => self
                .raw
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            6 | 7 => self.ints.clone(),
            _ => return None,
        };
        (v.len() == self.elements()).then_some(v)
    }
}

impl OnnxTensor {
    /// An int8, int16 or int32 tensor's type and values as little-endian
    /// bytes of that type (from its raw data, or from `int32_data`, where
    /// ONNX keeps the smaller types too); `None` for other types, or values
    /// that do not fit their type.
    pub fn plain_integers(&self) -> Option<(DataType, Vec<u8>)> {
        let dtype = data_type(self.data_type);
        let size = match dtype {
            DataType::I8 | DataType::I16 | DataType::I32 => dtype.size(),
            _ => return None,
        };
        let bytes = if self.raw.is_empty() {
            let mut bytes = Vec::with_capacity(self.ints.len() * size);
            for &v in &self.ints {
                let fits = match dtype {
                    DataType::I8 => i8::try_from(v).is_ok(),
                    DataType::I16 => i16::try_from(v).is_ok(),
                    _ => i32::try_from(v).is_ok(),
                };
                if !fits {
                    return None;
                }
                bytes.extend_from_slice(&v.to_le_bytes()[..size]);
            }
            bytes
        } else {
            self.raw.clone()
        };
        (bytes.len() == self.elements().saturating_mul(size)).then_some((dtype, bytes))
    }
}

pub fn parse_tensor(bytes: &[u8]) -> std::result::Result<OnnxTensor, PbError> {
    let mut t = OnnxTensor::default();
    for f in fields(bytes) {
        match f? {
            (1, v) => push_ints(v, &mut t.dims)?,
            (2, v) => t.data_type = v.as_i64().unwrap_or(0) as i32,
            (4, v) => push_floats(v, &mut t.floats)?,
            (5, v) | (7, v) => push_ints(v, &mut t.ints)?,
            (8, v) => t.name = v.as_str().unwrap_or("").to_string(),
            (9, v) => t.raw = v.as_bytes().unwrap_or(&[]).to_vec(),
            (14, v) if v.as_i64() == Some(1) => {
                return Err(PbError {
                    offset: 0,
                    what: "external tensor data is not supported",
                })
            }
            _ => {}
        }
    }
    Ok(t)
}

/// A TensorProto file's shape, type and values as little-endian bytes of
/// that type: float32, or a plain int8, int16 or int32 tensor (ONNX's test
/// data for integer ops).
pub fn read_tensor_data(path: &Path) -> Result<(Vec<usize>, DataType, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let bad = |detail: String| Error::Data {
        path: path.to_owned(),
        detail,
    };
    let t = parse_tensor(&bytes).map_err(|e| bad(e.to_string()))?;
    let shape = t.shape().ok_or_else(|| bad("negative dimension".into()))?;
    if let Some(values) = t.f32s() {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        return Ok((shape, DataType::F32, data));
    }
    let (dtype, data) = t.plain_integers().ok_or_else(|| {
        bad(format!(
            "neither float32 nor int8, int16 or int32 (data type {})",
            t.data_type
        ))
    })?;
    Ok((shape, dtype, data))
}

#[derive(Clone, Debug, Default)]
pub struct Attribute {
    pub f: Option<f32>,
    pub i: Option<i64>,
    pub s: Option<String>,
    pub ints: Vec<i64>,
    pub floats: Vec<f32>,
    pub strings: Vec<String>,
    pub t: Option<OnnxTensor>,
    /// A graph attribute (If's branches), undecoded.
    pub g: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
pub struct OnnxNode {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub attributes: HashMap<String, Attribute>,
}

impl OnnxNode {
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attributes
            .get(name)
            .and_then(|a| a.i)
            .unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attributes
            .get(name)
            .and_then(|a| a.f)
            .unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attributes.get(name).map(|a| a.ints.as_slice())
    }
    pub fn string(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|a| a.s.as_deref())
    }
    pub fn strings(&self, name: &str) -> Option<&[String]> {
        self.attributes.get(name).map(|a| a.strings.as_slice())
    }
}

pub fn parse_node(bytes: &[u8]) -> std::result::Result<OnnxNode, PbError> {
    let mut n = OnnxNode::default();
    for f in fields(bytes) {
        match f? {
            (1, v) => n.inputs.push(v.as_str().unwrap_or("").to_string()),
            (2, v) => n.outputs.push(v.as_str().unwrap_or("").to_string()),
            (3, v) => n.name = v.as_str().unwrap_or("").to_string(),
            (4, v) => n.op_type = v.as_str().unwrap_or("").to_string(),
            (7, v) => n.domain = v.as_str().unwrap_or("").to_string(),
            (5, Value::Bytes(b)) => {
                let (mut name, mut a) = (String::new(), Attribute::default());
                for g in fields(b) {
                    match g? {
                        (1, v) => name = v.as_str().unwrap_or("").to_string(),
                        (2, v) => a.f = v.as_f32(),
                        (3, v) => a.i = v.as_i64(),
                        (4, v) => {
                            a.s = v
                                .as_bytes()
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        }
                        (5, Value::Bytes(t)) => a.t = Some(parse_tensor(t)?),
                        (6, Value::Bytes(g)) => a.g = Some(g.to_vec()),
                        (7, v) => push_floats(v, &mut a.floats)?,
                        (8, v) => push_ints(v, &mut a.ints)?,
                        (9, v) => a.strings.extend(
                            v.as_bytes()
                                .map(|b| String::from_utf8_lossy(b).into_owned()),
                        ),
                        _ => {}
                    }
                }
                n.attributes.insert(name, a);
            }
            _ => {}
        }
    }
    Ok(n)
}

/// A value's name, element type and shape (`None` for a dynamic dimension).
pub fn parse_value_info(
    bytes: &[u8],
) -> std::result::Result<(String, i32, Vec<Option<usize>>), PbError> {
    let (mut name, mut elem, mut dims) = (String::new(), 0, Vec::new());
    for f in fields(bytes) {
        match f? {
            (1, v) => name = v.as_str().unwrap_or("").to_string(),
            (2, Value::Bytes(t)) => {
                for g in fields(t) {
                    if let (1, Value::Bytes(tensor)) = g? {
                        for h in fields(tensor) {
                            match h? {
                                (1, v) => elem = v.as_i64().unwrap_or(0) as i32,
                                (2, Value::Bytes(shape)) => {
                                    for d in fields(shape) {
                                        if let (1, Value::Bytes(dim)) = d? {
                                            let mut value = None;
                                            for x in fields(dim) {
                                                if let (1, v) = x? {
                                                    value = v
                                                        .as_i64()
                                                        .and_then(|v| usize::try_from(v).ok());
                                                }
                                            }
                                            dims.push(value);
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok((name, elem, dims))
}

pub fn data_type(code: i32) -> DataType {
    match code {
        1 => DataType::F32,
        2 => DataType::U8,
        3 => DataType::I8,
        5 => DataType::I16,
        6 => DataType::I32,
        7 => DataType::I64,
        9 => DataType::Bool,
        10 => DataType::F16,
        11 => DataType::F64,
        4 => DataType::Other("uint16"),
        12 => DataType::U32,
        13 => DataType::U64,
        _ => DataType::Other("onnx type"),
    }
}
