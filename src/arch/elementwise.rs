//! ADD and SUB (int8) with TFLM's bytes, when the inputs and the output
//! share one shape (ResNet's residual connections): each element's three
//! requantizations (both inputs to the common scale, the sum to the
//! output) take the short rounding of `requant::SmallChannel`, exact here
//! because no shift is positive and every value stays below `2^29` (an
//! offset input is at most 255 in magnitude, shifted left by at most 21).
//! Other cases go to the reference kernels.
//!
//! Layer: arch; uses `kernels` (the reference and its params) and
//! `requant`.

use super::requant::{clamp, SmallChannel};
use crate::kernels::elementwise::{self as reference, AddParams};

/// `kernels::elementwise::add_s8`, faster for same-shape inputs.
pub fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    if !short(p) {
        return reference::add_s8(p, input1, input2, output);
    }
    combine(p, input1, input2, output, i32::wrapping_add);
}

/// `kernels::elementwise::sub_s8`, faster for same-shape inputs.
pub fn sub_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    if !short(p) {
        return reference::sub_s8(p, input1, input2, output);
    }
    combine(p, input1, input2, output, i32::wrapping_sub);
}

/// Whether the same-shape loop with the short rounding gives TFLM's bytes.
fn short(p: &AddParams) -> bool {
    p.broadcast.same_shape
        && (0..=21).contains(&p.left_shift)
        && [p.input1_shift, p.input2_shift, p.output_shift]
            .iter()
            .all(|&s| s <= 0)
        && [
            p.input1_multiplier,
            p.input2_multiplier,
            p.output_multiplier,
        ]
        .iter()
        .all(|&m| m >= 0)
}

#[inline(always)]
fn combine(
    p: &AddParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
    op: impl Fn(i32, i32) -> i32,
) {
    let c1 = SmallChannel::new(p.input1_multiplier, p.input1_shift);
    let c2 = SmallChannel::new(p.input2_multiplier, p.input2_shift);
    let out = SmallChannel::new(p.output_multiplier, p.output_shift);
    let range = (p.activation_min, p.activation_max);
    let left = p.left_shift as u32;
    for ((o, &x), &y) in output.iter_mut().zip(input1).zip(input2) {
        let x = c1.requantize((i32::from(x) + p.input1_offset) << left);
        let y = c2.requantize((i32::from(y) + p.input2_offset) << left);
        *o = clamp(out.requantize(op(x, y)), p.output_offset, range);
    }
}
