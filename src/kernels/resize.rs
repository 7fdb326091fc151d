//! RESIZE_NEAREST_NEIGHBOR: each output pixel is a copy of one input pixel,
//! picked by TFLM's reference arithmetic (`resize_nearest_neighbor.h`,
//! single-precision float like TFLM's), for values of any type: it only
//! moves them, so quantization is unchanged.
//!
//! Layer: kernels; a pure function over slices, uses `wire` and libm.

use super::{copy, part, part_mut};
use crate::wire::wire_struct;

wire_struct! {
    /// An NHWC input `[batches, input_height, input_width, depth]` resized
    /// to `[batches, output_height, output_width, depth]`, with TFLite's
    /// two options (at most one of them set).
    #[derive(Eq)]
    pub struct ResizeParams {
        pub batches: u32,
        pub input_height: u32,
        pub input_width: u32,
        pub output_height: u32,
        pub output_width: u32,
        /// Values per pixel.
        pub depth: u32,
        /// The corner pixels of input and output are aligned (scale
        /// `(in - 1) / (out - 1)`).
        pub align_corners: bool,
        /// Pixels are sampled at their centres (offset one half).
        pub half_pixel_centers: bool,
    }
}

impl ResizeParams {
    /// Values of the input; saturating, as every size a check compares.
    pub fn input_values(&self) -> u64 {
        crate::tensor::element_count([
            u64::from(self.batches),
            u64::from(self.input_height),
            u64::from(self.input_width),
            u64::from(self.depth),
        ])
    }

    /// Values of the output; saturating.
    pub fn output_values(&self) -> u64 {
        crate::tensor::element_count([
            u64::from(self.batches),
            u64::from(self.output_height),
            u64::from(self.output_width),
            u64::from(self.depth),
        ])
    }
}

/// The input row (or column) output row `index` copies, as TFLM's
/// `GetNearestNeighbor` computes it: the scale and the sampled position in
/// single precision, rounded half away from zero with `align_corners`,
/// floored otherwise, clamped into the input.
pub fn nearest_index(index: u32, input: u32, output: u32, p: &ResizeParams) -> u32 {
    let scale = if p.align_corners && output > 1 {
        (input as f32 - 1.0) / (output - 1) as f32
    } else {
        input as f32 / output.max(1) as f32
    };
    let offset = if p.half_pixel_centers { 0.5 } else { 0.0 };
    let position = (index as f32 + offset) * scale;
    // Positions are never negative: the float-to-int conversion floors.
    let picked = if p.align_corners {
        libm::roundf(position) as i64
    } else {
        libm::floorf(position) as i64
    };
    picked.clamp(0, i64::from(input.max(1)) - 1) as u32
}

/// Copies, for every output pixel, the input pixel nearest to it.
pub fn resize_nearest<T: Copy>(p: &ResizeParams, input: &[T], output: &mut [T]) {
    let depth = p.depth as usize;
    let (in_h, in_w) = (p.input_height as usize, p.input_width as usize);
    let (out_h, out_w) = (p.output_height as usize, p.output_width as usize);
    for b in 0..p.batches as usize {
        for y in 0..out_h {
            let in_y = nearest_index(y as u32, p.input_height, p.output_height, p) as usize;
            for x in 0..out_w {
                let in_x = nearest_index(x as u32, p.input_width, p.output_width, p) as usize;
                let from = ((b * in_h + in_y) * in_w + in_x) * depth;
                let to = ((b * out_h + y) * out_w + x) * depth;
                copy(part_mut(output, to, depth), part(input, from, depth));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        input: u32,
        output: u32,
        align_corners: bool,
        half_pixel_centers: bool,
    ) -> ResizeParams {
        ResizeParams {
            batches: 1,
            input_height: 1,
            input_width: input,
            output_height: 1,
            output_width: output,
            depth: 1,
            align_corners,
            half_pixel_centers,
        }
    }

    fn picks(p: &ResizeParams) -> [u32; 8] {
        let mut out = [99; 8];
        for (x, o) in out.iter_mut().enumerate().take(p.output_width as usize) {
            *o = nearest_index(x as u32, p.input_width, p.output_width, p);
        }
        out
    }

    #[test]
    fn nearest_indices_follow_tflm_for_each_option() {
        // Doubling: floor(x / 2).
        assert_eq!(picks(&params(4, 8, false, false)), [0, 0, 1, 1, 2, 2, 3, 3]);
        // Halving with half-pixel centres: floor((x + 0.5) * 2) = 2x + 1.
        assert_eq!(picks(&params(8, 4, false, true))[..4], [1, 3, 5, 7]);
        // Aligned corners: round(x * 3 / 4), halves away from zero.
        assert_eq!(picks(&params(4, 5, true, false))[..5], [0, 1, 2, 2, 3]);
        // Half-pixel centres upward clamp into the input.
        assert_eq!(
            picks(&params(3, 7, false, true))[..7],
            [0, 0, 1, 1, 1, 2, 2]
        );
    }

    #[test]
    fn whole_pixels_are_copied() {
        let p = ResizeParams {
            batches: 2,
            input_height: 1,
            input_width: 2,
            output_height: 2,
            output_width: 3,
            depth: 2,
            align_corners: false,
            half_pixel_centers: false,
        };
        let input = [1i16, 2, 3, 4, 5, 6, 7, 8];
        let mut output = [0i16; 24];
        resize_nearest(&p, &input, &mut output);
        let row0 = [1, 2, 1, 2, 3, 4];
        let row1 = [5, 6, 5, 6, 7, 8];
        assert_eq!(output[..6], row0);
        assert_eq!(output[6..12], row0);
        assert_eq!(output[12..18], row1);
        assert_eq!(output[18..], row1);
    }
}
