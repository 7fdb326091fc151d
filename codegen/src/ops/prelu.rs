//! PRELU (ONNX PRelu): `x < 0 ? x * alpha : x`; the slopes (input 1)
//! broadcast and may be a constant. int8 (two rescalings, as TFLM) and
//! float32.
//!
//! Layer: ops; uses the binary-op lowering of `ops::elementwise`.

use kiln::graph::Op;
use kiln::kernels::elementwise::PReluParams;
use kiln::ops::{ConstantOperand, PReluF32Op, PReluOp};

use super::elementwise::{binary_operands, broadcast};
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;

/// PRELU. Inputs: data, slopes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PRelu;

impl PRelu {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("PRELU", |_| Ok(OpKind::PRelu(PRelu)))],
        onnx: &[OnnxConverter {
            op_type: "PRelu",
            inputs: 2,
            convert: |cx, n| cx.binary_node(n, OpKind::PRelu(PRelu)),
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for PRelu {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "PRELU"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, alpha, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        if cx.is_float(node) {
            let (constant, input, alpha_span) = binary_operands(cx, x, alpha, DataType::F32)?;
            return Ok(Some(Op::PReluF32(PReluF32Op {
                broadcast: broadcast(cx, x, alpha, out)?,
                constant,
                input,
                alpha: alpha_span,
                output: cx.activation(out, DataType::F32)?,
            })));
        }
        let ((sx, zx), (sa, za), (so, zo)) = (cx.quant(x)?, cx.quant(alpha)?, cx.quant(out)?);
        let (identity_multiplier, identity_shift) =
            quantize_multiplier(f64::from(sx) / f64::from(so));
        let (alpha_multiplier, alpha_shift) =
            quantize_multiplier(f64::from(sx) * f64::from(sa) / f64::from(so));
        let (constant, input, alpha_span) = binary_operands(cx, x, alpha, DataType::I8)?;
        if constant == ConstantOperand::First {
            return unsupported("PRELU of a constant input");
        }
        Ok(Some(Op::PRelu(PReluOp {
            params: PReluParams {
                broadcast: broadcast(cx, x, alpha, out)?,
                input_offset: -zx,
                alpha_offset: -za,
                identity_multiplier,
                identity_shift,
                alpha_multiplier,
                alpha_shift,
                output_offset: zo,
            },
            constant,
            input,
            alpha: alpha_span,
            output: cx.activation(out, DataType::I8)?,
        })))
    }
}
