//! SOFTMAX over the last axis: int8 (TFLM's fixed point, output scale 1/256
//! and zero point -128) and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::softmax::SoftmaxParams;
use kiln::ops::{SoftmaxF32Op, SoftmaxOp};

use super::{Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{Lowered, Lowering, to_u32};
use crate::quantize::multiplier::{input_radius, quantize_multiplier};
use crate::import::onnx::{Importer, OnnxNode, Step};

/// SOFTMAX with `beta`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    pub beta: f32,
}

impl Softmax {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SOFTMAX", |op| {
            // Without an options table beta is 1, as the converter writes it.
            let beta = if op.has_options() { op.f32(0, 0.0)? } else { 1.0 };
            Ok(OpKind::Softmax(Softmax { beta }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Softmax",
            inputs: 1,
            convert: softmax_from_onnx,
        }],
    };
}

impl IrOp for Softmax {
    fn name(&self) -> &'static str {
        "SOFTMAX"
    }

    fn attributes(&self) -> String {
        format!("beta {}", self.beta)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 256.0,
            zero_point: -128,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let depth = *cx.shape(input).last().unwrap_or(&1);
        let outer = cx.tensor(input).elements() / depth.max(1);
        let (outer, depth) = (to_u32(outer)?, to_u32(depth)?);
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::SoftmaxF32(SoftmaxF32Op {
                outer,
                depth,
                beta: self.beta,
                input,
                output,
            })));
        }
        let (input_scale, _) = cx.quant(input)?;
        cx.fixed_output(out, 1.0 / 256.0, -128)?;
        let (input_multiplier, input_left_shift, diff_min) = softmax_params(self.beta, input_scale);
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Softmax(SoftmaxOp {
            params: SoftmaxParams {
                outer,
                depth,
                input_multiplier,
                input_left_shift,
                diff_min,
            },
            input,
            output,
        })))
    }
}

/// TFLM's int8 SOFTMAX preparation: `(input_multiplier, input_left_shift,
/// diff_min)` for `beta * input_scale` with 5 integer bits.
fn softmax_params(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real = (f64::from(beta)
        * f64::from(input_scale)
        * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
    .min((1u64 << 31) as f64 - 1.0);
    let (multiplier, shift) = quantize_multiplier(real);
    let diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, shift);
    (multiplier, shift, diff_min)
}

/// ONNX Softmax over the last axis (or the channel axis of an NHWC value).
fn softmax_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let rank = cx.shape(x).len() as i64;
    // Before opset 13 Softmax flattens from `axis` on (default 1): that is
    // a softmax over the last axis only when `axis` is last.
    let axis = n.int("axis", if cx.opset < 13 { 1 } else { -1 });
    let axis = if axis < 0 { axis + rank } else { axis };
    let last = if cx.opset < 13 {
        axis == rank - 1 && !x.nhwc
    } else if x.nhwc {
        axis == 1
    } else {
        axis == rank - 1
    };
    if !last {
        return Err(format!(
            "Softmax over axis {axis} of a rank-{rank} tensor (kiln: the last or channel axis)"
        ));
    }
    cx.unary_node(n, OpKind::Softmax(Softmax { beta: 1.0 }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn params_for_scale_one_sixteenth() {
        assert_eq!(super::softmax_params(1.0, 1.0 / 16.0), (1 << 30, 23, -248));
    }
}
