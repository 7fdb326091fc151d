//! ONNX importer: `.onnx` (opsets 11 to 21) to the IR, in the NHWC layout
//! the kernels use.
//!
//! Layer: import; uses `protobuf` (the bounds-checked reader), `ir` and
//! `error`. Field numbers follow `onnx.proto`. Layout: ONNX is NCHW, kiln's
//! kernels NHWC. Every 4-D activation is kept in NHWC; a TRANSPOSE at each
//! 4-D model input and output keeps the model's interface in ONNX's layout,
//! conv weights are permuted to OHWI (or 1HWO for depthwise), axes are
//! remapped, and a layout-sensitive reshape goes through NCHW. Batch
//! normalization is folded into the conv or Gemm before it; Identity and
//! Dropout disappear. Every unsupported op or attribute is reported at once.

use std::collections::HashMap;
use std::path::Path;

use super::protobuf::{fields, push_floats, push_ints, PbError, Value};
use crate::error::{Error, Result, Unsupported};
use crate::ir::*;
use crate::ops::*;

mod qdq;

/// NHWC dimension `d` is NCHW dimension `TO_NHWC[d]`.
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// NCHW dimension `d` is NHWC dimension `TO_NCHW[d]`.
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

#[derive(Clone, Debug, Default)]
struct OnnxTensor {
    name: String,
    dims: Vec<i64>,
    data_type: i32,
    raw: Vec<u8>,
    floats: Vec<f32>,
    ints: Vec<i64>,
}

impl OnnxTensor {
    fn shape(&self) -> Option<Vec<usize>> {
        self.dims.iter().map(|&d| usize::try_from(d).ok()).collect()
    }

    fn elements(&self) -> usize {
        self.shape().map_or(0, |s| s.iter().product())
    }

    /// Values as f32 (float tensors).
    fn f32s(&self) -> Option<Vec<f32>> {
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
    fn i64s(&self) -> Option<Vec<i64>> {
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

fn parse_tensor(bytes: &[u8]) -> std::result::Result<OnnxTensor, PbError> {
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

/// Reads a TensorProto file (the `.pb` data of ONNX's test cases).
pub fn read_tensor_file(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
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
    let values = t
        .f32s()
        .ok_or_else(|| bad(format!("not a float32 tensor (data type {})", t.data_type)))?;
    Ok((shape, values))
}

#[derive(Clone, Debug, Default)]
struct Attribute {
    f: Option<f32>,
    i: Option<i64>,
    s: Option<String>,
    ints: Vec<i64>,
    floats: Vec<f32>,
    t: Option<OnnxTensor>,
}

#[derive(Clone, Debug, Default)]
struct OnnxNode {
    inputs: Vec<String>,
    outputs: Vec<String>,
    name: String,
    op_type: String,
    domain: String,
    attributes: HashMap<String, Attribute>,
}

impl OnnxNode {
    fn int(&self, name: &str, default: i64) -> i64 {
        self.attributes
            .get(name)
            .and_then(|a| a.i)
            .unwrap_or(default)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.attributes
            .get(name)
            .and_then(|a| a.f)
            .unwrap_or(default)
    }
    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attributes.get(name).map(|a| a.ints.as_slice())
    }
    fn string(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|a| a.s.as_deref())
    }
}

fn parse_node(bytes: &[u8]) -> std::result::Result<OnnxNode, PbError> {
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
                        (7, v) => push_floats(v, &mut a.floats)?,
                        (8, v) => push_ints(v, &mut a.ints)?,
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
fn parse_value_info(
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

fn data_type(code: i32) -> DataType {
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
        _ => DataType::Other("onnx type"),
    }
}

/// An ONNX value in the IR: its tensor, and whether a 4-D NCHW value is
/// stored transposed to NHWC.
#[derive(Clone, Copy, Debug)]
struct Val {
    id: TensorId,
    nhwc: bool,
}

struct Importer<'a> {
    path: &'a Path,
    opset: i64,
    g: Graph,
    values: HashMap<String, Val>,
    constants: HashMap<String, OnnxTensor>,
    /// How many nodes read each value (for batch-norm folding).
    readers: HashMap<String, usize>,
    /// The IR node that produced each tensor.
    producer: HashMap<TensorId, usize>,
    /// QuantizeLinear outputs (integer values in the model; the float
    /// activation here) and their scale and int8 zero point.
    quantized: HashMap<String, (f32, i64)>,
    /// The scales of dequantized integer constants, by the float constant's name.
    weight_quantization: HashMap<String, Quantization>,
    problems: Vec<Unsupported>,
}

type Step<T> = std::result::Result<T, String>;

impl Importer<'_> {
    fn tensor(
        &mut self,
        name: String,
        shape: Vec<usize>,
        dtype: DataType,
        data: Option<Vec<u8>>,
    ) -> TensorId {
        self.g.tensors.push(Tensor {
            name,
            shape,
            dtype,
            quantization: None,
            data,
        });
        self.g.tensors.len() - 1
    }

    fn push(
        &mut self,
        kind: OpKind,
        inputs: Vec<Option<TensorId>>,
        outputs: Vec<TensorId>,
        source: &str,
    ) {
        for &o in &outputs {
            self.producer.insert(o, self.g.nodes.len());
        }
        self.g.nodes.push(Node {
            kind,
            inputs,
            outputs,
            source_name: source.to_string(),
        });
    }

    fn value(&self, name: &str) -> Step<Val> {
        self.values.get(name).copied().ok_or_else(|| format!("input '{name}' is not computed by the graph (a constant where kiln needs an activation?)"))
    }

    fn constant(&self, name: &str) -> Step<&OnnxTensor> {
        self.constants
            .get(name)
            .ok_or_else(|| format!("'{name}' must be a constant (an initializer)"))
    }

    fn shape(&self, v: Val) -> Vec<usize> {
        self.g.tensors[v.id].shape.clone()
    }

    /// The value in ONNX's layout (NCHW for 4-D values), adding a TRANSPOSE
    /// if it is stored NHWC.
    fn onnx_layout(&mut self, v: Val, source: &str) -> Val {
        if !v.nhwc {
            return v;
        }
        let s = self.shape(v);
        let shape = TO_NCHW.iter().map(|&d| s[d]).collect();
        let dtype = self.g.tensors[v.id].dtype;
        let name = format!("{} (NCHW)", self.g.tensors[v.id].name);
        let t = self.tensor(name, shape, dtype, None);
        self.push(
            layout_change(&s, &TO_NCHW),
            vec![Some(v.id)],
            vec![t],
            source,
        );
        Val { id: t, nhwc: false }
    }

    /// A 4-D value in NHWC, adding a TRANSPOSE if it is in ONNX's layout.
    fn nhwc(&mut self, v: Val, source: &str) -> Step<Val> {
        if v.nhwc {
            return Ok(v);
        }
        let s = self.shape(v);
        if s.len() != 4 {
            return Err(format!("expected a 4-D NCHW input, got shape {s:?}"));
        }
        let shape = TO_NHWC.iter().map(|&d| s[d]).collect();
        let dtype = self.g.tensors[v.id].dtype;
        let name = format!("{} (NHWC)", self.g.tensors[v.id].name);
        let t = self.tensor(name, shape, dtype, None);
        self.push(
            layout_change(&s, &TO_NHWC),
            vec![Some(v.id)],
            vec![t],
            source,
        );
        Ok(Val { id: t, nhwc: true })
    }

    fn new_output(&mut self, node: &OnnxNode, shape: Vec<usize>, nhwc: bool) -> Val {
        let name = node.outputs.first().cloned().unwrap_or_default();
        self.new_value(name, shape, nhwc)
    }

    fn new_value(&mut self, name: String, shape: Vec<usize>, nhwc: bool) -> Val {
        let id = self.tensor(name.clone(), shape, DataType::F32, None);
        let v = Val { id, nhwc };
        self.values.insert(name, v);
        v
    }

    /// Add, Mul, Sub, Div or PRelu of two values with ONNX (numpy) broadcasting,
    /// producing the value `name`.
    fn elementwise(&mut self, op: &str, a: Val, b: Val, name: String) -> Step<Val> {
        let (a, b) = if a.nhwc == b.nhwc {
            (a, b)
        } else {
            (self.onnx_layout(a, op), self.onnx_layout(b, op))
        };
        let (sa, sb) = (self.shape(a), self.shape(b));
        let rank = sa.len().max(sb.len());
        let pad = |s: &[usize]| -> Vec<usize> {
            std::iter::repeat_n(1, rank - s.len())
                .chain(s.iter().copied())
                .collect()
        };
        let (pa, pb) = (pad(&sa), pad(&sb));
        let mut out_shape = Vec::with_capacity(rank);
        for (x, y) in pa.iter().zip(&pb) {
            if x != y && *x != 1 && *y != 1 {
                return Err(format!("shapes {sa:?} and {sb:?} do not broadcast"));
            }
            out_shape.push(*x.max(y));
        }
        let out = self.new_value(name, out_shape, a.nhwc);
        let kind = match op {
            "Add" => OpKind::Add(Add {
                activation: Activation::None,
            }),
            "Mul" => OpKind::Mul(Mul {
                activation: Activation::None,
            }),
            "Sub" => OpKind::Sub(Sub {
                activation: Activation::None,
            }),
            "PRelu" => OpKind::PRelu(PRelu),
            _ => OpKind::Div(Div),
        };
        self.push(kind, vec![Some(a.id), Some(b.id)], vec![out.id], op);
        Ok(out)
    }

    /// The operands of an elementwise binary op. One of them may be an
    /// initializer (PyTorch's `(x - mean) / std`): it becomes an IR constant
    /// in the other operand's layout, permuted to NHWC when that one is.
    fn binary_operands(&mut self, first: &str, second: &str) -> Step<(Val, Val)> {
        match (self.values.get(first), self.values.get(second)) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            (Some(&a), None) => Ok((a, self.constant_like(second, a)?)),
            (None, Some(&b)) => Ok((self.constant_like(first, b)?, b)),
            (None, None) => Err(format!(
                "both operands ('{first}', '{second}') are constants; fold them before export"
            )),
        }
    }

    fn constant_like(&mut self, name: &str, other: Val) -> Step<Val> {
        let Some(t) = self.constants.get(name) else {
            // Neither computed nor an initializer: say so (a cycle, a typo).
            return self.value(name);
        };
        let values = t
            .f32s()
            .ok_or_else(|| format!("constant '{name}' must be float32"))?;
        let shape = t.shape().ok_or("negative dimension")?;
        self.f32_constant_like(name.to_string(), shape, &values, other)
    }

    /// A float32 constant (shape in ONNX's layout) in `other`'s layout.
    fn f32_constant_like(
        &mut self,
        name: String,
        shape: Vec<usize>,
        values: &[f32],
        other: Val,
    ) -> Step<Val> {
        if !other.nhwc {
            let id = self.f32_constant(name, shape, values);
            return Ok(Val { id, nhwc: false });
        }
        if shape.len() > 4 {
            return Err(format!(
                "constant '{name}' of rank {} against a 4-D value",
                shape.len()
            ));
        }
        let mut nchw = [1usize; 4];
        nchw[4 - shape.len()..].copy_from_slice(&shape);
        let nhwc_shape = TO_NHWC.iter().map(|&d| nchw[d]).collect();
        let data = nchw_to_nhwc(values, nchw);
        let id = self.f32_constant(name, nhwc_shape, &data);
        Ok(Val { id, nhwc: true })
    }

    /// A float32 constant; one dequantized from integers keeps their scales.
    fn f32_constant(&mut self, name: String, shape: Vec<usize>, values: &[f32]) -> TensorId {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let quantization = self.weight_quantization.get(&name).cloned();
        let id = self.tensor(name, shape, DataType::F32, Some(data));
        self.g.tensors[id].quantization = quantization;
        id
    }

    fn node(&mut self, n: &OnnxNode) -> Step<()> {
        let op = n.op_type.as_str();
        if !n.domain.is_empty() && n.domain != "ai.onnx" {
            return Err(format!("domain '{}' is not supported", n.domain));
        }
        // Inputs every converter below reads without further checks.
        let needed = match op {
            "Conv" | "ConvTranspose" | "Gemm" | "MatMul" | "Add" | "Mul" | "Sub" | "Div"
            | "PRelu" | "Reshape" | "QuantizeLinear" | "DequantizeLinear" => 2,
            "BatchNormalization" => 5,
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
            if let Some(q) = n.inputs.iter().find(|i| self.quantized.contains_key(*i)) {
                return Err(format!(
                    "reads '{q}', the integer output of a QuantizeLinear; kiln imports \
                     QDQ models, where a DequantizeLinear follows each QuantizeLinear"
                ));
            }
        }
        if let Some(folded) = self.fold_shape_arithmetic(n)? {
            let name = n.outputs[0].clone();
            self.constants
                .insert(name.clone(), OnnxTensor { name, ..folded });
            return Ok(());
        }
        match op {
            "Identity" | "Dropout" => {
                let v = self.value(&n.inputs[0])?;
                self.values.insert(n.outputs[0].clone(), v);
            }
            "Conv" => self.conv(n)?,
            "ConvTranspose" => self.conv_transpose(n)?,
            "Gemm" | "MatMul" => self.gemm(n)?,
            "BatchNormalization" => self.batch_norm(n)?,
            "Relu" | "Sigmoid" | "Tanh" | "Clip" => {
                let x = self.value(&n.inputs[0])?;
                let kind = match op {
                    "Relu" => OpKind::Relu(Relu(Activation::Relu)),
                    "Sigmoid" => OpKind::Logistic(Logistic),
                    "Tanh" => OpKind::Tanh(Tanh),
                    _ => {
                        let bound = |i: usize, attr: &str, default: f32| -> Step<f32> {
                            match n.inputs.get(i).filter(|s| !s.is_empty()) {
                                Some(name) => self
                                    .constant(name)?
                                    .f32s()
                                    .and_then(|v| v.first().copied())
                                    .ok_or_else(|| "Clip bounds must be float scalars".to_string()),
                                None => Ok(n.float(attr, default)),
                            }
                        };
                        let (min, max) = (bound(1, "min", f32::MIN)?, bound(2, "max", f32::MAX)?);
                        if min == 0.0 && max == 6.0 {
                            OpKind::Relu(Relu(Activation::Relu6))
                        } else {
                            OpKind::Clip(Clip { min, max })
                        }
                    }
                };
                let out = self.new_output(n, self.shape(x), x.nhwc);
                self.push(kind, vec![Some(x.id)], vec![out.id], op);
            }
            "LeakyRelu" | "HardSigmoid" | "HardSwish" => {
                let x = self.value(&n.inputs[0])?;
                let kind = match op {
                    "LeakyRelu" => OpKind::LeakyRelu(LeakyRelu {
                        alpha: n.float("alpha", 0.01),
                    }),
                    "HardSigmoid" => OpKind::HardSigmoid(HardSigmoid {
                        alpha: n.float("alpha", 0.2),
                        beta: n.float("beta", 0.5),
                    }),
                    _ => OpKind::HardSwish(HardSwish),
                };
                let out = self.new_output(n, self.shape(x), x.nhwc);
                self.push(kind, vec![Some(x.id)], vec![out.id], op);
            }
            "Add" | "Mul" | "Sub" | "Div" | "PRelu" => {
                let (a, b) = self.binary_operands(&n.inputs[0], &n.inputs[1])?;
                let name = n.outputs.first().cloned().unwrap_or_default();
                self.elementwise(op, a, b, name)?;
            }
            "Softmax" => {
                let x = self.value(&n.inputs[0])?;
                let rank = self.shape(x).len() as i64;
                // Before opset 13 Softmax flattens from `axis` on (default 1):
                // that is a softmax over the last axis only when `axis` is last.
                let axis = n.int("axis", if self.opset < 13 { 1 } else { -1 });
                let axis = if axis < 0 { axis + rank } else { axis };
                let last = if self.opset < 13 {
                    axis == rank - 1 && !x.nhwc
                } else if x.nhwc {
                    axis == 1
                } else {
                    axis == rank - 1
                };
                if !last {
                    return Err(format!("Softmax over axis {axis} of a rank-{rank} tensor (kiln: the last or channel axis)"));
                }
                let out = self.new_output(n, self.shape(x), x.nhwc);
                self.push(
                    OpKind::Softmax(Softmax { beta: 1.0 }),
                    vec![Some(x.id)],
                    vec![out.id],
                    op,
                );
            }
            "MaxPool" | "AveragePool" => self.pool(n)?,
            "GlobalAveragePool" => self.global_average_pool(n)?,
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => self.reshape(n)?,
            "ReduceMean" => self.reduce_mean(n)?,
            "Slice" => self.slice(n)?,
            "Pad" => self.pad(n)?,
            "Concat" => {
                let inputs: Vec<Val> = n
                    .inputs
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Step<_>>()?;
                let nhwc = inputs.iter().all(|v| v.nhwc);
                let inputs: Vec<Val> = if nhwc {
                    inputs
                } else {
                    inputs
                        .into_iter()
                        .map(|v| self.onnx_layout(v, op))
                        .collect()
                };
                let rank = self.shape(inputs[0]).len() as i64;
                let axis = n.int("axis", 0);
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&axis) {
                    return Err(format!("axis {axis} out of range"));
                }
                let axis = if nhwc {
                    TO_NCHW[axis as usize]
                } else {
                    axis as usize
                };
                let mut shape = self.shape(inputs[0]);
                shape[axis] = inputs
                    .iter()
                    .map(|v| self.g.tensors[v.id].shape.get(axis).copied().unwrap_or(0))
                    .sum();
                let out = self.new_output(n, shape, nhwc);
                self.push(
                    OpKind::Concatenation(Concatenation {
                        axis: axis as i32,
                        activation: Activation::None,
                    }),
                    inputs.iter().map(|v| Some(v.id)).collect(),
                    vec![out.id],
                    op,
                );
            }
            "Transpose" => {
                let x = self.value(&n.inputs[0])?;
                let x = self.onnx_layout(x, op);
                let s = self.shape(x);
                let perm: Vec<usize> = match n.ints("perm") {
                    Some(p) => p.iter().map(|&d| d as usize).collect(),
                    None => (0..s.len()).rev().collect(),
                };
                if perm.len() != s.len() || (0..s.len()).any(|d| !perm.contains(&d)) {
                    return Err(format!("perm {perm:?} does not fit shape {s:?}"));
                }
                let out = self.new_output(n, perm.iter().map(|&d| s[d]).collect(), false);
                self.push(
                    OpKind::Transpose(Transpose { perm }),
                    vec![Some(x.id)],
                    vec![out.id],
                    op,
                );
            }
            "QuantizeLinear" => self.quantize_linear(n)?,
            "DequantizeLinear" => self.dequantize_linear(n)?,
            "QLinearConv" | "QLinearMatMul" | "QLinearAdd" | "QLinearMul" | "ConvInteger"
            | "MatMulInteger" => {
                return Err(
                    "quantized ONNX in operator form (QOperator) is not imported: quantize \
                     with onnxruntime's QuantFormat.QDQ, or give kiln the float model and \
                     calibration data (kiln compile MODEL --calibrate X.npy)"
                        .into(),
                )
            }
            _ => return Err("operator not supported by kiln".into()),
        }
        Ok(())
    }

    /// 2-D ConvTranspose in float32. Padding and output size follow ONNX's
    /// reference (`auto_pad`, `pads`, `output_padding`, `output_shape`);
    /// weights `[C, M / group, KH, KW]` become the grouped-conv filter
    /// layout `[M, KH, KW, C / group]` the kernel reads.
    fn conv_transpose(&mut self, n: &OnnxNode) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        if self.shape(x).len() != 4 {
            return Err("only 2-D transposed convolutions (4-D input)".into());
        }
        let x = self.nhwc(x, "ConvTranspose")?;
        let w = self.constant(&n.inputs[1])?.clone();
        let ws = w
            .shape()
            .filter(|s| s.len() == 4)
            .ok_or("only 2-D transposed convolutions (4-D weights)")?;
        let [c, m_per_group, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
        let values = w.f32s().ok_or("weights must be float32")?;
        let xs = self.shape(x);
        let (batches, in_hw, in_c) = (xs[0], [xs[1], xs[2]], xs[3]);
        let group = n.int("group", 1).max(1) as usize;
        if c != in_c || c % group != 0 || kh == 0 || kw == 0 {
            return Err(format!(
                "weights {ws:?} with group {group} do not fit {in_c} input channels"
            ));
        }
        let (c_per_group, m) = (c / group, m_per_group * group);
        let strides = pair(n, "strides")?;
        let dilations = pair(n, "dilations")?;
        let output_padding = n
            .ints("output_padding")
            .map(<[i64]>::to_vec)
            .unwrap_or_else(|| vec![0, 0]);
        let given_shape: Option<Vec<i64>> = n.ints("output_shape").map(|s| {
            // Spatial only, though some exporters write all four dims.
            s[s.len().saturating_sub(2)..].to_vec()
        });
        if output_padding.len() != 2 || given_shape.as_ref().is_some_and(|s| s.len() != 2) {
            return Err("output_padding and output_shape must be 2-D".into());
        }
        let kernel = [kh as i64, kw as i64];
        let natural = |a: usize| {
            strides[a] * (in_hw[a] as i64 - 1)
                + output_padding[a]
                + (kernel[a] - 1) * dilations[a]
                + 1
        };
        let auto_pad = n.string("auto_pad").unwrap_or("NOTSET");
        let mut begin = [0i64; 2];
        let mut out_hw = [0i64; 2];
        match (auto_pad, n.ints("pads")) {
            ("SAME_UPPER" | "SAME_LOWER", None) => {
                for a in 0..2 {
                    out_hw[a] = given_shape
                        .as_ref()
                        .map_or(in_hw[a] as i64 * strides[a], |s| s[a]);
                    let total = natural(a) - out_hw[a];
                    begin[a] = if auto_pad == "SAME_UPPER" {
                        total.div_euclid(2)
                    } else {
                        total - total.div_euclid(2)
                    };
                }
            }
            ("NOTSET" | "SAME_UPPER" | "SAME_LOWER", pads) => {
                let pads = pads.map(<[i64]>::to_vec).unwrap_or_else(|| vec![0; 4]);
                if pads.len() != 4 {
                    return Err(format!("pads {pads:?} (kiln: 2-D)"));
                }
                for a in 0..2 {
                    begin[a] = pads[a];
                    out_hw[a] = given_shape
                        .as_ref()
                        .map_or(natural(a) - pads[a] - pads[a + 2], |s| s[a]);
                }
            }
            (other, _) => return Err(format!("auto_pad {other}")),
        }
        if begin.iter().any(|&p| p < 0) || out_hw.iter().any(|&d| d <= 0) {
            return Err(format!(
                "padding {begin:?} and output {out_hw:?} (kiln: non-negative padding)"
            ));
        }
        // [C, M/g, KH, KW] -> [M, KH, KW, C/g]
        let mut f = vec![0f32; values.len()];
        for ic in 0..c {
            let (g, icg) = (ic / c_per_group, ic % c_per_group);
            for mg in 0..m_per_group {
                let oc = g * m_per_group + mg;
                for y in 0..kh {
                    for xx in 0..kw {
                        f[((oc * kh + y) * kw + xx) * c_per_group + icg] =
                            values[((ic * m_per_group + mg) * kh + y) * kw + xx];
                    }
                }
            }
        }
        let filter = self.f32_constant(w.name.clone(), vec![m, kh, kw, c_per_group], &f);
        let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(b) => {
                let b = self.constant(b)?.f32s().ok_or("bias must be float32")?;
                if b.len() != m {
                    return Err(format!("bias of {} for {m} output channels", b.len()));
                }
                Some(self.f32_constant(format!("{} (bias)", n.outputs[0]), vec![m], &b))
            }
            None => None,
        };
        let attrs = Conv2dAttrs {
            padding: Padding::Explicit([begin[0] as usize, begin[1] as usize, 0, 0]),
            stride: [strides[0] as usize, strides[1] as usize],
            dilation: [dilations[0] as usize, dilations[1] as usize],
            activation: Activation::None,
        };
        let out = self.new_output(
            n,
            vec![batches, out_hw[0] as usize, out_hw[1] as usize, m],
            true,
        );
        self.push(
            OpKind::TransposeConv2d(TransposeConv2d(attrs)),
            vec![Some(x.id), Some(filter), bias],
            vec![out.id],
            "ConvTranspose",
        );
        Ok(())
    }

    fn conv(&mut self, n: &OnnxNode) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        let x = self.nhwc(x, "Conv")?;
        let w = self.constant(&n.inputs[1])?.clone();
        let ws = w
            .shape()
            .filter(|s| s.len() == 4)
            .ok_or("only 2-D convolutions (4-D weights)")?;
        let [o, i_per_group, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
        let values = w.f32s().ok_or("weights must be float32")?;
        let xs = self.shape(x);
        let (in_h, in_w, in_c) = (xs[1], xs[2], xs[3]);
        let group = n.int("group", 1).max(1) as usize;
        if i_per_group * group != in_c || o % group != 0 {
            return Err(format!(
                "weights {ws:?} with group {group} do not fit {in_c} input channels"
            ));
        }
        let strides = pair(n, "strides")?;
        let dilations = pair(n, "dilations")?;
        if kh == 0 || kw == 0 {
            return Err(format!("empty kernel {ws:?}"));
        }
        let padding = self.padding(
            n,
            [in_h, in_w],
            [kh, kw],
            [strides[0] as usize, strides[1] as usize],
            [dilations[0] as usize, dilations[1] as usize],
        )?;
        let attrs = Conv2dAttrs {
            padding,
            stride: [strides[0] as usize, strides[1] as usize],
            dilation: [dilations[0] as usize, dilations[1] as usize],
            activation: Activation::None,
        };
        let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(b) => Some(self.constant(b)?.f32s().ok_or("bias must be float32")?),
            None => None,
        };
        let depthwise = group == in_c && group > 1 && i_per_group == 1;
        let (filter, kind) = if depthwise {
            // [O, 1, KH, KW] -> [1, KH, KW, O]
            let mut f = vec![0f32; values.len()];
            for oc in 0..o {
                for y in 0..kh {
                    for xx in 0..kw {
                        f[(y * kw + xx) * o + oc] = values[(oc * kh + y) * kw + xx];
                    }
                }
            }
            (
                self.f32_constant(w.name.clone(), vec![1, kh, kw, o], &f),
                OpKind::DepthwiseConv2d(DepthwiseConv2d(attrs)),
            )
        } else {
            // [O, I, KH, KW] -> [O, KH, KW, I]: the NCHW-to-NHWC permutation.
            let f = nchw_to_nhwc(&values, [o, i_per_group, kh, kw]);
            (
                self.f32_constant(w.name.clone(), vec![o, kh, kw, i_per_group], &f),
                OpKind::Conv2d(Conv2d(attrs)),
            )
        };
        let bias = bias.map(|b| self.f32_constant(format!("{} (bias)", n.name), vec![o], &b));
        let ([oh, ow], _) = padding.windows([in_h, in_w], [kh, kw], attrs.stride, attrs.dilation);
        let out = self.new_output(n, vec![xs[0], oh, ow, o], true);
        self.push(
            kind,
            vec![Some(x.id), Some(filter), bias],
            vec![out.id],
            "Conv",
        );
        Ok(())
    }

    /// ONNX `pads`/`auto_pad` to the IR's padding.
    fn padding(
        &self,
        n: &OnnxNode,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Step<Padding> {
        match n.string("auto_pad").unwrap_or("NOTSET") {
            "SAME_UPPER" => Ok(Padding::Same),
            "VALID" => Ok(Padding::Valid),
            "SAME_LOWER" => {
                let mut p = [0usize; 4];
                for a in 0..2 {
                    let out = input[a].div_ceil(stride[a]);
                    let total = ((out - 1) * stride[a] + (kernel[a] - 1) * dilation[a] + 1)
                        .saturating_sub(input[a]);
                    p[a] = total.div_ceil(2);
                    p[a + 2] = total / 2;
                }
                Ok(Padding::Explicit(p))
            }
            "NOTSET" => {
                let pads = n
                    .ints("pads")
                    .map(|v| v.to_vec())
                    .unwrap_or_else(|| vec![0; 4]);
                if pads.len() != 4 || pads.iter().any(|&p| p < 0) {
                    return Err(format!("pads {pads:?} (kiln: 2-D, non-negative)"));
                }
                Ok(Padding::Explicit([
                    pads[0] as usize,
                    pads[1] as usize,
                    pads[2] as usize,
                    pads[3] as usize,
                ]))
            }
            other => Err(format!("auto_pad {other}")),
        }
    }

    fn gemm(&mut self, n: &OnnxNode) -> Step<()> {
        let op = n.op_type.as_str();
        let a = self.value(&n.inputs[0])?;
        let a = self.onnx_layout(a, op);
        let sa = self.shape(a);
        let b = self.constant(&n.inputs[1])?.clone();
        let sb = b
            .shape()
            .filter(|s| s.len() == 2)
            .ok_or("the weight must be a 2-D constant")?;
        let values = b.f32s().ok_or("weights must be float32")?;
        let (trans_a, trans_b) = (
            n.int("transA", 0),
            if op == "Gemm" { n.int("transB", 0) } else { 0 },
        );
        if trans_a != 0 {
            return Err("transA".into());
        }
        let (alpha, beta) = (n.float("alpha", 1.0), n.float("beta", 1.0));
        // The filter is [N, K].
        let (k, nn) = if trans_b != 0 {
            (sb[1], sb[0])
        } else {
            (sb[0], sb[1])
        };
        if sa.last() != Some(&k) || (op == "Gemm" && sa.len() != 2) {
            return Err(format!("input {sa:?} does not fit weights {sb:?}"));
        }
        let mut filter = vec![0f32; k * nn];
        for o in 0..nn {
            for i in 0..k {
                filter[o * k + i] = alpha
                    * if trans_b != 0 {
                        values[o * k + i]
                    } else {
                        values[i * nn + o]
                    };
            }
        }
        let filter = self.f32_constant(b.name.clone(), vec![nn, k], &filter);
        let bias = match n.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(c) => {
                let c = self.constant(c)?.clone();
                let v = c.f32s().ok_or("bias must be float32")?;
                let full: Vec<f32> = match v.len() {
                    1 => vec![v[0] * beta; nn],
                    len if len == nn
                        && c.shape().is_some_and(|s| {
                            s.iter().product::<usize>() == nn && s.last() == Some(&nn)
                        }) =>
                    {
                        v.iter().map(|x| x * beta).collect()
                    }
                    _ => {
                        return Err(format!(
                            "bias of shape {:?} (kiln: a vector or a scalar)",
                            c.dims
                        ))
                    }
                };
                Some(self.f32_constant(format!("{} (bias)", n.name), vec![nn], &full))
            }
            None => None,
        };
        let mut out_shape = sa.clone();
        *out_shape.last_mut().expect("rank >= 1") = nn;
        let out = self.new_output(n, out_shape, false);
        self.push(
            OpKind::FullyConnected(FullyConnected {
                activation: Activation::None,
                keep_num_dims: true,
            }),
            vec![Some(a.id), Some(filter), bias],
            vec![out.id],
            op,
        );
        Ok(())
    }

    fn batch_norm(&mut self, n: &OnnxNode) -> Step<()> {
        if n.int("training_mode", 0) != 0 || n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(
                "training-mode batch normalization (running statistics as outputs); \
                 export the model in eval mode"
                    .into(),
            );
        }
        let x = self.value(&n.inputs[0])?;
        let params: Vec<Vec<f32>> = n.inputs[1..5]
            .iter()
            .map(|name| {
                self.constant(name)
                    .and_then(|t| t.f32s().ok_or_else(|| "parameters must be float32".into()))
            })
            .collect::<Step<_>>()?;
        let eps = n.float("epsilon", 1e-5);
        let channels = params[0].len();
        if params.iter().any(|p| p.len() != channels) {
            return Err("batch-norm parameters differ in length".into());
        }
        let scale: Vec<f32> = (0..channels)
            .map(|c| params[0][c] / (params[3][c] + eps).sqrt())
            .collect();
        let single_reader = self.readers.get(&n.inputs[0]).copied().unwrap_or(0) == 1;
        let foldable = self.producer.get(&x.id).filter(|&&i| {
            // A fused activation (a QDQ model's dropped Relu) comes after
            // the batch norm, so it blocks folding.
            single_reader
                && matches!(
                    self.g.nodes[i].kind,
                    OpKind::Conv2d(Conv2d(Conv2dAttrs {
                        activation: Activation::None,
                        ..
                    })) | OpKind::DepthwiseConv2d(DepthwiseConv2d(Conv2dAttrs {
                        activation: Activation::None,
                        ..
                    })) | OpKind::FullyConnected(FullyConnected {
                        activation: Activation::None,
                        ..
                    })
                )
        });
        let Some(&node_index) = foldable else {
            return self.batch_norm_unfolded(n, x, &scale, &params);
        };
        let node = self.g.nodes[node_index].clone();
        let filter = node.input(1).ok_or("no filter")?;
        let f = &mut self.g.tensors[filter];
        let out_channels = match node.kind {
            OpKind::DepthwiseConv2d(_) => *f.shape.last().unwrap_or(&0),
            _ => f.shape[0],
        };
        if out_channels != channels {
            return Err(format!(
                "{channels} batch-norm channels for {out_channels} outputs"
            ));
        }
        let mut w: Vec<f32> = f
            .data
            .as_deref()
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let per = w.len() / channels.max(1);
        for (i, v) in w.iter_mut().enumerate() {
            let c = if matches!(node.kind, OpKind::DepthwiseConv2d(_)) {
                i % channels
            } else {
                i / per
            };
            *v *= scale[c];
        }
        f.data = Some(w.iter().flat_map(|v| v.to_le_bytes()).collect());
        let old_bias: Vec<f32> = match node.input(2) {
            Some(b) => self.g.tensors[b]
                .data
                .as_deref()
                .unwrap_or(&[])
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            None => vec![0.0; channels],
        };
        let bias: Vec<f32> = (0..channels)
            .map(|c| (old_bias[c] - params[2][c]) * scale[c] + params[1][c])
            .collect();
        let bias_id = self.f32_constant(format!("{} (folded bias)", n.name), vec![channels], &bias);
        let node = &mut self.g.nodes[node_index];
        node.inputs.resize(3, None);
        node.inputs[2] = Some(bias_id);
        self.values.insert(n.outputs[0].clone(), x);
        Ok(())
    }

    /// Shape arithmetic as exporters write it (PyTorch's `x.view(x.size(0),
    /// -1)` becomes Shape, Gather, Unsqueeze, Concat, Reshape): with static
    /// shapes every value of it is known here, so it folds into an integer
    /// constant. `None` when `n` is not such a node.
    fn fold_shape_arithmetic(&self, n: &OnnxNode) -> Step<Option<OnnxTensor>> {
        let op = n.op_type.as_str();
        if op == "Shape" {
            let Some(&x) = self.values.get(&n.inputs[0]) else {
                return Ok(None);
            };
            let s = self.shape(x);
            let dims: Vec<i64> = if x.nhwc {
                TO_NCHW.iter().map(|&d| s[d] as i64).collect()
            } else {
                s.iter().map(|&d| d as i64).collect()
            };
            let rank = dims.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let (start, end) = (clamp(n.int("start", 0)), clamp(n.int("end", rank)));
            return Ok(Some(int_tensor(
                vec![end.saturating_sub(start) as i64],
                dims.get(start..end.max(start)).unwrap_or(&[]).to_vec(),
            )));
        }
        if !matches!(
            op,
            "Gather"
                | "Unsqueeze"
                | "Squeeze"
                | "Concat"
                | "Cast"
                | "Slice"
                | "Add"
                | "Sub"
                | "Mul"
                | "Div"
                | "Identity"
        ) {
            return Ok(None);
        }
        // Every input an integer constant, or this is not shape arithmetic.
        let mut ins = Vec::new();
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            match self
                .constants
                .get(name)
                .and_then(|t| Some((t.shape()?, t.i64s()?)))
            {
                Some(v) => ins.push(v),
                None => return Ok(None),
            }
        }
        let Some((shape0, data0)) = ins.first().cloned() else {
            return Ok(None);
        };
        let dims0: Vec<i64> = shape0.iter().map(|&d| d as i64).collect();
        let folded = match op {
            "Identity" => int_tensor(dims0, data0),
            "Cast" => {
                // To int64 or int32: the values are unchanged.
                if !matches!(n.int("to", 7), 6 | 7) {
                    return Ok(None);
                }
                int_tensor(dims0, data0)
            }
            "Gather" => {
                let (index_shape, indices) = ins.get(1).cloned().ok_or("Gather needs indices")?;
                if shape0.len() != 1 || n.int("axis", 0) != 0 {
                    return Err("shape arithmetic: Gather only on 1-D constants".into());
                }
                let len = data0.len() as i64;
                let picked = indices
                    .iter()
                    .map(|&i| {
                        let i = if i < 0 { i + len } else { i };
                        data0
                            .get(usize::try_from(i).map_err(|_| "index out of range")?)
                            .copied()
                            .ok_or("Gather index out of range")
                    })
                    .collect::<std::result::Result<Vec<i64>, &str>>()?;
                int_tensor(index_shape.iter().map(|&d| d as i64).collect(), picked)
            }
            "Unsqueeze" | "Squeeze" => {
                let axes: Vec<i64> = match (n.ints("axes"), ins.get(1)) {
                    (Some(a), _) => a.to_vec(),
                    (None, Some((_, a))) => a.clone(),
                    (None, None) => vec![],
                };
                let mut dims = dims0;
                if op == "Unsqueeze" {
                    let rank = (dims.len() + axes.len()) as i64;
                    let mut axes: Vec<i64> = axes
                        .iter()
                        .map(|&a| if a < 0 { a + rank } else { a })
                        .collect();
                    axes.sort_unstable();
                    for a in axes {
                        let a = usize::try_from(a).map_err(|_| "Unsqueeze axis out of range")?;
                        if a > dims.len() {
                            return Err("Unsqueeze axis out of range".into());
                        }
                        dims.insert(a, 1);
                    }
                } else if axes.is_empty() {
                    dims.retain(|&d| d != 1);
                } else {
                    let rank = dims.len() as i64;
                    let axes: Vec<i64> = axes
                        .iter()
                        .map(|&a| if a < 0 { a + rank } else { a })
                        .collect();
                    dims = dims
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(&(*i as i64)))
                        .map(|(_, &d)| d)
                        .collect();
                }
                int_tensor(dims, data0)
            }
            "Concat" => {
                if ins.iter().any(|(s, _)| s.len() != 1) {
                    return Err("shape arithmetic: Concat only of 1-D constants".into());
                }
                let data: Vec<i64> = ins.iter().flat_map(|(_, d)| d.iter().copied()).collect();
                int_tensor(vec![data.len() as i64], data)
            }
            "Slice" => {
                let get = |i: usize| ins.get(i).map(|(_, d)| d.clone());
                let (starts, ends) = match (n.ints("starts"), n.ints("ends")) {
                    (Some(s), Some(e)) => (s.to_vec(), e.to_vec()),
                    _ => (get(1).unwrap_or_default(), get(2).unwrap_or_default()),
                };
                let steps = get(4).unwrap_or_else(|| vec![1]);
                if shape0.len() != 1 || starts.len() != 1 || ends.len() != 1 || steps != [1] {
                    return Err("shape arithmetic: Slice only of 1-D constants, step 1".into());
                }
                let len = data0.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len) as usize;
                let (a, b) = (clamp(starts[0]), clamp(ends[0]));
                let data = data0.get(a..b.max(a)).unwrap_or(&[]).to_vec();
                int_tensor(vec![data.len() as i64], data)
            }
            _ => {
                let (shape1, data1) = ins.get(1).cloned().ok_or("two operands needed")?;
                let n1 = data1.len();
                if !(data0.len() == n1 || data0.len() == 1 || n1 == 1) {
                    return Err("shape arithmetic: operands do not broadcast".into());
                }
                let len = data0.len().max(n1);
                let out_shape = if data0.len() >= n1 { &shape0 } else { &shape1 };
                let data = (0..len)
                    .map(|i| {
                        let (a, b) = (data0[i % data0.len()], data1[i % n1]);
                        match op {
                            "Add" => Ok(a.wrapping_add(b)),
                            "Sub" => Ok(a.wrapping_sub(b)),
                            "Mul" => Ok(a.wrapping_mul(b)),
                            _ if b == 0 => Err("shape arithmetic: division by zero"),
                            _ => Ok(a.wrapping_div(b)),
                        }
                    })
                    .collect::<std::result::Result<Vec<i64>, &str>>()?;
                int_tensor(out_shape.iter().map(|&d| d as i64).collect(), data)
            }
        };
        Ok(Some(folded))
    }

    /// Slice of a computed value with constant starts, ends, axes and
    /// (positive) steps, as an IR SLICE in the value's layout.
    fn slice(&mut self, n: &OnnxNode) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        let ints = |i: usize, attr: &str| -> Step<Option<Vec<i64>>> {
            match n.inputs.get(i).filter(|s| !s.is_empty()) {
                Some(name) => {
                    Ok(Some(self.constant(name)?.i64s().ok_or_else(|| {
                        format!("Slice input {i} must be an integer constant")
                    })?))
                }
                None => Ok(n.ints(attr).map(<[i64]>::to_vec)),
            }
        };
        let starts = ints(1, "starts")?.ok_or("Slice without starts")?;
        let ends = ints(2, "ends")?.ok_or("Slice without ends")?;
        let shape = self.shape(x);
        let rank = shape.len();
        // ONNX order: the value's shape as ONNX sees it.
        let onnx_shape: Vec<usize> = if x.nhwc {
            TO_NCHW.iter().map(|&d| shape[d]).collect()
        } else {
            shape.clone()
        };
        let axes = ints(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err("starts, ends, axes and steps differ in length".into());
        }
        let mut begin = vec![0usize; rank];
        let mut step = vec![1usize; rank];
        let mut out = onnx_shape.clone();
        for k in 0..starts.len() {
            let a = if axes[k] < 0 {
                axes[k] + rank as i64
            } else {
                axes[k]
            };
            let a = usize::try_from(a)
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(|| format!("axis {} out of range", axes[k]))?;
            if steps[k] <= 0 {
                return Err(format!("Slice step {} (kiln: positive steps)", steps[k]));
            }
            let dim = onnx_shape[a] as i64;
            let clamp = |v: i64| (if v < 0 { v.saturating_add(dim) } else { v }).clamp(0, dim);
            let (s, e) = (clamp(starts[k]), clamp(ends[k]));
            let count = if e > s { (e - s - 1) / steps[k] + 1 } else { 0 };
            if count == 0 {
                return Err(format!("Slice of axis {a} is empty"));
            }
            begin[a] = s as usize;
            step[a] = steps[k] as usize;
            out[a] = count as usize;
        }
        let to_layout = |v: &[usize]| -> Vec<usize> {
            if x.nhwc {
                TO_NHWC.iter().map(|&d| v[d]).collect()
            } else {
                v.to_vec()
            }
        };
        let (begin, step, out_shape) = (to_layout(&begin), to_layout(&step), to_layout(&out));
        let out = self.new_output(n, out_shape, x.nhwc);
        self.push(
            OpKind::Slice(Slice { begin, step }),
            vec![Some(x.id)],
            vec![out.id],
            "Slice",
        );
        Ok(())
    }

    /// GlobalAveragePool as TFLite's converter writes Keras'
    /// GlobalAveragePooling2D: a MEAN over the spatial axes, keeping them.
    /// Unlike AVERAGE_POOL_2D its int8 output has parameters of its own (a
    /// QDQ model's included).
    fn global_average_pool(&mut self, n: &OnnxNode) -> Step<()> {
        let rank = self.shape(self.value(&n.inputs[0])?).len() as i64;
        let mut mean = n.clone();
        mean.inputs.truncate(1);
        let attribute = |ints: Vec<i64>, i: Option<i64>| Attribute {
            ints,
            i,
            ..Attribute::default()
        };
        mean.attributes
            .insert("axes".into(), attribute((2..rank).collect(), None));
        mean.attributes
            .insert("keepdims".into(), attribute(vec![], Some(1)));
        self.reduce_mean(&mean)
    }

    /// ReduceMean over constant axes (attribute before opset 18, input 1
    /// since), as an IR MEAN with int32 axes in the value's layout.
    fn reduce_mean(&mut self, n: &OnnxNode) -> Step<()> {
        let mut x = self.value(&n.inputs[0])?;
        let axes: Vec<i64> = match (n.ints("axes"), n.inputs.get(1).filter(|s| !s.is_empty())) {
            (Some(a), _) => a.to_vec(),
            (None, Some(name)) => self
                .constant(name)?
                .i64s()
                .ok_or("axes must be an integer constant")?,
            (None, None) => vec![],
        };
        let keep_dims = n.int("keepdims", 1) != 0;
        let rank = self.shape(x).len() as i64;
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| if a < 0 { a + rank } else { a })
            .map(|a| usize::try_from(a).ok().filter(|&a| (a as i64) < rank))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("axes out of range for rank {rank}"))?;
        if axes.is_empty() {
            if n.int("noop_with_empty_axes", 0) != 0 {
                self.values.insert(n.outputs[0].clone(), x);
                return Ok(());
            }
            axes = (0..rank as usize).collect();
        }
        axes.sort_unstable();
        axes.dedup();
        // Dropping dimensions of an NHWC value keeps NHWC order, which is
        // ONNX's order only when H and W both go; otherwise reduce in NCHW.
        if x.nhwc && !keep_dims && !(axes.contains(&2) && axes.contains(&3)) {
            x = self.onnx_layout(x, &n.op_type);
        }
        let layout_axes: Vec<usize> = if x.nhwc {
            let mut a: Vec<usize> = axes.iter().map(|&a| TO_NCHW[a]).collect();
            a.sort_unstable();
            a
        } else {
            axes
        };
        let shape = self.shape(x);
        let out_shape: Vec<usize> = shape
            .iter()
            .enumerate()
            .filter_map(|(d, &len)| match (layout_axes.contains(&d), keep_dims) {
                (false, _) => Some(len),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let axes_bytes: Vec<u8> = layout_axes
            .iter()
            .flat_map(|&a| (a as i32).to_le_bytes())
            .collect();
        let axes_id = self.tensor(
            format!("{} (axes)", n.outputs[0]),
            vec![layout_axes.len()],
            DataType::I32,
            Some(axes_bytes),
        );
        let out = self.new_output(n, out_shape, x.nhwc && keep_dims);
        self.push(
            OpKind::Mean(Mean { keep_dims }),
            vec![Some(x.id), Some(axes_id)],
            vec![out.id],
            &n.op_type,
        );
        Ok(())
    }

    /// Constant-mode Pad (pads from input 1, or the attribute before opset
    /// 11), as an IR PAD with int32 `[rank, 2]` paddings in the value's
    /// layout and the pad value as input 2.
    fn pad(&mut self, n: &OnnxNode) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        let mode = n.string("mode").unwrap_or("constant");
        if mode != "constant" {
            return Err(format!("Pad mode '{mode}' (only constant padding)"));
        }
        let optional = |i: usize| n.inputs.get(i).filter(|s| !s.is_empty());
        let pads: Vec<i64> = match optional(1) {
            Some(name) => self
                .constant(name)?
                .i64s()
                .ok_or("pads must be an integer constant")?,
            None => n.ints("pads").ok_or("Pad without pads")?.to_vec(),
        };
        let value = match optional(2) {
            Some(name) => *self
                .constant(name)?
                .f32s()
                .ok_or("the pad value must be float32")?
                .first()
                .unwrap_or(&0.0),
            None => n.float("value", 0.0),
        };
        let shape = self.shape(x);
        let rank = shape.len();
        // Axes given (opset 18) select which dimensions `pads` covers.
        let axes: Vec<usize> = match optional(3) {
            Some(name) => self
                .constant(name)?
                .i64s()
                .ok_or("axes must be an integer constant")?
                .iter()
                .map(|&a| (if a < 0 { a + rank as i64 } else { a }) as usize)
                .collect(),
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() || axes.iter().any(|&a| a >= rank) {
            return Err(format!("pads {pads:?} do not fit a rank-{rank} input"));
        }
        if pads.iter().any(|&p| p < 0) {
            return Err("negative pads (cropping) are not supported".into());
        }
        // Per ONNX dimension: (before, after).
        let mut onnx_pads = vec![(0i64, 0i64); rank];
        for (k, &a) in axes.iter().enumerate() {
            onnx_pads[a] = (pads[k], pads[k + axes.len()]);
        }
        let layout_pads: Vec<(i64, i64)> = if x.nhwc {
            TO_NHWC.iter().map(|&d| onnx_pads[d]).collect()
        } else {
            onnx_pads
        };
        let out_shape: Vec<usize> = shape
            .iter()
            .zip(&layout_pads)
            .map(|(&d, &(b, a))| d + b as usize + a as usize)
            .collect();
        let bytes: Vec<u8> = layout_pads
            .iter()
            .flat_map(|&(b, a)| [b as i32, a as i32])
            .flat_map(i32::to_le_bytes)
            .collect();
        let base = n.outputs[0].clone();
        let paddings = self.tensor(
            format!("{base} (paddings)"),
            vec![rank, 2],
            DataType::I32,
            Some(bytes),
        );
        let mut inputs = vec![Some(x.id), Some(paddings)];
        // Zero padding needs no value: int8 then pads with the zero point.
        if value != 0.0 {
            inputs.push(Some(self.f32_constant(
                format!("{base} (pad value)"),
                vec![],
                &[value],
            )));
        }
        let out = self.new_output(n, out_shape, x.nhwc);
        self.push(OpKind::Pad(Pad), inputs, vec![out.id], "Pad");
        Ok(())
    }

    /// Batch normalization with nothing to fold into: `x * scale + shift`
    /// per channel (axis 1), two float ops with constants in flash.
    fn batch_norm_unfolded(
        &mut self,
        n: &OnnxNode,
        x: Val,
        scale: &[f32],
        params: &[Vec<f32>],
    ) -> Step<()> {
        let rank = self.shape(x).len();
        let channels = scale.len();
        if rank < 2 {
            return Err(format!("batch norm of a rank-{rank} input"));
        }
        let channel_axis_len = if x.nhwc {
            self.shape(x)[3]
        } else {
            self.shape(x)[1]
        };
        if channel_axis_len != channels {
            return Err(format!(
                "{channels} batch-norm channels for an input of shape {:?}",
                self.shape(x)
            ));
        }
        let shift: Vec<f32> = (0..channels)
            .map(|c| params[1][c] - params[2][c] * scale[c])
            .collect();
        // [C, 1, ..., 1]: broadcasts over axis 1 of an [N, C, ...] input.
        let shape: Vec<usize> = std::iter::once(channels)
            .chain(std::iter::repeat_n(1, rank - 2))
            .collect();
        // Named after the output: exporters often leave node names empty.
        let base = n.outputs.first().cloned().unwrap_or_default();
        let scale = self.f32_constant_like(format!("{base} (scale)"), shape.clone(), scale, x)?;
        let shift = self.f32_constant_like(format!("{base} (shift)"), shape, &shift, x)?;
        let scaled = self.elementwise("Mul", x, scale, format!("{base} (scaled)"))?;
        self.elementwise("Add", scaled, shift, base)?;
        Ok(())
    }

    fn pool(&mut self, n: &OnnxNode) -> Step<()> {
        let op = n.op_type.as_str();
        let x = self.value(&n.inputs[0])?;
        let x = self.nhwc(x, op)?;
        let xs = self.shape(x);
        let (kind, attrs) = {
            let k = n
                .ints("kernel_shape")
                .filter(|k| k.len() == 2)
                .ok_or("only 2-D pooling")?;
            if n.int("ceil_mode", 0) != 0 {
                return Err("ceil_mode".into());
            }
            if n.ints("dilations")
                .is_some_and(|d| d.iter().any(|&v| v != 1))
            {
                return Err("dilated pooling".into());
            }
            if op == "AveragePool" && n.int("count_include_pad", 0) != 0 {
                return Err("count_include_pad".into());
            }
            if n.outputs.len() > 1 {
                return Err("the indices output".into());
            }
            if k.iter().any(|&v| v < 1) {
                return Err(format!("kernel_shape {k:?}"));
            }
            let kernel = [k[0] as usize, k[1] as usize];
            let strides = pair(n, "strides")?;
            let strides = [strides[0] as usize, strides[1] as usize];
            let padding = self.padding(n, [xs[1], xs[2]], kernel, strides, [1, 1])?;
            let attrs = Pool2dAttrs {
                padding,
                stride: strides,
                filter: kernel,
                activation: Activation::None,
            };
            (
                if op == "MaxPool" {
                    OpKind::MaxPool2d(MaxPool2d(attrs))
                } else {
                    OpKind::AveragePool2d(AveragePool2d(attrs))
                },
                attrs,
            )
        };
        let ([oh, ow], _) =
            attrs
                .padding
                .windows([xs[1], xs[2]], attrs.filter, attrs.stride, [1, 1]);
        let out = self.new_output(n, vec![xs[0], oh, ow, xs[3]], true);
        self.push(kind, vec![Some(x.id)], vec![out.id], op);
        Ok(())
    }

    fn reshape(&mut self, n: &OnnxNode) -> Step<()> {
        let op = n.op_type.as_str();
        let x = self.value(&n.inputs[0])?;
        let x = self.onnx_layout(x, op);
        let s = self.shape(x);
        let total: usize = s.iter().product();
        let axes = |i: usize, attr: &str| -> Step<Vec<i64>> {
            match n.inputs.get(i).filter(|s| !s.is_empty()) {
                Some(name) => self
                    .constant(name)?
                    .i64s()
                    .ok_or_else(|| "axes must be an integer constant".to_string()),
                None => Ok(n.ints(attr).map(|v| v.to_vec()).unwrap_or_default()),
            }
        };
        let shape: Vec<usize> = match op {
            "Flatten" => {
                let axis = n.int("axis", 1);
                let axis = if axis < 0 {
                    axis + s.len() as i64
                } else {
                    axis
                } as usize;
                let outer: usize = s[..axis.min(s.len())].iter().product();
                vec![outer, total / outer.max(1)]
            }
            "Reshape" => {
                let target = self
                    .constant(&n.inputs[1])?
                    .i64s()
                    .ok_or("the shape must be an integer constant")?;
                let allow_zero = n.int("allowzero", 0) != 0;
                let mut out: Vec<usize> = target
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d == 0 && !allow_zero {
                            s.get(i).copied().unwrap_or(0)
                        } else {
                            d.max(0) as usize
                        }
                    })
                    .collect();
                if let Some(p) = target.iter().position(|&d| d == -1) {
                    let known: usize = out
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != p)
                        .map(|(_, &d)| d)
                        .product();
                    out[p] = total.checked_div(known).unwrap_or(0);
                }
                out
            }
            "Squeeze" => {
                let a = axes(1, "axes")?;
                let rank = s.len() as i64;
                let a: Vec<usize> = a
                    .iter()
                    .map(|&d| (if d < 0 { d + rank } else { d }) as usize)
                    .collect();
                s.iter()
                    .enumerate()
                    .filter(|&(i, &d)| {
                        if a.is_empty() {
                            d != 1
                        } else {
                            !a.contains(&i)
                        }
                    })
                    .map(|(_, &d)| d)
                    .collect()
            }
            _ => {
                let a = axes(1, "axes")?;
                let rank = (s.len() + a.len()) as i64;
                let mut a: Vec<usize> = a
                    .iter()
                    .map(|&d| (if d < 0 { d + rank } else { d }) as usize)
                    .collect();
                a.sort();
                let mut out = s.clone();
                for d in a {
                    out.insert(d.min(out.len()), 1);
                }
                out
            }
        };
        if shape.iter().product::<usize>() != total {
            return Err(format!("cannot reshape {s:?} to {shape:?}"));
        }
        let out = self.new_output(n, shape, false);
        self.push(OpKind::Reshape(Reshape), vec![Some(x.id)], vec![out.id], op);
        Ok(())
    }
}

/// A 2-D attribute of positive integers (strides, dilations), default 1s.
/// An int64 constant (a folded shape computation).
/// The op that permutes `shape` by `perm`: a RESHAPE (the same bytes) when
/// only dimensions of size 1 move, as with one channel or a 1x1 image,
/// else a TRANSPOSE.
fn layout_change(shape: &[usize], perm: &[usize]) -> OpKind {
    let moved: Vec<usize> = perm.iter().copied().filter(|&d| shape[d] != 1).collect();
    if moved.windows(2).all(|w| w[0] < w[1]) {
        OpKind::Reshape(Reshape)
    } else {
        OpKind::Transpose(Transpose {
            perm: perm.to_vec(),
        })
    }
}

fn int_tensor(dims: Vec<i64>, values: Vec<i64>) -> OnnxTensor {
    OnnxTensor {
        dims,
        data_type: 7,
        ints: values,
        ..OnnxTensor::default()
    }
}

/// 4-D values permuted from `[n, c, h, w]` order to `[n, h, w, c]`.
fn nchw_to_nhwc(values: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    out[((b * h + y) * w + x) * c + ch] = values[((b * c + ch) * h + y) * w + x];
                }
            }
        }
    }
    out
}

fn pair(n: &OnnxNode, name: &str) -> Step<[i64; 2]> {
    match n.ints(name) {
        None => Ok([1, 1]),
        Some(&[a, b]) if a >= 1 && b >= 1 => Ok([a, b]),
        Some(v) => Err(format!("{name} {v:?} (kiln: two positive values)")),
    }
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
    let mut imp = Importer {
        path,
        opset,
        g: Graph {
            source: path.to_owned(),
            tensors: vec![],
            nodes: vec![],
            inputs: vec![],
            outputs: vec![],
        },
        values: HashMap::new(),
        constants: initializers
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect(),
        readers: HashMap::new(),
        producer: HashMap::new(),
        quantized: HashMap::new(),
        weight_quantization: HashMap::new(),
        problems: vec![],
    };
    // Constant nodes become constants.
    for n in &nodes {
        if n.op_type == "Constant" {
            if let (Some(t), Some(out)) = (
                n.attributes.get("value").and_then(|a| a.t.clone()),
                n.outputs.first(),
            ) {
                imp.constants.insert(
                    out.clone(),
                    OnnxTensor {
                        name: out.clone(),
                        ..t
                    },
                );
            }
        }
        for i in &n.inputs {
            *imp.readers.entry(i.clone()).or_insert(0) += 1;
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
        let id = imp.tensor(name.clone(), shape.clone(), dtype, None);
        imp.g.inputs.push(id);
        let v = Val { id, nhwc: false };
        let v = if shape.len() == 4 {
            imp.nhwc(v, "input").map_err(|d| Error::Invalid {
                path: path.to_owned(),
                detail: d,
            })?
        } else {
            v
        };
        imp.values.insert(name.clone(), v);
    }
    for (index, n) in nodes.iter().enumerate() {
        if n.op_type == "Constant" {
            continue;
        }
        if let Err(reason) = imp.node(n) {
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
        let v = imp.onnx_layout(v, "output");
        imp.g.outputs.push(v.id);
    }
    let _ = imp.path;
    fuse_activations(&mut imp.g);
    Ok(imp.g)
}

/// Makes `act` the fused activation of an op that has none and can take one
/// (conv, depthwise, Gemm, Add, Sub, Mul); false for any other.
fn fuse_activation(kind: &mut OpKind, act: Activation) -> bool {
    let slot = match kind {
        OpKind::Conv2d(Conv2d(a)) | OpKind::DepthwiseConv2d(DepthwiseConv2d(a)) => {
            &mut a.activation
        }
        OpKind::FullyConnected(FullyConnected { activation, .. })
        | OpKind::Add(Add { activation })
        | OpKind::Sub(Sub { activation })
        | OpKind::Mul(Mul { activation }) => activation,
        _ => return false,
    };
    let free = *slot == Activation::None;
    if free {
        *slot = act;
    }
    free
}

/// A Relu or Relu6 right after a conv, Gemm, Add, Sub or Mul becomes that
/// op's fused activation, as TFLite's converter does: one op and one
/// buffer fewer, and int8 ranges that start at zero. Only where the Relu is
/// the producer's sole reader and the pre-activation value is no model output.
fn fuse_activations(g: &mut Graph) {
    let mut readers = vec![0usize; g.tensors.len()];
    for node in &g.nodes {
        for &t in node.inputs.iter().flatten() {
            readers[t] += 1;
        }
    }
    for &t in &g.outputs {
        readers[t] += 1;
    }
    let mut fused = Vec::new();
    for r in 0..g.nodes.len() {
        let (OpKind::Relu(Relu(act @ (Activation::Relu | Activation::Relu6))), Some(x), Some(&y)) = (
            g.nodes[r].kind.clone(),
            g.nodes[r].input(0),
            g.nodes[r].outputs.first(),
        ) else {
            continue;
        };
        let Some(p) = g.nodes.iter().position(|n| n.outputs.contains(&x)) else {
            continue;
        };
        if readers[x] != 1 || g.nodes[p].outputs.len() != 1 {
            continue;
        }
        if fuse_activation(&mut g.nodes[p].kind, act) {
            g.nodes[p].outputs[0] = y;
            fused.push(r);
        }
    }
    let nodes = std::mem::take(&mut g.nodes);
    g.nodes = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !fused.contains(i))
        .map(|(_, n)| n)
        .collect();
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
