//! TRANSPOSE of up to six dimensions, for any element size (a permutation
//! of bytes: int8 and float32 alike). The ONNX importer uses it to move
//! between ONNX's NCHW and the kernels' NHWC.
//!
//! Layer: kernels; a pure function over byte slices, uses `tensor`.

use crate::kernels::odometer::{advance, strides};
use crate::tensor::MAX_RANK;
use crate::wire::wire_struct;

wire_struct! {
    #[derive(Eq)]
    pub struct TransposeParams {
        /// Input shape, padded on the left with ones to `MAX_RANK` dimensions.
        pub input_dims: [u32; MAX_RANK],
        /// Output dimension `d` is input dimension `perm[d]`.
        pub perm: [u8; MAX_RANK],
        /// Bytes per element.
        pub element_size: u32,
    }
}

impl TransposeParams {
    pub fn output_dims(&self) -> [u32; MAX_RANK] {
        core::array::from_fn(|d| self.input_dims[usize::from(self.perm[d]) % MAX_RANK])
    }
}

pub fn transpose(p: &TransposeParams, input: &[u8], output: &mut [u8]) {
    let size = p.element_size as usize;
    let in_strides = strides(&p.input_dims, size);
    let out_dims = p.output_dims().map(|d| d as usize);
    // Input stride of each output dimension.
    let strides: [usize; MAX_RANK] =
        core::array::from_fn(|d| in_strides[usize::from(p.perm[d]) % MAX_RANK]);
    let mut index = [0usize; MAX_RANK];
    for out in output.chunks_exact_mut(size.max(1)) {
        let src: usize = (0..MAX_RANK).map(|d| index[d] * strides[d]).sum();
        super::copy(out, super::part(input, src, size));
        advance(&mut index, &out_dims, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_to_nhwc() {
        // [1, 2, 2, 2] NCHW: channel 0 = 0..4, channel 1 = 10..14
        let p = TransposeParams {
            input_dims: [1, 1, 1, 2, 2, 2],
            perm: [0, 1, 2, 4, 5, 3],
            element_size: 1,
        };
        let mut out = [0u8; 8];
        transpose(&p, &[0, 1, 2, 3, 10, 11, 12, 13], &mut out);
        assert_eq!(out, [0, 10, 1, 11, 2, 12, 3, 13]);
    }

    #[test]
    fn four_byte_elements_move_whole() {
        let p = TransposeParams {
            input_dims: [1, 1, 1, 1, 2, 3],
            perm: [0, 1, 2, 3, 5, 4],
            element_size: 4,
        };
        let input: Vec<u8> = (0u32..6).flat_map(|v| v.to_le_bytes()).collect();
        let mut out = [0u8; 24];
        transpose(&p, &input, &mut out);
        let got: Vec<u32> = out
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(got, vec![0, 3, 1, 4, 2, 5]);
    }
}
