//! SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND over NHWC pixels, as TFLM's
//! reference kernels lay them out: SPACE_TO_BATCH_ND pads the image, cuts
//! it into `block_height × block_width` interleaved sub-images and stacks
//! them along the batch (output batch `(row_phase · block_width +
//! column_phase) · batches + b`); BATCH_TO_SPACE_ND interleaves them back
//! and crops. A rank-3 tensor `[batch, rows, depth]` is a rank-4 one of
//! width one with a block width of one. Both only move whole pixels of any
//! type, so quantization is unchanged. Padding is the real value 0, as
//! TFLite's kernel pads (int8: the zero point). TFLM's kernel pads with
//! the `output_offset` of a parameter block it never sets: whatever its
//! arena held, different from one run to the next, so no TFLM output that
//! shows padding can serve as a reference.
//!
//! Layer: kernels; a pure function over byte slices, uses `wire`.

use super::{copy, part};
use crate::wire::wire_struct;

wire_struct! {
    /// The geometry both ops share.
    #[derive(Eq)]
    pub struct SpaceBatchParams {
        /// Input `[batches, height, width]`.
        pub input_dims: [u32; 3],
        /// Output `[batches, height, width]`.
        pub output_dims: [u32; 3],
        /// Bytes of one pixel (depth × bytes per value).
        pub pixel_bytes: u32,
        /// `[block_height, block_width]`.
        pub block: [u32; 2],
        /// SPACE_TO_BATCH_ND: the padding above and to the left;
        /// BATCH_TO_SPACE_ND: the rows and columns cropped there.
        pub before: [u32; 2],
        /// The byte padding repeats: the zero point of int8 values, 0 for
        /// float32 (whose 0.0 is all zero bytes).
        pub pad_byte: u8,
    }
}

impl SpaceBatchParams {
    /// Pixels of a tensor of `dims`; saturating, as every size a check
    /// compares.
    pub fn pixels(dims: [u32; 3]) -> u64 {
        crate::tensor::element_count(dims.map(u64::from))
    }

    /// Whether the shapes fit SPACE_TO_BATCH_ND: `block` batches for every
    /// input batch, and the blocks cover the image after the padding above
    /// and to the left (what lies beyond is padding too). Products
    /// saturate: a hostile descriptor's sizes must not wrap into a match.
    pub fn fits_space_to_batch(&self) -> bool {
        let [n, h, w] = self.input_dims.map(u64::from);
        let [on, oh, ow] = self.output_dims.map(u64::from);
        let [bh, bw] = self.block.map(u64::from);
        let [top, left] = self.before.map(u64::from);
        bh > 0
            && bw > 0
            && crate::tensor::element_count([n, bh, bw]) == on
            && oh * bh >= h + top
            && ow * bw >= w + left
    }

    /// Whether the shapes fit BATCH_TO_SPACE_ND: the input's batches are
    /// `block` per output batch, and the crop leaves the output's sides.
    pub fn fits_batch_to_space(&self) -> bool {
        let [n, h, w] = self.input_dims.map(u64::from);
        let [on, oh, ow] = self.output_dims.map(u64::from);
        let [bh, bw] = self.block.map(u64::from);
        let [top, left] = self.before.map(u64::from);
        bh > 0
            && bw > 0
            && crate::tensor::element_count([on, bh, bw]) == n
            && oh + top <= h * bh
            && ow + left <= w * bw
    }
}

/// Output pixel `(b, row, column)` of SPACE_TO_BATCH_ND is input pixel
/// `(b mod batches, row · bh + phase_row − top, column · bw +
/// phase_column − left)`, where `b div batches = phase_row · bw +
/// phase_column`, or padding where that lies outside the input.
pub fn space_to_batch(p: &SpaceBatchParams, input: &[u8], output: &mut [u8]) {
    let [n, h, w] = p.input_dims.map(|d| d as usize);
    let [_, oh, ow] = p.output_dims.map(|d| d as usize);
    let [bh, bw] = p.block.map(|d| d as usize);
    let [top, left] = p.before.map(|d| d as usize);
    let size = p.pixel_bytes as usize;
    for (o, pixel) in output.chunks_exact_mut(size.max(1)).enumerate() {
        let (column, row, batch) = (
            o % ow.max(1),
            o / ow.max(1) % oh.max(1),
            o / (ow * oh).max(1),
        );
        let phase = batch / n.max(1);
        let (phase_row, phase_column) = (phase / bw.max(1), phase % bw.max(1));
        let y = (row * bh + phase_row).checked_sub(top).filter(|&y| y < h);
        let x = (column * bw + phase_column)
            .checked_sub(left)
            .filter(|&x| x < w);
        match (y, x) {
            (Some(y), Some(x)) => {
                let from = ((batch % n.max(1)) * h + y) * w + x;
                copy(pixel, part(input, from * size, size));
            }
            _ => pixel.fill(p.pad_byte),
        }
    }
}

/// Output pixel `(b, row, column)` of BATCH_TO_SPACE_ND is input pixel
/// `((phase_row · bw + phase_column) · batches + b, (row + top) div bh,
/// (column + left) div bw)`, the phases being the remainders.
pub fn batch_to_space(p: &SpaceBatchParams, input: &[u8], output: &mut [u8]) {
    let [_, h, w] = p.input_dims.map(|d| d as usize);
    let [on, oh, ow] = p.output_dims.map(|d| d as usize);
    let [bh, bw] = p.block.map(|d| d.max(1) as usize);
    let [top, left] = p.before.map(|d| d as usize);
    let size = p.pixel_bytes as usize;
    for (o, pixel) in output.chunks_exact_mut(size.max(1)).enumerate() {
        let (column, row, batch) = (
            o % ow.max(1),
            o / ow.max(1) % oh.max(1),
            o / (ow * oh).max(1),
        );
        let (y, x) = (row + top, column + left);
        let phase = (y % bh) * bw + x % bw;
        let from = ((phase * on + batch) * h + y / bh) * w + x / bw;
        copy(pixel, part(input, from * size, size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TFLite's documented example: [1, 4, 4, 1] with a 2×2 block gives
    /// four [1, 2, 2, 1] images of every other pixel, and back.
    #[test]
    fn round_trip_of_tflites_example() {
        let mut p = SpaceBatchParams {
            input_dims: [1, 4, 4],
            output_dims: [4, 2, 2],
            pixel_bytes: 1,
            block: [2, 2],
            before: [0, 0],
            pad_byte: 0,
        };
        let image: Vec<u8> = (1..=16).collect();
        let mut batches = [0u8; 16];
        assert!(p.fits_space_to_batch());
        space_to_batch(&p, &image, &mut batches);
        assert_eq!(
            batches,
            [1, 3, 9, 11, 2, 4, 10, 12, 5, 7, 13, 15, 6, 8, 14, 16]
        );
        p.input_dims = [4, 2, 2];
        p.output_dims = [1, 4, 4];
        assert!(p.fits_batch_to_space());
        let mut back = [0u8; 16];
        batch_to_space(&p, &batches, &mut back);
        assert_eq!(back.as_slice(), image.as_slice());
    }

    /// Padding fills with the pad byte and the crop undoes it.
    #[test]
    fn padding_then_crop() {
        let mut p = SpaceBatchParams {
            input_dims: [1, 1, 3],
            output_dims: [2, 1, 2],
            pixel_bytes: 1,
            block: [1, 2],
            before: [0, 1],
            pad_byte: 7,
        };
        let mut batches = [0u8; 4];
        space_to_batch(&p, &[1, 2, 3], &mut batches);
        // Padded row [7, 1, 2, 3]: even columns [7, 2], odd [1, 3].
        assert_eq!(batches, [7, 2, 1, 3]);
        // The crop never reads the padding.
        batches[0] = 9;
        p.input_dims = [2, 1, 2];
        p.output_dims = [1, 1, 3];
        let mut back = [0u8; 3];
        batch_to_space(&p, &batches, &mut back);
        assert_eq!(back, [1, 2, 3]);
        p.before = [0, 2];
        assert!(!p.fits_batch_to_space());
    }

    /// A block count whose product wraps 64 bits is refused, not matched.
    #[test]
    fn wrapping_block_counts_do_not_fit() {
        let p = SpaceBatchParams {
            input_dims: [0, 1, 1],
            output_dims: [1 << 16, 1, 1],
            pixel_bytes: 1,
            block: [1 << 24, 1 << 24],
            before: [0, 0],
            pad_byte: 0,
        };
        assert!(!p.fits_batch_to_space());
        let p = SpaceBatchParams {
            input_dims: [1 << 16, 1, 1],
            output_dims: [0, 1, 1],
            ..p
        };
        assert!(!p.fits_space_to_batch());
    }
}
