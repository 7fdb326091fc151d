//! L2_NORMALIZATION (int8, its output fixed at scale 1/128 and zero point
//! 0, and float32): each row along the last axis divided by its Euclidean
//! norm, as in face-embedding models.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{L2NormOp, L2_NORM_MAX_DEPTH};
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// L2_NORMALIZATION along the last axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct L2Normalization;

/// TFLite fixes the int8 output's parameters: `[-1, 127/128]` in 1/128ths.
const OUTPUT_SCALE: f32 = 1.0 / 128.0;

fn read(op: &mut TfliteOp) -> ReadResult<OpKind> {
    if op.activation(0)? != Activation::None {
        op.unsupported("L2_NORMALIZATION with a fused activation (TFLM has none)".into());
    }
    Ok(OpKind::L2Normalization(L2Normalization))
}

impl L2Normalization {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("L2_NORMALIZATION", read)],
        onnx: &[],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for L2Normalization {
    fn name(&self) -> &'static str {
        "L2_NORMALIZATION"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: OUTPUT_SCALE,
            zero_point: 0,
        }
    }

    /// Painted on the `l2_norm` fixture on each core.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(168, 96, 96, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let shape = cx.shape(input).to_vec();
        if shape.is_empty() || shape.len() > 4 || cx.shape(out) != shape {
            return invalid(format!(
                "L2_NORMALIZATION of {shape:?} to {:?} (rank 1 to 4, one shape)",
                cx.shape(out)
            ));
        }
        let depth = shape[shape.len() - 1];
        let rows = shape[..shape.len() - 1].iter().product::<usize>();
        let (dtype, input_zero_point) = match cx.dtype(input) {
            DataType::F32 => (DType::F32, 0),
            DataType::I8 => {
                cx.fixed_output(out, OUTPUT_SCALE, 0)?;
                if to_u32(depth)? > L2_NORM_MAX_DEPTH {
                    return unsupported(format!(
                        "int8 L2_NORMALIZATION of rows of {depth} values (its int32 sum of squares holds {L2_NORM_MAX_DEPTH})"
                    ));
                }
                (DType::I8, cx.quant(input)?.1)
            }
            other => return unsupported(format!("L2_NORMALIZATION of {}", other.name())),
        };
        let (input, output) = cx.spans((input, out), cx.dtype(input))?;
        Ok(Some(Op::L2Norm(L2NormOp {
            rows: to_u32(rows)?,
            depth: to_u32(depth)?,
            input_zero_point,
            dtype,
            input,
            output,
        })))
    }
}
