//! The ONNX importer's working state and the vocabulary its converters
//! share. Every ONNX value is an IR tensor in ONNX's own layout (NCHW for
//! 4-D values); an op that only runs in NHWC (convolutions and pools) gets
//! its input through a TRANSPOSE to NHWC and gives its output back through
//! one to NCHW ([`Importer::transposed_to_nhwc`], [`Importer::transposed_to_nchw`]). The
//! `nchw_to_nhwc` pass then moves those transposes through the ops that can
//! run in NHWC, so that a chain of convolutions and elementwise ops ends up
//! with none between them.
//!
//! Layer: import (part of the ONNX importer); uses `proto`, `ir` and the op
//! kinds of `ops`.

use std::collections::HashMap;
use std::path::Path;

use super::proto::{OnnxNode, OnnxTensor};
use crate::error::Unsupported;
use crate::ir::*;
use crate::ops::Transpose;

/// NHWC dimension `d` is NCHW dimension `TO_NHWC[d]`.
pub(crate) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// NCHW dimension `d` is NHWC dimension `TO_NCHW[d]`.
pub(crate) const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// The ONNX importer's state while it converts a graph node by node: the IR
/// built so far, and every ONNX value's IR tensor. Converters (in each op's
/// file under `ops/`) read constants and values and push IR nodes through
/// it.
pub(crate) struct Importer<'a> {
    pub path: &'a Path,
    pub opset: i64,
    pub g: Graph,
    pub values: HashMap<String, TensorId>,
    pub constants: HashMap<String, OnnxTensor>,
    /// The IR node that produced each tensor.
    pub producer: HashMap<TensorId, usize>,
    /// QuantizeLinear outputs (integer values in the model; the float
    /// activation here) and their scale and int8 zero point.
    pub quantized: HashMap<String, (f32, i64)>,
    /// The scales of dequantized integer constants, by the float constant's name.
    pub weight_quantization: HashMap<String, Quantization>,
    pub problems: Vec<Unsupported>,
    /// How many If branches are being converted around the current node.
    pub nesting: usize,
}

pub(crate) type Step<T> = std::result::Result<T, String>;

impl Importer<'_> {
    pub(crate) fn tensor(
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

    pub(crate) fn push(
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

    pub(crate) fn value(&self, name: &str) -> Step<TensorId> {
        self.values.get(name).copied().ok_or_else(|| format!("input '{name}' is not computed by the graph (a constant where kiln needs an activation?)"))
    }

    pub(crate) fn constant(&self, name: &str) -> Step<&OnnxTensor> {
        self.constants
            .get(name)
            .ok_or_else(|| format!("'{name}' must be a constant (an initializer)"))
    }

    pub(crate) fn shape(&self, v: TensorId) -> Vec<usize> {
        self.g.tensors[v].shape.clone()
    }

    /// A 4-D value in NHWC: a layout change to a new tensor.
    pub(crate) fn transposed_to_nhwc(&mut self, v: TensorId) -> Step<TensorId> {
        let s = self.shape(v);
        if s.len() != 4 {
            return Err(format!("expected a 4-D NCHW input, got shape {s:?}"));
        }
        let name = format!("{} (NHWC)", self.g.tensors[v].name);
        Ok(self.relayout(v, &TO_NHWC, name, "NCHW to NHWC"))
    }

    /// An NHWC op's 4-D output back in ONNX's layout, as the ONNX value
    /// `name`.
    pub(crate) fn transposed_to_nchw(&mut self, v: TensorId, name: String) -> TensorId {
        let t = self.relayout(v, &TO_NCHW, name.clone(), "NHWC to NCHW");
        self.values.insert(name, t);
        t
    }

    /// `v` permuted by `perm` into a new tensor `name`.
    pub(crate) fn relayout(
        &mut self,
        v: TensorId,
        perm: &[usize],
        name: String,
        source: &str,
    ) -> TensorId {
        let s = self.shape(v);
        let shape = perm.iter().map(|&d| s[d]).collect();
        let dtype = self.g.tensors[v].dtype;
        let t = self.tensor(name, shape, dtype, None);
        let kind = OpKind::Transpose(Transpose {
            perm: perm.to_vec(),
        });
        self.push(kind, vec![Some(v)], vec![t], source);
        t
    }

    /// `v`'s bytes under `shape`: a RESHAPE into a new tensor `name`.
    pub(crate) fn reshaped(&mut self, v: TensorId, shape: Vec<usize>, name: String) -> TensorId {
        let dtype = self.g.tensors[v].dtype;
        let t = self.tensor(name, shape, dtype, None);
        let kind = OpKind::Reshape(crate::ops::Reshape);
        self.push(kind, vec![Some(v)], vec![t], "reshape");
        t
    }

    /// A float32 tensor for the node's first output, registered as its value.
    pub(crate) fn new_output(&mut self, node: &OnnxNode, shape: Vec<usize>) -> TensorId {
        let name = node.outputs.first().cloned().unwrap_or_default();
        self.new_value(name, shape)
    }

    /// A float32 tensor for the ONNX value `name`.
    pub(crate) fn new_value(&mut self, name: String, shape: Vec<usize>) -> TensorId {
        let id = self.tensor(name.clone(), shape, DataType::F32, None);
        self.values.insert(name, id);
        id
    }

    /// A float32 tensor for an NHWC op's output, which `transposed_to_nchw` then
    /// turns into the ONNX value.
    pub(crate) fn nhwc_output(&mut self, node: &OnnxNode, shape: Vec<usize>) -> TensorId {
        let name = node.outputs.first().cloned().unwrap_or_default();
        self.tensor(format!("{name} (NHWC)"), shape, DataType::F32, None)
    }

    /// A binary elementwise op (`kind`) of two values with ONNX (numpy)
    /// broadcasting, producing the value `name`.
    pub(crate) fn binary(
        &mut self,
        kind: OpKind,
        a: TensorId,
        b: TensorId,
        name: String,
        source: &str,
    ) -> Step<TensorId> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let Some(out_shape) = broadcast_shape(&[&sa, &sb]) else {
            return Err(format!("shapes {sa:?} and {sb:?} do not broadcast"));
        };
        let out = self.new_value(name, out_shape);
        self.g.tensors[out].dtype = self.result_type(a);
        self.push(kind, vec![Some(a), Some(b)], vec![out], source);
        Ok(out)
    }

    /// The type of an elementwise op's result on `operand`: its own for a
    /// plain-integer tensor (ONNX arithmetic on integers stays in their
    /// type), float32 otherwise.
    pub(crate) fn result_type(&self, operand: TensorId) -> DataType {
        match self.g.tensors[operand].dtype {
            t @ (DataType::I8 | DataType::I16 | DataType::I32) => t,
            _ => DataType::F32,
        }
    }

    /// A binary ONNX node (inputs 0 and 1, either of them possibly an
    /// initializer) as the IR op `kind`.
    pub(crate) fn binary_node(&mut self, n: &OnnxNode, kind: OpKind) -> Step<()> {
        let (a, b) = self.binary_operands(&n.inputs[0], &n.inputs[1])?;
        let name = n.outputs.first().cloned().unwrap_or_default();
        self.binary(kind, a, b, name, &n.op_type)?;
        Ok(())
    }

    /// A unary ONNX node whose output has its input's shape.
    pub(crate) fn unary_node(&mut self, n: &OnnxNode, kind: OpKind) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        let out = self.new_output(n, self.shape(x));
        self.g.tensors[out].dtype = self.result_type(x);
        self.push(kind, vec![Some(x)], vec![out], &n.op_type);
        Ok(())
    }

    /// The operands of an elementwise binary op. One of them may be an
    /// initializer (PyTorch's `(x - mean) / std`): it becomes an IR
    /// constant.
    pub(crate) fn binary_operands(
        &mut self,
        first: &str,
        second: &str,
    ) -> Step<(TensorId, TensorId)> {
        match (self.values.get(first), self.values.get(second)) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            (Some(&a), None) => Ok((a, self.float_constant(second)?)),
            (None, Some(&b)) => Ok((self.float_constant(first)?, b)),
            (None, None) => Err(format!(
                "both operands ('{first}', '{second}') are constants; fold them before export"
            )),
        }
    }

    /// The float32 initializer `name` as an IR constant.
    fn float_constant(&mut self, name: &str) -> Step<TensorId> {
        let Some(t) = self.constants.get(name) else {
            // Neither computed nor an initializer: say so (a cycle, a typo).
            return self.value(name);
        };
        let shape = t.shape().ok_or("negative dimension")?;
        if let Some((dtype, data)) = t.plain_integers() {
            // An integer operand of integer arithmetic (ONNX's types
            // match), kept in its type.
            return Ok(self.tensor(name.to_string(), shape, dtype, Some(data)));
        }
        let values = t
            .f32s()
            .ok_or_else(|| format!("constant '{name}' must be float32"))?;
        Ok(self.f32_constant(name.to_string(), shape, &values))
    }

    /// A float32 constant; one dequantized from integers keeps their scales.
    pub(crate) fn f32_constant(
        &mut self,
        name: String,
        shape: Vec<usize>,
        values: &[f32],
    ) -> TensorId {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let quantization = self.weight_quantization.get(&name).cloned();
        let id = self.tensor(name, shape, DataType::F32, Some(data));
        self.g.tensors[id].quantization = quantization;
        id
    }

    /// ONNX `pads`/`auto_pad` to the IR's padding.
    pub(crate) fn padding(
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
                bounded_attribute("pads", &pads, 0)?;
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
}

/// 4-D values permuted from `[n, c, h, w]` order to `[n, h, w, c]`.
pub(crate) fn nchw_to_nhwc(values: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
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

/// The largest stride, dilation, pad, kernel size, group count or output
/// size kiln accepts from an attribute: no microcontroller model comes
/// near it, and every size computed from such values stays far inside
/// `i64` and `usize` (a hostile file's cannot overflow them).
pub(crate) const MAX_GEOMETRY: i64 = 1 << 16;

/// Refuses any of `values` outside `min..=MAX_GEOMETRY`.
pub(crate) fn bounded_attribute(name: &str, values: &[i64], min: i64) -> Step<()> {
    match values.iter().find(|&&v| !(min..=MAX_GEOMETRY).contains(&v)) {
        Some(v) => Err(format!("{name} {v} (kiln: {min} to {MAX_GEOMETRY})")),
        None => Ok(()),
    }
}

/// A 2-D attribute of positive integers (strides, dilations), default 1s.
pub(crate) fn pair(n: &OnnxNode, name: &str) -> Step<[i64; 2]> {
    match n.ints(name) {
        None => Ok([1, 1]),
        Some(&[a, b]) => {
            bounded_attribute(name, &[a, b], 1)?;
            Ok([a, b])
        }
        Some(v) => Err(format!("{name} {v:?} (kiln: two positive values)")),
    }
}
