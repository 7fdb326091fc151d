//! LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH and standalone
//! RELU/RELU6/RELU_N1_TO_1, int8 (TFLM reference semantics). The fused activations of other ops are their
//! `activation_min`/`activation_max` clamps.
//!
//! Layer: kernels; pure functions over slices, uses `quant` and
//! `fixed_point`, and `float_math` for the float32 exp and tanh.

use crate::fixed_point::{logistic, tanh};
use crate::quant::{multiply_by_quantized_multiplier, rounding_divide_by_pot};
use crate::tensor::FloatRange;
use crate::wire::wire_struct;

wire_struct! {
    /// Input scaling of LOGISTIC and TANH: inputs are brought to Q4.27; beyond
    /// `input_range_radius` the output saturates.
    #[derive(Eq)]
    pub struct SigmoidParams {
        pub input_zero_point: i32,
        pub input_range_radius: i32,
        pub input_multiplier: i32,
        pub input_left_shift: i32,
    }
}

const INPUT_INTEGER_BITS: i32 = 4;

/// `f` maps Q4.27 to Q0.31; the result is taken to `output_bits` fractional
/// bits and offset by the output zero point.
fn sigmoid_like(
    p: &SigmoidParams,
    input: &[i8],
    output: &mut [i8],
    f: fn(i32, i32) -> i32,
    output_bits: i32,
    output_offset: i32,
) {
    for (o, &v) in output.iter_mut().zip(input) {
        let x = i32::from(v) - p.input_zero_point;
        *o = if x <= -p.input_range_radius {
            -128
        } else if x >= p.input_range_radius {
            127
        } else {
            let q4 = multiply_by_quantized_multiplier(x, p.input_multiplier, p.input_left_shift);
            let q0 = f(q4, INPUT_INTEGER_BITS);
            (rounding_divide_by_pot(q0, 31 - output_bits) + output_offset).clamp(-128, 127) as i8
        };
    }
}

/// Output quantization is fixed: scale 1/256, zero point -128.
pub fn logistic_s8(p: &SigmoidParams, input: &[i8], output: &mut [i8]) {
    sigmoid_like(p, input, output, logistic, 8, -128)
}

/// Output quantization is fixed: scale 1/128, zero point 0.
pub fn tanh_s8(p: &SigmoidParams, input: &[i8], output: &mut [i8]) {
    sigmoid_like(p, input, output, tanh, 7, 0)
}

wire_struct! {
    /// Requantization from one int8 scale to another followed by a clamp: the
    /// standalone RELU family, and QUANTIZE from int8 to int8.
    #[derive(Eq)]
    pub struct RequantizeParams {
        pub input_zero_point: i32,
        pub output_zero_point: i32,
        pub multiplier: i32,
        pub shift: i32,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

impl RequantizeParams {
    /// One value, already offset by the input zero point, to int8.
    #[inline]
    fn apply(&self, centred: i32) -> i8 {
        self.rescaled(centred) as i8
    }

    /// One value rescaled, offset and clamped (the clamp lies within the
    /// output type's range).
    #[inline]
    fn rescaled(&self, centred: i32) -> i32 {
        multiply_by_quantized_multiplier(centred, self.multiplier, self.shift)
            .saturating_add(self.output_zero_point)
            .max(self.activation_min)
            .min(self.activation_max)
    }
}

pub fn requantize_s8(p: &RequantizeParams, input: &[i8], output: &mut [i8]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = p.apply(i32::from(v) - p.input_zero_point);
    }
}

/// int16 to int16 rescaling with a clamp: TFLM's int16 RELU
/// (`ReluQuantized`) and RELU6 (a clamp of the stored values).
pub fn requantize_s16(p: &RequantizeParams, input: &[i16], output: &mut [i16]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = p.rescaled(i32::from(v) - p.input_zero_point) as i16;
    }
}

/// int16 ABS: |x - input zero point| rescaled with a clamp (TFLM's
/// `AbsEvalQuantized`; at equal scales its multiplier is the identity,
/// `(1 << 30, 1)`, exact on every int16 magnitude).
pub fn abs_s16(p: &RequantizeParams, input: &[i16], output: &mut [i16]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = p.rescaled((i32::from(v) - p.input_zero_point).abs()) as i16;
    }
}

/// LEAKY_RELU: the input rescaled by `positive` (the identity) where it is
/// at or above its zero point, by `negative` (alpha) below it. Both share
/// the zero points and the int8 clamp.
pub fn leaky_relu_s8(
    positive: &RequantizeParams,
    negative: &RequantizeParams,
    input: &[i8],
    output: &mut [i8],
) {
    leaky_relu_int(positive, negative, input, output, |v| v as i8)
}

/// int16 LEAKY_RELU (TFLM's int16 kernel: int8's arithmetic, zero points 0).
pub fn leaky_relu_s16(
    positive: &RequantizeParams,
    negative: &RequantizeParams,
    input: &[i16],
    output: &mut [i16],
) {
    leaky_relu_int(positive, negative, input, output, |v| v as i16)
}

#[inline(always)]
fn leaky_relu_int<T: Copy + Into<i32>>(
    positive: &RequantizeParams,
    negative: &RequantizeParams,
    input: &[T],
    output: &mut [T],
    narrow: impl Fn(i32) -> T,
) {
    for (o, &v) in output.iter_mut().zip(input) {
        let centred = v.into() - positive.input_zero_point;
        *o = narrow(if centred >= 0 {
            positive.rescaled(centred)
        } else {
            negative.rescaled(centred)
        });
    }
}

wire_struct! {
    /// HARD_SWISH (`x * relu6(x + 3) / 6`) in TFLM's 16-bit fixed point: the
    /// input on a scale 2^7 finer (`hires`), rescaled once to the output scale
    /// and once to the "reluish" scale where 3.0 is 2^15; the reluish value,
    /// mapped from [-1, 1] to [0, 1], multiplies the rescaled input.
    #[derive(Eq)]
    pub struct HardSwishParams {
        pub input_zero_point: i32,
        pub output_zero_point: i32,
        /// Q15 multipliers and their power-of-two exponents; the output's is
        /// at most 0 (a right shift).
        pub reluish_multiplier: i32,
        pub reluish_exponent: i32,
        pub output_multiplier: i32,
        pub output_exponent: i32,
    }
}

/// gemmlowp's int16 `SaturatingRoundingDoublingHighMul`.
fn rounding_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// The same without rounding (toward zero), as TFLite's hard-swish uses.
fn truncating_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

fn saturating_left_shift_i16(v: i16, amount: i32) -> i16 {
    (i64::from(v) << amount).clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

pub fn hard_swish_s8(p: &HardSwishParams, input: &[i8], output: &mut [i8]) {
    let (reluish_multiplier, output_multiplier) =
        (p.reluish_multiplier as i16, p.output_multiplier as i16);
    for (o, &v) in output.iter_mut().zip(input) {
        // |v - zero point| <= 256, so the hires value fits 16 bits.
        let hires = ((i32::from(v) - p.input_zero_point) * (1 << 7)) as i16;
        let on_output_scale = rounding_high_mul_i16(hires, output_multiplier);
        let mut reluish = hires;
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, p.reluish_exponent - 1);
        }
        reluish = rounding_high_mul_i16(reluish, reluish_multiplier);
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        }
        if p.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot(reluish.into(), -p.reluish_exponent) as i16;
        }
        // [-1, 1] to [0, 1].
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let scaled = truncating_high_mul_i16(reluish, on_output_scale);
        let out = (rounding_divide_by_pot(scaled.into(), -p.output_exponent) as i16)
            .wrapping_add(p.output_zero_point as i16);
        *o = out.clamp(i8::MIN.into(), i8::MAX.into()) as i8;
    }
}

// Float32 activations with parameters, element by element (float32
// logistic and tanh are among `unary`'s functions of one value).

/// `x` if `x >= 0`, else `alpha * x` (ONNX LeakyRelu).
pub fn leaky_relu_f32(alpha: f32, input: &[f32], output: &mut [f32]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = if v >= 0.0 { v } else { alpha * v };
    }
}

/// `clamp(alpha * x + beta, 0, 1)` (ONNX HardSigmoid), and `x` times it
/// (ONNX HardSwish, with alpha 1/6 and beta 1/2).
pub fn hard_sigmoid_f32(
    alpha: f32,
    beta: f32,
    times_input: bool,
    input: &[f32],
    output: &mut [f32],
) {
    for (o, &v) in output.iter_mut().zip(input) {
        let s = (alpha * v + beta).clamp(0.0, 1.0);
        *o = if times_input { v * s } else { s };
    }
}

pub fn clamp_f32(act: FloatRange, input: &[f32], output: &mut [f32]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = act.apply(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input scale 1/16, zero point 0: multiplier for 2^27/16 = 2^23.
    fn params() -> SigmoidParams {
        // frexp(2^23) = 0.5 * 2^24
        SigmoidParams {
            input_zero_point: 0,
            input_range_radius: 120,
            input_multiplier: 1 << 30,
            input_left_shift: 24,
        }
    }

    #[test]
    fn logistic_is_centred_and_saturates() {
        let mut out = [0i8; 5];
        logistic_s8(&params(), &[0, 16, -16, 127, -128], &mut out);
        assert_eq!(out[0], 0); // 0.5 * 256 - 128
        let expect = |x: f64| (256.0 / (1.0 + (-x).exp()) - 128.0).round() as i8;
        assert_eq!(out[1], expect(1.0));
        assert_eq!(out[2], expect(-1.0));
        assert_eq!(out[3], 127);
        assert_eq!(out[4], -128);
    }

    #[test]
    fn tanh_is_odd_and_saturates() {
        let mut out = [0i8; 4];
        tanh_s8(&params(), &[0, 8, -8, 127], &mut out);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], (0.5f64.tanh() * 128.0).round() as i8);
        assert_eq!(out[1], -out[2]);
        assert_eq!(out[3], 127);
    }

    #[test]
    fn requantize_clamps_to_relu6_range() {
        // scale unchanged, zero point 10 -> 0, clamp to [0, 6]
        let p = RequantizeParams {
            input_zero_point: 10,
            output_zero_point: 0,
            multiplier: 1 << 30,
            shift: 1,
            activation_min: 0,
            activation_max: 6,
        };
        let mut out = [0i8; 4];
        requantize_s8(&p, &[10, 12, 20, -128], &mut out);
        assert_eq!(out, [0, 2, 6, 0]);
    }

    /// Input scale 1/32 (one unit: 1/32), output scale 1/32, zero points 0:
    /// hires scale 1/4096, output multiplier 1/128 = 0.5 * 2^-6 (Q15 16384),
    /// reluish multiplier (1/4096) / (3/32768) = 8/3 = 0.667 * 2^2.
    #[test]
    fn hard_swish_follows_x_relu6_x_plus_3_over_6() {
        let p = HardSwishParams {
            input_zero_point: 0,
            output_zero_point: 0,
            reluish_multiplier: 21845,
            reluish_exponent: 2,
            output_multiplier: 16384,
            output_exponent: -6,
        };
        let input: [i8; 6] = [0, 32, -32, 127, -128, 64];
        let mut out = [0i8; 6];
        hard_swish_s8(&p, &input, &mut out);
        for (&x, &y) in input.iter().zip(&out) {
            let real = f64::from(x) / 32.0;
            let expect = real * (real + 3.0).clamp(0.0, 6.0) / 6.0 * 32.0;
            assert!((f64::from(y) - expect).abs() <= 1.0, "{x}: {y} vs {expect}");
        }
        assert_eq!(out[0], 0);
    }

    #[test]
    fn leaky_relu_scales_below_the_zero_point_only() {
        // Same scale in and out (multiplier 0.5 * 2^1), alpha 0.25.
        let positive = RequantizeParams {
            input_zero_point: -3,
            output_zero_point: -3,
            multiplier: 1 << 30,
            shift: 1,
            activation_min: -128,
            activation_max: 127,
        };
        let negative = RequantizeParams {
            shift: -1,
            ..positive
        };
        let mut out = [0i8; 5];
        leaky_relu_s8(&positive, &negative, &[-3, 9, -11, -128, 127], &mut out);
        // -11 is -8 from the zero point: -2 after alpha; -128 is -125: -31.25.
        assert_eq!(out, [-3, 9, -5, -34, 127]);
    }
}
