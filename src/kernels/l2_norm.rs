//! L2_NORMALIZATION along the last axis, as TFLM's reference kernels
//! compute it: float32 divides each row by its Euclidean norm (at least
//! 1e-6); int8 sums the squared differences from the zero point in an
//! int32, takes the inverse square root as a fixed-point multiplier
//! (`GetInvSqrtQuantizedMultiplierExp`) and writes the row in steps of
//! 1/128 (TFLite fixes the output's scale at 1/128 and its zero point at 0).
//!
//! Layer: kernels; pure functions over slices, uses `quant`, `fixed_point`
//! and libm.

use crate::fixed_point::inv_sqrt_quantized_multiplier_exp;
use crate::quant::multiply_by_quantized_multiplier;

/// TFLM's floor under the float32 norm.
const EPSILON: f32 = 1e-6;

/// The output's 7 fractional bits (scale 1/128).
const OUTPUT_FRACTION_BITS: i32 = 7;

/// int8 rows of `depth` values (the checks keep `depth · 255²` within an
/// int32, so the sum never wraps).
pub fn l2_normalize_s8(depth: usize, input_zero_point: i32, input: &[i8], output: &mut [i8]) {
    for (row, out) in input
        .chunks(depth.max(1))
        .zip(output.chunks_mut(depth.max(1)))
    {
        let centred = |x: i8| i32::from(x) - input_zero_point;
        let sum: i32 = row.iter().map(|&x| centred(x) * centred(x)).sum();
        let (multiplier, shift) = inv_sqrt_quantized_multiplier_exp(sum);
        for (o, &x) in out.iter_mut().zip(row) {
            let scaled = multiply_by_quantized_multiplier(
                centred(x),
                multiplier,
                shift + OUTPUT_FRACTION_BITS,
            );
            *o = scaled.clamp(-128, 127) as i8;
        }
    }
}

/// float32 rows of `depth` values.
pub fn l2_normalize_f32(depth: usize, input: &[f32], output: &mut [f32]) {
    for (row, out) in input
        .chunks(depth.max(1))
        .zip(output.chunks_mut(depth.max(1)))
    {
        let mut sum = 0.0f32;
        for &x in row {
            sum += x * x;
        }
        let norm = libm::sqrtf(sum).max(EPSILON);
        for (o, &x) in out.iter_mut().zip(row) {
            *o = x / norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_come_out_as_unit_vectors_in_128ths() {
        // (3, 4) and (-6, 8) around zero point 2: both norm to (0.6, 0.8)
        // up to sign, 77 and 102 in 128ths (TFLM's rounding).
        let input = [5i8, 6, -4, 10];
        let mut out = [0i8; 4];
        l2_normalize_s8(2, 2, &input, &mut out);
        assert_eq!(out, [77, 102, -77, 102]);
        // A row of zero points: the largest multiplier times zero.
        l2_normalize_s8(2, 2, &[2, 2], &mut out[..2]);
        assert_eq!(out[..2], [0, 0]);
    }

    // libm's sqrtf is an x86 instruction in inline assembly, which Miri
    // cannot run.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn float_rows_are_divided_by_their_norm() {
        let mut out = [0f32; 4];
        l2_normalize_f32(2, &[3.0, 4.0, 0.0, 0.0], &mut out);
        assert_eq!(out, [0.6, 0.8, 0.0, 0.0]);
    }
}
