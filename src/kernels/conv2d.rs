//! CONV_2D, int8 with per-channel requantization (TFLM reference semantics).
//!
//! Layer: kernels; a pure function over slices, uses `quant` and `tensor`.

use crate::quant::multiply_by_quantized_multiplier;
use crate::tensor::{FloatRange, Nhwc};

/// Geometry and quantization of one 2-D convolution. Padding is the
/// top/left amount; the bottom/right amount follows from the shapes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Conv2dParams {
    pub input: Nhwc,
    pub output: Nhwc,
    pub filter_height: u32,
    pub filter_width: u32,
    /// Input channels each filter sees; less than `input.channels` for a
    /// grouped convolution.
    pub filter_channels: u32,
    pub stride_height: u32,
    pub stride_width: u32,
    pub dilation_height: u32,
    pub dilation_width: u32,
    pub padding_top: u32,
    pub padding_left: u32,
    /// Minus the input zero point.
    pub input_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    pub activation_min: i32,
    pub activation_max: i32,
}

/// Range of filter taps `k` in `0..taps` for which `origin + k * dilation`
/// lands inside `0..extent`. Hoisting this out of the inner loops skips the
/// padding without a per-tap test; the sum is the same.
#[inline(always)]
pub(crate) fn valid_taps(
    origin: isize,
    dilation: usize,
    taps: usize,
    extent: usize,
) -> (usize, usize) {
    let d = dilation as isize;
    let first = if origin >= 0 {
        0
    } else {
        ((-origin) + d - 1) / d
    };
    let last = if extent as isize > origin {
        (extent as isize - origin + d - 1) / d
    } else {
        0
    };
    let first = (first as usize).min(taps);
    (first, (last as usize).clamp(first, taps))
}

/// Filter layout `[output_channels, filter_height, filter_width, filter_channels]`.
/// `bias` may be empty (no bias); `multiplier` and `shift` hold one entry per
/// output channel.
pub fn conv2d_s8(
    p: &Conv2dParams,
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
    let (f_h, f_w, f_c) = (
        p.filter_height as usize,
        p.filter_width as usize,
        p.filter_channels as usize,
    );
    let groups = in_c / f_c.max(1);
    let filters_per_group = out_c / groups.max(1);
    for b in 0..p.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * p.stride_height as usize) as isize - p.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, p.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * p.stride_width as usize) as isize - p.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, p.dilation_width as usize, f_w, in_w);
                let out_base = p.output.index(b, out_y, out_x, 0);
                for oc in 0..out_c {
                    let ic0 = (oc / filters_per_group) * f_c;
                    let mut acc: i32 = 0;
                    for fy in fy0..fy1 {
                        let in_y = (in_y0 + (fy * p.dilation_height as usize) as isize) as usize;
                        for fx in fx0..fx1 {
                            let in_x = (in_x0 + (fx * p.dilation_width as usize) as isize) as usize;
                            let x = &input[p.input.index(b, in_y, in_x, ic0)..][..f_c];
                            let w = &filter[((oc * f_h + fy) * f_w + fx) * f_c..][..f_c];
                            for (&xv, &wv) in x.iter().zip(w) {
                                acc += i32::from(wv) * (i32::from(xv) + p.input_offset);
                            }
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

/// The float32 convolution (TFLM's float reference): products summed in the
/// same order, then bias, then the activation clamp. `p`'s int8 offsets are
/// unused.
pub fn conv2d_f32(
    p: &Conv2dParams,
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
    let (f_h, f_w, f_c) = (
        p.filter_height as usize,
        p.filter_width as usize,
        p.filter_channels as usize,
    );
    let groups = in_c / f_c.max(1);
    let filters_per_group = out_c / groups.max(1);
    for b in 0..p.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * p.stride_height as usize) as isize - p.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, p.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * p.stride_width as usize) as isize - p.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, p.dilation_width as usize, f_w, in_w);
                for oc in 0..out_c {
                    let ic0 = (oc / filters_per_group) * f_c;
                    let mut total = 0f32;
                    for fy in fy0..fy1 {
                        let in_y = (in_y0 + (fy * p.dilation_height as usize) as isize) as usize;
                        for fx in fx0..fx1 {
                            let in_x = (in_x0 + (fx * p.dilation_width as usize) as isize) as usize;
                            let x = &input[p.input.index(b, in_y, in_x, ic0)..][..f_c];
                            let w = &filter[((oc * f_h + fy) * f_w + fx) * f_c..][..f_c];
                            for (&xv, &wv) in x.iter().zip(w) {
                                total += xv * wv;
                            }
                        }
                    }
                    let bias = if bias.is_empty() { 0.0 } else { bias[oc] };
                    output[p.output.index(b, out_y, out_x, oc)] = act.apply(total + bias);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward per-tap version, with the bounds test inside the loop,
    /// as the TFLM reference writes it.
    fn conv_naive(
        p: &Conv2dParams,
        input: &[i8],
        filter: &[i8],
        bias: &[i32],
        m: &[i32],
        s: &[i32],
    ) -> Vec<i8> {
        let mut out = vec![0i8; p.output.elements() as usize];
        let f_c = p.filter_channels as usize;
        let fpg = p.output.channels as usize / (p.input.channels as usize / f_c);
        for b in 0..p.input.batches as usize {
            for oy in 0..p.output.height as usize {
                for ox in 0..p.output.width as usize {
                    for oc in 0..p.output.channels as usize {
                        let mut acc = 0i32;
                        for fy in 0..p.filter_height as usize {
                            for fx in 0..p.filter_width as usize {
                                let iy = (oy * p.stride_height as usize
                                    + fy * p.dilation_height as usize)
                                    as isize
                                    - p.padding_top as isize;
                                let ix = (ox * p.stride_width as usize
                                    + fx * p.dilation_width as usize)
                                    as isize
                                    - p.padding_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= p.input.height as isize
                                    || ix >= p.input.width as isize
                                {
                                    continue;
                                }
                                for ic in 0..f_c {
                                    let x = input[p.input.index(
                                        b,
                                        iy as usize,
                                        ix as usize,
                                        (oc / fpg) * f_c + ic,
                                    )];
                                    let w = filter[((oc * p.filter_height as usize + fy)
                                        * p.filter_width as usize
                                        + fx)
                                        * f_c
                                        + ic];
                                    acc += i32::from(w) * (i32::from(x) + p.input_offset);
                                }
                            }
                        }
                        if !bias.is_empty() {
                            acc = acc.wrapping_add(bias[oc]);
                        }
                        let v = multiply_by_quantized_multiplier(acc, m[oc], s[oc])
                            .saturating_add(p.output_offset);
                        out[p.output.index(b, oy, ox, oc)] =
                            v.clamp(p.activation_min, p.activation_max) as i8;
                    }
                }
            }
        }
        out
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<i8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as i8
            })
            .collect()
    }

    #[test]
    fn one_by_one_identity_filter_copies_input() {
        let p = Conv2dParams {
            input: Nhwc::new(1, 2, 2, 1),
            output: Nhwc::new(1, 2, 2, 1),
            filter_height: 1,
            filter_width: 1,
            filter_channels: 1,
            stride_height: 1,
            stride_width: 1,
            dilation_height: 1,
            dilation_width: 1,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        };
        let mut out = [0i8; 4];
        // multiplier 0.5 * 2^1 = 1.0
        conv2d_s8(&p, &[1, -2, 3, 127], &[1], &[], &[1 << 30], &[1], &mut out);
        assert_eq!(out, [1, -2, 3, 127]);
    }

    #[test]
    fn same_padding_at_borders_counts_only_inside_taps() {
        // 3x3 all-ones filter over a 3x3 image of ones with zero point -1
        // (input_offset 1): each output is 2 * (number of taps inside).
        let p = Conv2dParams {
            input: Nhwc::new(1, 3, 3, 1),
            output: Nhwc::new(1, 3, 3, 1),
            filter_height: 3,
            filter_width: 3,
            filter_channels: 1,
            stride_height: 1,
            stride_width: 1,
            dilation_height: 1,
            dilation_width: 1,
            padding_top: 1,
            padding_left: 1,
            input_offset: 1,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        };
        let mut out = [0i8; 9];
        conv2d_s8(&p, &[1; 9], &[1; 9], &[], &[1 << 30], &[1], &mut out);
        assert_eq!(out, [8, 12, 8, 12, 18, 12, 8, 12, 8]);
    }

    #[test]
    fn saturates_at_int8_limits_and_activation_range() {
        let p = Conv2dParams {
            input: Nhwc::new(1, 1, 2, 1),
            output: Nhwc::new(1, 1, 2, 1),
            filter_height: 1,
            filter_width: 1,
            filter_channels: 1,
            stride_height: 1,
            stride_width: 1,
            dilation_height: 1,
            dilation_width: 1,
            output_offset: 0,
            activation_min: -128,
            activation_max: 127,
            ..Default::default()
        };
        let mut out = [0i8; 2];
        conv2d_s8(&p, &[127, -128], &[127], &[0], &[1 << 30], &[1], &mut out);
        assert_eq!(out, [127, -128]);
        let relu6ish = Conv2dParams {
            activation_min: 0,
            activation_max: 6,
            ..p
        };
        conv2d_s8(
            &relu6ish,
            &[127, -128],
            &[127],
            &[0],
            &[1 << 30],
            &[1],
            &mut out,
        );
        assert_eq!(out, [6, 0]);
    }

    #[test]
    fn matches_naive_with_stride_dilation_padding_and_groups() {
        let cases = [
            // (in h, w, c, out c, f h, f w, f c, stride, dilation, pad)
            (7, 6, 3, 4, 3, 3, 3, 2, 1, 1),
            (8, 8, 2, 3, 3, 2, 2, 1, 2, 2),
            (5, 5, 4, 4, 3, 3, 2, 2, 1, 1), // 2 groups
            (4, 9, 1, 2, 1, 5, 1, 1, 1, 0),
        ];
        for (i, &(ih, iw, ic, oc, fh, fw, fc, st, dil, pad)) in cases.iter().enumerate() {
            let eff_h = (fh - 1) * dil + 1;
            let eff_w = (fw - 1) * dil + 1;
            let oh = (ih + 2 * pad - eff_h) / st + 1;
            let ow = (iw + 2 * pad - eff_w) / st + 1;
            let p = Conv2dParams {
                input: Nhwc::new(2, ih, iw, ic),
                output: Nhwc::new(2, oh, ow, oc),
                filter_height: fh,
                filter_width: fw,
                filter_channels: fc,
                stride_height: st,
                stride_width: st,
                dilation_height: dil,
                dilation_width: dil,
                padding_top: pad,
                padding_left: pad,
                input_offset: 7,
                output_offset: -3,
                activation_min: -100,
                activation_max: 120,
            };
            let input = pseudo_random(p.input.elements() as usize, i as u32);
            let filter = pseudo_random((oc * fh * fw * fc) as usize, 100 + i as u32);
            let bias: Vec<i32> = (0..oc as i32).map(|c| c * 37 - 50).collect();
            let m: Vec<i32> = (0..oc as i32)
                .map(|c| 1_500_000_000 - c * 10_000_000)
                .collect();
            let s: Vec<i32> = (0..oc as i32).map(|c| -8 - c % 3).collect();
            let mut out = vec![0i8; p.output.elements() as usize];
            conv2d_s8(&p, &input, &filter, &bias, &m, &s, &mut out);
            assert_eq!(
                out,
                conv_naive(&p, &input, &filter, &bias, &m, &s),
                "case {i}"
            );
        }
    }
}
