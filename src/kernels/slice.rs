//! SLICE with positive steps, of up to six dimensions, for any element size
//! (it only moves bytes: int8 and float32 alike, quantization unchanged).
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
        /// Input coordinates between two taken ones (at least 1).
        pub step: [u32; MAX_RANK],
        /// Bytes per element.
        pub element_size: u32,
    }
}

impl SliceParams {
    /// The last input coordinate read in dimension `d`, if the output is not
    /// empty there.
    pub fn last_read(&self, d: usize) -> Option<u64> {
        let n = u64::from(self.output_dims[d]);
        (n > 0).then(|| u64::from(self.begin[d]) + (n - 1) * u64::from(self.step[d]))
    }
}

pub fn slice(p: &SliceParams, input: &[u8], output: &mut [u8]) {
    let size = p.element_size as usize;
    let in_strides = strides(&p.input_dims, size);
    let out_dims = p.output_dims.map(|d| d as usize);
    let mut index = [0usize; MAX_RANK];
    for out in output.chunks_exact_mut(size.max(1)) {
        let src: usize = (0..MAX_RANK)
            .map(|d| (p.begin[d] as usize + index[d] * p.step[d] as usize) * in_strides[d])
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
        assert_eq!(p.last_read(5), Some(2));
    }
}
