//! The reductions over any set of axes: MEAN and SUM, int8 and int16
//! (TFLM's requantized sum, one kernel for both) and float32, and REDUCE_MAX and
//! REDUCE_MIN (one kernel, the extreme a parameter).
//!
//! Layer: kernels; a pure function over slices, uses `quant` and `tensor`.

use crate::kernels::odometer::{advance, strides};
use crate::kernels::quantize::IntElement;
use crate::quant::multiply_by_quantized_multiplier;
use crate::tensor::MAX_RANK;
use crate::wire::{wire_enum, wire_struct};

wire_struct! {
    /// Which axes of a tensor a reduction folds away, int8 or float32.
    pub struct Reduction {
        /// Input shape, padded on the left with ones to `MAX_RANK` dimensions.
        pub input_dims: [u32; MAX_RANK],
        /// Which of those dimensions are reduced.
        pub reduce: [bool; MAX_RANK],
    }
}

impl Reduction {
    pub fn reduced_elements(&self) -> u64 {
        crate::tensor::element_count(
            (0..MAX_RANK)
                .filter(|&d| self.reduce[d])
                .map(|d| u64::from(self.input_dims[d])),
        )
    }
}

wire_struct! {
    /// An int8 MEAN or SUM: its reduction and requantization.
    pub struct MeanParams {
        pub reduction: Reduction,
        pub input_zero_point: i32,
        pub output_zero_point: i32,
        /// `input_scale / output_scale`, for a MEAN with the division by
        /// the number of reduced elements folded in, as TFLM's
        /// `QuantizedMeanOrSum` folds it.
        pub multiplier: i32,
        pub shift: i32,
    }
}

/// int8 MEAN and SUM: each output's sum of its reduced inputs, less the
/// input zero point per element, requantized (TFLM computes SUM so too).
pub fn mean_s8(p: &MeanParams, input: &[i8], output: &mut [i8]) {
    mean_int(p, input, output);
}

/// int16 MEAN and SUM: int8's arithmetic (TFLM's templates serve both).
pub fn mean_s16(p: &MeanParams, input: &[i16], output: &mut [i16]) {
    mean_int(p, input, output);
}

#[inline(always)]
fn mean_int<T: IntElement>(p: &MeanParams, input: &[T], output: &mut [T]) {
    let count = p.reduction.reduced_elements() as i32;
    reduce(
        &p.reduction,
        input,
        output,
        0i32,
        |sum, x| sum + x.widen(),
        |sum| {
            let v = multiply_by_quantized_multiplier(
                sum - p.input_zero_point * count,
                p.multiplier,
                p.shift,
            )
            .saturating_add(p.output_zero_point);
            T::narrow(v.clamp(T::MIN, T::MAX))
        },
    );
}

/// Float32 mean: the sum in input order divided by the count, as TFLM's
/// reference Mean computes it.
pub fn mean_f32(p: &Reduction, input: &[f32], output: &mut [f32]) {
    let count = p.reduced_elements() as f32;
    reduce(p, input, output, 0f32, |sum, x| sum + x, |sum| sum / count);
}

/// Float32 sum in input order, as TFLM's reference Sum adds.
pub fn sum_f32(p: &Reduction, input: &[f32], output: &mut [f32]) {
    reduce(p, input, output, 0f32, |sum, x| sum + x, |sum| sum);
}

wire_enum! {
    /// Which extreme a REDUCE_MAX or REDUCE_MIN keeps.
    pub enum Extreme {
        #[default]
        Max = 0,
        Min = 1,
    }
}

/// int8 REDUCE_MAX or REDUCE_MIN: the largest or smallest reduced value
/// (input and output share their parameters, as TFLM requires).
pub fn reduce_extreme_s8(p: &Reduction, extreme: Extreme, input: &[i8], output: &mut [i8]) {
    match extreme {
        Extreme::Max => reduce(p, input, output, i8::MIN, i8::max, |v| v),
        Extreme::Min => reduce(p, input, output, i8::MAX, i8::min, |v| v),
    }
}

/// Float32 REDUCE_MAX or REDUCE_MIN, from the lowest (highest) finite value
/// as TFLM starts; a NaN is passed over, as TFLM's comparisons pass it.
pub fn reduce_extreme_f32(p: &Reduction, extreme: Extreme, input: &[f32], output: &mut [f32]) {
    match extreme {
        Extreme::Max => reduce(p, input, output, f32::MIN, f32::max, |v| v),
        Extreme::Min => reduce(p, input, output, f32::MAX, f32::min, |v| v),
    }
}

/// Folds each output's reduced elements with `add` from `zero` (innermost
/// dimension fastest), then `finish` turns the total into the output.
fn reduce<T: Copy, S: Copy, O>(
    p: &Reduction,
    input: &[T],
    output: &mut [O],
    zero: S,
    add: impl Fn(S, T) -> S,
    finish: impl Fn(S) -> O,
) {
    let dims = p.input_dims.map(|d| d as usize);
    let strides = strides(&p.input_dims, 1);
    // Odometers over the kept dimensions (outer) and the reduced ones (inner).
    let mut kept = [0usize; MAX_RANK];
    for o in output.iter_mut() {
        let base: usize = (0..MAX_RANK).map(|d| kept[d] * strides[d]).sum();
        let mut sum = zero;
        let mut red = [0usize; MAX_RANK];
        loop {
            let off: usize = (0..MAX_RANK).map(|d| red[d] * strides[d]).sum();
            // Inside the input (checked); a stray index adds nothing.
            if let Some(&x) = input.get(base + off) {
                sum = add(sum, x);
            }
            if !advance(&mut red, &dims, |d| p.reduce[d]) {
                break;
            }
        }
        *o = finish(sum);
        advance(&mut kept, &dims, |d| !p.reduce[d]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_spatial_axes_per_channel() {
        // [1, 2, 2, 2] over axes 1 and 2; scale ratio 1 folded with 1/4.
        let p = MeanParams {
            reduction: Reduction {
                input_dims: [1, 1, 1, 2, 2, 2],
                reduce: [false, false, false, true, true, false],
            },
            multiplier: 1 << 30,
            shift: -1,
            ..Default::default()
        };
        let mut out = [0i8; 2];
        mean_s8(&p, &[1, -1, 2, -2, 3, -3, 5, -5], &mut out);
        assert_eq!(out, [3, -3]); // 11/4 = 2.75 -> 3, -2.75 -> -3
    }

    #[test]
    fn requantizes_when_scales_differ() {
        // Sum of 4 elements times (0.5 * 2^1 / 4) = mean, with output zp 3.
        let p = MeanParams {
            reduction: Reduction {
                input_dims: [1, 1, 1, 1, 1, 4],
                reduce: [false, false, false, false, false, true],
            },
            input_zero_point: 1,
            output_zero_point: 3,
            multiplier: 1 << 30,
            shift: -1,
        };
        let mut out = [0i8; 1];
        mean_s8(&p, &[5, 5, 5, 5], &mut out);
        assert_eq!(out, [3 + 4]);
    }

    #[test]
    fn float_sum_over_the_first_and_last_axes() {
        let p = Reduction {
            input_dims: [1, 1, 1, 2, 3, 2],
            reduce: [false, false, false, true, false, true],
        };
        let x: [f32; 12] = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
        let mut out = [0f32; 3];
        sum_f32(&p, &x, &mut out);
        assert_eq!(
            out,
            [1. + 2. + 7. + 8., 3. + 4. + 9. + 10., 5. + 6. + 11. + 12.]
        );
    }

    #[test]
    fn max_and_min_over_the_last_axis() {
        let p = Reduction {
            input_dims: [1, 1, 1, 1, 2, 3],
            reduce: [false, false, false, false, false, true],
        };
        let mut out = [0i8; 2];
        reduce_extreme_s8(&p, Extreme::Max, &[-128, -7, -9, 5, 127, -1], &mut out);
        assert_eq!(out, [-7, 127]);
        reduce_extreme_s8(&p, Extreme::Min, &[-128, -7, -9, 5, 127, -1], &mut out);
        assert_eq!(out, [-128, -1]);
        let x = [-1e30, -7.5, -9.0, 5.0, 1e3, -1.0];
        let mut out = [0f32; 2];
        reduce_extreme_f32(&p, Extreme::Max, &x, &mut out);
        assert_eq!(out, [-7.5, 1e3]);
        reduce_extreme_f32(&p, Extreme::Min, &x, &mut out);
        assert_eq!(out, [-1e30, -1.0]);
    }

    #[test]
    fn float_mean_over_the_middle_axis() {
        let p = Reduction {
            input_dims: [1, 1, 1, 2, 3, 2],
            reduce: [false, false, false, false, true, false],
        };
        let x: [f32; 12] = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
        let mut out = [0f32; 4];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [3.0, 4.0, 9.0, 10.0]);
    }
}
