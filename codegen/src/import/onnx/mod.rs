//! ONNX importer: `.onnx` (opsets 11 to 21) to the IR.
//!
//! Layer: import; uses `protobuf` (the bounds-checked reader), `ir`, the op
//! converters of `ops` and the `passes` that finish the imported graph.
//! Field numbers follow `onnx.proto`. The files: `proto` decodes the
//! messages; `context` holds the importer's state (every value in ONNX's
//! layout; an op that only runs in NHWC is wrapped in transposes);
//! `shape_arith` folds integer shape computations into constants; `one_d`
//! runs 1-D convolutions and pools as 2-D ones of height one; `qdq`
//! reads pre-quantized models; `if_branches` inlines If's branches. Each
//! op's converter lives in its file under `ops/`, registered by ONNX op
//! type. After import the passes move the
//! transposes until they cancel (NCHW to NHWC), fold batch normalization
//! into the conv or Gemm before it and fuse Relus. Every unsupported op or
//! attribute is reported at once.

mod batch_norm_training;
mod context;
mod if_branches;
mod layer_norm;
mod one_d;
mod proto;
mod qdq;
mod recurrent;
mod shape_arith;

use std::collections::HashMap;
use std::path::Path;

pub(crate) use batch_norm_training::batch_norm_training;
pub(crate) use context::{bounded_attribute, nchw_to_nhwc, pair, Importer, Step, MAX_GEOMETRY};
pub(crate) use layer_norm::layer_normalization;
pub use proto::read_tensor_data;
pub(crate) use proto::{Attribute, OnnxNode, OnnxTensor};
pub(crate) use recurrent::{block, onnx_sequence, present, Direction};

use super::protobuf::{fields, PbError, Value};
use crate::error::{Error, Result, Unsupported};
use crate::ir::*;
use proto::{data_type, parse_node, parse_tensor, parse_value_info};

/// Converts one node: shape arithmetic folds into constants, Identity,
/// Dropout and a CastLike to the same type alias their input, QuantizeLinear and DequantizeLinear record a
/// QDQ model's parameters (`qdq`), and every other op type goes to the
/// converter its op registers (`ops::Formats`).
fn convert(imp: &mut Importer, n: &OnnxNode) -> Step<()> {
    let op = n.op_type.as_str();
    if !n.domain.is_empty() && n.domain != "ai.onnx" {
        return Err(format!("domain '{}' is not supported", n.domain));
    }
    let converter = crate::ops::onnx_converter(op);
    // Inputs every converter reads without further checks.
    let needed = match (op, converter) {
        (_, Some(c)) => c.inputs,
        ("QuantizeLinear" | "DequantizeLinear", None) => 2,
        _ => 1,
    };
    if n.inputs.len() < needed
        || n.inputs[..needed].iter().any(String::is_empty)
        || n.outputs.is_empty()
    {
        return Err(format!(
            "{} inputs and {} outputs; {op} needs at least {needed} and 1",
            n.inputs.len(),
            n.outputs.len()
        ));
    }
    if op != "DequantizeLinear" {
        if let Some(q) = n.inputs.iter().find(|i| imp.quantized.contains_key(*i)) {
            return Err(format!(
                "reads '{q}', the integer output of a QuantizeLinear; kiln imports \
                 QDQ models, where a DequantizeLinear follows each QuantizeLinear"
            ));
        }
    }
    if let Some(folded) = shape_arith::fold_shape_arithmetic(imp, n)? {
        let name = n.outputs[0].clone();
        imp.constants
            .insert(name.clone(), OnnxTensor { name, ..folded });
        return Ok(());
    }
    match op {
        "Identity" | "Dropout" => {
            let v = imp.value(&n.inputs[0])?;
            imp.values.insert(n.outputs[0].clone(), v);
            Ok(())
        }
        "CastLike" => cast_like(imp, n),
        "If" => if_branches::if_node(imp, n),
        "QuantizeLinear" => imp.quantize_linear(n),
        "DequantizeLinear" => imp.dequantize_linear(n),
        "QLinearConv" | "QLinearMatMul" | "QLinearAdd" | "QLinearMul" | "ConvInteger"
        | "MatMulInteger" => Err(
            "quantized ONNX in operator form (QOperator) is not imported: quantize \
             with onnxruntime's QuantFormat.QDQ, or give kiln the float model and \
             calibration data (kiln compile MODEL --calibrate X.npy)"
                .into(),
        ),
        _ => match converter {
            Some(c) if one_d::WINDOW_OPS.contains(&op) => {
                let x = imp.value(&n.inputs[0])?;
                match imp.shape(x).len() {
                    3 => one_d::convert_lifted(imp, n, x, c.convert),
                    _ => (c.convert)(imp, n),
                }
            }
            Some(c) => (c.convert)(imp, n),
            None => Err("operator not supported by kiln".into()),
        },
    }
}

/// A Constant node's value: its `value` tensor, or `value_float(s)` or
/// `value_int(s)` as one.
fn constant_value(n: &OnnxNode) -> Option<OnnxTensor> {
    let a = |name: &str| n.attributes.get(name);
    let list = |data_type: i32, len: usize, scalar: bool| OnnxTensor {
        dims: if scalar { vec![] } else { vec![len as i64] },
        data_type,
        ..OnnxTensor::default()
    };
    if let Some(t) = a("value").and_then(|a| a.t.clone()) {
        return Some(t);
    }
    if let Some(f) = a("value_float").and_then(|a| a.f) {
        return Some(OnnxTensor {
            floats: vec![f],
            ..list(1, 1, true)
        });
    }
    if let Some(v) = a("value_floats") {
        return Some(OnnxTensor {
            floats: v.floats.clone(),
            ..list(1, v.floats.len(), false)
        });
    }
    if let Some(i) = a("value_int").and_then(|a| a.i) {
        return Some(OnnxTensor {
            ints: vec![i],
            ..list(7, 1, true)
        });
    }
    a("value_ints").map(|v| OnnxTensor {
        ints: v.ints.clone(),
        ..list(7, v.ints.len(), false)
    })
}

/// CastLike to the type its input already has, as ONNX's function bodies
/// cast their constants to the input's type: an alias of the constant or
/// value. A real conversion is refused.
fn cast_like(imp: &mut Importer, n: &OnnxNode) -> Step<()> {
    let (Some(from), Some(like)) = (n.inputs.first(), n.inputs.get(1)) else {
        return Err("CastLike needs two inputs".into());
    };
    let target = match imp.values.get(like) {
        Some(&v) => imp.g.tensors[v].dtype,
        None => data_type(imp.constant(like)?.data_type),
    };
    let out = n.outputs[0].clone();
    if let Some(c) = imp.constants.get(from).cloned() {
        if data_type(c.data_type) == target {
            imp.constants
                .insert(out.clone(), OnnxTensor { name: out, ..c });
            return Ok(());
        }
    } else {
        let v = imp.value(from)?;
        if imp.g.tensors[v].dtype == target {
            imp.values.insert(out, v);
            return Ok(());
        }
    }
    Err(format!(
        "CastLike to {} (kiln: only to the type it has)",
        target.name()
    ))
}

/// Reads an `.onnx` file into the IR.
pub fn import_bytes(bytes: &[u8], path: &Path) -> Result<Graph> {
    let malformed = |e: PbError| Error::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let mut graph_bytes = None;
    let mut opset = None;
    for f in fields(bytes) {
        match f.map_err(malformed)? {
            (7, Value::Bytes(b)) => graph_bytes = Some(b),
            (8, Value::Bytes(b)) => {
                let (mut domain, mut version) = (String::new(), 0);
                for g in fields(b) {
                    match g.map_err(malformed)? {
                        (1, v) => domain = v.as_str().unwrap_or("").to_string(),
                        (2, v) => version = v.as_i64().unwrap_or(0),
                        _ => {}
                    }
                }
                if domain.is_empty() || domain == "ai.onnx" {
                    opset = Some(version);
                }
            }
            _ => {}
        }
    }
    let graph_bytes = graph_bytes.ok_or_else(|| Error::Malformed {
        path: path.to_owned(),
        detail: "no graph (is this an ONNX model?)".into(),
    })?;
    let opset = opset.unwrap_or(0);
    // Opsets 11 to 21 are the target; the ops kiln imports have kept their
    // semantics up to 25 (where they did not, as Softmax before 13, the
    // converter checks the opset).
    if !(11..=25).contains(&opset) {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            problems: vec![Unsupported {
                op_index: None,
                op_name: "model".into(),
                tensors: vec![],
                reason: format!("opset {opset} (kiln reads opsets 11 to 25)"),
            }],
        });
    }
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for f in fields(graph_bytes) {
        match f.map_err(malformed)? {
            (1, Value::Bytes(b)) => nodes.push(parse_node(b).map_err(malformed)?),
            (5, Value::Bytes(b)) => initializers.push(parse_tensor(b).map_err(malformed)?),
            (11, Value::Bytes(b)) => inputs.push(parse_value_info(b).map_err(malformed)?),
            (12, Value::Bytes(b)) => outputs.push(parse_value_info(b).map_err(malformed)?),
            _ => {}
        }
    }
    // Sizes first: no later arithmetic on a shape may overflow.
    let too_large = |name: &str, shape: &dyn std::fmt::Debug| Error::Invalid {
        path: path.to_owned(),
        detail: format!(
            "tensor '{name}' has shape {shape:?}, too large (more than {} elements)",
            crate::ir::MAX_ELEMENTS
        ),
    };
    for t in &initializers {
        if let Some(shape) = t.shape() {
            crate::ir::checked_elements(&shape).ok_or_else(|| too_large(&t.name, &t.dims))?;
        }
    }
    for (name, _, dims) in inputs.iter().chain(&outputs) {
        let known: Vec<usize> = dims.iter().map(|d| d.unwrap_or(1)).collect();
        crate::ir::checked_elements(&known).ok_or_else(|| too_large(name, dims))?;
    }
    let mut imp = Importer {
        path,
        opset,
        g: Graph {
            source: path.to_owned(),
            tensors: vec![],
            nodes: vec![],
            inputs: vec![],
            outputs: vec![],
            variables: vec![],
            variable_init: vec![],
        },
        values: HashMap::new(),
        constants: initializers
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect(),
        producer: HashMap::new(),
        quantized: HashMap::new(),
        weight_quantization: HashMap::new(),
        problems: vec![],
        nesting: 0,
    };
    // Constant nodes become constants (a tensor, or one of the scalar and
    // list forms ONNX's function bodies write).
    for n in &nodes {
        if n.op_type == "Constant" {
            if let (Some(t), Some(out)) = (constant_value(n), n.outputs.first()) {
                imp.constants.insert(
                    out.clone(),
                    OnnxTensor {
                        name: out.clone(),
                        ..t
                    },
                );
            }
        }
    }
    for (name, elem, dims) in &inputs {
        if imp.constants.contains_key(name) {
            continue;
        }
        let shape: Vec<usize> = dims
            .iter()
            .enumerate()
            .map(|(i, d)| d.unwrap_or(if i == 0 { 1 } else { 0 }))
            .collect();
        if shape.contains(&0) || dims.is_empty() {
            return Err(unsupported_io(
                path,
                "model input",
                name,
                format!("dynamic or unknown shape {dims:?}"),
            ));
        }
        let dtype = data_type(*elem);
        let id = imp.tensor(name.clone(), shape, dtype, None);
        imp.g.inputs.push(id);
        imp.values.insert(name.clone(), id);
    }
    for (index, n) in nodes.iter().enumerate() {
        if n.op_type == "Constant" {
            continue;
        }
        let known = imp.g.tensors.len();
        let converted = convert(&mut imp, n);
        // A shape computed from hostile attributes stops here, before the
        // next converter does arithmetic on it.
        for t in &imp.g.tensors[known..] {
            crate::ir::checked_elements(&t.shape).ok_or_else(|| too_large(&t.name, &t.shape))?;
        }
        if let Err(reason) = converted {
            let tensors = n
                .inputs
                .iter()
                .chain(&n.outputs)
                .filter(|s| !s.is_empty())
                .cloned()
                .collect();
            imp.problems.push(Unsupported {
                op_index: Some(index),
                op_name: n.op_type.clone(),
                tensors,
                reason,
            });
        }
    }
    if !imp.problems.is_empty() {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            problems: imp.problems,
        });
    }
    for (name, _, _) in &outputs {
        if imp.quantized.contains_key(name) {
            return Err(unsupported_io(
                path,
                "model output",
                name,
                "integer output of a QuantizeLinear (kiln imports QDQ models with float32 \
                 outputs: end with DequantizeLinear)"
                    .into(),
            ));
        }
        let v = imp
            .values
            .get(name)
            .copied()
            .ok_or_else(|| Error::Invalid {
                path: path.to_owned(),
                detail: format!("output '{name}' is not computed"),
            })?;
        imp.g.outputs.push(v);
    }
    let _ = imp.path;
    let mut graph = imp.g;
    for t in &graph.tensors {
        crate::ir::checked_elements(&t.shape).ok_or_else(|| too_large(&t.name, &t.shape))?;
    }
    crate::passes::after_onnx_import(&mut graph)?;
    Ok(graph)
}

/// A model input or output kiln cannot take.
fn unsupported_io(path: &Path, what: &str, name: &str, reason: String) -> Error {
    Error::Unsupported {
        path: path.to_owned(),
        problems: vec![Unsupported {
            op_index: None,
            op_name: what.into(),
            tensors: vec![name.to_string()],
            reason,
        }],
    }
}

/// Reads an ONNX file, turning the graph inputs named in `bound` into
/// constants with the given TensorProto bytes (the ONNX test cases pass
/// weights as inputs; kiln compiles weights as constants).
pub fn import_with_constants(path: &Path, bound: &[(String, Vec<u8>)]) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut extra = Vec::new();
    for (name, tensor) in bound {
        let mut t = tensor.clone();
        // A later `name` field overrides an earlier one.
        t.push(0x42);
        put_varint(&mut t, name.len() as u64);
        t.extend(name.as_bytes());
        extra.push(0x2a);
        put_varint(&mut extra, t.len() as u64);
        extra.extend(t);
    }
    let mut out = Vec::new();
    for f in fields(&bytes) {
        let (field, value) = f.map_err(|e| Error::Malformed {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        match (field, value) {
            (7, Value::Bytes(g)) => {
                let mut graph = g.to_vec();
                graph.extend(&extra);
                out.push(0x3a);
                put_varint(&mut out, graph.len() as u64);
                out.extend(graph);
            }
            (f, Value::Varint(v)) => {
                put_varint(&mut out, u64::from(f) << 3);
                put_varint(&mut out, v);
            }
            (f, Value::Bytes(b)) => {
                put_varint(&mut out, (u64::from(f) << 3) | 2);
                put_varint(&mut out, b.len() as u64);
                out.extend(b);
            }
            (f, Value::Fixed32(v)) => {
                put_varint(&mut out, (u64::from(f) << 3) | 5);
                out.extend(v.to_le_bytes());
            }
            (f, Value::Fixed64(v)) => {
                put_varint(&mut out, (u64::from(f) << 3) | 1);
                out.extend(v.to_le_bytes());
            }
        }
    }
    import_bytes(&out, path)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
