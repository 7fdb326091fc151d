//! SLICE with positive, negative or zero steps (a negative one walks an
//! axis backwards: REVERSE_V2, STRIDED_SLICE's negative strides; a zero
//! one repeats one coordinate: BROADCAST_TO), of up to six
//! dimensions, for any element size (it only moves bytes: int8 and float32
//! alike, quantization unchanged).
//!
//! Layer: kernels; a pure function over byte slices, uses `tensor`.

use crate::kernels::odometer::{advance, strides};
use crate::tensor::MAX_RANK;
use crate::wire::wire_struct;

wire_struct! {
    #[derive(Eq)]
    pub struct SliceParams {
        /// Input shape, padded on the left with ones to `MAX_RANK` dimensions.
        pub input_dims: [u32; MAX_RANK],
        /// Output shape, padded the same way.
        pub output_dims: [u32; MAX_RANK],
        /// First input coordinate taken in each dimension.
        pub begin: [u32; MAX_RANK],
        /// Input coordinates from one taken to the next (negative walks
        /// the axis backwards from `begin`; 0 repeats `begin`).
        pub step: [i32; MAX_RANK],
        /// Bytes per element.
        pub element_size: u32,
    }
}

impl SliceParams {
    /// The lowest and highest input coordinates read in dimension `d`, if
    /// the output is not empty there (they may lie outside the input: the
    /// check refuses such a slice).
    pub fn reads(&self, d: usize) -> Option<(i64, i64)> {
        let n = i64::from(self.output_dims[d]);
        let first = i64::from(self.begin[d]);
        let last = first + (n - 1) * i64::from(self.step[d]);
        (n > 0).then_some((first.min(last), first.max(last)))
    }

    /// Whether every coordinate read lies inside the input, in every
    /// dimension.
    pub fn reads_inside(&self) -> bool {
        (0..MAX_RANK).all(|d| {
            self.reads(d)
                .is_none_or(|(lo, hi)| lo >= 0 && hi < i64::from(self.input_dims[d]))
        })
    }
}

pub fn slice(p: &SliceParams, input: &[u8], output: &mut [u8]) {
    let size = p.element_size as usize;
    let in_strides = strides(&p.input_dims, size);
    let out_dims = p.output_dims.map(|d| d as usize);
    let mut index = [0usize; MAX_RANK];
    for out in output.chunks_exact_mut(size.max(1)) {
        // `reads_inside` (checked before any run) keeps every coordinate
        // in 0..input_dims[d].
        let src: usize = (0..MAX_RANK)
            .map(|d| {
                let coordinate = p.begin[d] as isize + index[d] as isize * p.step[d] as isize;
                coordinate as usize * in_strides[d]
            })
            .sum();
        super::copy(out, super::part(input, src, size));
        advance(&mut index, &out_dims, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_second_column_of_the_last_two_rows() {
        // [3, 4] int8: rows 1..3, columns 0, 2.
        let p = SliceParams {
            input_dims: [1, 1, 1, 1, 3, 4],
            output_dims: [1, 1, 1, 1, 2, 2],
            begin: [0, 0, 0, 0, 1, 0],
            step: [1, 1, 1, 1, 1, 2],
            element_size: 1,
        };
        let input: Vec<u8> = (0..12).collect();
        let mut out = [0u8; 4];
        slice(&p, &input, &mut out);
        assert_eq!(out, [4, 6, 8, 10]);
        assert_eq!(p.reads(5), Some((0, 2)));
        assert!(p.reads_inside());
    }

    #[test]
    fn a_negative_step_walks_backwards() {
        // [2, 3] int8: rows reversed, every column from the last.
        let p = SliceParams {
            input_dims: [1, 1, 1, 1, 2, 3],
            output_dims: [1, 1, 1, 1, 2, 3],
            begin: [0, 0, 0, 0, 1, 2],
            step: [1, 1, 1, 1, -1, -1],
            element_size: 1,
        };
        let mut out = [0u8; 6];
        slice(&p, &[0, 1, 2, 3, 4, 5], &mut out);
        assert_eq!(out, [5, 4, 3, 2, 1, 0]);
        assert_eq!(p.reads(5), Some((0, 2)));
        assert!(p.reads_inside());
        let past = SliceParams {
            begin: [0, 0, 0, 0, 0, 2],
            ..p
        };
        assert!(!past.reads_inside());
    }

    #[test]
    fn a_zero_step_repeats_one_coordinate() {
        // [1, 3] int8 broadcast to [2, 3]: the row twice.
        let p = SliceParams {
            input_dims: [1, 1, 1, 1, 1, 3],
            output_dims: [1, 1, 1, 1, 2, 3],
            begin: [0; MAX_RANK],
            step: [1, 1, 1, 1, 0, 1],
            element_size: 1,
        };
        let mut out = [0u8; 6];
        slice(&p, &[7, 8, 9], &mut out);
        assert_eq!(out, [7, 8, 9, 7, 8, 9]);
        assert!(p.reads_inside());
        let past = SliceParams {
            begin: [0, 0, 0, 0, 1, 0],
            ..p
        };
        assert!(!past.reads_inside());
    }
}
