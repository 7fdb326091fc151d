//! HARD_SWISH (`x * relu6(x + 3) / 6`): int8 in TFLM's 16-bit fixed point,
//! and float32; and HARD_SIGMOID (ONNX HardSigmoid), float32 only.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::HardSwishParams;
use kiln::ops::{HardSigmoidF32Op, HardSwishF32Op, HardSwishOp};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{downscale_to_q15, quantize_multiplier};

/// HARD_SWISH.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardSwish;

/// `clamp(alpha * x + beta, 0, 1)` (ONNX HardSigmoid), float32 only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardSigmoid {
    pub alpha: f32,
    pub beta: f32,
}

impl HardSwish {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("HARD_SWISH", |_| Ok(OpKind::HardSwish(HardSwish)))],
        onnx: &[OnnxConverter {
            op_type: "HardSwish",
            inputs: 1,
            convert: |cx, n| cx.unary_node(n, OpKind::HardSwish(HardSwish)),
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl HardSigmoid {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[],
        onnx: &[OnnxConverter {
            op_type: "HardSigmoid",
            inputs: 1,
            convert: |cx, n| {
                let kind = OpKind::HardSigmoid(HardSigmoid {
                    alpha: n.float("alpha", 0.2),
                    beta: n.float("beta", 0.5),
                });
                cx.unary_node(n, kind)
            },
        }],
        dtypes: Dtypes::FLOAT32_BETWEEN_QUANTIZE,
    };
}

impl IrOp for HardSwish {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "HARD_SWISH"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::HardSwishF32(HardSwishF32Op { input, output })));
        }
        let (in_scale, input_zero_point) = cx.quant(input)?;
        let (out_scale, output_zero_point) = cx.quant(out)?;
        let (reluish_multiplier, reluish_exponent, output_multiplier, output_exponent) =
            multipliers(in_scale, out_scale);
        if output_exponent > 0 || !(-15..=15).contains(&reluish_exponent) {
            return unsupported(format!(
                "HARD_SWISH with input scale {in_scale} and output scale {out_scale} \
                 (TFLM needs the output no coarser than 1/128 of the input)"
            ));
        }
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::HardSwish(HardSwishOp {
            params: HardSwishParams {
                input_zero_point,
                output_zero_point,
                reluish_multiplier,
                reluish_exponent,
                output_multiplier,
                output_exponent,
            },
            input,
            output,
        })))
    }
}

/// The two Q15 multipliers, computed as TFLM does (single precision, then
/// `QuantizeMultiplier` in double): `(reluish multiplier, reluish exponent,
/// output multiplier, output exponent)`.
fn multipliers(input_scale: f32, output_scale: f32) -> (i32, i32, i32, i32) {
    let hires_input_scale = (1.0f32 / 128.0) * input_scale;
    let reluish_scale = 3.0f32 / 32768.0;
    let (output, output_exponent) =
        quantize_multiplier(f64::from(hires_input_scale / output_scale));
    let (reluish, reluish_exponent) =
        quantize_multiplier(f64::from(hires_input_scale / reluish_scale));
    (
        downscale_to_q15(reluish),
        reluish_exponent,
        downscale_to_q15(output),
        output_exponent,
    )
}

impl IrOp for HardSigmoid {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "HARD_SIGMOID"
    }

    fn attributes(&self) -> String {
        format!("alpha {} beta {}", self.alpha, self.beta)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if !cx.is_float(node) {
            return unsupported("int8 HARD_SIGMOID (float32 only for now)");
        }
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        Ok(Some(Op::HardSigmoidF32(HardSigmoidF32Op {
            alpha: self.alpha,
            beta: self.beta,
            input,
            output,
        })))
    }
}
