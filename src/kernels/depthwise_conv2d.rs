//! DEPTHWISE_CONV_2D, int8 with per-channel requantization and any depth
//! multiplier, int16 (16x8) and float32 (TFLM reference semantics).
//!
//! Layer: kernels; a pure function over slices, uses `quant`, `tensor` and
//! the tap-range helper of `conv2d`.

use core::ops::Range;

use super::at;
use super::conv2d::{valid_taps, Conv2dParams, ConvGeometry};
use super::fully_connected::Bias16x8;
use crate::tensor::FloatRange;

/// Filter layout `[1, filter_height, filter_width, output_channels]`; output
/// channel `c * depth_multiplier + m` reads input channel `c`, where the
/// depth multiplier is `output.channels / input.channels`.
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
    let rows = p.geometry.all_rows();
    depthwise_conv2d_s8_rows(p, rows, input, filter, bias, multiplier, shift, output)
}

/// [`depthwise_conv2d_s8`] for output rows `rows` only (see
/// [`ConvGeometry::band_index`]).
// Its own frame: an op that also has a fast kernel does not add them up.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_s8_rows(
    p: &Conv2dParams,
    rows: Range<usize>,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let g = &p.geometry;
    let (in_h, in_w, in_c) = (
        g.input.height as usize,
        g.input.width as usize,
        g.input.channels as usize,
    );
    let (out_w, out_c) = (g.output.width as usize, g.output.channels as usize);
    let (f_h, f_w) = (g.filter_height as usize, g.filter_width as usize);
    let dm = out_c / in_c.max(1);
    for b in 0..g.input.batches as usize {
        for out_y in rows.clone() {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, g.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * g.stride_width as usize) as isize - g.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, g.dilation_width as usize, f_w, in_w);
                let out_base = g.band_index(&rows, b, out_y, out_x);
                for ic in 0..in_c {
                    for m in 0..dm {
                        let oc = ic * dm + m;
                        let mut acc: i32 = 0;
                        for fy in fy0..fy1 {
                            let in_y =
                                (in_y0 + (fy * g.dilation_height as usize) as isize) as usize;
                            for fx in fx0..fx1 {
                                let in_x =
                                    (in_x0 + (fx * g.dilation_width as usize) as isize) as usize;
                                let x = at(input, g.input.index(b, in_y, in_x, ic), 0);
                                let w = at(filter, (fy * f_w + fx) * out_c + oc, 0);
                                acc += i32::from(w) * (i32::from(x) + p.input_offset);
                            }
                        }
                        if let Some(out) = output.get_mut(out_base + oc) {
                            *out = p.channel_output(acc, oc, bias, multiplier, shift);
                        }
                    }
                }
            }
        }
    }
}

/// The float32 depthwise convolution (TFLM's float reference).
pub fn depthwise_conv2d_f32(
    g: &ConvGeometry,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    depthwise_convolve(
        g,
        (input, filter, output),
        0f32,
        |total, x, w| total + x * w,
        |total, oc| act.apply(total + at(bias, oc, 0.0)),
    );
}

/// int16 DEPTHWISE_CONV_2D (TFLite's 16x8 scheme), TFLM's reference
/// `DepthwiseConvPerChannel` for int16: exact sums, biased and requantized
/// per channel as TFLM's accumulator type does it ([`Bias16x8`]).
pub fn depthwise_conv2d_s16(
    p: &Conv2dParams,
    input: &[i16],
    filter: &[i8],
    bias: Bias16x8,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i16],
) {
    let product = |acc: i64, x: i16, w: i8| acc + i64::from(i32::from(x) * i32::from(w));
    depthwise_convolve(
        &p.geometry,
        (input, filter, output),
        0i64,
        product,
        |acc, oc| {
            bias.output_s16(
                oc,
                acc,
                (multiplier, shift),
                (p.activation_min, p.activation_max),
            )
        },
    );
}

/// The reference depthwise walk over every output element in TFLM's order:
/// `product` adds one tap's input value times its filter value to the sum,
/// which starts at `zero`; `finish` makes the output value from the sum
/// and the output channel.
#[inline(always)]
fn depthwise_convolve<X: Copy + Default, W: Copy + Default, O, A: Copy>(
    g: &ConvGeometry,
    (input, filter, output): (&[X], &[W], &mut [O]),
    zero: A,
    product: impl Fn(A, X, W) -> A,
    finish: impl Fn(A, usize) -> O,
) {
    let (in_h, in_w, in_c) = (
        g.input.height as usize,
        g.input.width as usize,
        g.input.channels as usize,
    );
    let (out_h, out_w, out_c) = (
        g.output.height as usize,
        g.output.width as usize,
        g.output.channels as usize,
    );
    let (f_h, f_w) = (g.filter_height as usize, g.filter_width as usize);
    let dm = out_c / in_c.max(1);
    for b in 0..g.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, g.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * g.stride_width as usize) as isize - g.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, g.dilation_width as usize, f_w, in_w);
                for ic in 0..in_c {
                    for m in 0..dm {
                        let oc = ic * dm + m;
                        let mut sum = zero;
                        for fy in fy0..fy1 {
                            let in_y =
                                (in_y0 + (fy * g.dilation_height as usize) as isize) as usize;
                            for fx in fx0..fx1 {
                                let in_x =
                                    (in_x0 + (fx * g.dilation_width as usize) as isize) as usize;
                                sum = product(
                                    sum,
                                    at(input, g.input.index(b, in_y, in_x, ic), X::default()),
                                    at(filter, (fy * f_w + fx) * out_c + oc, W::default()),
                                );
                            }
                        }
                        if let Some(out) = output.get_mut(g.output.index(b, out_y, out_x, oc)) {
                            *out = finish(sum, oc);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Nhwc;

    fn params(
        in_hw: (u32, u32),
        channels: u32,
        dm: u32,
        filter: (u32, u32),
        stride: u32,
        pad: u32,
    ) -> Conv2dParams {
        let out_h = (in_hw.0 + 2 * pad - filter.0) / stride + 1;
        let out_w = (in_hw.1 + 2 * pad - filter.1) / stride + 1;
        Conv2dParams {
            geometry: ConvGeometry {
                input: Nhwc::new(1, in_hw.0, in_hw.1, channels),
                output: Nhwc::new(1, out_h, out_w, channels * dm),
                filter_height: filter.0,
                filter_width: filter.1,
                filter_channels: 1,
                stride_height: stride,
                stride_width: stride,
                dilation_height: 1,
                dilation_width: 1,
                padding_top: pad,
                padding_left: pad,
            },
            input_offset: 0,
            output_offset: 0,
            activation_min: -128,
            activation_max: 127,
        }
    }

    #[test]
    fn depth_multiplier_two_scales_each_channel_twice() {
        // 1x1 image, 2 channels, multiplier 2: outputs [x0*w0, x0*w1, x1*w2, x1*w3].
        let p = params((1, 1), 2, 2, (1, 1), 1, 0);
        let mut out = [0i8; 4];
        let unit = [1 << 30; 4];
        conv(&p, &[3, -5], &[1, 2, 3, 4], &[], &unit, &[1; 4], &mut out);
        assert_eq!(out, [3, 6, -15, -20]);
    }

    #[test]
    fn stride_two_with_padding_sums_inside_taps() {
        // 4x4 ones, 3x3 ones filter, stride 2, pad 1 -> 2x2 outputs:
        // top-left window covers 4 inside taps, the others 6 or 9.
        let p = params((4, 4), 1, 1, (3, 3), 2, 1);
        let mut out = [0i8; 4];
        conv(&p, &[1; 16], &[1; 9], &[10], &[1 << 30], &[1], &mut out);
        assert_eq!(out, [14, 16, 16, 19]);
    }

    #[test]
    fn output_saturates() {
        let p = params((1, 2), 1, 1, (1, 1), 1, 0);
        let mut out = [0i8; 2];
        conv(&p, &[100, -100], &[100], &[], &[1 << 30], &[1], &mut out);
        assert_eq!(out, [127, -128]);
    }

    fn conv(p: &Conv2dParams, i: &[i8], f: &[i8], b: &[i32], m: &[i32], s: &[i32], o: &mut [i8]) {
        depthwise_conv2d_s8(p, i, f, b, m, s, o)
    }
}
