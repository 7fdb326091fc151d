//! DEPTHWISE_CONV_2D, int8 with per-channel requantization and any depth
//! multiplier (TFLM reference semantics).
//!
//! Layer: kernels; a pure function over slices, uses `quant`, `tensor` and
//! the tap-range helper of `conv2d`.

use super::conv2d::valid_taps;
use crate::quant::multiply_by_quantized_multiplier;
use crate::tensor::{FloatRange, Nhwc};

/// Geometry and quantization of one depthwise convolution. Output channel
/// `c * depth_multiplier + m` reads input channel `c`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DepthwiseConv2dParams {
    pub input: Nhwc,
    pub output: Nhwc,
    pub filter_height: u32,
    pub filter_width: u32,
    pub depth_multiplier: u32,
    pub stride_height: u32,
    pub stride_width: u32,
    pub dilation_height: u32,
    pub dilation_width: u32,
    pub padding_top: u32,
    pub padding_left: u32,
    pub input_offset: i32,
    pub output_offset: i32,
    pub activation_min: i32,
    pub activation_max: i32,
}

/// Filter layout `[1, filter_height, filter_width, output_channels]`.
pub fn depthwise_conv2d_s8(
    p: &DepthwiseConv2dParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let (in_h, in_w, in_c) = (
        p.input.height as usize,
        p.input.width as usize,
        p.input.channels as usize,
    );
    let (out_h, out_w, out_c) = (
        p.output.height as usize,
        p.output.width as usize,
        p.output.channels as usize,
    );
    let (f_h, f_w) = (p.filter_height as usize, p.filter_width as usize);
    let dm = p.depth_multiplier as usize;
    for b in 0..p.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * p.stride_height as usize) as isize - p.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, p.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * p.stride_width as usize) as isize - p.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, p.dilation_width as usize, f_w, in_w);
                let out_base = p.output.index(b, out_y, out_x, 0);
                for ic in 0..in_c {
                    for m in 0..dm {
                        let oc = ic * dm + m;
                        let mut acc: i32 = 0;
                        for fy in fy0..fy1 {
                            let in_y =
                                (in_y0 + (fy * p.dilation_height as usize) as isize) as usize;
                            for fx in fx0..fx1 {
                                let in_x =
                                    (in_x0 + (fx * p.dilation_width as usize) as isize) as usize;
                                let x = input[p.input.index(b, in_y, in_x, ic)];
                                let w = filter[(fy * f_w + fx) * out_c + oc];
                                acc += i32::from(w) * (i32::from(x) + p.input_offset);
                            }
                        }
                        if !bias.is_empty() {
                            acc = acc.wrapping_add(bias[oc]);
                        }
                        let acc = multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc])
                            .saturating_add(p.output_offset);
                        output[out_base + oc] = acc.clamp(p.activation_min, p.activation_max) as i8;
                    }
                }
            }
        }
    }
}

/// The float32 depthwise convolution (TFLM's float reference).
pub fn depthwise_conv2d_f32(
    p: &DepthwiseConv2dParams,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    let (in_h, in_w, in_c) = (
        p.input.height as usize,
        p.input.width as usize,
        p.input.channels as usize,
    );
    let (out_h, out_w, out_c) = (
        p.output.height as usize,
        p.output.width as usize,
        p.output.channels as usize,
    );
    let (f_h, f_w) = (p.filter_height as usize, p.filter_width as usize);
    let dm = p.depth_multiplier as usize;
    for b in 0..p.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * p.stride_height as usize) as isize - p.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, p.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * p.stride_width as usize) as isize - p.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, p.dilation_width as usize, f_w, in_w);
                for ic in 0..in_c {
                    for m in 0..dm {
                        let oc = ic * dm + m;
                        let mut total = 0f32;
                        for fy in fy0..fy1 {
                            let in_y =
                                (in_y0 + (fy * p.dilation_height as usize) as isize) as usize;
                            for fx in fx0..fx1 {
                                let in_x =
                                    (in_x0 + (fx * p.dilation_width as usize) as isize) as usize;
                                total += input[p.input.index(b, in_y, in_x, ic)]
                                    * filter[(fy * f_w + fx) * out_c + oc];
                            }
                        }
                        let bias = if bias.is_empty() { 0.0 } else { bias[oc] };
                        output[p.output.index(b, out_y, out_x, oc)] = act.apply(total + bias);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        in_hw: (u32, u32),
        channels: u32,
        dm: u32,
        filter: (u32, u32),
        stride: u32,
        pad: u32,
    ) -> DepthwiseConv2dParams {
        let out_h = (in_hw.0 + 2 * pad - filter.0) / stride + 1;
        let out_w = (in_hw.1 + 2 * pad - filter.1) / stride + 1;
        DepthwiseConv2dParams {
            input: Nhwc::new(1, in_hw.0, in_hw.1, channels),
            output: Nhwc::new(1, out_h, out_w, channels * dm),
            filter_height: filter.0,
            filter_width: filter.1,
            depth_multiplier: dm,
            stride_height: stride,
            stride_width: stride,
            dilation_height: 1,
            dilation_width: 1,
            padding_top: pad,
            padding_left: pad,
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

    fn conv(
        p: &DepthwiseConv2dParams,
        i: &[i8],
        f: &[i8],
        b: &[i32],
        m: &[i32],
        s: &[i32],
        o: &mut [i8],
    ) {
        depthwise_conv2d_s8(p, i, f, b, m, s, o)
    }
}
