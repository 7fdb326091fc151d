//! SOFTMAX, int8 in and int8 or int16 out, computed in fixed point exactly as TFLM's
//! reference kernel (gemmlowp exp and reciprocal, 5 integer bits for the
//! scaled differences, 12 for the sum), int16 in and out (TFLM's
//! `SoftmaxInt16`: two interpolated 513-entry tables), and LOG_SOFTMAX (the
//! same sum of exponentials, its logarithm subtracted in 4 integer bits),
//! with their float32 forms.
//!
//! Layer: kernels; a pure function over slices, uses `quant` and
//! `fixed_point`, and `float_math` for the float32 exp.

use super::float_math;
use super::quantize::IntElement;
use crate::fixed_point::{
    exp_on_negative_values, log_x_for_x_greater_than_or_equal_to_1, reciprocal, rescale,
};
use crate::quant::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_greater_than_one,
    rounding_divide_by_pot,
};
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

wire_struct! {
    /// int16 SOFTMAX (int16 in with zero point 0; int16 out, scale
    /// 1/32768, zero point 0).
    #[derive(Eq)]
    pub struct SoftmaxInt16Params {
        /// Number of rows; softmax runs over each row of `depth` elements.
        pub outer: u32,
        pub depth: u32,
        /// `input_scale * beta / (10 / 65535)`: a difference from the row
        /// maximum onto the exponential table's steps (its inputs span
        /// [-10, 0]).
        pub input_multiplier: i32,
        pub input_shift: i32,
    }
}

/// The length of each of int16 SOFTMAX's tables: 512 steps and the end
/// point, which only sets the last step's slope.
pub const INT16_TABLE_LEN: usize = 513;

/// TFLite's `generic_int16_table_lookup`: the table's value at `value`'s
/// top 9 bits, plus the slope to the next entry times its low 7 bits
/// (rounded), in int16 arithmetic as TFLite's.
#[inline]
fn int16_table_lookup(value: i16, table: &[i16]) -> i16 {
    let index = (256 + (i32::from(value) >> 7)) as usize;
    let offset = i32::from(value) & 0x7f;
    let base = super::at(table, index, 0);
    let slope = i32::from(super::at(table, index + 1, 0).wrapping_sub(base));
    let delta = (slope * offset + 64) >> 7;
    (i32::from(base) + delta) as i16
}

/// TFLM's int16 SOFTMAX (`SoftmaxInt16`): per row, each difference from
/// the maximum scaled onto [-32768, 32767] and looked up in `exp_table`
/// (exp over [-10, 0] in Q0.15), their sum normalized and looked up in
/// `reciprocal_table` (1 / (1 + x) over [0, 1]), each exponential times
/// that reciprocal, rounded back to Q0.15. TFLM keeps the exponentials in
/// a scratch row; kiln looks each up again, which gives the same values.
pub fn softmax_s16(
    p: &SoftmaxInt16Params,
    (exp_table, reciprocal_table): (&[i16], &[i16]),
    input: &[i16],
    output: &mut [i16],
) {
    let depth = p.depth as usize;
    for row in 0..p.outer as usize {
        let x = super::part(input, row * depth, depth);
        let y = super::part_mut(output, row * depth, depth);
        let max = x.iter().copied().max().unwrap_or(i16::MIN);
        let exp = |v: i16| -> i32 {
            let diff = i32::from(v) - i32::from(max);
            let scaled = multiply_by_quantized_multiplier(diff, p.input_multiplier, p.input_shift);
            let symmetric = scaled.saturating_add(32767).clamp(-32768, 32767) as i16;
            i32::from(int16_table_lookup(symmetric, exp_table))
        };
        let sum = x.iter().fold(0i32, |sum, &v| sum.wrapping_add(exp(v)));
        // At least the maximum's own exponential (about 1 << 15): 1 to 17.
        // The clamp keeps a forged table's shifts defined.
        let headroom_plus_one = (sum as u32).leading_zeros().clamp(1, 30);
        let shifted = ((i64::from(sum) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
        let symmetric = (shifted as i32)
            .wrapping_sub((1 << 15) + (1 << 16))
            .clamp(-32768, 32767) as i16;
        let reciprocal = i64::from(int16_table_lookup(symmetric, reciprocal_table));
        let right_shift = 31 - headroom_plus_one;
        for (o, &v) in y.iter_mut().zip(x) {
            let product = i64::from(exp(v)) * reciprocal + (1 << (right_shift - 1));
            *o = (product >> right_shift).clamp(0, 32767) as i16;
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

wire_struct! {
    /// int8 LOG_SOFTMAX: SOFTMAX's scaling of the differences, and its
    /// inverse, which moves the smallest representable log-probability
    /// back to a difference.
    #[derive(Eq)]
    pub struct LogSoftmaxParams {
        pub softmax: SoftmaxParams,
        /// The inverse of the input scaling (`1 / (beta · input_scale ·
        /// 2^26)`, Q5.26 back to input steps) as a Q31 multiplier and a
        /// left shift of at most 0.
        pub reverse_scaling_divisor: i32,
        pub reverse_scaling_left_shift: i32,
    }
}

/// The output's 4 integer bits: scale 16/256, zero point 127 (TFLM's).
const LOG_OUTPUT_INTEGER_BITS: i32 = 4;

/// TFLM's int8 LOG_SOFTMAX (`LogSoftmaxQuantized`): per row, the
/// difference from the maximum in Q5.26, minus the logarithm of the sum
/// of exponentials, in 1/16ths from 127 down; differences so negative that
/// the result would leave the representable range give -128.
pub fn log_softmax_s8(p: &LogSoftmaxParams, input: &[i8], output: &mut [i8]) {
    let sp = &p.softmax;
    let depth = sp.depth as usize;
    for row in 0..sp.outer as usize {
        let x = super::part(input, row * depth, depth);
        let y = super::part_mut(output, row * depth, depth);
        let max = x.iter().copied().max().unwrap_or(i8::MIN);
        let diff = |v: i8| i32::from(v) - i32::from(max);
        let in_q5 =
            |d: i32| multiply_by_quantized_multiplier(d, sp.input_multiplier, sp.input_left_shift);
        let mut sum_of_exps: i32 = 0;
        for &v in x {
            if diff(v) >= sp.diff_min {
                let e = exp_on_negative_values(in_q5(diff(v)), SCALED_DIFF_INTEGER_BITS);
                sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        let log_sum = log_x_for_x_greater_than_or_equal_to_1(
            sum_of_exps,
            ACCUMULATION_INTEGER_BITS,
            SCALED_DIFF_INTEGER_BITS,
        );
        let adjusted_diff_min =
            sp.diff_min
                .saturating_sub(1)
                .max(multiply_by_quantized_multiplier(
                    log_sum.wrapping_add(i32::MIN),
                    p.reverse_scaling_divisor,
                    p.reverse_scaling_left_shift,
                ));
        for (o, &v) in y.iter_mut().zip(x) {
            *o = if diff(v) > adjusted_diff_min {
                let shift = 31 - SCALED_DIFF_INTEGER_BITS - LOG_OUTPUT_INTEGER_BITS;
                let out = rounding_divide_by_pot(in_q5(diff(v)).wrapping_sub(log_sum), shift);
                out.wrapping_add(127).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
}

/// Float32 LOG_SOFTMAX over rows (TFLM's float reference: each value minus
/// the row maximum minus the logarithm of the sum of exponentials).
pub fn log_softmax_f32(outer: usize, depth: usize, input: &[f32], output: &mut [f32]) {
    for row in 0..outer {
        let x = super::part(input, row * depth, depth);
        let y = super::part_mut(output, row * depth, depth);
        let max = x.iter().copied().fold(f32::MIN, f32::max);
        let mut sum = 0f32;
        for &v in x {
            sum += float_math::exp(v - max);
        }
        let log_sum = libm::logf(sum);
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v - max - log_sum;
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

    #[test]
    fn log_softmax_is_close_to_the_float_one() {
        let input: [i8; 5] = [-128, -20, 0, 16, 127];
        // Input scale 1/16: SOFTMAX's parameters, and their inverse,
        // 2^(31 - 23) / 2^30 = 2^-22: one half shifted right by 21.
        let p = LogSoftmaxParams {
            softmax: params(5),
            reverse_scaling_divisor: 1 << 30,
            reverse_scaling_left_shift: -21,
        };
        let mut out = [0i8; 5];
        log_softmax_s8(&p, &input, &mut out);
        let exps: Vec<f64> = input.iter().map(|&v| (f64::from(v) / 16.0).exp()).collect();
        let total: f64 = exps.iter().sum();
        for (o, e) in out.iter().zip(&exps) {
            let expected = ((e / total).ln() * 16.0 + 127.0).max(-128.0);
            assert!((f64::from(*o) - expected).abs() <= 1.0, "{o} vs {expected}");
        }
        let mut floats = [0f32; 2];
        log_softmax_f32(1, 2, &[1.0, 1.0], &mut floats);
        assert!((floats[0] + core::f32::consts::LN_2).abs() < 1e-6);
    }
}
