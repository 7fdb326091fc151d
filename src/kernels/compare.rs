//! Ops that compare values: the comparisons (LESS, GREATER, their
//! `_EQUAL` forms, EQUAL, NOT_EQUAL) to a bool tensor, SELECT_V2 by a bool
//! tensor, and MAXIMUM and MINIMUM; int8 with TFLM's arithmetic and
//! float32, every operand broadcast. A bool is one byte, 0 or 1.
//!
//! Layer: kernels; pure functions over slices, use `quant`, `tensor` and
//! the broadcast walk of `elementwise`.

use crate::kernels::elementwise::Broadcast;
use crate::quant::multiply_by_quantized_multiplier;
use crate::tensor::MAX_RANK;
use crate::wire::{wire_enum, wire_struct};

wire_enum! {
    /// Which comparison: `input1 OP input2`.
    pub enum CompareKind {
        #[default]
        Less = 0,
        LessEqual = 1,
        Greater = 2,
        GreaterEqual = 3,
        Equal = 4,
        NotEqual = 5,
    }
}

impl CompareKind {
    /// Whether `a OP b` holds.
    #[inline(always)]
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CompareKind::Less => a < b,
            CompareKind::LessEqual => a <= b,
            CompareKind::Greater => a > b,
            CompareKind::GreaterEqual => a >= b,
            CompareKind::Equal => a == b,
            CompareKind::NotEqual => a != b,
        }
    }
}

wire_struct! {
    /// An int8 comparison: each input, less its zero point, shifted left
    /// and scaled by its own scale (`QuantizeMultiplierSmallerThanOneExp`),
    /// so that values of two scales compare as the reals they stand for.
    pub struct CompareParams {
        pub broadcast: Broadcast,
        pub kind: CompareKind,
        pub left_shift: i32,
        pub input1_offset: i32,
        pub input1_multiplier: i32,
        pub input1_shift: i32,
        pub input2_offset: i32,
        pub input2_multiplier: i32,
        pub input2_shift: i32,
    }
}

/// int8 comparison, as TFLM's `ComparisonWithScaling`.
pub fn compare_s8(p: &CompareParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    let scaled = |x: i8, offset: i32, multiplier: i32, shift: i32| {
        let shifted = (offset + i32::from(x)).wrapping_mul(1 << p.left_shift);
        multiply_by_quantized_multiplier(shifted, multiplier, shift)
    };
    p.broadcast.map(input1, input2, output, |a, b| {
        let a = scaled(a, p.input1_offset, p.input1_multiplier, p.input1_shift);
        let b = scaled(b, p.input2_offset, p.input2_multiplier, p.input2_shift);
        i8::from(p.kind.holds(a, b))
    });
}

/// A comparison of the values themselves: float32, or plain (not
/// quantized) integers.
pub fn compare_values<T: Copy + PartialOrd>(
    b: &Broadcast,
    kind: CompareKind,
    input1: &[T],
    input2: &[T],
    output: &mut [i8],
) {
    b.map(input1, input2, output, |x, y| i8::from(kind.holds(x, y)));
}

/// MAXIMUM (`maximum`) or MINIMUM of int8 values of one quantization, or
/// of float32 values (as `std::max` and `std::min` pick).
pub fn max_min<T: Copy + PartialOrd>(
    b: &Broadcast,
    maximum: bool,
    input1: &[T],
    input2: &[T],
    output: &mut [T],
) {
    b.map(input1, input2, output, |x, y| {
        let second = if maximum { x < y } else { y < x };
        if second {
            y
        } else {
            x
        }
    });
}

wire_struct! {
    /// SELECT_V2: the value operands broadcast onto the output
    /// (`values`), and the condition's strides along each output dimension
    /// (zero where it is broadcast).
    pub struct SelectGeometry {
        pub values: Broadcast,
        pub condition_strides: [u32; MAX_RANK],
    }
}

/// `output = condition ? input1 : input2`, element by element.
pub fn select<T: Copy>(
    g: &SelectGeometry,
    condition: &[i8],
    input1: &[T],
    input2: &[T],
    output: &mut [T],
) {
    let d = g.values.output_dims.map(|v| v as usize);
    let (s1, s2) = (g.values.input1_strides, g.values.input2_strides);
    let sc = g.condition_strides;
    let mut index = [0usize; MAX_RANK];
    let at = |s: &[u32; MAX_RANK], index: &[usize; MAX_RANK]| -> usize {
        (0..MAX_RANK).map(|k| index[k] * s[k] as usize).sum()
    };
    for o in output.iter_mut().take(g.values.elements() as usize) {
        // Inside every operand (checked); a stray index leaves the output.
        let (c, x, y) = (
            condition.get(at(&sc, &index)),
            input1.get(at(&s1, &index)),
            input2.get(at(&s2, &index)),
        );
        if let (Some(&c), Some(&x), Some(&y)) = (c, x, y) {
            *o = if c != 0 { x } else { y };
        }
        super::odometer::advance(&mut index, &d, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_shape(n: u32) -> Broadcast {
        Broadcast {
            output_dims: [1, 1, 1, 1, 1, n],
            input1_strides: [0, 0, 0, 0, 0, 1],
            input2_strides: [0, 0, 0, 0, 0, 1],
            same_shape: true,
        }
    }

    #[test]
    fn int8_compares_the_reals_across_scales() {
        // input1 at scale 0.5 (zp 0), input2 at scale 0.25 (zp 4).
        let p = CompareParams {
            broadcast: same_shape(3),
            kind: CompareKind::Less,
            left_shift: 8,
            input1_offset: 0,
            input1_multiplier: 1 << 30, // 0.5
            input1_shift: 0,
            input2_offset: -4,
            input2_multiplier: 1 << 30, // 0.25
            input2_shift: -1,
        };
        let mut out = [0i8; 3];
        // 1.0 < 1.25, 1.5 < 1.5, 2.0 < 1.75
        compare_s8(&p, &[2, 3, 4], &[9, 10, 11], &mut out);
        assert_eq!(out, [1, 0, 0]);
        let le = CompareParams {
            kind: CompareKind::LessEqual,
            ..p
        };
        compare_s8(&le, &[2, 3, 4], &[9, 10, 11], &mut out);
        assert_eq!(out, [1, 1, 0]);
    }

    #[test]
    fn select_broadcasts_the_condition_and_a_scalar() {
        // condition [2, 1] over [2, 3]; input1 [2, 3]; input2 a scalar.
        let g = SelectGeometry {
            values: Broadcast {
                output_dims: [1, 1, 1, 1, 2, 3],
                input1_strides: [0, 0, 0, 0, 3, 1],
                input2_strides: [0; MAX_RANK],
                same_shape: false,
            },
            condition_strides: [0, 0, 0, 0, 1, 0],
        };
        let mut out = [0f32; 6];
        select(&g, &[1, 0], &[1., 2., 3., 4., 5., 6.], &[-1.], &mut out);
        assert_eq!(out, [1., 2., 3., -1., -1., -1.]);
    }

    #[test]
    fn maximum_and_minimum() {
        let b = same_shape(3);
        let mut out = [0i8; 3];
        max_min(&b, true, &[1, -5, 7], &[2, -6, 7], &mut out);
        assert_eq!(out, [2, -5, 7]);
        max_min(&b, false, &[1, -5, 7], &[2, -6, 7], &mut out);
        assert_eq!(out, [1, -6, 7]);
    }
}
