//! QUANTIZE (float to int8 or int16) and DEQUANTIZE (int8 or int16 to
//! float) at the edges of a model, with TFLM's rounding (half away from
//! zero; QUANTIZE's quotient in float32, DEQUANTIZE's product in double);
//! and QUANTIZE between integer widths (int8, int16, int32), TFLM's
//! `Requantize`. QUANTIZE from int8 to int8 is `activation::requantize_s8`.
//!
//! Layer: kernels; pure functions over slices, uses `quant` and `libm`
//! for rounding.

use crate::quant::multiply_by_quantized_multiplier;
use crate::wire::wire_struct;

wire_struct! {
    pub struct AffineParams {
        pub scale: f32,
        pub zero_point: i32,
    }
}

pub fn quantize_f32_to_s8(p: &AffineParams, input: &[f32], output: &mut [i8]) {
    quantize_f32(p, input, output);
}

/// float32 to int16, as to int8 (TFLM's `AffineQuantize` serves both).
pub fn quantize_f32_to_s16(p: &AffineParams, input: &[f32], output: &mut [i16]) {
    quantize_f32(p, input, output);
}

#[inline(always)]
fn quantize_f32<T: IntElement>(p: &AffineParams, input: &[f32], output: &mut [T]) {
    for (o, &v) in output.iter_mut().zip(input) {
        // TFLM divides in float32 (`val / static_cast<float>(scale)`): a
        // double-precision quotient rounds differently near .5 once the
        // values reach int16's magnitudes.
        let q = libm::roundf(v / p.scale);
        // Saturating float-to-int conversion, then the zero point.
        let q = (q as i32).saturating_add(p.zero_point);
        *o = T::narrow(q.clamp(T::MIN, T::MAX));
    }
}

pub fn dequantize_s8_to_f32(p: &AffineParams, input: &[i8], output: &mut [f32]) {
    dequantize(p, input, output);
}

/// int16 to float32, as from int8.
pub fn dequantize_s16_to_f32(p: &AffineParams, input: &[i16], output: &mut [f32]) {
    dequantize(p, input, output);
}

#[inline(always)]
fn dequantize<T: IntElement>(p: &AffineParams, input: &[T], output: &mut [f32]) {
    let scale = f64::from(p.scale);
    for (o, &v) in output.iter_mut().zip(input) {
        *o = (scale * f64::from(v.widen().wrapping_sub(p.zero_point))) as f32;
    }
}

wire_struct! {
    /// `output = clamp(MBQM(input - input_zero_point, multiplier, shift)
    /// + output_zero_point)`, with `input_scale / output_scale` as the Q31
    /// multiplier.
    pub struct IntRequantizeParams {
        pub input_zero_point: i32,
        pub output_zero_point: i32,
        pub multiplier: i32,
        pub shift: i32,
    }
}

/// An integer element type QUANTIZE reads or writes.
pub trait IntElement: bytemuck::Pod {
    const MIN: i32;
    const MAX: i32;
    fn widen(self) -> i32;
    /// A value already within `MIN..=MAX`.
    fn narrow(v: i32) -> Self;
}

macro_rules! int_element {
    ($($t:ty),*) => {$(
        impl IntElement for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            fn widen(self) -> i32 {
                self as i32
            }
            fn narrow(v: i32) -> Self {
                v as $t
            }
        }
    )*};
}
int_element!(i8, i16, i32);

/// QUANTIZE from one integer type to another, as TFLM's
/// `reference_ops::Requantize` (int32 arithmetic that wraps as C's does).
pub fn requantize_int<I: IntElement, O: IntElement>(
    p: &IntRequantizeParams,
    input: &[I],
    output: &mut [O],
) {
    for (o, &v) in output.iter_mut().zip(input) {
        let x = v.widen().wrapping_sub(p.input_zero_point);
        let y = multiply_by_quantized_multiplier(x, p.multiplier, p.shift)
            .wrapping_add(p.output_zero_point);
        *o = O::narrow(y.max(O::MIN).min(O::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_divides_in_float32_as_tflm() {
        // TFLM's int16 QUANTIZE gives -29781 here; the double-precision
        // quotient (-29780.4999...) would round to -29780.
        let p = AffineParams {
            scale: 0.000_123_457,
            zero_point: 0,
        };
        let mut out = [0i16];
        quantize_f32_to_s16(&p, &[f32::from_bits(3_228_257_688)], &mut out);
        assert_eq!(out, [-29781]);
    }

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        let p = AffineParams {
            scale: 0.5,
            zero_point: -1,
        };
        let mut out = [0i8; 5];
        quantize_f32_to_s8(&p, &[0.25, -0.25, 1.0, 1000.0, -1000.0], &mut out);
        assert_eq!(out, [0, -2, 1, 127, -128]);
    }

    #[test]
    fn requantize_between_widths_rounds_and_saturates() {
        // Half the scale: x / 2 with TFLM's rounding (ties up), then clamped.
        let p = IntRequantizeParams {
            input_zero_point: 0,
            output_zero_point: 0,
            multiplier: 1 << 30,
            shift: 0,
        };
        let mut wide = [0i32; 4];
        requantize_int(&p, &[-32768i16, -3, 3, 32767], &mut wide);
        assert_eq!(wide, [-16384, -1, 2, 16384]);
        let mut narrow = [0i8; 4];
        requantize_int(&p, &[-32768i16, -3, 3, 250], &mut narrow);
        assert_eq!(narrow, [-128, -1, 2, 125]);
        let offset = IntRequantizeParams {
            output_zero_point: 100,
            ..p
        };
        requantize_int(&offset, &[100i16, 60, -300, 0], &mut narrow);
        assert_eq!(narrow, [127, 127, -50, 100]);
    }

    #[test]
    fn dequantize_inverts_quantize_on_the_grid() {
        let p = AffineParams {
            scale: 0.1,
            zero_point: 5,
        };
        let mut f = [0f32; 3];
        dequantize_s8_to_f32(&p, &[5, 15, -128], &mut f);
        assert_eq!(f[0], 0.0);
        assert!((f[1] - 1.0).abs() < 1e-6);
        let mut q = [0i8; 3];
        quantize_f32_to_s8(&p, &f, &mut q);
        assert_eq!(q, [5, 15, -128]);
    }
}
