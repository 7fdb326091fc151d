//! Integer arithmetic of the TFLite int8 quantization spec.
//!
//! Layer: bottom of the runtime; uses nothing but `core`. Every kernel that
//! requantizes goes through these functions, so that all of them round the
//! way TensorFlow Lite Micro rounds: a Q31 multiplier applied with the classic
//! two-step rounding (a rounding doubling high multiply, then a rounding right
//! shift). The multipliers themselves are computed on the host by the codegen
//! and stored in flash.

/// `round(a * b / 2^31)` (ties toward +infinity), saturating the one case
/// that overflows (`i32::MIN * i32::MIN`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division (not a shift) so that it truncates toward zero, as in C++.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent`, rounding half away from zero. `exponent` is in 0..=31.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `rounding_divide_by_pot` as TFLM's x86 build computes it for every
/// exponent its int8 DIV produces (TFLM's golden outputs hold them): past
/// 31 (a small numerator over a large divisor; undefined in C++) its mask
/// is all ones and the shift counts modulo 32, which rounds a small
/// positive quotient to 1, not 0. Up to 31 it is the usual rounding shift.
#[inline(always)]
pub fn rounding_divide_by_pot_wide(x: i32, exponent: i32) -> i32 {
    // The codegen keeps the exponent below 63 (`(1 << e) - 1` fits i64).
    let exponent = exponent.clamp(0, 62);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> (exponent & 31)) + i32::from(remainder > threshold)
}

/// Scales `x` by `multiplier * 2^shift / 2^31`: the requantization step of
/// every int8 kernel. A positive `shift` is a left shift applied before the
/// multiply, a negative one a rounding right shift after it.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left_shift), multiplier),
        right_shift,
    )
}

/// TFLite's 64-bit `MultiplyByQuantizedMultiplier`, which requantizes the
/// int64 accumulators of the 16x8 layers: the multiplier rounded to 16
/// bits, one rounding shift by `15 - shift` (the codegen writes shifts of
/// -31 to 14; the clamp keeps a forged one defined), the result truncated
/// to 32 bits as TFLM's cast does.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_wide(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced = if multiplier < 0x7FFF_0000 {
        (multiplier + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = (15 - shift).clamp(1, 62) as u32;
    let rounded = x
        .wrapping_mul(i64::from(reduced))
        .wrapping_add(1 << (total_shift - 1));
    (rounded >> total_shift) as i32
}

/// The variant used where the real multiplier is known to be at least one
/// (softmax input scaling): a plain left shift, then the high multiply.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left_shift), multiplier)
}

/// Clamps an accumulator into `[min, max]` and narrows it to int8.
#[inline(always)]
pub fn clamp_to_i8(x: i32, min: i32, max: i32) -> i8 {
    // `max` then `min` rather than `clamp`, which panics when min > max
    // (a range the checks exclude).
    x.max(min).min(max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_multiply_rounds_halves_up_with_a_16_bit_multiplier() {
        // 1.5 and -1.5 (3 × 2^40 × 0.5 × 2^-40): TFLite rounds both up.
        assert_eq!(
            multiply_by_quantized_multiplier_wide(3 << 40, 1 << 30, -40),
            2
        );
        assert_eq!(
            multiply_by_quantized_multiplier_wide(-3 << 40, 1 << 30, -40),
            -1
        );
        // The multiplier keeps 16 bits: 0.5 + 2^-20 is 0.5.
        assert_eq!(
            multiply_by_quantized_multiplier_wide(1 << 20, (1 << 30) + (1 << 11), 0),
            1 << 19
        );
        // Past 0x7FFF0000 it saturates at 0x7FFF.
        assert_eq!(
            multiply_by_quantized_multiplier_wide(1 << 15, i32::MAX, 0),
            0x7FFF
        );
    }

    #[test]
    fn doubling_high_mul_rounds_half_away_from_zero() {
        // 0.5 * 0.5 = 0.25 in Q31.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2); // 1.5 -> 2
                                                                          // Negative ties go toward zero: the nudge is 1 - 2^30, then C++ truncation.
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5 -> -1
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
    }

    #[test]
    fn rounding_divide_by_pot_matches_round_half_away() {
        for x in -1000..1000 {
            for e in 0..6 {
                let exact = f64::from(x) / f64::from(1 << e);
                let expected = exact.round() as i32;
                assert_eq!(rounding_divide_by_pot(x, e), expected, "x={x} e={e}");
            }
        }
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    #[test]
    fn requantize_is_two_step_rounding() {
        // multiplier 0.5 (Q31), shift -1: x * 0.25 with two roundings.
        let m = 1 << 30;
        assert_eq!(multiply_by_quantized_multiplier(10, m, -1), 3); // 10*.5=5 -> 5/2=2.5 -> 3
        assert_eq!(multiply_by_quantized_multiplier(-10, m, -1), -3);
        // Two-step rounding differs from single rounding here: 5 * 0.5 = 2.5
        // rounds to 3 first, then 3 / 2 = 1.5 rounds to 2 (single rounding of
        // 1.25 would give 1).
        assert_eq!(multiply_by_quantized_multiplier(5, m, -1), 2);
        // Positive shift is applied before the multiply.
        assert_eq!(multiply_by_quantized_multiplier(3, m, 2), 6);
    }

    #[test]
    fn clamp_saturates_at_int8_range() {
        assert_eq!(clamp_to_i8(500, -128, 127), 127);
        assert_eq!(clamp_to_i8(-500, -128, 127), -128);
        assert_eq!(clamp_to_i8(5, 0, 3), 3);
    }
}
