//! The ONNX importer's working state and the vocabulary its converters
//! share. ONNX is NCHW, kiln's kernels NHWC: every ONNX value is an IR
//! tensor that remembers whether a 4-D value is stored transposed to NHWC
//! ([`Val`]); converters ask for the layout they need ([`Importer::nhwc`],
//! [`Importer::onnx_layout`]) and a TRANSPOSE (or a RESHAPE, when only
//! size-1 dimensions move) is added where it changes. Values stay NHWC as
//! long as the ops reading them can work in it, so a chain of convolutions
//! and elementwise ops needs no transposes between them.
//!
//! Layer: import (part of the ONNX importer); uses `proto`, `ir` and the op
//! kinds of `ops`.

use std::collections::HashMap;
use std::path::Path;

use super::proto::{OnnxNode, OnnxTensor};
use crate::error::Unsupported;
use crate::ir::*;
use crate::ops::{Reshape, Transpose};

/// NHWC dimension `d` is NCHW dimension `TO_NHWC[d]`.
pub(crate) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// NCHW dimension `d` is NHWC dimension `TO_NCHW[d]`.
pub(crate) const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// An ONNX value in the IR: its tensor, and whether a 4-D NCHW value is
/// stored transposed to NHWC.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Val {
    pub id: TensorId,
    pub nhwc: bool,
}

/// The ONNX importer's state while it converts a graph node by node: the IR
/// built so far, and every ONNX value's IR tensor and layout. Converters (in
/// each op's file under `ops/`) read constants and values and push IR nodes
/// through it.
pub(crate) struct Importer<'a> {
    pub path: &'a Path,
    pub opset: i64,
    pub g: Graph,
    pub values: HashMap<String, Val>,
    pub constants: HashMap<String, OnnxTensor>,
    /// The IR node that produced each tensor.
    pub producer: HashMap<TensorId, usize>,
    /// QuantizeLinear outputs (integer values in the model; the float
    /// activation here) and their scale and int8 zero point.
    pub quantized: HashMap<String, (f32, i64)>,
    /// The scales of dequantized integer constants, by the float constant's name.
    pub weight_quantization: HashMap<String, Quantization>,
    pub problems: Vec<Unsupported>,
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

    pub(crate) fn value(&self, name: &str) -> Step<Val> {
        self.values.get(name).copied().ok_or_else(|| format!("input '{name}' is not computed by the graph (a constant where kiln needs an activation?)"))
    }

    pub(crate) fn constant(&self, name: &str) -> Step<&OnnxTensor> {
        self.constants
            .get(name)
            .ok_or_else(|| format!("'{name}' must be a constant (an initializer)"))
    }

    pub(crate) fn shape(&self, v: Val) -> Vec<usize> {
        self.g.tensors[v.id].shape.clone()
    }

    /// The value in ONNX's layout (NCHW for 4-D values), adding a TRANSPOSE
    /// if it is stored NHWC.
    pub(crate) fn onnx_layout(&mut self, v: Val, source: &str) -> Val {
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
    pub(crate) fn nhwc(&mut self, v: Val, source: &str) -> Step<Val> {
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

    pub(crate) fn new_output(&mut self, node: &OnnxNode, shape: Vec<usize>, nhwc: bool) -> Val {
        let name = node.outputs.first().cloned().unwrap_or_default();
        self.new_value(name, shape, nhwc)
    }

    pub(crate) fn new_value(&mut self, name: String, shape: Vec<usize>, nhwc: bool) -> Val {
        let id = self.tensor(name.clone(), shape, DataType::F32, None);
        let v = Val { id, nhwc };
        self.values.insert(name, v);
        v
    }

    /// A binary elementwise op (`kind`) of two values with ONNX (numpy)
    /// broadcasting, producing the value `name`; both operands in one layout.
    pub(crate) fn binary(
        &mut self,
        kind: OpKind,
        a: Val,
        b: Val,
        name: String,
        source: &str,
    ) -> Step<Val> {
        let (a, b) = if a.nhwc == b.nhwc {
            (a, b)
        } else {
            (self.onnx_layout(a, source), self.onnx_layout(b, source))
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
        self.push(kind, vec![Some(a.id), Some(b.id)], vec![out.id], source);
        Ok(out)
    }

    /// A binary ONNX node (inputs 0 and 1, either of them possibly an
    /// initializer) as the IR op `kind`.
    pub(crate) fn binary_node(&mut self, n: &OnnxNode, kind: OpKind) -> Step<()> {
        let (a, b) = self.binary_operands(&n.inputs[0], &n.inputs[1])?;
        let name = n.outputs.first().cloned().unwrap_or_default();
        self.binary(kind, a, b, name, &n.op_type)?;
        Ok(())
    }

    /// A unary ONNX node whose output has its input's shape and layout.
    pub(crate) fn unary_node(&mut self, n: &OnnxNode, kind: OpKind) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        let out = self.new_output(n, self.shape(x), x.nhwc);
        self.push(kind, vec![Some(x.id)], vec![out.id], &n.op_type);
        Ok(())
    }

    /// The operands of an elementwise binary op. One of them may be an
    /// initializer (PyTorch's `(x - mean) / std`): it becomes an IR constant
    /// in the other operand's layout, permuted to NHWC when that one is.
    pub(crate) fn binary_operands(&mut self, first: &str, second: &str) -> Step<(Val, Val)> {
        match (self.values.get(first), self.values.get(second)) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            (Some(&a), None) => Ok((a, self.constant_like(second, a)?)),
            (None, Some(&b)) => Ok((self.constant_like(first, b)?, b)),
            (None, None) => Err(format!(
                "both operands ('{first}', '{second}') are constants; fold them before export"
            )),
        }
    }

    pub(crate) fn constant_like(&mut self, name: &str, other: Val) -> Step<Val> {
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
    pub(crate) fn f32_constant_like(
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

/// The op that permutes `shape` by `perm`: a RESHAPE (the same bytes) when
/// only dimensions of size 1 move, as with one channel or a 1x1 image,
/// else a TRANSPOSE.
pub(crate) fn layout_change(shape: &[usize], perm: &[usize]) -> OpKind {
    let moved: Vec<usize> = perm.iter().copied().filter(|&d| shape[d] != 1).collect();
    if moved.windows(2).all(|w| w[0] < w[1]) {
        OpKind::Reshape(Reshape)
    } else {
        OpKind::Transpose(Transpose {
            perm: perm.to_vec(),
        })
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

/// A 2-D attribute of positive integers (strides, dilations), default 1s.
pub(crate) fn pair(n: &OnnxNode, name: &str) -> Step<[i64; 2]> {
    match n.ints(name) {
        None => Ok([1, 1]),
        Some(&[a, b]) if a >= 1 && b >= 1 => Ok([a, b]),
        Some(v) => Err(format!("{name} {v:?} (kiln: two positive values)")),
    }
}
