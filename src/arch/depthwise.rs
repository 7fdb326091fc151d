//! DEPTHWISE_CONV_2D (int8, depth multiplier 1) with TFLM's reference
//! bytes: for each output pixel, four channels at a time with their
//! accumulators in registers, over the taps that fall inside the input
//! (padding contributes nothing, as in the reference), then one exact
//! requantization per output. No scratch.
//!
//! Layer: arch; uses `kernels` (param types), `quant`.

use super::requant::to_output;
use crate::kernels::conv2d::{valid_taps, Conv2dParams};

/// Channels per block.
const BLOCK: usize = 4;

/// DEPTHWISE_CONV_2D with as many output channels as input channels, the
/// same bytes as `kernels::depthwise_conv2d::depthwise_conv2d_s8`.
pub fn depthwise_conv2d_s8(
    p: &Conv2dParams,
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
    let (out_h, out_w) = (g.output.height as usize, g.output.width as usize);
    let (f_h, f_w) = (g.filter_height as usize, g.filter_width as usize);
    let (d_h, d_w) = (g.dilation_height as usize, g.dilation_width as usize);
    let range = (p.activation_min, p.activation_max);
    let offset = p.input_offset;
    for b in 0..g.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, d_h, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * g.stride_width as usize) as isize - g.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, d_w, f_w, in_w);
                // Input and filter offsets of each valid tap's channel 0.
                let taps = (fy0..fy1).flat_map(|fy| {
                    let in_y = (in_y0 + (fy * d_h) as isize) as usize;
                    (fx0..fx1).map(move |fx| {
                        let in_x = (in_x0 + (fx * d_w) as isize) as usize;
                        (((b * in_h + in_y) * in_w + in_x) * c, (fy * f_w + fx) * c)
                    })
                });
                let out = &mut output[((b * out_h + out_y) * out_w + out_x) * c..][..c];
                let blocks = c / BLOCK;
                for k in 0..blocks {
                    let ch = k * BLOCK;
                    let mut acc = [0i32; BLOCK];
                    for (xi, wi) in taps.clone() {
                        let x = &input[xi + ch..][..BLOCK];
                        let w = &filter[wi + ch..][..BLOCK];
                        for j in 0..BLOCK {
                            acc[j] += (i32::from(x[j]) + offset) * i32::from(w[j]);
                        }
                    }
                    for (j, &a) in acc.iter().enumerate() {
                        let oc = ch + j;
                        let a = if bias.is_empty() {
                            a
                        } else {
                            a.wrapping_add(bias[oc])
                        };
                        out[oc] = to_output(a, multiplier[oc], shift[oc], p.output_offset, range);
                    }
                }
                for oc in blocks * BLOCK..c {
                    let mut a = 0i32;
                    for (xi, wi) in taps.clone() {
                        a += (i32::from(input[xi + oc]) + offset) * i32::from(filter[wi + oc]);
                    }
                    let a = if bias.is_empty() {
                        a
                    } else {
                        a.wrapping_add(bias[oc])
                    };
                    out[oc] = to_output(a, multiplier[oc], shift[oc], p.output_offset, range);
                }
            }
        }
    }
}
