//! The standalone RELU family and ONNX Clip: in int8 and int16 a
//! rescaling with a clamp (RELU) or a clamp of the input's stored values
//! (RELU6 and CLIP, as TFLM's RELU6 computes it), in float32 a clamp.
//!
//! Layer: ops; uses `lower` and the rescaling of `ops::quantize`.

use kiln::graph::Op;
use kiln::kernels::activation::RequantizeParams;
use kiln::ops::{ClampF32Op, RequantizeOp, RequantizeS16Op};
use kiln::tensor::FloatRange;
use kiln::Span;

use super::quantize::requantize;
use super::{Dtypes, Formats, IrOp, MaxMin, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{Activation, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{float_range, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// A standalone RELU, RELU6 or RELU_N1_TO_1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relu(pub Activation);

/// A clamp to any interval (ONNX Clip).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clip {
    pub min: f32,
    pub max: f32,
}

impl Relu {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("RELU", |_| Ok(OpKind::Relu(Relu(Activation::Relu)))),
            ("RELU6", |_| Ok(OpKind::Relu(Relu(Activation::Relu6)))),
            ("RELU_N1_TO_1", |_| {
                Ok(OpKind::Relu(Relu(Activation::ReluN1To1)))
            }),
        ],
        onnx: &[OnnxConverter {
            op_type: "Relu",
            inputs: 1,
            convert: |cx, n| cx.unary_node(n, OpKind::Relu(Relu(Activation::Relu))),
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl Clip {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[],
        onnx: &[OnnxConverter {
            op_type: "Clip",
            inputs: 1,
            convert: clip_from_onnx,
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for Relu {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        match self.0 {
            Activation::Relu6 => "RELU6",
            Activation::ReluN1To1 => "RELU_N1_TO_1",
            _ => "RELU",
        }
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    /// int16: painted on each core on relu_int16 (else a small op's).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::I16) => Stack::new(160, 112, 112, 64),
            _ => crate::stack::SMALL_OP,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            return clamp_f32(cx, node, float_range(self.0));
        }
        if cx.dtype(cx.input(node, 0)?) == DataType::I16 {
            return lower_s16(cx, node, self.0).map(Some);
        }
        Ok(Some(Op::Requantize(match self.0 {
            // TFLM's RELU6 clamps the input bytes to the input's own 0
            // and 6 without rescaling, whatever the output's quantization.
            Activation::Relu6 => clamp_bytes(cx, node, 0.0, 6.0)?,
            Activation::Relu => {
                let (input, out) = cx.input_output(node)?;
                cx.same_elements(input, out)?;
                requantize(cx, input, out, Activation::Relu)?
            }
            other => {
                return unsupported(format!(
                    "standalone {other:?} (TFLite Micro has no kernel to match)"
                ))
            }
        })))
    }
}

impl IrOp for Clip {
    fn broadcasting(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "CLIP"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        if cx.is_float(node) {
            let range = FloatRange {
                min: self.min,
                max: self.max,
            };
            return clamp_f32(cx, node, range);
        }
        // TFLM has no CLIP kernel: the same clamp as RELU6, with the output
        // sharing the input's parameters (PTQ makes it so).
        let (input, out) = cx.input_output(node)?;
        if cx.quant(input)? != cx.quant(out)? {
            return unsupported("CLIP with different input and output quantization");
        }
        Ok(Some(Op::Requantize(clamp_bytes(
            cx, node, self.min, self.max,
        )?)))
    }
}

fn clamp_f32(cx: &mut Lowering, node: &Node, range: FloatRange) -> Lowered<Option<Op>> {
    let (input, out) = cx.input_output(node)?;
    cx.same_elements(input, out)?;
    let (input, output) = cx.spans((input, out), DataType::F32)?;
    Ok(Some(Op::ClampF32(ClampF32Op {
        range,
        input,
        output,
    })))
}

/// An int8 clamp of the input's bytes to the reals `[lo, hi]` on the
/// input's scale, with no rescaling.
fn clamp_bytes(cx: &mut Lowering, node: &Node, lo: f32, hi: f32) -> Lowered<RequantizeOp> {
    let (params, input, output) = clamp_values(cx, node, (lo, hi), DataType::I8)?;
    Ok(RequantizeOp {
        params,
        input,
        output,
    })
}

/// A clamp of the input's stored values (int8 or int16, `dtype`) to the
/// reals `[lo, hi]` on the input's scale, with no rescaling (TFLM's RELU6:
/// the bounds rounded from float32 quotients).
fn clamp_values(
    cx: &mut Lowering,
    node: &Node,
    (lo, hi): (f32, f32),
    dtype: DataType,
) -> Lowered<(RequantizeParams, Span, Span)> {
    let (input, out) = cx.input_output(node)?;
    cx.same_elements(input, out)?;
    let (scale, zp) = cx.quant(input)?;
    let (min, max) = match dtype {
        DataType::I16 => (i32::from(i16::MIN), i32::from(i16::MAX)),
        _ => (-128, 127),
    };
    let bound = |b: f32| {
        zp.saturating_add((b / scale).round() as i32)
            .clamp(min, max)
    };
    let (input, output) = cx.spans((input, out), dtype)?;
    let params = RequantizeParams {
        input_zero_point: 0,
        output_zero_point: 0,
        // 2^30 with a left shift of one multiplies by exactly 1.
        multiplier: 1 << 30,
        shift: 1,
        activation_min: bound(lo),
        activation_max: bound(hi),
    };
    Ok((params, input, output))
}

/// int16 RELU and RELU6 (TFLite's 16x8 scheme: zero points 0): RELU
/// rescales from the input's scale to the output's (TFLM's
/// `ReluQuantized`, the multiplier in double precision) and clamps below
/// at zero; RELU6 clamps the stored values, as for int8.
fn lower_s16(cx: &mut Lowering, node: &Node, activation: Activation) -> Lowered<Op> {
    let (input, out) = cx.input_output(node)?;
    let ((in_scale, in_zp), (out_scale, out_zp)) = (cx.quant(input)?, cx.quant(out)?);
    if in_zp != 0 || out_zp != 0 || cx.dtype(out) != DataType::I16 {
        return unsupported("int16 RELU with a zero point or to another type");
    }
    let (params, input, output) = match activation {
        Activation::Relu => {
            cx.same_elements(input, out)?;
            let (multiplier, shift) =
                quantize_multiplier(f64::from(in_scale) / f64::from(out_scale));
            let params = RequantizeParams {
                input_zero_point: 0,
                output_zero_point: 0,
                multiplier,
                shift,
                activation_min: 0,
                activation_max: i32::from(i16::MAX),
            };
            let (input, output) = cx.spans((input, out), DataType::I16)?;
            (params, input, output)
        }
        Activation::Relu6 => clamp_values(cx, node, (0.0, 6.0), DataType::I16)?,
        other => {
            return unsupported(format!(
                "standalone int16 {other:?} (TFLite Micro has no kernel to match)"
            ))
        }
    };
    Ok(Op::RequantizeS16(RequantizeS16Op {
        params,
        input,
        output,
    }))
}

/// ONNX Clip of a plain-integer tensor: MAXIMUM with the lower bound, then
/// MINIMUM with the upper, each where given (both absent: the input).
fn integer_clip(cx: &mut Importer, n: &OnnxNode, x: TensorId) -> Step<()> {
    let bound = |i: usize| n.inputs.get(i).filter(|s| !s.is_empty());
    let name = n.outputs[0].clone();
    let mut value = x;
    let bounds = [(bound(1), true), (bound(2), false)];
    let last = bounds.iter().rposition(|(b, _)| b.is_some());
    for (k, (b, maximum)) in bounds.into_iter().enumerate() {
        let Some(b) = b else { continue };
        let kind = OpKind::MaxMin(MaxMin { maximum });
        let (a, c) = cx.binary_operands(&n.inputs[0], b)?;
        let a = if k == 0 { a } else { value };
        let out = if Some(k) == last {
            name.clone()
        } else {
            format!("{name} (lower bound)")
        };
        value = cx.binary(kind, a, c, out, &n.op_type)?;
    }
    if last.is_none() {
        cx.values.insert(name, x);
    }
    Ok(())
}

/// ONNX Clip: bounds from inputs 1 and 2 (attributes before opset 11);
/// `[0, 6]` is RELU6, which TFLM has a kernel for.
fn clip_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    if cx.result_type(x) != DataType::F32 {
        return integer_clip(cx, n, x);
    }
    let bound = |i: usize, attr: &str, default: f32| -> Step<f32> {
        match n.inputs.get(i).filter(|s| !s.is_empty()) {
            Some(name) => cx
                .constant(name)?
                .f32s()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| "Clip bounds must be float scalars".to_string()),
            None => Ok(n.float(attr, default)),
        }
    };
    let (min, max) = (bound(1, "min", f32::MIN)?, bound(2, "max", f32::MAX)?);
    let kind = if min == 0.0 && max == 6.0 {
        OpKind::Relu(Relu(Activation::Relu6))
    } else {
        OpKind::Clip(Clip { min, max })
    };
    cx.unary_node(n, kind)
}
