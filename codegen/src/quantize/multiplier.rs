//! Real-valued scale factors to TFLite's (Q31 multiplier, shift) pairs, and
//! the other derived constants of TFLM's kernel `Prepare` functions. Double
//! precision and rounding exactly as TFLite's `quantization_util.cc`, since a
//! one-ulp difference here changes output bytes.
//!
//! Layer: quantize; uses `ir`.

use crate::ir::Activation;

/// TFLite's `CheckedLog2`: log2 of `x` in float32, rounded half away from
/// zero, and whether `x` is that power of two (within 1e-3 of the log).
pub fn checked_log2(x: f32) -> (i32, bool) {
    let log2 = x.ln() * (1.0f32 / 2f32.ln());
    let rounded = log2.round();
    (rounded as i32, (log2 - rounded).abs() < 1e-3)
}

/// `(mantissa, exponent)` with `x = mantissa * 2^exponent`, mantissa in
/// `[0.5, 1)` (C's `frexp`).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::powi(2.0, 54));
        return (m, e - 54);
    }
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exponent - 1022)
}

/// TFLite's `QuantizeMultiplier`: a Q31 multiplier and a shift (positive
/// means left) with `multiplier * 2^shift / 2^31 ~= real`.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// A Q31 multiplier rounded to Q15 (TFLite's
/// `DownScaleInt32ToInt16Multiplier`), saturating at the top.
pub fn downscale_to_q15(multiplier: i32) -> i32 {
    const ROUNDING: i32 = 1 << 15;
    if multiplier >= i32::MAX - ROUNDING {
        return i32::from(i16::MAX);
    }
    (multiplier + ROUNDING) >> 16
}

/// Conv and depthwise conv (and per-channel FC): each channel's
/// `input_scale * filter_scale / output_scale`, all in double.
pub fn per_channel_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    channels: usize,
) -> (Vec<i32>, Vec<i32>) {
    (0..channels)
        .map(|c| {
            let filter_scale = if filter_scales.len() > 1 {
                filter_scales[c]
            } else {
                filter_scales[0]
            };
            quantize_multiplier(
                f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale),
            )
        })
        .unzip()
}

/// Per-tensor FULLY_CONNECTED: TFLM multiplies the two scales in single
/// precision before widening (`GetQuantizedConvolutionMultipler`).
pub fn fully_connected_multiplier(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
) -> (i32, i32) {
    let product = f64::from(input_scale * filter_scale);
    quantize_multiplier(product / f64::from(output_scale))
}

/// `CalculateActivationRangeQuantized` for int8: the fused activation's
/// clamp in the output's quantized domain.
pub fn activation_range(activation: Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    activation_range_within(activation, scale, zero_point, (-128, 127))
}

/// [`activation_range`] for int16 values (zero point 0, TFLite's 16x8
/// scheme).
pub fn activation_range_i16(activation: Activation, scale: f32) -> (i32, i32) {
    activation_range_within(activation, scale, 0, (-32768, 32767))
}

fn activation_range_within(
    activation: Activation,
    scale: f32,
    zero_point: i32,
    (qmin, qmax): (i32, i32),
) -> (i32, i32) {
    // Saturating: a hostile scale and zero point clamp as the exact sum.
    let quantize = |f: f32| ((f / scale).round() as i32).saturating_add(zero_point);
    match activation {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
    }
}

/// `CalculateInputRadius`: the largest input magnitude that does not
/// saturate a fixed-point function with `integer_bits` integer bits.
/// Powers of two as `f64`: exact, and defined for any shift a hostile
/// model's scales produce (TFLM's integer shifts are not).
pub fn input_radius(integer_bits: i32, left_shift: i32) -> i32 {
    let max =
        (2f64.powi(integer_bits) - 1.0) * 2f64.powi(31 - integer_bits) / 2f64.powi(left_shift);
    max.floor() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_log2_accepts_powers_of_two_within_its_tolerance() {
        assert_eq!(checked_log2(2f32.powi(-15)), (-15, true));
        assert_eq!(checked_log2(1.0 / 4097.0), (-12, true));
        assert_eq!(checked_log2(1.0 / 5000.0), (-12, false));
        assert_eq!(checked_log2(0.75), (0, false));
    }

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        let (m, e) = frexp(1e-310);
        assert!((0.5..1.0).contains(&m));
        assert_eq!(m * 2f64.powi(e + 200), 1e-310 * 2f64.powi(200));
    }

    #[test]
    fn quantize_multiplier_round_trips() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // A mantissa that rounds up to 1.0 moves to the next exponent.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        for real in [0.0003, 0.1234, 0.99, 3.7, 1e-9] {
            let (m, s) = quantize_multiplier(real);
            let back = f64::from(m) * 2f64.powi(s) / 2f64.powi(31);
            assert!((back - real).abs() / real < 1e-9, "{real} -> {back}");
        }
        // Below 2^-31 * 2^-31 the multiplier flushes to zero.
        assert_eq!(quantize_multiplier(1e-20), (0, 0));
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(activation_range(Activation::None, 0.1, 5), (-128, 127));
        assert_eq!(activation_range(Activation::Relu, 0.1, -128), (-128, 127));
        assert_eq!(activation_range(Activation::Relu, 0.1, -10), (-10, 127));
        assert_eq!(activation_range(Activation::Relu6, 0.1, -128), (-128, -68));
        assert_eq!(
            activation_range(Activation::ReluN1To1, 0.01, 0),
            (-100, 100)
        );
    }
}
