//! SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (rank 3 or 4, int8 or
//! float32, quantization unchanged): what TensorFlow's converter makes of
//! a dilated convolution it cannot express directly.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{BatchToSpaceOp, SpaceBatchParams, SpaceToBatchOp};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{invalid as invalid_model, ReadResult, TfliteOp};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// Blocks of `block[0] × block[1]` pixels between the spatial axes and the
/// batch: SPACE_TO_BATCH_ND (`to_batch`) pads the image by `edges` (rows
/// above and below, columns left and right) first; BATCH_TO_SPACE_ND crops
/// them after. A rank-3 tensor has one spatial axis (block width one).
/// Padding is the real value 0 (TFLM's kernel pads with an unset value:
/// see `kiln::kernels::space_batch`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpaceBatch {
    pub block: [usize; 2],
    pub edges: [[usize; 2]; 2],
    pub to_batch: bool,
}

impl SpaceBatch {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("SPACE_TO_BATCH_ND", |op| read(op, true)),
            ("BATCH_TO_SPACE_ND", |op| read(op, false)),
        ],
        onnx: &[],
        dtypes: Dtypes::INT8_FLOAT32,
    };

    /// The output's `[batches, height, width]` for an input's (none if
    /// the blocks do not fit, or the sizes overflow).
    fn output_dims(&self, [n, h, w]: [usize; 3]) -> Option<[usize; 3]> {
        let [bh, bw] = self.block;
        let [[top, bottom], [left, right]] = self.edges;
        let blocks = bh.checked_mul(bw)?;
        if self.to_batch {
            let h = h.checked_add(top)?.checked_add(bottom)?;
            let w = w.checked_add(left)?.checked_add(right)?;
            (h % bh == 0 && w % bw == 0).then_some([n.checked_mul(blocks)?, h / bh, w / bw])
        } else {
            (n % blocks == 0).then_some([
                n / blocks,
                h.checked_mul(bh)?.checked_sub(top.checked_add(bottom)?)?,
                w.checked_mul(bw)?.checked_sub(left.checked_add(right)?)?,
            ])
        }
    }
}

/// The block shape and paddings (or crops), constant int32 inputs 1 and
/// 2, of a rank-3 or rank-4 input.
fn read(op: &mut TfliteOp, to_batch: bool) -> ReadResult<OpKind> {
    let what = if to_batch { "paddings" } else { "crops" };
    let rank = op.input_tensor(0).map_or(0, |t| t.shape.len());
    let block = op.input_tensor(1).and_then(|t| t.data_i32());
    let edges = op.input_tensor(2).and_then(|t| t.data_i32());
    let (Some(block), Some(edges)) = (block, edges) else {
        return invalid_model(format!("a constant int32 block shape and {what}"));
    };
    let spatial = rank.saturating_sub(2);
    if !(1..=2).contains(&spatial) || block.len() != spatial || edges.len() != 2 * spatial {
        return invalid_model(format!(
            "block shape {block:?} and {what} {edges:?} of a rank-{rank} input (TFLM: rank 3 or 4)"
        ));
    }
    let (Ok(block), Ok(edges)) = (
        block
            .iter()
            .map(|&b| usize::try_from(b))
            .collect::<Result<Vec<_>, _>>(),
        edges
            .iter()
            .map(|&e| usize::try_from(e))
            .collect::<Result<Vec<_>, _>>(),
    ) else {
        return invalid_model(format!("a negative block size or {what}"));
    };
    if block.contains(&0) {
        return invalid_model("a block size of zero");
    }
    op.inputs.truncate(1);
    Ok(OpKind::SpaceBatch(SpaceBatch {
        block: [block[0], block.get(1).copied().unwrap_or(1)],
        edges: [
            [edges[0], edges[1]],
            [
                edges.get(2).copied().unwrap_or(0),
                edges.get(3).copied().unwrap_or(0),
            ],
        ],
        to_batch,
    }))
}

impl IrOp for SpaceBatch {
    fn name(&self) -> &'static str {
        if self.to_batch {
            "SPACE_TO_BATCH_ND"
        } else {
            "BATCH_TO_SPACE_ND"
        }
    }

    fn attributes(&self) -> String {
        let what = if self.to_batch { "padding" } else { "crops" };
        format!("block {:?} {what} {:?}", self.block, self.edges)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on the `space_batch` fixture on each core.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(184, 152, 152, 96)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (shape, out_shape) = (cx.shape(input).to_vec(), cx.shape(out).to_vec());
        // [batches, height, width] and the values of one pixel.
        let pixels = |s: &[usize]| match *s {
            [n, h, w, c] => Some(([n, h, w], c)),
            [n, h, c] => Some(([n, h, 1], c)),
            _ => None,
        };
        let (Some((dims, depth)), Some((out_dims, out_depth))) =
            (pixels(&shape), pixels(&out_shape))
        else {
            return invalid(format!(
                "{} of rank {} (must be 3 or 4)",
                self.name(),
                shape.len()
            ));
        };
        if out_shape.len() != shape.len()
            || out_depth != depth
            || self.output_dims(dims) != Some(out_dims)
        {
            return invalid(format!(
                "{} of {shape:?} ({}) to {out_shape:?}",
                self.name(),
                self.attributes()
            ));
        }
        let dtype = cx.dtype(input);
        // The real value 0 (see `kiln::kernels::space_batch` on TFLM's).
        let pad_byte = match dtype {
            DataType::F32 => 0,
            DataType::I8 => {
                cx.same_quantization(input, out, self.name())?;
                cx.quant(out)?.1 as i8 as u8
            }
            _ => return unsupported(format!("{} of {}", self.name(), dtype.name())),
        };
        if cx.dtype(out) != dtype {
            return invalid("output type differs from the input's");
        }
        let params = SpaceBatchParams {
            input_dims: [to_u32(dims[0])?, to_u32(dims[1])?, to_u32(dims[2])?],
            output_dims: [
                to_u32(out_dims[0])?,
                to_u32(out_dims[1])?,
                to_u32(out_dims[2])?,
            ],
            pixel_bytes: to_u32(depth * dtype.size())?,
            block: [to_u32(self.block[0])?, to_u32(self.block[1])?],
            before: [to_u32(self.edges[0][0])?, to_u32(self.edges[1][0])?],
            pad_byte,
        };
        let (input, output) = cx.spans((input, out), dtype)?;
        Ok(Some(if self.to_batch {
            Op::SpaceToBatch(SpaceToBatchOp {
                params,
                input,
                output,
            })
        } else {
            Op::BatchToSpace(BatchToSpaceOp {
                params,
                input,
                output,
            })
        }))
    }
}
