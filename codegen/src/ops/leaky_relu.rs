//! LEAKY_RELU: in int8 and int16 two rescalings, one for inputs at or
//! above the zero point and one with alpha folded in for those below (as
//! TFLM); in float32 `x >= 0 ? x : alpha * x`.
//!
//! Layer: ops; uses `lower`, the rescaling of `ops::quantize` and
//! `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::RequantizeParams;
use kiln::ops::{LeakyReluF32Op, LeakyReluOp, LeakyReluS16Op};

use super::quantize::requantize;
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{Activation, DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// LEAKY_RELU with slope `alpha` below zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    pub alpha: f32,
}

impl LeakyRelu {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("LEAKY_RELU", |op| {
            Ok(OpKind::LeakyRelu(LeakyRelu {
                alpha: op.f32(0, 0.0)?,
            }))
        })],
        onnx: &[OnnxConverter {
            op_type: "LeakyRelu",
            inputs: 1,
            convert: |cx, n| {
                let alpha = n.float("alpha", 0.01);
                cx.unary_node(n, OpKind::LeakyRelu(LeakyRelu { alpha }))
            },
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for LeakyRelu {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "LEAKY_RELU"
    }

    fn attributes(&self) -> String {
        format!("alpha {}", self.alpha)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    /// int16: painted on leaky_relu_int16 (int8 and float32: a small op's).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::I16) => Stack::new(164, 108, 108, 68),
            _ => crate::stack::SMALL_OP,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::LeakyReluF32(LeakyReluF32Op {
                alpha: self.alpha,
                input,
                output,
            })));
        }
        if cx.dtype(input) == DataType::I16 {
            return lower_s16(cx, input, out, self.alpha).map(Some);
        }
        let positive = requantize(cx, input, out, Activation::None)?;
        // TFLM: alpha enters the multiplier in double precision.
        let (in_scale, _) = cx.quant(input)?;
        let (out_scale, _) = cx.quant(out)?;
        let (multiplier, shift) =
            quantize_multiplier(f64::from(in_scale) * f64::from(self.alpha) / f64::from(out_scale));
        Ok(Some(Op::LeakyRelu(LeakyReluOp {
            positive: positive.params,
            negative: RequantizeParams {
                multiplier,
                shift,
                ..positive.params
            },
            input: positive.input,
            output: positive.output,
        })))
    }
}

/// int16 LEAKY_RELU (TFLite's 16x8 scheme): both multipliers from the
/// scales in double precision, as for int8, and the whole int16 range.
fn lower_s16(
    cx: &mut Lowering,
    input: crate::ir::TensorId,
    out: crate::ir::TensorId,
    alpha: f32,
) -> Lowered<Op> {
    let (in_scale, in_zp) = cx.quant(input)?;
    let (out_scale, out_zp) = cx.quant(out)?;
    if in_zp != 0 || out_zp != 0 || cx.dtype(out) != DataType::I16 {
        return unsupported("int16 LEAKY_RELU with a zero point or to another type");
    }
    let identity = quantize_multiplier(f64::from(in_scale) / f64::from(out_scale));
    let slope = quantize_multiplier(f64::from(in_scale) * f64::from(alpha) / f64::from(out_scale));
    let params = |(multiplier, shift)| RequantizeParams {
        input_zero_point: 0,
        output_zero_point: 0,
        multiplier,
        shift,
        activation_min: i32::from(i16::MIN),
        activation_max: i32::from(i16::MAX),
    };
    let (input, output) = cx.spans((input, out), DataType::I16)?;
    Ok(Op::LeakyReluS16(LeakyReluS16Op {
        positive: params(identity),
        negative: params(slope),
        input,
        output,
    }))
}
