//! The broadcasting binary ops, with TFLM's reference semantics: ADD, SUB,
//! MUL, DIV and SQUARED_DIFFERENCE in int8 and float32, ADD, SUB and MUL
//! in int16, PRELU, and FLOOR_DIV and FLOOR_MOD in float32.
//!
//! Layer: kernels; pure functions over slices, use `quant`, `fixed_point`,
//! `tensor` and `libm`.

use crate::fixed_point::reciprocal;
use crate::kernels::quantize::IntElement;
use crate::quant::{
    multiply_by_quantized_multiplier, rounding_divide_by_pot_wide,
    saturating_rounding_doubling_high_mul,
};
use crate::tensor::{FloatRange, MAX_RANK};
use crate::wire::wire_struct;

wire_struct! {
    /// How two inputs map onto the output: the output shape padded on the left
    /// to `MAX_RANK` dimensions and, for each input, the element stride along
    /// each output dimension (zero where that input is broadcast).
    #[derive(Eq)]
    pub struct Broadcast {
        pub output_dims: [u32; MAX_RANK],
        pub input1_strides: [u32; MAX_RANK],
        pub input2_strides: [u32; MAX_RANK],
        /// Both inputs have the output's shape: a flat loop suffices.
        pub same_shape: bool,
    }
}

impl Broadcast {
    /// Number of output elements.
    pub fn elements(&self) -> u64 {
        crate::tensor::element_count(self.output_dims.iter().map(|&d| u64::from(d)))
    }

    /// Writes every output element in order: `f(x, y)` of the input
    /// elements the broadcast maps onto it. An index outside a slice
    /// (which the checks exclude) skips that element: no panic path.
    #[inline(always)]
    pub fn map<A: Copy, B: Copy, O>(
        &self,
        input1: &[A],
        input2: &[B],
        output: &mut [O],
        mut f: impl FnMut(A, B) -> O,
    ) {
        if self.same_shape {
            let n = self.elements() as usize;
            for ((o, &x), &y) in output.iter_mut().take(n).zip(input1).zip(input2) {
                *o = f(x, y);
            }
            return;
        }
        let d = self.output_dims.map(|v| v as usize);
        let s1 = self.input1_strides.map(|v| v as usize);
        let s2 = self.input2_strides.map(|v| v as usize);
        let mut out = output.iter_mut();
        for i0 in 0..d[0] {
            for i1 in 0..d[1] {
                for i2 in 0..d[2] {
                    for i3 in 0..d[3] {
                        for i4 in 0..d[4] {
                            let a = i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4];
                            let b = i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4];
                            for i5 in 0..d[5] {
                                let o = out.next();
                                let x = input1.get(a + i5 * s1[5]);
                                let y = input2.get(b + i5 * s2[5]);
                                if let (Some(o), Some(&x), Some(&y)) = (o, x, y) {
                                    *o = f(x, y);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

wire_struct! {
    /// Requantization of ADD and SUB: both inputs are brought to a common scale
    /// with `left_shift` bits of headroom (TFLM: 20 for int8, 15 for int16,
    /// so that the sum fits 32 bits), summed (or subtracted), then scaled to
    /// the output.
    #[derive(Eq)]
    pub struct AddParams {
        pub broadcast: Broadcast,
        pub input1_offset: i32,
        pub input2_offset: i32,
        pub left_shift: i32,
        pub input1_multiplier: i32,
        pub input1_shift: i32,
        pub input2_multiplier: i32,
        pub input2_shift: i32,
        pub output_multiplier: i32,
        pub output_shift: i32,
        pub output_offset: i32,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

pub fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    add_or_sub(p, input1, input2, output, i32::wrapping_add);
}

/// SUB: TFLM computes its parameters exactly as ADD's.
pub fn sub_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    add_or_sub(p, input1, input2, output, i32::wrapping_sub);
}

/// int16 ADD: TFLM's general-scale path (`AddGeneralParamScale`), int8's
/// arithmetic on int16 values.
pub fn add_s16(p: &AddParams, input1: &[i16], input2: &[i16], output: &mut [i16]) {
    add_or_sub(p, input1, input2, output, i32::wrapping_add);
}

/// int16 SUB, as int16 ADD.
pub fn sub_s16(p: &AddParams, input1: &[i16], input2: &[i16], output: &mut [i16]) {
    add_or_sub(p, input1, input2, output, i32::wrapping_sub);
}

/// SQUARED_DIFFERENCE: TFLM prepares it as ADD, with 7 bits of headroom
/// instead of 20 (the square of a difference must fit 32 bits), and
/// squares the difference before the output's rescale.
pub fn squared_difference_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    add_or_sub(p, input1, input2, output, square_of_difference);
}

/// int16 SQUARED_DIFFERENCE: int8's arithmetic with no headroom (TFLM's
/// `left_shift` 0: the inputs' common scale halves them, so the square
/// of their difference stays within 2^30).
pub fn squared_difference_s16(p: &AddParams, input1: &[i16], input2: &[i16], output: &mut [i16]) {
    add_or_sub(p, input1, input2, output, square_of_difference);
}

#[inline(always)]
fn square_of_difference(a: i32, b: i32) -> i32 {
    let difference = a.wrapping_sub(b);
    difference.wrapping_mul(difference)
}

// Inlined into ADD and SUB so that each keeps one stack frame, as before
// they shared it (the Cortex-M4 RAM estimate counts frames). The clamp
// lies within `T`'s range (the checks ensure it).
#[inline(always)]
fn add_or_sub<T: IntElement>(
    p: &AddParams,
    input1: &[T],
    input2: &[T],
    output: &mut [T],
    combine: impl Fn(i32, i32) -> i32,
) {
    p.broadcast.map(input1, input2, output, |a, b| {
        let x1 = (a.widen() + p.input1_offset) * (1 << p.left_shift);
        let x2 = (b.widen() + p.input2_offset) * (1 << p.left_shift);
        let s1 = multiply_by_quantized_multiplier(x1, p.input1_multiplier, p.input1_shift);
        let s2 = multiply_by_quantized_multiplier(x2, p.input2_multiplier, p.input2_shift);
        let sum =
            multiply_by_quantized_multiplier(combine(s1, s2), p.output_multiplier, p.output_shift)
                .saturating_add(p.output_offset);
        T::narrow(sum.max(p.activation_min).min(p.activation_max))
    });
}

wire_struct! {
    #[derive(Eq)]
    pub struct MulParams {
        pub broadcast: Broadcast,
        pub input1_offset: i32,
        pub input2_offset: i32,
        pub output_multiplier: i32,
        pub output_shift: i32,
        pub output_offset: i32,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

pub fn mul_s8(p: &MulParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    mul(p, input1, input2, output);
}

/// int16 MUL: int8's arithmetic (TFLM's `MulElementwise` serves both); the
/// product of two int16 values fits 32 bits.
pub fn mul_s16(p: &MulParams, input1: &[i16], input2: &[i16], output: &mut [i16]) {
    mul(p, input1, input2, output);
}

#[inline(always)]
fn mul<T: IntElement>(p: &MulParams, input1: &[T], input2: &[T], output: &mut [T]) {
    p.broadcast.map(input1, input2, output, |a, b| {
        let product = (a.widen() + p.input1_offset).wrapping_mul(b.widen() + p.input2_offset);
        let v = multiply_by_quantized_multiplier(product, p.output_multiplier, p.output_shift)
            .saturating_add(p.output_offset);
        T::narrow(v.max(p.activation_min).min(p.activation_max))
    });
}

/// int8 DIV as TFLM's reference `DivElementwise`: the divisor's integer
/// reciprocal (`GetReciprocal`), the numerator shifted by its headroom,
/// both scaled by the output multiplier (which TFLM prepares as MUL's,
/// from input 1's scale over input 2's times the output's). A divisor at
/// its zero point gives an unspecified value (TFLM only debug-asserts it).
pub fn div_s8(p: &MulParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    p.broadcast.map(input1, input2, output, |a, b| {
        let q = quotient(
            i32::from(a) + p.input1_offset,
            i32::from(b) + p.input2_offset,
            p.output_multiplier,
            p.output_shift,
        );
        q.saturating_add(p.output_offset)
            .max(p.activation_min)
            .min(p.activation_max) as i8
    });
}

/// `numerator / denominator` times the output multiplier, TFLM's steps.
#[inline(always)]
fn quotient(mut numerator: i32, mut denominator: i32, multiplier: i32, shift: i32) -> i32 {
    if denominator < 0 {
        numerator = numerator.wrapping_neg();
        denominator = denominator.wrapping_neg();
    }
    let (inverse, reciprocal_shift) = reciprocal(denominator, 31);
    let headroom = leading_sign_bits(numerator);
    let unscaled =
        saturating_rounding_doubling_high_mul(numerator.wrapping_shl(headroom as u32), inverse);
    let exponent = reciprocal_shift + headroom - shift;
    rounding_divide_by_pot_wide(
        saturating_rounding_doubling_high_mul(unscaled, multiplier),
        exponent,
    )
}

/// `CountLeadingSignBits` as GCC builds it (`__builtin_clrsb`, 31 for 0).
#[inline(always)]
fn leading_sign_bits(x: i32) -> i32 {
    let bits = if x < 0 { !x } else { x };
    bits.leading_zeros() as i32 - 1
}

wire_struct! {
    /// PRELU: inputs at or above their zero point are rescaled by the identity
    /// multiplier, those below multiplied by their slope (`alpha`, input 2,
    /// broadcast) and rescaled by the alpha multiplier.
    #[derive(Eq)]
    pub struct PReluParams {
        pub broadcast: Broadcast,
        pub input_offset: i32,
        pub alpha_offset: i32,
        pub identity_multiplier: i32,
        pub identity_shift: i32,
        pub alpha_multiplier: i32,
        pub alpha_shift: i32,
        pub output_offset: i32,
    }
}

pub fn prelu_s8(p: &PReluParams, input: &[i8], alpha: &[i8], output: &mut [i8]) {
    prelu_int(p, input, alpha, output);
}

/// int16 PRELU with int8 slopes (TFLM's template on int16 values: the
/// same arithmetic, the product of an int16 and an int8 value within
/// int32).
pub fn prelu_s16(p: &PReluParams, input: &[i16], alpha: &[i8], output: &mut [i16]) {
    prelu_int(p, input, alpha, output);
}

#[inline(always)]
fn prelu_int<T: IntElement>(p: &PReluParams, input: &[T], alpha: &[i8], output: &mut [T]) {
    p.broadcast.map(input, alpha, output, |x, alpha| {
        let x = x.widen() + p.input_offset;
        let v = if x >= 0 {
            multiply_by_quantized_multiplier(x, p.identity_multiplier, p.identity_shift)
        } else {
            let slope = i32::from(alpha) + p.alpha_offset;
            multiply_by_quantized_multiplier(x * slope, p.alpha_multiplier, p.alpha_shift)
        };
        T::narrow(v.saturating_add(p.output_offset).clamp(T::MIN, T::MAX))
    });
}

/// Float32 ADD and MUL with broadcasting and an activation clamp.
pub fn add_f32(b: &Broadcast, act: FloatRange, input1: &[f32], input2: &[f32], output: &mut [f32]) {
    b.map(input1, input2, output, |x, y| act.apply(x + y));
}

pub fn mul_f32(b: &Broadcast, act: FloatRange, input1: &[f32], input2: &[f32], output: &mut [f32]) {
    b.map(input1, input2, output, |x, y| act.apply(x * y));
}

pub fn sub_f32(b: &Broadcast, act: FloatRange, input1: &[f32], input2: &[f32], output: &mut [f32]) {
    b.map(input1, input2, output, |x, y| act.apply(x - y));
}

pub fn squared_difference_f32(
    b: &Broadcast,
    act: FloatRange,
    input1: &[f32],
    input2: &[f32],
    output: &mut [f32],
) {
    b.map(input1, input2, output, |x, y| act.apply((x - y) * (x - y)));
}

pub fn div_f32(b: &Broadcast, act: FloatRange, input1: &[f32], input2: &[f32], output: &mut [f32]) {
    b.map(input1, input2, output, |x, y| act.apply(x / y));
}

/// float32 FLOOR_DIV as TFLite's reference computes it: the quotient in
/// double precision, floored (a float32 quotient could round up to the
/// next integer).
pub fn floor_div_f32(
    b: &Broadcast,
    act: FloatRange,
    input1: &[f32],
    input2: &[f32],
    output: &mut [f32],
) {
    b.map(input1, input2, output, |x, y| {
        act.apply(libm::floor(f64::from(x) / f64::from(y)) as f32)
    });
}

/// float32 FLOOR_MOD as TFLite's reference computes it: the truncated
/// remainder (`fmod`), moved by the divisor when their signs differ, so
/// that it takes the divisor's sign.
pub fn floor_mod_f32(
    b: &Broadcast,
    act: FloatRange,
    input1: &[f32],
    input2: &[f32],
    output: &mut [f32],
) {
    b.map(input1, input2, output, |x, y| {
        let truncated = fmod(x, y);
        let floored = if truncated != 0.0 && ((y < 0.0) != (truncated < 0.0)) {
            truncated + y
        } else {
            truncated
        };
        act.apply(floored)
    });
}

/// C's `fmodf`, exactly (`x - trunc(x / y) * y` without rounding), by
/// long division of the significands: libm's links a panic path into
/// firmware. NaN for an infinite or NaN `x` and a NaN or zero `y`.
fn fmod(x: f32, y: f32) -> f32 {
    let sign = x.to_bits() & 0x8000_0000;
    let (ux, uy) = (x.to_bits() & 0x7fff_ffff, y.to_bits() & 0x7fff_ffff);
    if ux >= 0x7f80_0000 || uy > 0x7f80_0000 || uy == 0 {
        return f32::NAN;
    }
    if ux < uy {
        return x;
    }
    // |v| = significand * 2^(exponent - 149), subnormals included.
    let split = |bits: u32| match bits >> 23 {
        0 => (u64::from(bits), 0),
        e => (u64::from((bits & 0x7f_ffff) | 0x80_0000), e - 1),
    };
    let ((mx, ex), (my, ey)) = (split(ux), split(uy));
    let mut r = mx.checked_rem(my).unwrap_or(0);
    for _ in 0..ex.saturating_sub(ey) {
        r <<= 1;
        if r >= my {
            r -= my;
        }
    }
    // r < my < 2^24 and 2^(ey - 149) are exact in f64, as is their product
    // in f32 (a multiple of the smallest subnormal, below |y|).
    let scale = f64::from_bits(((i64::from(ey) - 149 + 1023) as u64) << 52);
    let magnitude = (r as f64 * scale) as f32;
    f32::from_bits(magnitude.to_bits() | sign)
}

/// ONNX PRelu: `x` where it is not negative, `x * slope` where it is; the
/// slope broadcasts (per channel, usually).
pub fn prelu_f32(b: &Broadcast, x: &[f32], slope: &[f32], output: &mut [f32]) {
    b.map(
        x,
        slope,
        output,
        |v, slope| if v < 0.0 { v * slope } else { v },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast_2x3_by_row() -> Broadcast {
        // output [2, 3]; input1 [2, 3]; input2 [1, 3] repeated along rows
        Broadcast {
            output_dims: [1, 1, 1, 1, 2, 3],
            input1_strides: [0, 0, 0, 0, 3, 1],
            input2_strides: [0, 0, 0, 0, 0, 1],
            same_shape: false,
        }
    }

    fn unit_add(broadcast: Broadcast) -> AddParams {
        // All scales equal: inputs scaled by 1/2 each (after left shift 20),
        // the sum by 2 / 2^20.
        AddParams {
            broadcast,
            left_shift: 20,
            input1_multiplier: 1 << 30,
            input1_shift: 0,
            input2_multiplier: 1 << 30,
            input2_shift: 0,
            output_multiplier: 1 << 30,
            output_shift: -18,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        }
    }

    #[test]
    fn add_broadcasts_a_row_over_a_matrix() {
        let p = unit_add(broadcast_2x3_by_row());
        let mut out = [0i8; 6];
        add_s8(&p, &[1, 2, 3, 4, 5, 6], &[10, 20, 30], &mut out);
        assert_eq!(out, [11, 22, 33, 14, 25, 36]);
    }

    #[test]
    fn add_broadcasts_a_scalar_and_saturates() {
        let b = Broadcast {
            output_dims: [1, 1, 1, 1, 1, 3],
            input1_strides: [0, 0, 0, 0, 0, 1],
            ..Default::default()
        };
        let p = unit_add(b);
        let mut out = [0i8; 3];
        add_s8(&p, &[100, -100, 0], &[100], &mut out);
        assert_eq!(out, [127, 0, 100]);
        add_s8(&p, &[-100, -128, 0], &[-100], &mut out);
        assert_eq!(out, [-128, -128, -100]);
    }

    #[test]
    fn same_shape_flat_path_equals_strided_path() {
        let flat = Broadcast {
            output_dims: [1, 1, 1, 2, 2, 2],
            same_shape: true,
            ..Default::default()
        };
        let strided = Broadcast {
            input1_strides: [0, 0, 0, 4, 2, 1],
            input2_strides: [0, 0, 0, 4, 2, 1],
            same_shape: false,
            ..flat
        };
        let a = [1, -2, 3, -4, 5, -6, 7, -8];
        let b = [-9, 10, -11, 12, -13, 14, -15, 16];
        let (mut o1, mut o2) = ([0i8; 8], [0i8; 8]);
        let p = MulParams {
            output_multiplier: 1 << 30,
            output_shift: -2,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        };
        mul_s8(
            &MulParams {
                broadcast: flat,
                ..p
            },
            &a,
            &b,
            &mut o1,
        );
        mul_s8(
            &MulParams {
                broadcast: strided,
                ..p
            },
            &a,
            &b,
            &mut o2,
        );
        assert_eq!(o1, o2);
        assert_eq!(o1[0], -1); // 1 * -9 / 8 = -1.125 -> -1
    }

    #[test]
    fn mul_broadcasts_a_column() {
        // output [3, 2]; input2 [3, 1]
        let b = Broadcast {
            output_dims: [1, 1, 1, 1, 3, 2],
            input1_strides: [0, 0, 0, 0, 2, 1],
            input2_strides: [0, 0, 0, 0, 1, 0],
            same_shape: false,
        };
        let p = MulParams {
            broadcast: b,
            input2_offset: 1,
            output_multiplier: 1 << 30,
            output_shift: 1,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        };
        let mut out = [0i8; 6];
        mul_s8(&p, &[1, 2, 3, 4, 50, 60], &[0, 1, 2], &mut out);
        assert_eq!(out, [1, 2, 6, 8, 127, 127]);
    }

    /// Floored division and remainder of every sign, against exact
    /// values (the remainder takes the divisor's sign), broadcasting a
    /// row of divisors; a quotient that float32 would round up to 3 stays
    /// below it.
    #[test]
    fn floor_div_and_mod_round_toward_minus_infinity() {
        let flat = |n: u32| Broadcast {
            output_dims: [1, 1, 1, 1, 1, n],
            input1_strides: [0, 0, 0, 0, 0, 1],
            input2_strides: [0, 0, 0, 0, 0, 1],
            same_shape: true,
        };
        let (b, none) = (flat(4), FloatRange::NONE);
        let x = [7.0, -7.0, 7.0, -7.0];
        let y = [2.0, 2.0, -2.0, -2.0];
        let mut out = [0.0; 4];
        floor_div_f32(&b, none, &x, &y, &mut out);
        assert_eq!(out, [3.0, -4.0, -4.0, 3.0]);
        floor_mod_f32(&b, none, &x, &y, &mut out);
        assert_eq!(out, [1.0, 1.0, -1.0, -1.0]);
        // 3 - 2^-22 over 1 - 2^-24: 2.99999976 in exact arithmetic, 3.0
        // once rounded to float32.
        let (x, y) = (3.0f32 - 2f32.powi(-22), 1.0f32 - 2f32.powi(-24));
        assert_eq!(x / y, 3.0);
        let mut one = [0.0];
        floor_div_f32(&flat(1), none, &[x], &[y], &mut one);
        assert_eq!(one, [2.0]);
    }

    /// kiln's fmod is libm's, bit for bit, on random floats of every
    /// magnitude (subnormals, huge quotients) and the special cases.
    #[test]
    fn fmod_is_libms_exactly() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f32::from_bits(state as u32)
        };
        let cases = if cfg!(miri) { 200 } else { 200_000 };
        for _ in 0..cases {
            let (x, y) = (next(), next());
            let (got, want) = (fmod(x, y), libm::fmodf(x, y));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "fmod({x:e}, {y:e}) = {got:e}, libm {want:e}"
            );
        }
        for (x, y) in [
            (7.0, 2.0),
            (-7.0, 2.0),
            (1.0, 0.0),
            (f32::INFINITY, 1.0),
            (1.0, f32::INFINITY),
        ] {
            let (got, want) = (fmod(x, y), libm::fmodf(x, y));
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
        }
    }

    #[test]
    fn prelu_scales_only_negative_values_by_their_channel_slope() {
        let b = broadcast_2x3_by_row();
        let x = [-1.0f32, 2.0, -3.0, 4.0, -5.0, 0.0];
        let mut out = [0f32; 6];
        prelu_f32(&b, &x, &[0.5, 0.25, 0.1], &mut out);
        assert_eq!(out, [-0.5, 2.0, -0.3, 4.0, -1.25, 0.0]);
    }
}
