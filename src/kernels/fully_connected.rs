//! FULLY_CONNECTED, int8 with per-tensor or per-channel requantization,
//! int16 (TFLite's 16x8 scheme) and float32 (TFLM reference semantics).
//!
//! Layer: kernels; a pure function over slices, uses `quant`.

use super::{at, part, part_mut};
use crate::quant::{multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_wide};
use crate::tensor::FloatRange;
use crate::wire::wire_struct;

wire_struct! {
    /// The matrix of a fully connected layer: `batches` rows of
    /// `input_depth` values, each giving `output_depth` dot products.
    pub struct FullyConnectedShape {
        pub batches: u32,
        /// Length of each input row (the accumulation depth).
        pub input_depth: u32,
        pub output_depth: u32,
    }
}

wire_struct! {
    /// An int8 fully connected layer: its shape and the per-tensor part of
    /// its requantization.
    pub struct FullyConnectedParams {
        pub shape: FullyConnectedShape,
        pub input_offset: i32,
        /// Minus the filter zero point (zero for symmetric weights).
        pub filter_offset: i32,
        pub output_offset: i32,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

/// Filter layout `[output_depth, input_depth]`. `multiplier`/`shift` hold one
/// entry (per-tensor) or one per output channel (per-channel).
// Its own frame: an op that also has a fast kernel does not add them up.
#[inline(never)]
pub fn fully_connected_s8(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let depth = p.shape.input_depth as usize;
    let out_depth = p.shape.output_depth as usize;
    for b in 0..p.shape.batches as usize {
        let x = part(input, b * depth, depth);
        let out = part_mut(output, b * out_depth, out_depth);
        for (oc, o) in out.iter_mut().enumerate() {
            let w = part(filter, oc * depth, depth);
            let acc = dot_with_offsets(p, x, w);
            *o = output_value(p, oc, acc, bias, multiplier, shift);
        }
    }
}

/// `Σ (w + filter_offset) × (x + input_offset)` over matching values.
#[inline(always)]
fn dot_with_offsets(p: &FullyConnectedParams, x: &[i8], w: &[i8]) -> i32 {
    let mut acc: i32 = 0;
    for (&xv, &wv) in x.iter().zip(w) {
        acc += (i32::from(wv) + p.filter_offset) * (i32::from(xv) + p.input_offset);
    }
    acc
}

/// Output channel `oc` from its accumulated products: the bias added, then
/// requantized, offset and clamped.
#[inline(always)]
fn output_value(
    p: &FullyConnectedParams,
    oc: usize,
    acc: i32,
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
) -> i8 {
    let acc = acc.wrapping_add(at(bias, oc, 0));
    let q = if multiplier.len() > 1 { oc } else { 0 };
    let acc = multiply_by_quantized_multiplier(acc, at(multiplier, q, 0), at(shift, q, 0))
        .saturating_add(p.output_offset);
    acc.max(p.activation_min).min(p.activation_max) as i8
}

/// One batch's products in parts: adds to `sums` (one per output channel)
/// the products of `input`, the values `first..first + input.len()` of the
/// input row, with the same columns of each filter row. Summed over parts
/// that cover the row, then [`fully_connected_s8_finish`]ed, these are
/// [`fully_connected_s8`]'s bytes (the checks keep the depth small enough
/// that no partial sum overflows).
pub fn fully_connected_s8_accumulate(
    p: &FullyConnectedParams,
    input: &[i8],
    first: usize,
    filter: &[i8],
    sums: &mut [i32],
) {
    let depth = p.shape.input_depth as usize;
    for (oc, sum) in sums.iter_mut().enumerate() {
        let w = part(filter, oc * depth + first, input.len());
        *sum = sum.wrapping_add(dot_with_offsets(p, input, w));
    }
}

/// One batch's output from the `sums` that
/// [`fully_connected_s8_accumulate`] gathered (with `bias`, or the folded
/// bias of the matrix-product kernel whose sums leave out the offsets).
pub fn fully_connected_s8_finish(
    p: &FullyConnectedParams,
    sums: &[i32],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    for (oc, (o, &acc)) in output.iter_mut().zip(sums).enumerate() {
        *o = output_value(p, oc, acc, bias, multiplier, shift);
    }
}

/// The bias of a 16x8 layer, whose type sets TFLM's accumulator: an int64
/// bias (or none) sums in int64 and requantizes with the 64-bit multiply;
/// an int32 bias sums in int32, wrapping, with the usual one.
#[derive(Clone, Copy)]
pub enum Bias16x8<'a> {
    Narrow(&'a [i32]),
    Wide(&'a [i64]),
}

impl Bias16x8<'_> {
    /// Output channel `oc`'s int16 value: [`Bias16x8::requantize`], then
    /// clamped to `min..=max` (within int16).
    #[inline(always)]
    pub fn output_s16(
        self,
        oc: usize,
        products: i64,
        (multiplier, shift): (&[i32], &[i32]),
        (min, max): (i32, i32),
    ) -> i16 {
        self.requantize(oc, products, multiplier, shift)
            .max(min)
            .min(max) as i16
    }

    /// Output channel `oc`'s exact sum of products, biased and requantized
    /// as TFLM's accumulator type does it, by one multiplier or one per
    /// channel.
    #[inline(always)]
    pub fn requantize(self, oc: usize, products: i64, multiplier: &[i32], shift: &[i32]) -> i32 {
        let q = if multiplier.len() > 1 { oc } else { 0 };
        let (m, s) = (at(multiplier, q, 0), at(shift, q, 0));
        match self {
            // Wrapping i32 sums are the exact sum truncated.
            Bias16x8::Narrow(bias) => multiply_by_quantized_multiplier(
                (products as i32).wrapping_add(at(bias, oc, 0)),
                m,
                s,
            ),
            Bias16x8::Wide(bias) => {
                multiply_by_quantized_multiplier_wide(products.wrapping_add(at(bias, oc, 0)), m, s)
            }
        }
    }
}

wire_struct! {
    /// An int16 fully connected layer (TFLite's 16x8 scheme: every zero
    /// point is 0, so there are no offsets): its shape and clamp.
    pub struct FullyConnectedS16Params {
        pub shape: FullyConnectedShape,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

/// int16 FULLY_CONNECTED (symmetric int8 weights `[output_depth,
/// input_depth]`), as TFLM's reference `FullyConnected` for int16.
/// `multiplier`/`shift` hold one entry (per-tensor) or one per output
/// channel.
pub fn fully_connected_s16(
    p: &FullyConnectedS16Params,
    input: &[i16],
    filter: &[i8],
    bias: Bias16x8,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i16],
) {
    let depth = p.shape.input_depth as usize;
    let out_depth = p.shape.output_depth as usize;
    for b in 0..p.shape.batches as usize {
        let x = part(input, b * depth, depth);
        let out = part_mut(output, b * out_depth, out_depth);
        for (oc, o) in out.iter_mut().enumerate() {
            let w = part(filter, oc * depth, depth);
            let products: i64 = x
                .iter()
                .zip(w)
                .map(|(&xv, &wv)| i64::from(i32::from(xv) * i32::from(wv)))
                .sum();
            let clamp = (p.activation_min, p.activation_max);
            *o = bias.output_s16(oc, products, (multiplier, shift), clamp);
        }
    }
}

/// The float32 fully connected layer (TFLM's float reference).
pub fn fully_connected_f32(
    p: &FullyConnectedShape,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    let depth = p.input_depth as usize;
    let out_depth = p.output_depth as usize;
    for b in 0..p.batches as usize {
        let x = part(input, b * depth, depth);
        let out = part_mut(output, b * out_depth, out_depth);
        for (oc, o) in out.iter_mut().enumerate() {
            let w = part(filter, oc * depth, depth);
            let mut total = 0f32;
            for (&xv, &wv) in x.iter().zip(w) {
                total += xv * wv;
            }
            *o = act.apply(total + at(bias, oc, 0.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(batches: u32, input_depth: u32, output_depth: u32) -> FullyConnectedParams {
        FullyConnectedParams {
            shape: FullyConnectedShape {
                batches,
                input_depth,
                output_depth,
            },
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        }
    }

    #[test]
    fn computes_dot_products_with_offsets_and_bias() {
        let p = FullyConnectedParams {
            input_offset: 1,
            output_offset: -2,
            ..params(2, 3, 2)
        };
        let mut out = [0i8; 4];
        // rows (x+1): [2,3,4] and [0,-1,1]; weights [1,1,1] and [1,0,-1]; bias [1, 0]
        fully_connected_s8(
            &p,
            &[1, 2, 3, -1, -2, 0],
            &[1, 1, 1, 1, 0, -1],
            &[1, 0],
            &[1 << 30],
            &[1],
            &mut out,
        );
        assert_eq!(out, [2 + 3 + 4 + 1 - 2, 2 - 4 - 2, 1 - 2, -1 - 2]);
    }

    #[test]
    fn per_channel_uses_each_channels_multiplier() {
        let p = params(1, 1, 2);
        let mut out = [0i8; 2];
        // channel 0 scale 1.0, channel 1 scale 0.25
        fully_connected_s8(
            &p,
            &[40],
            &[1, 1],
            &[],
            &[1 << 30, 1 << 30],
            &[1, -1],
            &mut out,
        );
        assert_eq!(out, [40, 10]);
    }

    #[test]
    fn saturates_and_applies_activation_range() {
        let p = params(1, 2, 1);
        let mut out = [0i8; 1];
        fully_connected_s8(
            &p,
            &[127, 127],
            &[127, 127],
            &[],
            &[1 << 30],
            &[1],
            &mut out,
        );
        assert_eq!(out, [127]);
        fully_connected_s8(
            &p,
            &[-128, -128],
            &[127, 127],
            &[],
            &[1 << 30],
            &[1],
            &mut out,
        );
        assert_eq!(out, [-128]);
        let relu = FullyConnectedParams {
            activation_min: 0,
            ..p
        };
        fully_connected_s8(
            &relu,
            &[-128, -128],
            &[127, 127],
            &[],
            &[1 << 30],
            &[1],
            &mut out,
        );
        assert_eq!(out, [0]);
    }
}
