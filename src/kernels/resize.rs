//! RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR. Nearest neighbor: each
//! output pixel is a copy of one input pixel, picked by TFLM's reference
//! arithmetic (`resize_nearest_neighbor.h`, single-precision float like
//! TFLM's), for values of any type: it only moves them, so quantization is
//! unchanged. Bilinear: each output value a weighted sum of the four input
//! values around its sampled position, in TFLM's integer arithmetic for
//! int8 (`ResizeBilinearInteger`: positions in 1/1024ths, rounded half away
//! from zero) and in float for float32 (`ResizeBilinear`).
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

/// Where output row (or column) `index` samples the input in 1/1024ths of a
/// pixel, and the rows below and above it (TFLM's
/// `ComputeInterpolationValuesInteger`); `scale` is the input's size over
/// the output's in 1/1024ths.
fn sample_integer(
    index: u32,
    scale: i32,
    half_pixel_centers: bool,
    input: u32,
) -> (i32, usize, usize) {
    let index = index as i32;
    let position = if half_pixel_centers {
        index * scale + scale / 2 - (1 << 9)
    } else {
        index * scale
    };
    // C's division truncates toward zero, as Rust's does.
    let lower = (position / (1 << 10)).max(0);
    let upper = ((position + (1 << 10) - 1) / (1 << 10)).min(input as i32 - 1);
    (position, lower.max(0) as usize, upper.max(0) as usize)
}

/// The input's size over the output's in 1/1024ths, rounded to nearest;
/// with `align_corners`, of the sizes less one.
fn scale_integer(input: u32, output: u32, align_corners: bool) -> i32 {
    // Unsigned, so that no division can overflow (and no 64-bit division
    // routine is called); the checks keep sides under 2^20, where this is
    // TFLM's int32 arithmetic.
    let output = output.max(1);
    let scale = if align_corners && output > 1 {
        ((input.wrapping_sub(1) << 10).wrapping_add((output - 1) / 2)) / (output - 1)
    } else {
        ((input << 10).wrapping_add(output / 2)) / output
    };
    scale as i32
}

/// The walk both bilinear kernels share: for every output value, the input
/// values at the four corners around its sample (`[y0 x0, y1 x0, y0 x1,
/// y1 x1]`) interpolated with the row and column weights; `sample(index,
/// height)` gives an output row's (or column's) weight and its two input
/// rows (or columns).
#[inline(always)]
fn bilinear<T: Copy + Default, W: Copy>(
    p: &ResizeParams,
    input: &[T],
    output: &mut [T],
    sample: impl Fn(u32, bool) -> (W, usize, usize),
    interpolate: impl Fn([T; 4], W, W) -> T,
) {
    let depth = p.depth as usize;
    let (in_h, in_w) = (p.input_height as usize, p.input_width as usize);
    let mut out = output.iter_mut();
    for b in 0..p.batches as usize {
        for y in 0..p.output_height {
            let (dy, y0, y1) = sample(y, true);
            for x in 0..p.output_width {
                let (dx, x0, x1) = sample(x, false);
                let at = |row: usize, col: usize, c: usize| {
                    super::at(
                        input,
                        ((b * in_h + row) * in_w + col) * depth + c,
                        T::default(),
                    )
                };
                for c in 0..depth {
                    let Some(o) = out.next() else {
                        return;
                    };
                    let corners = [at(y0, x0, c), at(y1, x0, c), at(y0, x1, c), at(y1, x1, c)];
                    *o = interpolate(corners, dy, dx);
                }
            }
        }
    }
}

/// int8 RESIZE_BILINEAR: input and output share their quantization, so the
/// interpolation runs on the stored values, with weights in 1/1024ths.
pub fn resize_bilinear_i8(p: &ResizeParams, input: &[i8], output: &mut [i8]) {
    let height_scale = scale_integer(p.input_height, p.output_height, p.align_corners);
    let width_scale = scale_integer(p.input_width, p.output_width, p.align_corners);
    let sample = |index: u32, height: bool| {
        let (scale, size) = match height {
            true => (height_scale, p.input_height),
            false => (width_scale, p.input_width),
        };
        let (position, lower, upper) = sample_integer(index, scale, p.half_pixel_centers, size);
        // The weight of the upper neighbor; it may leave [0, 1024] where a
        // position lies outside the input, as TFLM's does.
        (i64::from(position - (1 << 10) * lower as i32), lower, upper)
    };
    bilinear(p, input, output, sample, |[v00, v10, v01, v11], dy, dx| {
        let v = |x: i8| i64::from(x);
        let sum = v(v00) * ((1 << 10) - dy) * ((1 << 10) - dx)
            + v(v10) * dy * ((1 << 10) - dx)
            + v(v01) * ((1 << 10) - dy) * dx
            + v(v11) * dy * dx;
        let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
        ((sum + round) / (1 << 20)) as i8
    });
}

/// Where output row (or column) `index` samples the input, and the rows
/// below and above it (TFLM's `ComputeInterpolationValues`).
fn sample_f32(index: u32, scale: f32, half_pixel_centers: bool, input: u32) -> (f32, usize, usize) {
    let position = if half_pixel_centers {
        (index as f32 + 0.5) * scale - 0.5
    } else {
        index as f32 * scale
    };
    let lower = (libm::floorf(position) as i32).max(0);
    let upper = (libm::ceilf(position) as i32).min(input as i32 - 1);
    (position, lower as usize, upper.max(0) as usize)
}

/// The input's size over the output's; with `align_corners`, of the sizes
/// less one.
fn scale_f32(input: u32, output: u32, align_corners: bool) -> f32 {
    if align_corners && output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        input as f32 / output.max(1) as f32
    }
}

/// float32 RESIZE_BILINEAR.
pub fn resize_bilinear_f32(p: &ResizeParams, input: &[f32], output: &mut [f32]) {
    let height_scale = scale_f32(p.input_height, p.output_height, p.align_corners);
    let width_scale = scale_f32(p.input_width, p.output_width, p.align_corners);
    let sample = |index: u32, height: bool| {
        let (scale, size) = match height {
            true => (height_scale, p.input_height),
            false => (width_scale, p.input_width),
        };
        let (position, lower, upper) = sample_f32(index, scale, p.half_pixel_centers, size);
        (position - lower as f32, lower, upper)
    };
    bilinear(p, input, output, sample, |[v00, v10, v01, v11], dy, dx| {
        v00 * (1.0 - dy) * (1.0 - dx)
            + v10 * dy * (1.0 - dx)
            + v01 * (1.0 - dy) * dx
            + v11 * dy * dx
    });
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
    fn bilinear_int8_rounds_exact_halves_away_from_zero() {
        // Doubling [-3, 0]: the column between samples halfway, -1.5 -> -2.
        let p = ResizeParams {
            batches: 1,
            input_height: 1,
            input_width: 2,
            output_height: 1,
            output_width: 4,
            depth: 1,
            align_corners: false,
            half_pixel_centers: false,
        };
        let mut out = [0i8; 4];
        resize_bilinear_i8(&p, &[-3, 0], &mut out);
        assert_eq!(out, [-3, -2, 0, 0]);
        let mut floats = [0f32; 4];
        resize_bilinear_f32(&p, &[-3.0, 0.0], &mut floats);
        assert_eq!(floats, [-3.0, -1.5, 0.0, 0.0]);
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
