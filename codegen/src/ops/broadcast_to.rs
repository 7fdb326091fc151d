//! BROADCAST_TO (and ONNX Expand): each axis of length one repeated to
//! the output's length, of any type (quantization unchanged). It runs on
//! the SLICE kernel with a step of zero on the repeated axes.
//!
//! Layer: ops; uses `lower` and `ops::slice`.

use kiln::graph::Op;

use super::slice::strided_read;
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{invalid as invalid_model, ReadResult, TfliteOp};
use crate::ir::{broadcast_shape, Graph, Node, OpKind};
use crate::lower::{invalid, Lowered, Lowering};
use crate::stack::Stack;

/// The input, its shape padded on the left with ones to the output's
/// rank, with every axis of length one repeated to the output's length
/// (the output's shape says how far).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BroadcastTo;

impl BroadcastTo {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("BROADCAST_TO", broadcast_to_from_tflite)],
        onnx: &[OnnxConverter {
            op_type: "Expand",
            inputs: 2,
            convert: expand_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for BroadcastTo {
    fn name(&self) -> &'static str {
        "BROADCAST_TO"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on the `broadcast_to` fixture on each core (its SLICE
    /// kernel's frame is deeper than the small-op figure on the M4).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(224, 208, 208, 160)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let out_shape = cx.shape(out).to_vec();
        let Some(in_shape) = padded_to(cx.shape(input), out_shape.len()) else {
            return invalid(format!(
                "input of rank {} broadcast to rank {}",
                cx.shape(input).len(),
                out_shape.len()
            ));
        };
        let mut step = Vec::with_capacity(out_shape.len());
        for (&from, &to) in in_shape.iter().zip(&out_shape) {
            step.push(match (from, to) {
                _ if from == to => 1,
                (1, _) => 0,
                _ => return invalid(format!("{in_shape:?} does not broadcast to {out_shape:?}")),
            });
        }
        if cx.dtype(out) != cx.dtype(input) {
            return invalid("output type differs from the input's");
        }
        if cx.tensor(input).quantization.is_some() || cx.tensor(out).quantization.is_some() {
            cx.same_quantization(input, out, self.name())?;
        }
        let begin = vec![0; out_shape.len()];
        strided_read(cx, (input, out), (&in_shape, &out_shape), &begin, &step).map(Some)
    }
}

/// `shape` with ones on the left up to `rank` dimensions, if it has no more.
fn padded_to(shape: &[usize], rank: usize) -> Option<Vec<usize>> {
    let lead = rank.checked_sub(shape.len())?;
    Some([vec![1; lead], shape.to_vec()].concat())
}

/// TFLite BROADCAST_TO: the target shape (input 1) is the output's, which
/// the file states; a shape input that disagrees is refused.
fn broadcast_to_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let target = op.input_tensor(1).and_then(|t| t.data_i32());
    let output = op.outputs.first().map(|&o| op.tensors[o].shape.clone());
    if let (Some(target), Some(output)) = (target, output) {
        let matches = target.len() == output.len()
            && target
                .iter()
                .zip(&output)
                .all(|(&t, &o)| usize::try_from(t) == Ok(o));
        if !matches {
            return invalid_model(format!(
                "BROADCAST_TO shape {target:?} differs from its output's {output:?}"
            ));
        }
    }
    op.inputs.truncate(1);
    Ok(OpKind::BroadcastTo(BroadcastTo))
}

/// ONNX Expand: broadcasts in both directions (a target length of one
/// keeps the input's length), so the output's shape is the numpy
/// broadcast of the input's shape and the constant target shape.
fn expand_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let target = cx
        .constant(&n.inputs[1])?
        .i64s()
        .ok_or("Expand's shape must be an integer constant")?;
    let shape = cx.shape(x);
    let lengths = target
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("Expand to a negative length {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let out = broadcast_shape(&[&shape, &lengths])
        .ok_or_else(|| format!("{shape:?} does not expand to {target:?}"))?;
    let out = cx.new_output(n, out);
    cx.g.tensors[out].dtype = cx.g.tensors[x].dtype;
    cx.push(
        OpKind::BroadcastTo(BroadcastTo),
        vec![Some(x)],
        vec![out],
        "Expand",
    );
    Ok(())
}
