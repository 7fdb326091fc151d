//! DEPTH_TO_SPACE and SPACE_TO_DEPTH (NHWC, int8 or float32, quantization
//! unchanged): each is a transpose of a rank-6 view of its input, so both
//! run on the TRANSPOSE kernel.
//!
//! Layer: ops; uses `lower` and `ops::transpose`.

use kiln::graph::Op;

use super::transpose::transpose_op;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Node, OpKind};
use crate::lower::{invalid, Lowered, Lowering};

/// Moves `block × block` patches between the spatial axes and the channels:
/// DEPTH_TO_SPACE (`to_space`) gives output pixel `(h·b + dh, w·b + dw)`
/// channel `c` from input pixel `(h, w)` channel `(dh·b + dw)·C' + c`;
/// SPACE_TO_DEPTH is its inverse.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpaceDepth {
    pub block: usize,
    pub to_space: bool,
}

fn read(op: &mut TfliteOp, to_space: bool) -> ReadResult<OpKind> {
    let block = op.positive(0, 0, "block_size")?;
    Ok(OpKind::SpaceDepth(SpaceDepth { block, to_space }))
}

impl SpaceDepth {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("DEPTH_TO_SPACE", |op| read(op, true)),
            ("SPACE_TO_DEPTH", |op| read(op, false)),
        ],
        onnx: &[],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for SpaceDepth {
    fn name(&self) -> &'static str {
        if self.to_space {
            "DEPTH_TO_SPACE"
        } else {
            "SPACE_TO_DEPTH"
        }
    }

    fn attributes(&self) -> String {
        format!("block {}", self.block)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (shape, b) = (cx.shape(input).to_vec(), self.block);
        let &[n, h, w, c] = shape.as_slice() else {
            return invalid(format!(
                "{} of rank {} (must be 4)",
                self.name(),
                shape.len()
            ));
        };
        // Both read the input as six axes in which the output's order is
        // the input's with the two middle axes swapped.
        let (view, expected) = if self.to_space {
            if c % (b * b) != 0 {
                return invalid(format!("{c} channels do not divide into {b}×{b} blocks"));
            }
            let depth = c / (b * b);
            ([n, h, w, b, b, depth], [n, h * b, w * b, depth])
        } else {
            if h % b != 0 || w % b != 0 {
                return invalid(format!("{h}×{w} does not divide into {b}×{b} blocks"));
            }
            ([n, h / b, b, w / b, b, c], [n, h / b, w / b, c * b * b])
        };
        if cx.shape(out) != expected {
            return invalid(format!(
                "output shape {:?}, expected {expected:?}",
                cx.shape(out)
            ));
        }
        if cx.tensor(input).quantization.is_some() {
            cx.same_quantization(input, out, self.name())?;
        }
        transpose_op(cx, (input, out), &view, &[0, 1, 3, 2, 4, 5]).map(Some)
    }
}
