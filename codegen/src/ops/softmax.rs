//! SOFTMAX over the last axis: int8 (TFLM's fixed point) to int8 (output
//! scale 1/256, zero point -128) or to int16 (1/65536, -32768), int16 to
//! int16 (TFLM's tables, built here), and float32; LOG_SOFTMAX, which
//! shares its preparation, in int8 and float32.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::softmax::{
    LogSoftmaxParams, SoftmaxInt16Params, SoftmaxParams, INT16_TABLE_LEN,
};
use kiln::ops::{LogSoftmaxOp, SoftmaxF32Op, SoftmaxInt16Op, SoftmaxOp, SoftmaxS16Op};
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{input_radius, quantize_multiplier};
use crate::stack::Stack;

/// SOFTMAX with `beta`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    pub beta: f32,
}

impl Softmax {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SOFTMAX", |op| {
            // Without an options table beta is 1, as the converter writes it.
            let beta = if op.has_options() {
                op.f32(0, 0.0)?
            } else {
                1.0
            };
            Ok(OpKind::Softmax(Softmax { beta }))
        })],
        onnx: &[OnnxConverter {
            op_type: "Softmax",
            inputs: 1,
            convert: softmax_from_onnx,
        }],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

impl IrOp for Softmax {
    /// Over the last axis: only where the last axis stays last.
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        let last = to_new.len().checked_sub(1)?;
        (to_new[last] == last).then(|| Permuted {
            kind: OpKind::Softmax(*self),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "SOFTMAX"
    }

    fn attributes(&self) -> String {
        format!("beta {}", self.beta)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: 1.0 / 256.0,
            zero_point: -128,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let depth = *cx.shape(input).last().unwrap_or(&1);
        let outer = cx.tensor(input).elements() / depth.max(1);
        let (outer, depth) = (to_u32(outer)?, to_u32(depth)?);
        if cx.is_float(node) {
            let (input, output) = cx.spans((input, out), DataType::F32)?;
            return Ok(Some(Op::SoftmaxF32(SoftmaxF32Op {
                outer,
                depth,
                beta: self.beta,
                input,
                output,
            })));
        }
        if cx.dtype(input) == DataType::I16 {
            return lower_s16(cx, self.beta, (input, out), (outer, depth)).map(Some);
        }
        let (input_scale, _) = cx.quant(input)?;
        let (input_multiplier, input_left_shift, diff_min) = softmax_params(self.beta, input_scale);
        let params = SoftmaxParams {
            outer,
            depth,
            input_multiplier,
            input_left_shift,
            diff_min,
        };
        if cx.dtype(out) == DataType::I16 {
            // TFLM's int8 to int16 form: zero point -32768, scale 1/65536.
            let q = cx.tensor(out).quantization.as_ref();
            let (scale, zero_point) = q.map_or((0.0, 0), |q| (q.scale0(), q.zero_point0()));
            if zero_point != -32768 || (scale - 1.0 / 65536.0).abs() > 1e-3 / 65536.0 {
                return unsupported(format!("int16 SOFTMAX output with scale {scale}, zero point {zero_point}; TFLM requires 1/65536 and -32768"));
            }
            return Ok(Some(Op::SoftmaxS16(SoftmaxS16Op {
                params,
                input: cx.activation(input, DataType::I8)?,
                output: cx.activation(out, DataType::I16)?,
            })));
        }
        cx.fixed_output(out, 1.0 / 256.0, -128)?;
        let (input, output) = cx.spans((input, out), DataType::I8)?;
        Ok(Some(Op::Softmax(SoftmaxOp {
            params,
            input,
            output,
        })))
    }

    /// int16 to int16: painted on each core on the softmax_int16 fixture.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let dtype = |t: Option<TensorId>| t.map(|t| g.tensors[t].dtype);
        match (dtype(node.input(0)), dtype(node.outputs.first().copied())) {
            (Some(DataType::I16), _) => Stack::new(196, 128, 128, 108),
            (_, Some(DataType::I16)) => crate::stack::INT16_EDGES,
            _ => crate::stack::SMALL_OP,
        }
    }
}

/// int16 SOFTMAX (TFLM's `SoftmaxInt16`): the input's zero point 0, the
/// output's scale 1/32768 and zero point 0; the differences scaled by
/// `input_scale * beta` (a single-precision product, as TFLM's) over the
/// exponential table's range, 10 / 65535 per step, and TFLM's two tables.
fn lower_s16(
    cx: &mut Lowering,
    beta: f32,
    (input, out): (TensorId, TensorId),
    (outer, depth): (u32, u32),
) -> Lowered<Op> {
    let ((in_scale, in_zp), (out_scale, out_zp)) = (cx.quant(input)?, cx.quant(out)?);
    let exact_output = (out_scale - 1.0 / 32768.0).abs() <= 1e-3 / 32768.0 && out_zp == 0;
    if cx.dtype(out) != DataType::I16 || in_zp != 0 || !exact_output {
        return unsupported(format!(
            "int16 SOFTMAX with input zero point {in_zp} to {} scale {out_scale}, zero point \
             {out_zp}; TFLM requires int16 with zero point 0, scale 1/32768",
            cx.dtype(out).name()
        ));
    }
    let (input_multiplier, input_shift) =
        quantize_multiplier(f64::from(in_scale * beta) / (10.0 / 65535.0));
    let exp_table = int16_table(f32::exp, -10.0, 0.0);
    let reciprocal_table = int16_table(|x| 1.0 / (1.0 + x), 0.0, 1.0);
    Ok(Op::SoftmaxInt16(SoftmaxInt16Op {
        params: SoftmaxInt16Params {
            outer,
            depth,
            input_multiplier,
            input_shift,
        },
        exp_table: cx.constant(bytemuck::cast_slice(&exp_table))?,
        reciprocal_table: cx.constant(bytemuck::cast_slice(&reciprocal_table))?,
        input: cx.activation(input, DataType::I16)?,
        output: cx.activation(out, DataType::I16)?,
    }))
}

/// TFLite's `gen_lut` for an int16 table, in single precision as TFLM
/// builds it: `func` at 512 steps over `[min, max]` in Q0.15, each entry
/// less half the error that interpolating to its step's midpoint makes,
/// then `func(max)`, which only sets the last step's slope.
fn int16_table(func: impl Fn(f32) -> f32, min: f32, max: f32) -> [i16; INT16_TABLE_LEN] {
    let steps = INT16_TABLE_LEN - 1;
    let step = (max - min) / steps as f32;
    let half_step = step / 2.0;
    // 65536 values over the outputs' range [-1, 1].
    let scale = 32768.0f32;
    let clamp = |v: f32| v.clamp(-32768.0, 32767.0) as i16;
    let mut table = [0i16; INT16_TABLE_LEN];
    for (i, entry) in table.iter_mut().take(steps).enumerate() {
        let x = min + i as f32 * step;
        let value = func(x);
        let midpoint = func(x + half_step);
        let next = func(min + (i + 1) as f32 * step);
        let sample = (value * scale).round();
        let interpolated = ((next * scale + sample) / 2.0).round();
        let bias = ((interpolated - (midpoint * scale).round()) / 2.0).round();
        *entry = clamp(sample - bias);
    }
    table[steps] = clamp((func(max) * scale).round());
    table
}

/// TFLM's int8 SOFTMAX preparation: `(input_multiplier, input_left_shift,
/// diff_min)` for `beta * input_scale` with 5 integer bits.
fn softmax_params(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real = (f64::from(beta)
        * f64::from(input_scale)
        * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
    .min((1u64 << 31) as f64 - 1.0);
    let (multiplier, shift) = quantize_multiplier(real);
    let diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, shift);
    (multiplier, shift, diff_min)
}

/// ONNX Softmax. Over the last axis it is TFLite's; over the channel axis
/// of a 4-D value, a softmax over the last axis in NHWC (whose transposes
/// cancel against a convolution's); over any other axis, between two
/// transposes that move that axis last and back. Before opset 13 Softmax
/// flattens from `axis` on (default 1): the value is reshaped to two
/// dimensions, which costs nothing.
fn softmax_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    along_axis(cx, n, OpKind::Softmax(Softmax { beta: 1.0 }))
}

/// ONNX LogSoftmax: on axes as Softmax.
fn log_softmax_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    along_axis(cx, n, OpKind::LogSoftmax(LogSoftmax))
}

/// `kind`, an op over the last axis, over ONNX axis attribute `axis`.
fn along_axis(cx: &mut Importer, n: &OnnxNode, kind: OpKind) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    let rank = shape.len();
    let axis = n.int("axis", if cx.opset < 13 { 1 } else { -1 });
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    if !(0..rank as i64).contains(&axis) {
        return Err(format!(
            "{} over axis {axis} of a rank-{rank} tensor",
            n.op_type
        ));
    }
    let axis = axis as usize;
    if axis + 1 == rank {
        return cx.unary_node(n, kind);
    }
    let name = n.outputs[0].clone();
    if cx.opset < 13 {
        let outer = shape[..axis].iter().product::<usize>();
        let inner = shape[axis..].iter().product();
        let flat = cx.reshaped(x, vec![outer, inner], format!("{name} (2-D input)"));
        let out = cx.new_value(format!("{name} (2-D)"), vec![outer, inner]);
        cx.push(kind, vec![Some(flat)], vec![out], &n.op_type);
        let y = cx.reshaped(out, shape, name.clone());
        cx.values.insert(name, y);
        return Ok(());
    }
    if rank == 4 && axis == 1 {
        let x = cx.transposed_to_nhwc(x)?;
        let out = cx.nhwc_output(n, cx.shape(x));
        cx.push(kind, vec![Some(x)], vec![out], &n.op_type);
        cx.transposed_to_nchw(out, name);
        return Ok(());
    }
    // `axis` moved last, and back.
    let to_last: Vec<usize> = (0..rank).filter(|&d| d != axis).chain([axis]).collect();
    let mut back = vec![0; rank];
    for (new, &old) in to_last.iter().enumerate() {
        back[old] = new;
    }
    let moved = cx.relayout(x, &to_last, format!("{name} (axis last)"), &n.op_type);
    let out = cx.new_value(format!("{name} (axis last)"), cx.shape(moved));
    cx.push(kind, vec![Some(moved)], vec![out], &n.op_type);
    let y = cx.relayout(out, &back, name.clone(), &n.op_type);
    cx.values.insert(name, y);
    Ok(())
}

/// LOG_SOFTMAX over the last axis (beta 1): int8 (TFLM's fixed point,
/// output scale 16/256 and zero point 127) and float32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogSoftmax;

impl LogSoftmax {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("LOG_SOFTMAX", |_| Ok(OpKind::LogSoftmax(LogSoftmax)))],
        onnx: &[OnnxConverter {
            op_type: "LogSoftmax",
            inputs: 1,
            convert: log_softmax_from_onnx,
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

/// TFLM fixes the int8 output's parameters: log-probabilities in 1/16ths
/// from 127 (0) down to -128 (-15.9375).
const LOG_SOFTMAX_OUTPUT: (f32, i32) = (16.0 / 256.0, 127);

impl IrOp for LogSoftmax {
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        let last = to_new.len().checked_sub(1)?;
        (to_new[last] == last).then(|| Permuted {
            kind: OpKind::LogSoftmax(*self),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "LOG_SOFTMAX"
    }

    /// Painted on the `log_softmax` fixture on each core (the logarithm's
    /// fixed point keeps more alive than SOFTMAX's reciprocal).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(280, 240, 240, 248)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::FixedOutput {
            scale: LOG_SOFTMAX_OUTPUT.0,
            zero_point: i64::from(LOG_SOFTMAX_OUTPUT.1),
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        let depth = *cx.shape(input).last().unwrap_or(&1);
        let outer = cx.tensor(input).elements() / depth.max(1);
        let (outer, depth) = (to_u32(outer)?, to_u32(depth)?);
        let mut params = LogSoftmaxParams {
            softmax: SoftmaxParams {
                outer,
                depth,
                input_multiplier: 0,
                input_left_shift: 0,
                diff_min: 0,
            },
            reverse_scaling_divisor: 0,
            reverse_scaling_left_shift: 0,
        };
        let dtype = if cx.is_float(node) {
            DType::F32
        } else {
            cx.fixed_output(out, LOG_SOFTMAX_OUTPUT.0, LOG_SOFTMAX_OUTPUT.1)?;
            let (input_scale, _) = cx.quant(input)?;
            let (multiplier, left_shift, diff_min) = softmax_params(1.0, input_scale);
            if depth >= 1 << 12 || !(0..=31).contains(&left_shift) {
                return unsupported(format!(
                    "int8 LOG_SOFTMAX over rows of {depth} values with input scale {input_scale} (TFLM's Q12 sum holds 4095 values, its scaling a shift of 0 to 31)"
                ));
            }
            // TFLite's PreprocessLogSoftmaxScalingExp: the inverse of the
            // input scaling, as a multiplier below one.
            let reverse = 2f64.powi(31 - left_shift) / f64::from(multiplier.max(1));
            let (divisor, shift) = quantize_multiplier(reverse);
            if !(reverse < 1.0 && (-31..=0).contains(&shift)) {
                return unsupported(format!(
                    "int8 LOG_SOFTMAX with input scale {input_scale} (TFLM's reverse scaling is out of range)"
                ));
            }
            params.softmax.input_multiplier = multiplier;
            params.softmax.input_left_shift = left_shift;
            params.softmax.diff_min = diff_min;
            params.reverse_scaling_divisor = divisor;
            params.reverse_scaling_left_shift = shift;
            DType::I8
        };
        let data = if dtype == DType::F32 {
            DataType::F32
        } else {
            DataType::I8
        };
        let (input, output) = cx.spans((input, out), data)?;
        Ok(Some(Op::LogSoftmax(LogSoftmaxOp {
            params,
            dtype,
            input,
            output,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::int16_table;

    /// The tables' ends and shape: exp rises from exp(-10) to 1 (clamped
    /// to 32767), 1 / (1 + x) falls from 1 to one half; interpolating
    /// between entries stays within a step of the function.
    #[test]
    fn int16_tables_span_their_functions() {
        let exp = int16_table(f32::exp, -10.0, 0.0);
        assert_eq!(exp[512], 32767);
        assert!(exp[0] <= 2, "{}", exp[0]);
        assert!(exp.windows(2).all(|w| w[0] <= w[1]));
        let reciprocal = int16_table(|x| 1.0 / (1.0 + x), 0.0, 1.0);
        assert_eq!((reciprocal[0], reciprocal[512]), (32767, 16384));
        assert!(reciprocal.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..512 {
            let midpoint = (i32::from(reciprocal[i]) + i32::from(reciprocal[i + 1])) / 2;
            let x = (i as f32 + 0.5) / 512.0;
            let exact = 32768.0 / (1.0 + x);
            assert!((midpoint as f32 - exact).abs() <= 1.5, "step {i}");
        }
    }
}
