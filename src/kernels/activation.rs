//! LOGISTIC, TANH, LEAKY_RELU and standalone RELU/RELU6/RELU_N1_TO_1, int8
//! (TFLM reference semantics). The fused activations of other ops are their
//! `activation_min`/`activation_max` clamps.
//!
//! Layer: kernels; pure functions over slices, uses `quant` and `fixed_point`.

use crate::fixed_point::{logistic, tanh};
use crate::quant::{multiply_by_quantized_multiplier, rounding_divide_by_pot};
use crate::tensor::FloatRange;

/// Input scaling of LOGISTIC and TANH: inputs are brought to Q4.27; beyond
/// `input_range_radius` the output saturates.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SigmoidParams {
    pub input_zero_point: i32,
    pub input_range_radius: i32,
    pub input_multiplier: i32,
    pub input_left_shift: i32,
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

/// Requantization from one int8 scale to another followed by a clamp: the
/// standalone RELU family, and QUANTIZE from int8 to int8.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RequantizeParams {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
    pub activation_min: i32,
    pub activation_max: i32,
}

impl RequantizeParams {
    /// One value, already offset by the input zero point.
    #[inline]
    fn apply(&self, centred: i32) -> i8 {
        multiply_by_quantized_multiplier(centred, self.multiplier, self.shift)
            .saturating_add(self.output_zero_point)
            .clamp(self.activation_min, self.activation_max) as i8
    }
}

pub fn requantize_s8(p: &RequantizeParams, input: &[i8], output: &mut [i8]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = p.apply(i32::from(v) - p.input_zero_point);
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
    for (o, &v) in output.iter_mut().zip(input) {
        let centred = i32::from(v) - positive.input_zero_point;
        *o = if centred >= 0 {
            positive.apply(centred)
        } else {
            negative.apply(centred)
        };
    }
}

/// Float32 logistic, tanh, and clamps (RELU family), element by element.
pub fn logistic_f32(input: &[f32], output: &mut [f32]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = 1.0 / (1.0 + libm::expf(-v));
    }
}

pub fn tanh_f32(input: &[f32], output: &mut [f32]) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = libm::tanhf(v);
    }
}

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
