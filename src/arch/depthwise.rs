//! DEPTHWISE_CONV_2D (int8, depth multiplier 1) with TFLM's reference
//! bytes. For each output pixel the taps inside the input are walked once
//! per block of four channels, the four sums in registers (padding
//! contributes nothing, as in the reference); on Cortex-M DSP cores each
//! tap of a block is two word loads and four 16x16 multiply-accumulates.
//! Then one exact requantization per output. No scratch.
//!
//! Layer: arch; uses `kernels` (param types), `quant` and the micro-kernels.

use core::ops::Range;

use super::micro;
use super::requant::{Requantization, MAX_RUN};
use crate::kernels::conv2d::{valid_taps, Conv2dParams};
use crate::kernels::{at, part_mut};

/// The taps of a depthwise window, walked over the input and the filter
/// together (dilation 1, so one step serves both): `rows` by `cols` taps,
/// `step` bytes (the channel count) between taps of a row, and the extra
/// bytes from the end of a row to the start of the next; for `blocks`
/// blocks of four channels, for `pixels` output pixels whose windows lie
/// `pixel_step` input bytes apart.
#[repr(C)]
pub struct TapWalk {
    pub rows: u32,
    pub cols: u32,
    pub step: u32,
    pub input_row_skip: u32,
    pub filter_row_skip: u32,
    /// The input offset in both 16-bit halves (for SADD16).
    pub offsets: u32,
    /// Blocks of four channels, each four bytes on from the last.
    pub blocks: u32,
    pub pixels: u32,
    pub pixel_step: u32,
}

impl TapWalk {
    /// The last byte offset the walk reads from the input and from the
    /// filter (`rows`, `cols`, `blocks` and `pixels` at least one).
    pub fn reach(&self) -> (usize, usize) {
        let (rows, cols, step) = (self.rows as usize, self.cols as usize, self.step as usize);
        let last_block = 4 * (self.blocks as usize - 1) + 3;
        let row = |skip: u32| cols * step + skip as usize;
        let last = |skip: u32| (rows - 1) * row(skip) + (cols - 1) * step + last_block;
        let last_pixel = (self.pixels as usize - 1) * self.pixel_step as usize;
        (
            last_pixel + last(self.input_row_skip),
            last(self.filter_row_skip),
        )
    }
}

/// Sums per micro-kernel call: they wait on the stack until requantized.
const SUMS_PER_CALL: usize = MAX_RUN;

/// DEPTHWISE_CONV_2D with as many output channels as input channels, the
/// same bytes as `kernels::depthwise_conv2d::depthwise_conv2d_s8`.
#[inline(always)]
pub fn depthwise_conv2d_s8(
    p: &Conv2dParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let out_rows = p.geometry.all_rows();
    depthwise_conv2d_s8_rows(p, out_rows, input, filter, bias, multiplier, shift, output)
}

/// [`depthwise_conv2d_s8`] for output rows `rows` only (see
/// `ConvGeometry::band_index`).
// Its own frame, so that the op's other kernel does not add to it.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8_rows(
    p: &Conv2dParams,
    out_rows: Range<usize>,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let g = &p.geometry;
    let (in_h, in_w, c) = (
        g.input.height as usize,
        g.input.width as usize,
        g.input.channels as usize,
    );
    let out_w = g.output.width as usize;
    let (f_h, f_w) = (g.filter_height as usize, g.filter_width as usize);
    let (d_h, d_w) = (g.dilation_height as usize, g.dilation_width as usize);
    let stride_w = g.stride_width as usize;
    let range = (p.activation_min, p.activation_max);
    let offset = p.input_offset;
    let q = Requantization::new(bias, multiplier, shift, p.output_offset, range, f_h * f_w);
    let blocks = if d_w == 1 { c / 4 } else { 0 };
    // Pixels per call when all of a pixel's blocks fit in one.
    let pixels_per_call = if blocks > 0 && 4 * blocks <= SUMS_PER_CALL {
        SUMS_PER_CALL / 4 / blocks
    } else {
        1
    };
    let mut sums = [0i32; SUMS_PER_CALL];
    for b in 0..g.input.batches as usize {
        for out_y in out_rows.clone() {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, d_h, f_h, in_h);
            let in_x0 = |out_x: usize| (out_x * stride_w) as isize - g.padding_left as isize;
            let taps_x = |out_x: usize| valid_taps(in_x0(out_x), d_w, f_w, in_w);
            let mut out_x = 0;
            while out_x < out_w {
                // A run of pixels whose windows have the same valid taps.
                let (fx0, fx1) = taps_x(out_x);
                let mut run = 1;
                while run < pixels_per_call
                    && out_x + run < out_w
                    && taps_x(out_x + run) == (fx0, fx1)
                {
                    run += 1;
                }
                let (rows, cols) = (fy1 - fy0, fx1 - fx0);
                let out_base = g.band_index(&out_rows, b, out_y, out_x);
                let Some(out) = output.get_mut(out_base..out_base + run * c) else {
                    return;
                };
                // Blocks the micro-kernel sums (none when no tap is valid).
                let walked = if rows > 0 && cols > 0 { blocks } else { 0 };
                if walked > 0 {
                    // The first valid tap, in the input and in the filter.
                    let in_y = (in_y0 + (fy0 * d_h) as isize) as usize;
                    let in_x = (in_x0(out_x) + fx0 as isize) as usize;
                    let first_input = ((b * in_h + in_y) * in_w + in_x) * c;
                    let first_filter = (fy0 * f_w + fx0) * c;
                    let per_call = blocks.clamp(1, SUMS_PER_CALL / 4);
                    for first in (0..blocks).step_by(per_call) {
                        let n = (blocks - first).min(per_call);
                        let walk = TapWalk {
                            rows: rows as u32,
                            cols: cols as u32,
                            step: c as u32,
                            input_row_skip: ((d_h * in_w - cols) * c) as u32,
                            filter_row_skip: ((f_w - cols) * c) as u32,
                            offsets: (offset as u32 & 0xFFFF) * 0x0001_0001,
                            blocks: n as u32,
                            pixels: run as u32,
                            pixel_step: (stride_w * c) as u32,
                        };
                        let ch = 4 * first;
                        let (Some(sums), Some(input), Some(filter)) = (
                            sums.get_mut(..4 * n * run),
                            input.get(first_input + ch..),
                            filter.get(first_filter + ch..),
                        ) else {
                            return;
                        };
                        micro::depthwise_blocks(input, filter, &walk, sums);
                        for pixel in 0..run {
                            let (from, to) = (pixel * 4 * n, pixel * c + ch);
                            let (Some(sums), Some(out)) =
                                (sums.get(from..from + 4 * n), out.get_mut(to..to + 4 * n))
                            else {
                                return;
                            };
                            q.store(sums, 1, ch, out);
                        }
                    }
                }
                // Channels past the last whole block (all of them when the
                // walk does not apply), one at a time.
                for pixel in 0..run {
                    let x0 = in_x0(out_x + pixel);
                    for oc in 4 * walked..c {
                        let mut acc = 0i32;
                        for fy in fy0..fy1 {
                            let in_y = (in_y0 + (fy * d_h) as isize) as usize;
                            for fx in fx0..fx1 {
                                let in_x = (x0 + (fx * d_w) as isize) as usize;
                                let x = at(input, ((b * in_h + in_y) * in_w + in_x) * c + oc, 0);
                                let w = at(filter, (fy * f_w + fx) * c + oc, 0);
                                acc = acc.wrapping_add((i32::from(x) + offset) * i32::from(w));
                            }
                        }
                        q.store(&[acc], 1, oc, part_mut(out, pixel * c + oc, 1));
                    }
                }
                out_x += run;
            }
        }
    }
}
