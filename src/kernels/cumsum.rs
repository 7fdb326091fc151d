//! CUMSUM: running sums along one axis, inclusive or exclusive, forward or
//! reversed, as TFLM's reference kernels compute them. int8 sums with
//! ADD_N's arithmetic (`kernels::add_n`): each value shifted left by 20
//! bits and halved, the sum started from the halved input offset (not
//! from zero, as TFLM's is: an exclusive sum's first output is that
//! offset), wrapping as TFLM's int32 would, each running sum rescaled to
//! the output. float32 sums in order along the axis.
//!
//! Layer: kernels; pure functions over slices, uses `kernels::add_n`.

use super::add_n::AddNParams;
use super::{at, set};
use crate::wire::wire_struct;

wire_struct! {
    /// The input as `[outer, depth, inner]`: `depth` values along the
    /// summed axis, `inner` apart.
    #[derive(Eq)]
    pub struct CumSumShape {
        pub outer: u32,
        pub depth: u32,
        pub inner: u32,
        /// Each output is the sum of the values before it, not up to it.
        pub exclusive: bool,
        /// Sums run from the end of the axis.
        pub reverse: bool,
    }
}

impl CumSumShape {
    pub fn elements(&self) -> u64 {
        u64::from(self.outer)
            .saturating_mul(u64::from(self.depth))
            .saturating_mul(u64::from(self.inner))
    }

    /// Calls `step(index, first)` for every element in summing order,
    /// `first` at the start of each sum.
    fn walk(&self, mut step: impl FnMut(usize, bool)) {
        let (depth, inner) = (self.depth as usize, self.inner as usize);
        for o in 0..self.outer as usize {
            for i in 0..inner {
                for d in 0..depth {
                    let along = if self.reverse { depth - 1 - d } else { d };
                    step((o * depth + along) * inner + i, d == 0);
                }
            }
        }
    }
}

/// int8 CUMSUM of `input` into `output` (both `shape.elements()` long).
pub fn cumsum_s8(p: &AddNParams, shape: &CumSumShape, input: &[i8], output: &mut [i8]) {
    let mut sum = 0i32;
    shape.walk(|k, first| {
        if first {
            sum = p.start();
        }
        let before = sum;
        sum = sum.wrapping_add(p.scaled(at(input, k, 0)));
        set(
            output,
            k,
            p.output(if shape.exclusive { before } else { sum }),
        );
    });
}

/// float32 CUMSUM of `input` into `output`.
pub fn cumsum_f32(shape: &CumSumShape, input: &[f32], output: &mut [f32]) {
    let mut sum = 0.0f32;
    shape.walk(|k, first| {
        if first {
            sum = 0.0;
        }
        let before = sum;
        sum += at(input, k, 0.0);
        set(output, k, if shape.exclusive { before } else { sum });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(exclusive: bool, reverse: bool) -> CumSumShape {
        CumSumShape {
            outer: 2,
            depth: 3,
            inner: 2,
            exclusive,
            reverse,
        }
    }

    #[test]
    fn float_sums_run_along_the_axis_each_way() {
        // [2, 3, 2]: along the middle axis.
        let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let mut out = [0f32; 12];
        cumsum_f32(&shape(false, false), &x, &mut out);
        assert_eq!(out[..6], [1., 2., 4., 6., 9., 12.]);
        cumsum_f32(&shape(true, false), &x, &mut out);
        assert_eq!(out[..6], [0., 0., 1., 2., 4., 6.]);
        cumsum_f32(&shape(false, true), &x, &mut out);
        assert_eq!(out[6..], [27., 30., 20., 22., 11., 12.]);
        cumsum_f32(&shape(true, true), &x, &mut out);
        assert_eq!(out[6..], [20., 22., 11., 12., 0., 0.]);
    }

    #[test]
    fn int8_sums_start_from_the_scaled_offset() {
        // Zero point 2, output scale twice the input's (as ADD_N's test).
        let p = AddNParams {
            input_offset: -2,
            input_multiplier: 1 << 30,
            input_shift: 0,
            output_multiplier: 1 << 30,
            output_shift: -19,
            output_offset: 0,
        };
        let x = [12i8, 22, 32];
        let s = CumSumShape {
            outer: 1,
            depth: 3,
            inner: 1,
            exclusive: false,
            reverse: false,
        };
        let mut out = [0i8; 3];
        cumsum_s8(&p, &s, &x, &mut out);
        // (-2 + 10) / 2 = 4, then (-2 + 10 + 20) / 2 = 14, then 29.
        assert_eq!(out, [4, 14, 29]);
        let exclusive = CumSumShape {
            exclusive: true,
            ..s
        };
        cumsum_s8(&p, &exclusive, &x, &mut out);
        assert_eq!(out, [-1, 4, 14]);
    }
}
