//! SVDF: a fully connected layer over the last `memory` inputs, factored
//! into a rank-`rank` product of a feature projection (applied to each new
//! input) and a time filter (applied to the projections of the last
//! `memory` inputs, which the layer keeps as state between inferences).
//! TFLM's integer arithmetic (int8 input and feature weights, int16 time
//! weights and state, int32 bias) and its float32 reference.
//!
//! Layer: kernels; pure functions over slices, use `quant`.

use super::{at, part, part_mut};
use crate::quant::{clamp_to_i8, multiply_by_quantized_multiplier};
use crate::tensor::FloatRange;
use crate::wire::wire_struct;

wire_struct! {
    /// The sizes of an SVDF layer: `batches` rows of `input_size` values;
    /// `filters` projections (`rank` per output unit, so `filters / rank`
    /// outputs per row), each remembered over `memory` inferences.
    pub struct SvdfShape {
        pub batches: u32,
        pub input_size: u32,
        pub filters: u32,
        pub rank: u32,
        pub memory: u32,
    }
}

impl SvdfShape {
    /// Output values per row.
    pub const fn units(&self) -> u32 {
        match self.filters.checked_div(self.rank) {
            Some(units) => units,
            None => 0,
        }
    }

    /// State values: every row's `filters x memory` projections.
    pub const fn state_elements(&self) -> u64 {
        self.batches as u64 * self.filters as u64 * self.memory as u64
    }
}

wire_struct! {
    /// An int8 SVDF layer: its shape and its two requantizations, of the
    /// feature projection into the state (`input_scale x feature_scale /
    /// state_scale`) and of the output (`state_scale x time_scale /
    /// output_scale`).
    pub struct SvdfParams {
        pub shape: SvdfShape,
        /// Minus the input zero point.
        pub input_offset: i32,
        pub state_zero_point: i32,
        pub output_offset: i32,
        pub feature_multiplier: i32,
        pub feature_shift: i32,
        pub output_multiplier: i32,
        pub output_shift: i32,
    }
}

/// One inference of an int8 SVDF layer, as TFLM's
/// `EvalIntegerSvdfReference` computes it: the state moves one step back
/// in time, each filter's projection of the new input becomes its newest
/// state value, and each output unit is its filters' time dot products
/// summed, with the bias, requantized. `feature_weights` is
/// `[filters, input_size]`, `time_weights` `[filters, memory]`, `bias`
/// `[units]` or empty, `state` `[batches, filters, memory]`. Sums wrap as
/// TFLM's int32 arithmetic does.
pub fn svdf_s8(
    p: &SvdfParams,
    input: &[i8],
    feature_weights: &[i8],
    time_weights: &[i16],
    bias: &[i32],
    state: &mut [i16],
    output: &mut [i8],
) {
    let s = &p.shape;
    let (input_size, filters, memory) =
        (s.input_size as usize, s.filters as usize, s.memory as usize);
    let (rank, units) = (s.rank as usize, s.units() as usize);
    // The whole state one value to the left: every filter's oldest value
    // drops out, and its newest slot (which takes the next filter's
    // oldest) is written below.
    if !state.is_empty() {
        state.copy_within(1.., 0);
    }
    for b in 0..s.batches as usize {
        let x = part(input, b * input_size, input_size);
        let rows = part_mut(state, b * filters * memory, filters * memory);
        for f in 0..filters {
            let w = part(feature_weights, f * input_size, input_size);
            let mut acc: i32 = 0;
            for (&xv, &wv) in x.iter().zip(w) {
                acc = acc.wrapping_add(i32::from(wv).wrapping_mul(i32::from(xv) + p.input_offset));
            }
            let v = multiply_by_quantized_multiplier(acc, p.feature_multiplier, p.feature_shift)
                .wrapping_add(p.state_zero_point);
            if let Some(newest) = rows.get_mut((f * memory + memory).wrapping_sub(1)) {
                *newest = v.max(i16::MIN.into()).min(i16::MAX.into()) as i16;
            }
        }
        let out = part_mut(output, b * units, units);
        for (u, o) in out.iter_mut().enumerate() {
            let mut acc = at(bias, u, 0);
            for f in u * rank..(u + 1) * rank {
                let w = part(time_weights, f * memory, memory);
                let remembered = part(rows, f * memory, memory);
                for (&wv, &sv) in w.iter().zip(remembered) {
                    let v = i32::from(sv) - p.state_zero_point;
                    acc = acc.wrapping_add(i32::from(wv).wrapping_mul(v));
                }
            }
            let y = multiply_by_quantized_multiplier(acc, p.output_multiplier, p.output_shift)
                .wrapping_add(p.output_offset);
            *o = clamp_to_i8(y, -128, 127);
        }
    }
}

/// One inference of a float32 SVDF layer, as TFLM's
/// `EvalFloatSvdfReference` computes it, in its order of additions (so
/// that the sums round alike): the state moves one step back in time, each
/// filter's projection of the input becomes its newest value, and each
/// output unit is its bias plus its filters' time dot products, then
/// clamped by the fused activation. The layouts are [`svdf_s8`]'s.
#[allow(clippy::too_many_arguments)]
pub fn svdf_f32(
    s: &SvdfShape,
    activation: FloatRange,
    input: &[f32],
    feature_weights: &[f32],
    time_weights: &[f32],
    bias: &[f32],
    state: &mut [f32],
    output: &mut [f32],
) {
    let (input_size, filters, memory) =
        (s.input_size as usize, s.filters as usize, s.memory as usize);
    let (rank, units) = (s.rank as usize, s.units() as usize);
    if !state.is_empty() {
        state.copy_within(1.., 0);
    }
    for b in 0..s.batches as usize {
        let x = part(input, b * input_size, input_size);
        let rows = part_mut(state, b * filters * memory, filters * memory);
        for f in 0..filters {
            let w = part(feature_weights, f * input_size, input_size);
            let mut dot = 0f32;
            for (&xv, &wv) in x.iter().zip(w) {
                dot += wv * xv;
            }
            if let Some(newest) = rows.get_mut((f * memory + memory).wrapping_sub(1)) {
                *newest = dot;
            }
        }
        let out = part_mut(output, b * units, units);
        for (u, o) in out.iter_mut().enumerate() {
            let mut acc = at(bias, u, 0.0);
            for f in u * rank..(u + 1) * rank {
                let w = part(time_weights, f * memory, memory);
                let remembered = part(rows, f * memory, memory);
                let mut dot = 0f32;
                for (&wv, &sv) in w.iter().zip(remembered) {
                    dot += wv * sv;
                }
                acc += dot;
            }
            *o = activation.apply(acc);
        }
    }
}
