//! LEAKY_RELU: in int8 two rescalings, one for inputs at or above the zero
//! point and one with alpha folded in for those below (as TFLM); in
//! float32 `x >= 0 ? x : alpha * x`.
//!
//! Layer: ops; uses `lower`, the rescaling of `ops::quantize` and
//! `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::RequantizeParams;
use kiln::ops::{LeakyReluF32Op, LeakyReluOp};

use super::quantize::requantize;
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{Activation, DataType, Node, OpKind};
use crate::lower::{Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;

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
        dtypes: Dtypes::INT8_FLOAT32,
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
