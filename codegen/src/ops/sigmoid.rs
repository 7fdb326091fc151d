//! LOGISTIC and TANH: int8 (TFLM's gemmlowp fixed point; output scale 1/256
//! and zero point -128 for LOGISTIC, 1/128 and 0 for TANH) and float32 (two
//! of the unary functions).
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::SigmoidParams;
use kiln::ops::{LogisticOp, SigmoidS8, TanhOp, UnaryF32Op, UnaryFunction};
use kiln::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{Lowered, Lowering};
use crate::quantize::multiplier::{frexp, input_radius};

/// LOGISTIC (ONNX Sigmoid).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Logistic;

/// TANH.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tanh;

/// A sigmoid-like op's operands: float32 spans, or the int8 descriptor
/// with the output quantization TFLM fixes (`scale`, `zero_point`).
enum SigmoidDescriptor {
    S8(SigmoidS8),
    F32(Span, Span),
}

fn lower_sigmoid(
    cx: &mut Lowering,
    node: &Node,
    (scale, zero_point): (f32, i32),
) -> Lowered<SigmoidDescriptor> {
    let (input, out) = cx.input_output(node)?;
    cx.same_elements(input, out)?;
    if cx.is_float(node) {
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        return Ok(SigmoidDescriptor::F32(input, output));
    }
    let (input_scale, input_zero_point) = cx.quant(input)?;
    let (input_multiplier, input_left_shift, input_range_radius) = sigmoid_params(input_scale);
    let (input_span, output) = cx.spans((input, out), DataType::I8)?;
    cx.fixed_output(out, scale, zero_point)?;
    Ok(SigmoidDescriptor::S8(SigmoidS8 {
        params: SigmoidParams {
            input_zero_point,
            input_range_radius,
            input_multiplier,
            input_left_shift,
        },
        input: input_span,
        output,
    }))
}

/// TFLM's LOGISTIC and TANH preparation: `(input_multiplier,
/// input_left_shift, input_range_radius)` for inputs in Q4.27. TFLM rounds
/// the mantissa itself here, without `QuantizeMultiplier`'s overflow
/// adjustment.
fn sigmoid_params(input_scale: f32) -> (i32, i32, i32) {
    const INPUT_INTEGER_BITS: i32 = 4;
    let real = f64::from(input_scale) * f64::from(1u32 << (31 - INPUT_INTEGER_BITS));
    let (q, shift) = frexp(real);
    let multiplier = (q * (1i64 << 31) as f64).round().min(i32::MAX as f64) as i32;
    let radius = input_radius(INPUT_INTEGER_BITS, shift);
    if radius == 0 {
        // An input scale of 8 or more (shift 31 and up): every input
        // saturates, TFLM never multiplies, and the multiplier and its
        // shift, out of the kernels' range, are never used.
        return (0, 0, 0);
    }
    (multiplier, shift, radius)
}

impl Logistic {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("LOGISTIC", |_| Ok(OpKind::Logistic(Logistic)))],
        onnx: &[OnnxConverter {
            op_type: "Sigmoid",
            inputs: 1,
            convert: |cx, n| cx.unary_node(n, OpKind::Logistic(Logistic)),
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl Tanh {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("TANH", |_| Ok(OpKind::Tanh(Tanh)))],
        onnx: &[OnnxConverter {
            op_type: "Tanh",
            inputs: 1,
            convert: |cx, n| cx.unary_node(n, OpKind::Tanh(Tanh)),
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for Logistic {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "LOGISTIC"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 256.0,
            zero_point: -128,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_sigmoid(cx, node, (1.0 / 256.0, -128))? {
            SigmoidDescriptor::S8(sigmoid) => Op::Logistic(LogisticOp { sigmoid }),
            SigmoidDescriptor::F32(input, output) => Op::UnaryF32(UnaryF32Op {
                function: UnaryFunction::Logistic,
                input,
                output,
            }),
        }))
    }
}

impl IrOp for Tanh {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "TANH"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 128.0,
            zero_point: 0,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(match lower_sigmoid(cx, node, (1.0 / 128.0, 0))? {
            SigmoidDescriptor::S8(sigmoid) => Op::Tanh(TanhOp { sigmoid }),
            SigmoidDescriptor::F32(input, output) => Op::UnaryF32(UnaryF32Op {
                function: UnaryFunction::Tanh,
                input,
                output,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn params_for_scale_one_sixteenth() {
        assert_eq!(super::sigmoid_params(1.0 / 16.0), (1 << 30, 24, 120));
    }

    /// Found by `cargo xtask difftest` (LOGISTIC seed 7, input scale 9.97):
    /// TFLM accepts it and saturates every input.
    #[test]
    fn saturating_scale_needs_no_multiplier() {
        assert_eq!(super::sigmoid_params(9.97), (0, 0, 0));
        assert_ne!(super::sigmoid_params(7.9).2, 0);
    }
}
