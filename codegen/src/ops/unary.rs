//! The float32 functions of one value: EXP, SQRT, RSQRT, LOG, ABS, NEG,
//! SQUARE, SIN, COS, FLOOR, CEIL, ROUND and ELU (ONNX Exp, Sqrt, Log, Abs,
//! Neg, Sin, Cos, Floor, Ceil, Round, Elu with alpha 1, Erf, and Pow by a
//! constant 2, 0.5 or -0.5), one IR op with the function a field. TFLM runs them in float32, and ABS, RSQRT and ELU
//! also in int8: kiln runs those as a 256-entry table filled with TFLM's
//! arithmetic; int16 ABS is a rescaling of the magnitude. Post-training
//! quantization keeps the others in float32, between DEQUANTIZE and
//! QUANTIZE.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::ops::{AbsS16Op, LookupOp, RequantizeParams, UnaryF32Op, UnaryFunction};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;
use kiln::fixed_point::inv_sqrt_quantized_multiplier_exp;
use kiln::quant::multiply_by_quantized_multiplier;

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
            onnx("Erf", |cx, n| node(cx, n, UnaryFunction::Erf)),
            OnnxConverter {
                op_type: "Pow",
                inputs: 2,
                convert: pow_from_onnx,
            },
        ],
        dtypes: Dtypes {
            int8_names: &["ABS", "ELU", "RSQRT"],
            int16_names: &["ABS"],
            ..Dtypes::FLOAT32_BETWEEN_QUANTIZE
        },
    };
}

impl IrOp for Unary {
    fn broadcasting(&self) -> bool {
        true
    }

    /// int16 ABS's frame, painted on each core on the abs_int16 fixture
    /// (three calls); the rest take the small-op figure.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let int16 = node
            .input(0)
            .is_some_and(|t| g.tensors[t].dtype == DataType::I16);
        match self.0 {
            UnaryFunction::Abs if int16 => Stack::new(160, 112, 104, 64),
            _ => crate::stack::SMALL_OP,
        }
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
            // ONNX's; TFLite has no ERF.
            UnaryFunction::Erf => "ERF",
        }
    }

    /// ABS, ELU and RSQRT have int8 tables; the rest stays float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        match self.0 {
            UnaryFunction::Abs | UnaryFunction::Elu | UnaryFunction::Rsqrt => QuantRule::Calibrated,
            _ => QuantRule::Float,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        if self.0 == UnaryFunction::Abs && cx.dtype(input) == DataType::I16 {
            return abs_s16(cx, input, out).map(Some);
        }
        if cx.dtype(input) == DataType::I8 && cx.dtype(out) == DataType::I8 {
            if let Some(table) = int8_table(self.0, cx.quant(input)?, cx.quant(out)?) {
                let (input, output) = cx.spans((input, out), DataType::I8)?;
                let table = cx.constant(&table.map(|v| v as u8))?;
                return Ok(Some(Op::Lookup(LookupOp {
                    table,
                    input,
                    output,
                })));
            }
        }
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

/// int16 ABS (TFLite's 16x8 scheme: zero points 0): TFLM's int8
/// arithmetic, |x| rescaled by the ratio of the scales (taken in single
/// precision) and clamped; at equal scales the multiplier is the identity.
fn abs_s16(cx: &mut Lowering, input: TensorId, out: TensorId) -> Lowered<Op> {
    let ((in_scale, in_zp), (out_scale, out_zp)) = (cx.quant(input)?, cx.quant(out)?);
    if in_zp != 0 || out_zp != 0 || cx.dtype(out) != DataType::I16 {
        return unsupported("int16 ABS with a zero point or to another type");
    }
    let (multiplier, shift) = quantize_multiplier(f64::from(in_scale / out_scale));
    if !(-31..=30).contains(&shift) {
        return unsupported(format!(
            "int16 ABS from scale {in_scale} to {out_scale} (no int32 shift holds their ratio)"
        ));
    }
    let params = RequantizeParams {
        input_zero_point: 0,
        output_zero_point: 0,
        multiplier,
        shift,
        activation_min: i32::from(i16::MIN),
        activation_max: i32::from(i16::MAX),
    };
    let (input, output) = cx.spans((input, out), DataType::I16)?;
    Ok(Op::AbsS16(AbsS16Op {
        params,
        input,
        output,
    }))
}

/// The int8 results of `function` for every input byte (index `b` holds
/// the result for input `b as i8`), computed as TFLM's int8 kernel does,
/// for the functions kiln runs in int8. `(scale, zero point)` of the input
/// and the output.
fn int8_table(function: UnaryFunction, input: (f32, i32), output: (f32, i32)) -> Option<[i8; 256]> {
    let ((in_scale, in_zero), (out_scale, out_zero)) = (input, output);
    let clamp = |v: i64| v.clamp(-128, 127) as i8;
    let result: Box<dyn Fn(i32) -> i8> = match function {
        // TFLM's elementwise.cc: |x - zero point|, rescaled by the ratio
        // of the scales (taken in single precision) when they differ.
        UnaryFunction::Abs => {
            let (multiplier, shift) = quantize_multiplier(f64::from(in_scale / out_scale));
            // Scales so far apart that no int32 shift holds their ratio.
            if !(-31..=30).contains(&shift) {
                return None;
            }
            Box::new(move |x| {
                let value = (x - in_zero).abs();
                let scaled = if in_scale == out_scale {
                    value
                } else {
                    multiply_by_quantized_multiplier(value, multiplier, shift)
                };
                clamp(i64::from(scaled) + i64::from(out_zero))
            })
        }
        // TFLM's elu.cc builds this very table in single precision:
        // dequantize, exp(x) - 1 below zero, requantize rounding half away
        // from zero.
        UnaryFunction::Elu => {
            let inverse_scale = 1.0 / out_scale;
            Box::new(move |x| {
                let value = in_scale * (x - in_zero) as f32;
                let elu = if value < 0.0 {
                    value.exp() - 1.0
                } else {
                    value
                };
                let rescaled = (elu * inverse_scale).round();
                clamp((rescaled + out_zero as f32) as i64)
            })
        }
        // TFLM's elementwise.cc: 1 / sqrt(x - zero point) from TFLite's
        // integer inverse square root, scaled by 1 / (sqrt(input scale) *
        // output scale) (the square root and product in single precision).
        // Zero gives the largest value; TFLM fails the inference on inputs
        // below the zero point, which kiln cannot: they give it too.
        UnaryFunction::Rsqrt => {
            let real = 1.0 / f64::from(in_scale.sqrt() * out_scale);
            let (multiplier, shift) = quantize_multiplier(real);
            const SHIFT: i32 = 20;
            if !(-31 + SHIFT..=30).contains(&shift) {
                return None;
            }
            Box::new(move |x| {
                let value = x - in_zero;
                if value <= 0 {
                    return i8::MAX;
                }
                let (inv_sqrt, inv_shift) = inv_sqrt_quantized_multiplier_exp(value);
                let data = multiply_by_quantized_multiplier(1, inv_sqrt, inv_shift + SHIFT);
                let scaled = multiply_by_quantized_multiplier(data, multiplier, shift - SHIFT);
                clamp(i64::from(scaled) + i64::from(out_zero))
            })
        }
        _ => return None,
    };
    Some(std::array::from_fn(|b| result(i32::from(b as u8 as i8))))
}

/// ONNX Pow by a constant exponent: 2 is SQUARE (LayerNormalization as
/// PyTorch exports it at opsets before 17), 0.5 SQRT, -0.5 RSQRT and 1 the
/// input itself; other exponents are refused.
fn pow_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    // One value, of no higher rank than the base (so that the output keeps
    // the base's shape).
    let rank = cx.value(&n.inputs[0]).map(|x| cx.shape(x).len())?;
    let exponent = cx
        .constant(&n.inputs[1])
        .ok()
        .filter(|t| t.dims.len() <= rank)
        .and_then(|t| {
            t.f32s()
                .or_else(|| t.i64s().map(|v| v.iter().map(|&e| e as f32).collect()))
        })
        .filter(|v| v.len() == 1)
        .ok_or("Pow's exponent must be a constant scalar")?[0];
    let function = match exponent {
        2.0 => UnaryFunction::Square,
        0.5 => UnaryFunction::Sqrt,
        -0.5 => UnaryFunction::Rsqrt,
        1.0 => {
            let x = cx.value(&n.inputs[0])?;
            cx.values.insert(n.outputs[0].clone(), x);
            return Ok(());
        }
        e => return Err(format!("Pow by {e} (kiln: 2, 0.5, -0.5 or 1)")),
    };
    node(cx, n, function)
}
