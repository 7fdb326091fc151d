//! CONCATENATION along any axis, and PACK (a concatenation along a new
//! axis), of int8 or int16 values sharing one quantization (TFLM requires
//! it) or of float32 values: a strided copy of bytes.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{ConcatenationOp, MAX_CONCAT_INPUTS};
use kiln::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{invalid as invalid_model, ReadResult, TfliteOp};
use crate::ir::{Activation, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};

/// CONCATENATION of every input along `axis` (negative: from the end).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concatenation {
    pub axis: i32,
    pub activation: Activation,
}

impl Concatenation {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("CONCATENATION", |op| {
                Ok(OpKind::Concatenation(Concatenation {
                    axis: op.i32(0, 0)?,
                    activation: op.activation(1)?,
                }))
            }),
            ("PACK", pack_from_tflite),
        ],
        onnx: &[OnnxConverter {
            op_type: "Concat",
            inputs: 1,
            convert: concat_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Concatenation {
    fn permuted(&self, node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        let rank = to_new.len() as i32;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        Some(Permuted {
            kind: OpKind::Concatenation(Concatenation {
                axis: *to_new.get(usize::try_from(axis).ok()?)? as i32,
                ..*self
            }),
            data_inputs: (0..node.inputs.len()).collect(),
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "CONCATENATION"
    }

    fn attributes(&self) -> String {
        format!("axis {} {:?}", self.axis, self.activation)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::SharedInterval
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let out = cx.output(node)?;
        let dtype = match node.input(0).map(|t| cx.dtype(t)) {
            Some(DataType::F32) => DataType::F32,
            Some(DataType::I16) => DataType::I16,
            _ => DataType::I8,
        };
        let shape = cx.shape(out).to_vec();
        let rank = shape.len() as i32;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        if !(0..rank).contains(&axis) {
            return invalid(format!("axis {axis} out of range for rank {rank}"));
        }
        if self.activation != Activation::None {
            return unsupported("fused activation on CONCATENATION");
        }
        let inputs: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
        if inputs.len() > MAX_CONCAT_INPUTS {
            return unsupported(format!(
                "{} inputs (at most {MAX_CONCAT_INPUTS})",
                inputs.len()
            ));
        }
        let mut spans = [Span::EMPTY; MAX_CONCAT_INPUTS];
        for (slot, &t) in spans.iter_mut().zip(&inputs) {
            // TFLM requires equal scales and zero points; plain integers
            // (no quantization on either side) are copied as they are.
            let plain = |t: TensorId| cx.tensor(t).quantization.is_none();
            if dtype != DataType::F32 && !(plain(t) && plain(out)) {
                cx.same_quantization(t, out, self.name())?;
            }
            *slot = cx.activation(t, dtype)?;
        }
        let outer = crate::ir::saturating_elements(&shape[..axis as usize]);
        Ok(Some(Op::Concatenation(ConcatenationOp {
            outer: to_u32(outer)?,
            count: inputs.len() as u32,
            inputs: spans,
            output: cx.activation(out, dtype)?,
        })))
    }
}

/// ONNX Concat.
fn concat_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let inputs: Vec<TensorId> = n.inputs.iter().map(|i| cx.value(i)).collect::<Step<_>>()?;
    let rank = cx.shape(inputs[0]).len() as i64;
    let axis = n.int("axis", 0);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return Err(format!("axis {axis} out of range"));
    }
    let mut shape = cx.shape(inputs[0]);
    shape[axis as usize] = inputs
        .iter()
        .map(|&v| cx.shape(v).get(axis as usize).copied().unwrap_or(0))
        .sum();
    let out = cx.new_output(n, shape);
    cx.push(
        OpKind::Concatenation(Concatenation {
            axis: axis as i32,
            activation: Activation::None,
        }),
        inputs.iter().map(|&v| Some(v)).collect(),
        vec![out],
        &n.op_type,
    );
    Ok(())
}

/// TFLite PACK: inputs of one shape stacked along a new output axis. The
/// concatenation lowering reads only the output's shape (the bytes before
/// the axis) and each input's bytes, so stacking along a new axis is a
/// concatenation along it.
fn pack_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let count = op.positive(0, 0, "values_count")?;
    let axis = i64::from(op.i32(1, 0)?);
    let shapes: Vec<&Vec<usize>> = op
        .inputs
        .iter()
        .flatten()
        .map(|&t| &op.tensors[t].shape)
        .collect();
    let (Some(first), Some(&out)) = (shapes.first(), op.outputs.first()) else {
        return invalid_model("PACK without inputs or an output");
    };
    let rank = first.len() as i64 + 1;
    let a = if axis < 0 { axis + rank } else { axis };
    let mut stacked = first.to_vec();
    if let Ok(a) = usize::try_from(a) {
        if a < stacked.len() + 1 {
            stacked.insert(a, count);
        }
    }
    if shapes.len() != count
        || shapes.iter().any(|s| s != first)
        || op.tensors[out].shape != stacked
        || !(0..rank).contains(&a)
    {
        return invalid_model(format!(
            "PACK of {count} inputs of shapes {shapes:?} along axis {axis} into {:?}",
            op.tensors[out].shape
        ));
    }
    Ok(OpKind::Concatenation(Concatenation {
        axis: a as i32,
        activation: Activation::None,
    }))
}
