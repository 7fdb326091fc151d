//! Q-format fixed-point functions (exp, reciprocal, logistic, tanh, inverse
//! square root) with the exact bit behaviour of gemmlowp's `fixedpoint.h`
//! and TFLite's `GetInvSqrtQuantizedMultiplierExp`, which TFLite Micro's
//! int8 SOFTMAX, LOGISTIC, TANH, RSQRT and L2_NORMALIZATION are built on.
//!
//! Layer: bottom of the runtime, beside `quant`; uses only `quant`. A value
//! is a raw `i32` with `integer_bits` bits left of the binary point (Q`m`.`31-m`);
//! the functions take the integer bits as an argument where gemmlowp takes
//! them as a type parameter.

use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// Product of two fixed-point values; the integer bits of the result are the
/// sum of the operands' integer bits.
#[inline(always)]
fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `x * 2^exponent` with saturation for positive exponents and rounding for
/// negative ones.
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// Re-expresses a value with `src_bits` integer bits as one with `dst_bits`.
#[inline(always)]
pub fn rescale(x: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_bits - dst_bits)
}

/// One in a format with `integer_bits` integer bits (saturated for Q0.31).
#[inline(always)]
fn one(integer_bits: i32) -> i32 {
    if integer_bits == 0 {
        i32::MAX
    } else {
        1 << (31 - integer_bits)
    }
}

/// `2^exponent` in a format with `integer_bits` integer bits.
#[inline(always)]
fn constant_pot(integer_bits: i32, exponent: i32) -> i32 {
    1 << (31 - integer_bits + exponent)
}

/// `(a + b) / 2`, rounded half away from zero, without overflow.
#[inline(always)]
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for Q0.31 `a` in `[-1/4, 0)`, by a Taylor expansion around -1/8.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(constant_pot(0, -3));
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` with `integer_bits` integer bits; the result is Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = constant_pot(integer_bits, -2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // exp(-2^k) in Q0.31 for k = -2..=4: a barrel shifter over the bits of
    // the remainder.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = one(0);
    }
    result
}

/// Newton-Raphson iteration for `1/(1+a)` seeded with 48/17 - 32/17 d,
/// shared by the reciprocal and tanh helpers. Returns `x` in Q2.29 where
/// `x ~= 1 / half_denominator`.
fn newton_reciprocal_q2(half_denominator: i32) -> i32 {
    const FORTY_EIGHT_OVER_17: i32 = 1_515_870_810;
    const NEG_THIRTY_TWO_OVER_17: i32 = -1_010_580_540;
    let mut x = FORTY_EIGHT_OVER_17.wrapping_add(mul(half_denominator, NEG_THIRTY_TWO_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = one(2).wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
    }
    x
}

/// `1 / (1 + a)` for Q0.31 `a` in `[0, 1)`; Q0.31 result.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, one(0));
    let x = newton_reciprocal_q2(half_denominator);
    // x / 2, taken from Q2.29 to Q1.30 by relabelling, then to Q0.31.
    rescale(x, 1, 0)
}

/// `(1 - a) / (1 + a)` for Q0.31 `a` in `[0, 1)`; Q0.31 result.
fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, one(0));
    let x = newton_reciprocal_q2(half_denominator);
    rescale(x.wrapping_sub(one(2)), 2, 0)
}

/// The logistic function of a value with `integer_bits` integer bits; Q0.31.
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        one(0).wrapping_sub(positive)
    }
}

/// The hyperbolic tangent of a value with `integer_bits` integer bits; Q0.31.
pub fn tanh(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let negative_abs = if a < 0 { a } else { a.wrapping_neg() };
    // exp(2n): doubling relabels the value with one more integer bit.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        negative_abs,
        integer_bits + 1,
    ));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// `1 / x` for `x` with `x_integer_digits` integer bits, as TFLite's
/// `GetReciprocal`: returns the Q0.31 reciprocal of `x` scaled into `[0.5, 1)`
/// and the number of bits it was scaled by.
pub fn reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// `1 / sqrt(input)` as a Q31 multiplier and a shift (TFLite's
/// `GetInvSqrtQuantizedMultiplierExp` with `reverse_shift` -1: the shift
/// returned is a left shift): five Newton-Raphson steps in gemmlowp's
/// fixed point with three integer bits, from a starting guess of one.
/// Inputs of 0 and 1 give the largest multiplier. int8 RSQRT's table
/// and L2_NORMALIZATION (per row, at run time) use it.
pub fn inv_sqrt_quantized_multiplier_exp(mut input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut shift = 11;
    while input >= 1 << 29 {
        input /= 4;
        shift += 1;
    }
    let left_shift_bit_pairs = (input.leading_zeros() as i32 - 1) / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28 values: `input / 2^29` lies in [0.25, 1).
    let half_input = saturating_rounding_multiply_by_pot(input >> 1, -1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = 1 << 28;
    for _ in 0..5 {
        // Products of two Q3.28 values are Q6.25; of three, Q9.22.
        let x3 = rescale(mul(mul(x, x), x), 9, 3);
        x = rescale(mul(half_three, x).wrapping_sub(mul(half_input, x3)), 6, 3);
    }
    // Times sqrt(2) / 2 in Q0.31: still Q3.28.
    let mut multiplier = mul(x, 1_518_500_250);
    if shift < 0 {
        multiplier <<= -shift;
        shift = 0;
    }
    (multiplier, -shift)
}

/// `ln(x)` for `x ≥ 1` with `input_integer_bits` integer bits, with
/// `output_integer_bits` integer bits (TFLite's
/// `log_x_for_x_greater_than_or_equal_to_1`, which int8 LOG_SOFTMAX takes
/// of its sum of exponentials): `x = 2^k · r` with `r` in `[1/√2, √2)`
/// picked from two candidate shifts, then `k · ln 2` plus a rational
/// approximation of `ln r` around `2^-1/4`, accumulated with one extra
/// integer bit.
pub fn log_x_for_x_greater_than_or_equal_to_1(
    input: i32,
    input_integer_bits: i32,
    output_integer_bits: i32,
) -> i32 {
    const LOG_2: i32 = 1_488_522_236;
    const SQRT_SQRT_HALF: i32 = 1_805_811_301;
    const SQRT_HALF: i32 = 1_518_500_250;
    const ONE_QUARTER: i32 = 536_870_912;
    const ALPHA_N: i32 = 117_049_297;
    const ALPHA_D: i32 = 127_690_142;
    const ALPHA_I: i32 = 1_057_819_769;
    const ALPHA_F: i32 = 638_450_708;
    let accum_bits = output_integer_bits + 1;
    let shifted_quarter = rescale(ONE_QUARTER, 0, accum_bits);
    // The input's raw bits read as Q0.31: the shifts below find its power
    // of two.
    let z_a = input;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = saturating_rounding_multiply_by_pot(z_a, z_a_headroom_plus_1 - 1);
    let r_a = saturating_rounding_multiply_by_pot(mul(r_a_tmp, SQRT_HALF), 1);
    let power = |headroom: i32| {
        saturating_rounding_multiply_by_pot(input_integer_bits - headroom, 31 - accum_bits)
    };
    let z_a_pow_2_adj = power(z_a_headroom_plus_1).saturating_add(shifted_quarter);
    // The same with the input premultiplied by sqrt(1/2).
    let z_b = mul(z_a, SQRT_HALF);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b = saturating_rounding_multiply_by_pot(z_a, z_b_headroom);
    let z_b_pow_2_adj = power(z_b_headroom).saturating_sub(shifted_quarter);
    let r = r_a.min(r_b);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);
    // ln(r) by a rational function of q = 2 (r - 2^-1/4).
    let p = rounding_half_sum(r, SQRT_SQRT_HALF);
    let q = r.wrapping_sub(SQRT_SQRT_HALF);
    let q = q.wrapping_add(q);
    let common_sq = mul(q, q);
    let num = mul(q, r).wrapping_add(mul(mul(q, common_sq), ALPHA_N));
    let denom_minus_one = mul(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(mul(ALPHA_D, common_sq)),
    )
    .wrapping_add(mul(ALPHA_F, q));
    let recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one);
    let num_scaled = rescale(num, 0, accum_bits);
    let sum = mul(z_pow_2_adj, LOG_2).wrapping_add(mul(num_scaled, recip_denom));
    rescale(sum, accum_bits, output_integer_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f64(raw: i32, integer_bits: i32) -> f64 {
        f64::from(raw) / f64::from(1u32 << (31 - integer_bits) as u32).max(1.0)
    }

    fn from_f64(x: f64, integer_bits: i32) -> i32 {
        (x * (1u64 << (31 - integer_bits)) as f64).round() as i32
    }

    #[test]
    fn exp_is_accurate_over_its_domain() {
        let step = if cfg!(miri) { 50 } else { 1 };
        for i in (0..2000).step_by(step) {
            let x = -(i as f64) / 100.0; // 0 .. -20
            let got = to_f64(exp_on_negative_values(from_f64(x, 5), 5), 0);
            assert!((got - x.exp()).abs() < 2e-6, "exp({x}) = {got}");
        }
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
    }

    #[test]
    fn reciprocal_is_accurate() {
        for i in 1..500 {
            let x = 1.0 + i as f64 * 0.37; // values with 12 integer bits
            let (scaled, bits) = reciprocal(from_f64(x, 12), 12);
            let got = to_f64(scaled, 0) / f64::from(1u32 << bits);
            assert!((got - 1.0 / x).abs() < 1e-6 / x, "1/{x} = {got}");
        }
    }

    #[test]
    fn logistic_and_tanh_are_accurate_and_odd() {
        let step = if cfg!(miri) { 50 } else { 1 };
        for i in (-700..700).step_by(step) {
            let x = i as f64 / 100.0;
            let a = from_f64(x, 4);
            let l = to_f64(logistic(a, 4), 0);
            assert!(
                (l - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "logistic({x}) = {l}"
            );
            let t = to_f64(tanh(a, 4), 0);
            assert!((t - x.tanh()).abs() < 1e-6, "tanh({x}) = {t}");
            assert_eq!(tanh(a, 4), tanh(-a, 4).wrapping_neg());
        }
        assert_eq!(logistic(0, 4), 1 << 30);
    }

    #[test]
    fn inverse_square_roots_are_close_to_the_real_ones() {
        for input in [2, 3, 4, 100, 255, 65_536, 1 << 30, i32::MAX] {
            let (multiplier, shift) = inv_sqrt_quantized_multiplier_exp(input);
            let got = f64::from(multiplier) * 2f64.powi(shift - 31);
            let want = 1.0 / f64::from(input).sqrt();
            // Five Newton-Raphson steps from one: close, not exact.
            assert!((got / want - 1.0).abs() < 1e-5, "{input}: {got} vs {want}");
        }
        assert_eq!(inv_sqrt_quantized_multiplier_exp(1), (i32::MAX, 0));
    }

    #[test]
    fn log_is_accurate_from_one_up() {
        for i in 0..400 {
            let x = 1.0 + i as f64 * 0.9; // 1 .. 360, 12 integer bits
            let got = to_f64(
                log_x_for_x_greater_than_or_equal_to_1(from_f64(x, 12), 12, 5),
                5,
            );
            assert!((got - x.ln()).abs() < 1e-6, "ln({x}) = {got}");
        }
    }
}
