//! ARG_MAX and ARG_MIN: the index of the largest (smallest) value along one
//! axis, as int32, the first on ties (TFLM's arg_min_max.cc).
//!
//! Layer: kernels; a pure function over slices.

use super::mean::Extreme;
use crate::wire::wire_struct;

wire_struct! {
    /// The input read as `[outer, axis, inner]`; the output is `[outer,
    /// inner]`.
    #[derive(Eq)]
    pub struct ArgExtremeParams {
        pub outer: u32,
        /// Length of the searched axis (at least 1).
        pub axis: u32,
        pub inner: u32,
        pub extreme: Extreme,
    }
}

/// For each `(outer, inner)`, the index along the axis of the extreme
/// value: a later value wins only when strictly beyond the best so far
/// (TFLM's `std::greater`/`std::less`), so ties and NaNs keep the first.
pub fn arg_extreme<T: Copy + PartialOrd>(p: &ArgExtremeParams, input: &[T], output: &mut [i32]) {
    let (axis, inner) = (p.axis as usize, p.inner as usize);
    let beyond = |v: T, best: T| match p.extreme {
        Extreme::Max => v > best,
        Extreme::Min => v < best,
    };
    for (row, out) in output.chunks_mut(inner.max(1)).enumerate() {
        let base = row * axis * inner;
        for (i, o) in out.iter_mut().enumerate() {
            let Some(&first) = input.get(base + i) else {
                return;
            };
            let (mut best, mut index) = (first, 0);
            for k in 1..axis {
                let v = super::at(input, base + k * inner + i, best);
                if beyond(v, best) {
                    (best, index) = (v, k as i32);
                }
            }
            *o = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_index_of_the_extreme_along_the_middle_axis() {
        // [1, 3, 2]: columns [4, 9, 9] and [-1, -5, -5].
        let mut p = ArgExtremeParams {
            outer: 1,
            axis: 3,
            inner: 2,
            extreme: Extreme::Max,
        };
        let x = [4i8, -1, 9, -5, 9, -5];
        let mut out = [7i32; 2];
        arg_extreme(&p, &x, &mut out);
        assert_eq!(out, [1, 0]);
        p.extreme = Extreme::Min;
        arg_extreme(&p, &x, &mut out);
        assert_eq!(out, [0, 1]);
        let floats = [f32::NAN, 1.0, 2.0, 3.0];
        let q = ArgExtremeParams {
            outer: 1,
            axis: 4,
            inner: 1,
            extreme: Extreme::Max,
        };
        let mut one = [7i32];
        arg_extreme(&q, &floats, &mut one);
        assert_eq!(one, [0], "a NaN first is never passed");
    }
}
