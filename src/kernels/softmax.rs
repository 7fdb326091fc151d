//! SOFTMAX, int8 in and int8 or int16 out, computed in fixed point exactly as TFLM's
//! reference kernel (gemmlowp exp and reciprocal, 5 integer bits for the
//! scaled differences, 12 for the sum).
//!
//! Layer: kernels; a pure function over slices, uses `quant` and
//! `fixed_point`, and `float_math` for the float32 exp.

use super::float_math;
use super::quantize::IntElement;
use crate::fixed_point::{exp_on_negative_values, reciprocal, rescale};
use crate::quant::{multiply_by_quantized_multiplier_greater_than_one, rounding_divide_by_pot};
use crate::wire::wire_struct;

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

wire_struct! {
    #[derive(Eq)]
    pub struct SoftmaxParams {
        /// Number of rows; softmax runs over each row of `depth` elements.
        pub outer: u32,
        pub depth: u32,
        /// `beta * input_scale` as a Q31 multiplier with a left shift.
        pub input_multiplier: i32,
        pub input_left_shift: i32,
        /// Differences from the row maximum below this contribute nothing.
        pub diff_min: i32,
    }
}

/// int8 SOFTMAX to int8 (scale 1/256, zero point -128).
pub fn softmax_s8(p: &SoftmaxParams, input: &[i8], output: &mut [i8]) {
    softmax_from_s8(p, input, output);
}

/// int8 SOFTMAX to int16 (scale 1/65536, zero point -32768), as TFLM
/// computes it for int16 models fed by int8 layers.
pub fn softmax_s8_to_s16(p: &SoftmaxParams, input: &[i8], output: &mut [i16]) {
    softmax_from_s8(p, input, output);
}

/// TFLM's `reference_ops::Softmax` for int8 input and output type `T`: the
/// same fixed point for every `T`, which sets only the final rounding shift
/// (by its width) and the offset (its minimum, the output zero point: the
/// output scale is `2^-width`).
fn softmax_from_s8<T: IntElement>(p: &SoftmaxParams, input: &[i8], output: &mut [T]) {
    let bits = (8 * core::mem::size_of::<T>()) as i32;
    let depth = p.depth as usize;
    for row in 0..p.outer as usize {
        let x = super::part(input, row * depth, depth);
        let y = super::part_mut(output, row * depth, depth);
        let max = x.iter().copied().max().unwrap_or(i8::MIN);
        let scaled_exp = |v: i8| -> Option<i32> {
            let diff = i32::from(v) - i32::from(max);
            (diff >= p.diff_min).then(|| {
                let rescaled = multiply_by_quantized_multiplier_greater_than_one(
                    diff,
                    p.input_multiplier,
                    p.input_left_shift,
                );
                exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
            })
        };
        let mut sum_of_exps: i32 = 0;
        for &v in x {
            if let Some(e) = scaled_exp(v) {
                sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        for (o, &v) in y.iter_mut().zip(x) {
            *o = T::narrow(match scaled_exp(v) {
                Some(e) => {
                    let unsat = rounding_divide_by_pot(
                        crate::quant::saturating_rounding_doubling_high_mul(shifted_scale, e),
                        num_bits_over_unit + 31 - bits,
                    );
                    unsat.wrapping_add(T::MIN).max(T::MIN).min(T::MAX)
                }
                None => T::MIN,
            });
        }
    }
}

/// Float32 softmax over rows (TFLM's float reference: exponentials of the
/// differences from the row maximum, scaled by `beta`, then normalized).
pub fn softmax_f32(outer: usize, depth: usize, beta: f32, input: &[f32], output: &mut [f32]) {
    for row in 0..outer {
        let x = super::part(input, row * depth, depth);
        let y = super::part_mut(output, row * depth, depth);
        let max = x.iter().copied().fold(f32::MIN, f32::max);
        let mut sum = 0f32;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = float_math::exp((v - max) * beta);
            sum += *o;
        }
        for o in y.iter_mut() {
            *o /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters for input scale 1/16 and beta 1, as the codegen computes them.
    fn params(depth: u32) -> SoftmaxParams {
        // beta * scale * 2^(31-5) = 2^22 -> multiplier 2^30, left shift 23.
        SoftmaxParams {
            outer: 1,
            depth,
            input_multiplier: 1 << 30,
            input_left_shift: 23,
            diff_min: -248,
        }
    }

    #[test]
    fn equal_inputs_share_probability() {
        let mut out = [0i8; 4];
        softmax_s8(&params(4), &[5, 5, 5, 5], &mut out);
        // 0.25 * 256 - 128 = -64
        assert_eq!(out, [-64; 4]);
    }

    #[test]
    fn result_is_close_to_float_softmax_and_sums_to_one() {
        let input: [i8; 5] = [-128, -20, 0, 16, 127];
        let mut out = [0i8; 5];
        softmax_s8(&params(5), &input, &mut out);
        let exps: Vec<f64> = input.iter().map(|&v| (f64::from(v) / 16.0).exp()).collect();
        let total: f64 = exps.iter().sum();
        for (o, e) in out.iter().zip(&exps) {
            let expected = e / total * 256.0 - 128.0;
            assert!((f64::from(*o) - expected).abs() <= 1.0, "{o} vs {expected}");
        }
        // The largest input saturates at 127 (probability ~1).
        assert_eq!(out[4], 127);
    }

    #[test]
    fn rows_are_independent() {
        let p = SoftmaxParams {
            outer: 2,
            ..params(2)
        };
        let mut out = [0i8; 4];
        softmax_s8(&p, &[0, 0, 100, 100], &mut out);
        assert_eq!(out[..2], out[2..]);
    }
}
