//! LOGISTIC and TANH: int8 (TFLM's gemmlowp fixed point; output scale 1/256
//! and zero point -128 for LOGISTIC, 1/128 and 0 for TANH), int16 (TFLite's
//! interpolated sigmoid table; zero points 0, output scale 2^-15) and
//! float32 (two of the unary functions).
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::SigmoidParams;
use kiln::ops::{
    LogisticOp, LogisticS16Op, SigmoidS16, SigmoidS8, TableScale, TanhOp, TanhS16Op, UnaryF32Op,
    UnaryFunction,
};
use kiln::Span;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{checked_log2, frexp, input_radius};
use crate::stack::Stack;

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
    S16(SigmoidS16),
    F32(Span, Span),
}

fn lower_sigmoid(
    cx: &mut Lowering,
    node: &Node,
    (scale, zero_point): (f32, i32),
    tanh: bool,
) -> Lowered<SigmoidDescriptor> {
    let (input, out) = cx.input_output(node)?;
    cx.same_elements(input, out)?;
    if cx.is_float(node) {
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        return Ok(SigmoidDescriptor::F32(input, output));
    }
    if cx.dtype(input) == DataType::I16 {
        return lower_s16(cx, input, out, tanh).map(SigmoidDescriptor::S16);
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

/// An int16 LOGISTIC or TANH, prepared as TFLM does: zero points 0, the
/// output scale 2^-15, and the input's rescale to the table's scale
/// (3 * 2^12 per unit): a power of two folds into the multiplier 3 << shift
/// (TANH: shifts 0 and 1; LOGISTIC: 0), any other scale becomes a
/// multiplier doubled (with the shift) into 2^14..2^15, then truncated.
fn lower_s16(
    cx: &mut Lowering,
    input: crate::ir::TensorId,
    out: crate::ir::TensorId,
    tanh: bool,
) -> Lowered<SigmoidS16> {
    let name = if tanh { "TANH" } else { "LOGISTIC" };
    let ((in_scale, in_zp), (out_scale, out_zp)) = (cx.quant(input)?, cx.quant(out)?);
    if in_zp != 0 || out_zp != 0 || cx.dtype(out) != DataType::I16 {
        return unsupported(format!("int16 {name} with a zero point or to another type"));
    }
    if checked_log2(out_scale) != (-15, true) {
        return unsupported(format!(
            "int16 {name} with output scale {out_scale} (TFLM requires 2^-15)"
        ));
    }
    let (log2, power_of_two) = checked_log2(in_scale);
    let pot_shift = 12 + log2;
    let pot_shifts = if tanh { 0..=1 } else { 0..=0 };
    let scale = if power_of_two && pot_shifts.contains(&pot_shift) {
        TableScale {
            multiplier: 3 << pot_shift,
            shift: 0,
        }
    } else {
        let mut multiplier = f64::from(in_scale) * 4096.0 * 3.0;
        let mut shift = 0;
        while multiplier <= 32767.0 / 2.0 && shift <= 30 {
            shift += 1;
            multiplier *= 2.0;
        }
        if multiplier > 32767.0 {
            return unsupported(format!(
                "int16 {name} with input scale {in_scale} (TFLM's rescale exceeds 15 bits)"
            ));
        }
        TableScale {
            multiplier: multiplier as i32,
            shift,
        }
    };
    let (input, output) = cx.spans((input, out), DataType::I16)?;
    Ok(SigmoidS16 {
        scale,
        input,
        output,
    })
}

/// The frame of LOGISTIC or TANH: int16's painted (the deepest of the
/// sigmoid_int16 fixture's ops on each core), else a small op's.
fn sigmoid_stack(g: &Graph, node: &Node) -> Stack {
    match node.input(0).map(|t| g.tensors[t].dtype) {
        Some(DataType::I16) => Stack::new(160, 100, 100, 64),
        _ => crate::stack::SMALL_OP,
    }
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
        dtypes: Dtypes::INT8_INT16_FLOAT32,
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
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Logistic {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "LOGISTIC"
    }

    /// int16: painted on each core on the sigmoid_int16 fixture (int8:
    /// a small op's).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        sigmoid_stack(g, node)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 256.0,
            zero_point: -128,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(
            match lower_sigmoid(cx, node, (1.0 / 256.0, -128), false)? {
                SigmoidDescriptor::S8(sigmoid) => Op::Logistic(LogisticOp { sigmoid }),
                SigmoidDescriptor::S16(sigmoid) => Op::LogisticS16(LogisticS16Op { sigmoid }),
                SigmoidDescriptor::F32(input, output) => Op::UnaryF32(UnaryF32Op {
                    function: UnaryFunction::Logistic,
                    input,
                    output,
                }),
            },
        ))
    }
}

impl IrOp for Tanh {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "TANH"
    }

    /// int16: painted on each core on the sigmoid_int16 fixture (int8:
    /// a small op's).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        sigmoid_stack(g, node)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 128.0,
            zero_point: 0,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        Ok(Some(
            match lower_sigmoid(cx, node, (1.0 / 128.0, 0), true)? {
                SigmoidDescriptor::S8(sigmoid) => Op::Tanh(TanhOp { sigmoid }),
                SigmoidDescriptor::S16(sigmoid) => Op::TanhS16(TanhS16Op { sigmoid }),
                SigmoidDescriptor::F32(input, output) => Op::UnaryF32(UnaryF32Op {
                    function: UnaryFunction::Tanh,
                    input,
                    output,
                }),
            },
        ))
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
