//! PRELU (ONNX PRelu): `x < 0 ? x * alpha : x`; the slopes (input 1)
//! broadcast and may be a constant. int8 (two rescalings, as TFLM) and
//! float32.
//!
//! Layer: ops; uses the binary-op lowering of `ops::elementwise`.

use kiln::graph::Op;
use kiln::kernels::elementwise::PReluParams;
use kiln::ops::{ConstantOperand, PReluF32Op, PReluOp, PReluS16Op};

use super::elementwise::{binary_operands, broadcast, two_operands};
use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

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
        dtypes: Dtypes::INT8_INT16_FLOAT32,
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

    /// int16 PRELU's frame, painted on each core on the prelu_int16
    /// fixture; the rest take the small-op figure.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        if node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16)
        {
            return Stack::new(364, 276, 276, 260);
        }
        crate::stack::SMALL_OP
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
        // int16 (TFLite's 16x8 scheme): the input and output int16 with
        // zero points 0, the slopes int8.
        let int16 = cx.dtype(x) == DataType::I16;
        if int16
            && (zx != 0
                || zo != 0
                || cx.dtype(alpha) != DataType::I8
                || cx.dtype(out) != DataType::I16)
        {
            return unsupported("int16 PRELU with a zero point, or with slopes other than int8");
        }
        let element = if int16 { DataType::I16 } else { DataType::I8 };
        let (constant, input, alpha_span) = two_operands(cx, (x, element), (alpha, DataType::I8))?;
        if constant == ConstantOperand::First {
            return unsupported("PRELU of a constant input");
        }
        let params = PReluParams {
            broadcast: broadcast(cx, x, alpha, out)?,
            input_offset: -zx,
            alpha_offset: -za,
            identity_multiplier,
            identity_shift,
            alpha_multiplier,
            alpha_shift,
            output_offset: zo,
        };
        let output = cx.activation(out, element)?;
        Ok(Some(if int16 {
            Op::PReluS16(PReluS16Op {
                params,
                constant,
                input,
                alpha: alpha_span,
                output,
            })
        } else {
            Op::PRelu(PReluOp {
                params,
                constant,
                input,
                alpha: alpha_span,
                output,
            })
        }))
    }
}
