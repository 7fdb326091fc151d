//! The float32 functions of one value: EXP, SQRT, RSQRT, LOG, ABS, NEG,
//! SQUARE, SIN, COS, FLOOR, CEIL, ROUND and ELU (ONNX Exp, Sqrt, Log, Abs,
//! Neg, Sin, Cos, Floor, Ceil, Round, Elu with alpha 1), one IR op with the
//! function a field. TFLM runs them in float32 (ABS and RSQRT
//! also in int8, which kiln refuses for now); an int8 model runs them in
//! float32 between DEQUANTIZE and QUANTIZE.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{UnaryF32Op, UnaryFunction};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};

/// A float32 function of each value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unary(pub UnaryFunction);

/// An ONNX node of one input that computes `function` of each value.
const fn onnx(
    op_type: &'static str,
    convert: fn(&mut Importer, &OnnxNode) -> Step<()>,
) -> OnnxConverter {
    OnnxConverter {
        op_type,
        inputs: 1,
        convert,
    }
}

fn node(cx: &mut Importer, n: &OnnxNode, function: UnaryFunction) -> Step<()> {
    cx.unary_node(n, OpKind::Unary(Unary(function)))
}

impl Unary {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("EXP", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Exp)))),
            ("SQRT", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Sqrt)))),
            ("RSQRT", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Rsqrt)))),
            ("LOG", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Log)))),
            ("ABS", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Abs)))),
            ("NEG", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Neg)))),
            ("SQUARE", |_| {
                Ok(OpKind::Unary(Unary(UnaryFunction::Square)))
            }),
            ("SIN", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Sin)))),
            ("COS", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Cos)))),
            ("FLOOR", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Floor)))),
            ("CEIL", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Ceil)))),
            ("ROUND", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Round)))),
            ("ELU", |_| Ok(OpKind::Unary(Unary(UnaryFunction::Elu)))),
        ],
        onnx: &[
            onnx("Exp", |cx, n| node(cx, n, UnaryFunction::Exp)),
            onnx("Sqrt", |cx, n| node(cx, n, UnaryFunction::Sqrt)),
            onnx("Log", |cx, n| node(cx, n, UnaryFunction::Log)),
            onnx("Abs", |cx, n| node(cx, n, UnaryFunction::Abs)),
            onnx("Neg", |cx, n| node(cx, n, UnaryFunction::Neg)),
            onnx("Sin", |cx, n| node(cx, n, UnaryFunction::Sin)),
            onnx("Cos", |cx, n| node(cx, n, UnaryFunction::Cos)),
            onnx("Floor", |cx, n| node(cx, n, UnaryFunction::Floor)),
            onnx("Ceil", |cx, n| node(cx, n, UnaryFunction::Ceil)),
            onnx("Round", |cx, n| node(cx, n, UnaryFunction::Round)),
            onnx("Elu", |cx, n| match n.float("alpha", 1.0) {
                1.0 => node(cx, n, UnaryFunction::Elu),
                alpha => Err(format!("Elu alpha {alpha} (kiln: 1, as TFLite's ELU)")),
            }),
        ],
        dtypes: Dtypes::FLOAT32_BETWEEN_QUANTIZE,
    };
}

impl IrOp for Unary {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        match self.0 {
            UnaryFunction::Exp => "EXP",
            UnaryFunction::Sqrt => "SQRT",
            UnaryFunction::Rsqrt => "RSQRT",
            UnaryFunction::Log => "LOG",
            UnaryFunction::Abs => "ABS",
            UnaryFunction::Neg => "NEG",
            UnaryFunction::Square => "SQUARE",
            UnaryFunction::Sin => "SIN",
            UnaryFunction::Cos => "COS",
            // The IR's LOGISTIC and TANH ops, which have int8 kernels too,
            // lower their float32 form to these two.
            UnaryFunction::Logistic => "LOGISTIC",
            UnaryFunction::Tanh => "TANH",
            UnaryFunction::Floor => "FLOOR",
            UnaryFunction::Ceil => "CEIL",
            UnaryFunction::Round => "ROUND",
            UnaryFunction::Elu => "ELU",
        }
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        if !cx.is_float(node) {
            return unsupported(format!(
                "int8 {} (kiln runs it in float32 only: quantize from the float model, which keeps it in float32)",
                self.name()
            ));
        }
        let (input, output) = cx.spans((input, out), DataType::F32)?;
        Ok(Some(Op::UnaryF32(UnaryF32Op {
            function: self.0,
            input,
            output,
        })))
    }
}
