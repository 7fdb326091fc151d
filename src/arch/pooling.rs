//! AVERAGE_POOL_2D and MAX_POOL_2D (int8) with TFLM's bytes: for each
//! output pixel the window's input pixels are read whole, their channels
//! summed (or maxed) side by side, where the reference walks the window
//! once per channel. Up to [`CHANNELS_PER_PASS`] channels per pass, their
//! running values on the stack.
//!
//! Layer: arch; uses `kernels` (the params and the window helper).

use crate::kernels::pooling::{taps, PoolGeometry, PoolParams};
use crate::kernels::{part, part_mut};

/// Channels reduced per pass over a window.
const CHANNELS_PER_PASS: usize = 64;

/// `kernels::pooling::average_pool_s8`, the same bytes.
pub fn average_pool_s8(p: &PoolParams, input: &[i8], output: &mut [i8]) {
    let range = (p.activation_min, p.activation_max);
    pool(
        &p.geometry,
        input,
        output,
        0,
        |s, x| s + i32::from(x),
        |sum, count| {
            // Round half away from zero, with C++ truncating division.
            // `count` is the taps of a non-empty window; a positive
            // divisor can neither be zero nor overflow the division.
            let average = match count {
                ..=0 => 0,
                _ if sum > 0 => (sum + count / 2) / count,
                _ => (sum - count / 2) / count,
            };
            average.max(range.0).min(range.1) as i8
        },
    );
}

/// `kernels::pooling::max_pool_s8`, the same bytes.
pub fn max_pool_s8(p: &PoolParams, input: &[i8], output: &mut [i8]) {
    let range = (p.activation_min, p.activation_max);
    pool(
        &p.geometry,
        input,
        output,
        i32::from(i8::MIN),
        |m, x| m.max(i32::from(x)),
        |max, _| max.max(range.0).min(range.1) as i8,
    );
}

/// Every output of a pool: each channel's values under the window folded
/// with `step` from `start`, then `finish(value, taps)`.
#[inline(always)]
fn pool(
    g: &PoolGeometry,
    input: &[i8],
    output: &mut [i8],
    start: i32,
    step: impl Fn(i32, i8) -> i32,
    finish: impl Fn(i32, i32) -> i8,
) {
    let c = g.input.channels as usize;
    let mut values = [0i32; CHANNELS_PER_PASS];
    let (dy, dx) = (g.dilation_height as usize, g.dilation_width as usize);
    for b in 0..g.input.batches as usize {
        for out_y in 0..g.output.height as usize {
            let (y0, ny) = taps(
                out_y,
                g.stride_height,
                g.padding_top,
                g.filter_height,
                g.dilation_height,
                g.input.height,
            );
            for out_x in 0..g.output.width as usize {
                let (x0, nx) = taps(
                    out_x,
                    g.stride_width,
                    g.padding_left,
                    g.filter_width,
                    g.dilation_width,
                    g.input.width,
                );
                let taps = (ny * nx) as i32;
                let out = part_mut(output, g.output.index(b, out_y, out_x, 0), c);
                for first in (0..c).step_by(CHANNELS_PER_PASS) {
                    let n = (c - first).min(CHANNELS_PER_PASS);
                    let values = part_mut(&mut values, 0, n);
                    values.fill(start);
                    for y in (0..ny).map(|i| y0 + i * dy) {
                        for x in (0..nx).map(|j| x0 + j * dx) {
                            let pixel = part(input, g.input.index(b, y, x, first), n);
                            for (v, &x) in values.iter_mut().zip(pixel) {
                                *v = step(*v, x);
                            }
                        }
                    }
                    for (o, &v) in part_mut(out, first, n).iter_mut().zip(values.iter()) {
                        *o = finish(v, taps);
                    }
                }
            }
        }
    }
}
