//! Convolutions, int8 with per-channel requantization (TFLM reference
//! semantics), int16 (16x8) and float32: CONV_2D (grouped), and the
//! geometry and parameters TRANSPOSE_CONV (`kernels::transpose_conv2d`)
//! shares.
//!
//! Layer: kernels; pure functions over slices, uses `quant` and `tensor`.

use core::ops::Range;

use super::fully_connected::Bias16x8;
use super::{at, part, part_mut};
use crate::quant::{clamp_to_i8, multiply_by_quantized_multiplier};
use crate::tensor::{FloatRange, Nhwc};
use crate::wire::wire_struct;

wire_struct! {
    /// Where the windows of a 2-D convolution lie: plain, depthwise
    /// (`filter_channels` 1, each output channel reading input channel
    /// `channel / (output.channels / input.channels)`) or transposed, int8 or
    /// float32. Padding is the top/left amount; the bottom/right amount
    /// follows from the shapes.
    pub struct ConvGeometry {
        pub input: Nhwc,
        pub output: Nhwc,
        pub filter_height: u32,
        pub filter_width: u32,
        /// Input channels each filter sees; less than `input.channels` for a
        /// grouped convolution, 1 for a depthwise one.
        pub filter_channels: u32,
        pub stride_height: u32,
        pub stride_width: u32,
        pub dilation_height: u32,
        pub dilation_width: u32,
        pub padding_top: u32,
        pub padding_left: u32,
    }
}

impl ConvGeometry {
    /// Every output row.
    pub fn all_rows(&self) -> Range<usize> {
        0..self.output.height as usize
    }

    /// Where a kernel that computes output rows `rows` (of every batch)
    /// stores pixel (`b`, `y`, `x`): the rows one after another from the
    /// start of its output, which holds just those rows (the whole output
    /// for [`all_rows`](Self::all_rows)). Row bands let an op write over its
    /// own input (`ops::Bands`).
    #[inline(always)]
    pub fn band_index(&self, rows: &Range<usize>, b: usize, y: usize, x: usize) -> usize {
        let band = rows.end.saturating_sub(rows.start);
        ((b * band + y.wrapping_sub(rows.start)) * self.output.width as usize + x)
            * self.output.channels as usize
    }

    /// The input rows that output rows `rows` read (of any batch), or
    /// `None` if they read none (which TFLite's and ONNX's paddings never
    /// give).
    pub fn input_rows(&self, rows: Range<u32>) -> Option<Range<u32>> {
        let (s, d) = (
            i64::from(self.stride_height),
            i64::from(self.dilation_height),
        );
        let top = i64::from(self.padding_top);
        let span = (i64::from(self.filter_height) - 1) * d + 1;
        let start = i64::from(rows.start) * s - top;
        let end = (i64::from(rows.end) - 1) * s - top + span;
        let first = start.max(0);
        let last = end.min(i64::from(self.input.height));
        (!rows.is_empty() && first < last).then_some(first as u32..last as u32)
    }

    /// The convolution that computes output rows `rows` alone from the
    /// input rows they read (`input_rows(rows)`), stored one after another
    /// from the first: the same filter, the input and output cut to those
    /// rows and the top padding moved, so that every output value is the
    /// one this convolution computes (`ops::ResidualBlockOp` runs a layer
    /// over a window of its input rows that way). `None` where the rows
    /// read no input.
    pub fn rows_geometry(&self, rows: Range<u32>) -> Option<ConvGeometry> {
        let input = self.input_rows(rows.clone())?;
        // The first row read is `rows.start * stride - padding_top`,
        // clipped at 0: the new padding is what remains above it.
        let top = i64::from(self.padding_top) + i64::from(input.start)
            - i64::from(rows.start) * i64::from(self.stride_height);
        Some(ConvGeometry {
            input: Nhwc {
                height: input.end - input.start,
                ..self.input
            },
            output: Nhwc {
                height: rows.end - rows.start,
                ..self.output
            },
            padding_top: u32::try_from(top).ok()?,
            ..*self
        })
    }
}

wire_struct! {
    /// An int8 convolution (plain, depthwise or transposed): its geometry and
    /// the per-tensor part of its requantization.
    pub struct Conv2dParams {
        pub geometry: ConvGeometry,
        /// Minus the input zero point.
        pub input_offset: i32,
        /// The output zero point.
        pub output_offset: i32,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

impl Conv2dParams {
    /// Output channel `oc`'s int8 value from its accumulator: TFLM's
    /// per-channel epilogue (bias, requantization, output zero point,
    /// activation clamp), shared by the reference convolutions. `bias` may
    /// be empty.
    #[inline(always)]
    pub(crate) fn channel_output(
        &self,
        acc: i32,
        oc: usize,
        bias: &[i32],
        multiplier: &[i32],
        shift: &[i32],
    ) -> i8 {
        let acc = acc.wrapping_add(at(bias, oc, 0));
        let v = multiply_by_quantized_multiplier(acc, at(multiplier, oc, 0), at(shift, oc, 0))
            .saturating_add(self.output_offset);
        clamp_to_i8(v, self.activation_min, self.activation_max)
    }
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
    // Unsigned division by at least 1 (checked): it cannot fail.
    let d = dilation.max(1);
    let first = if origin >= 0 {
        0
    } else {
        origin.unsigned_abs().div_ceil(d)
    };
    let last = if extent as isize > origin {
        ((extent as isize - origin) as usize).div_ceil(d)
    } else {
        0
    };
    let first = first.min(taps);
    (first, last.max(first).min(taps))
}

/// Filter layout `[output_channels, filter_height, filter_width, filter_channels]`.
/// `bias` may be empty (no bias); `multiplier` and `shift` hold one entry per
/// output channel.
#[inline(always)]
pub fn conv2d_s8(
    p: &Conv2dParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let rows = p.geometry.all_rows();
    conv2d_s8_rows(p, rows, input, filter, bias, multiplier, shift, output)
}

/// [`conv2d_s8`] for output rows `rows` only (see [`ConvGeometry::band_index`]).
// Its own frame: an op that also has a fast kernel does not add them up.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s8_rows(
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
    let (f_h, f_w, f_c) = (
        g.filter_height as usize,
        g.filter_width as usize,
        g.filter_channels as usize,
    );
    let groups = in_c / f_c.max(1);
    let filters_per_group = out_c / groups.max(1);
    for b in 0..g.input.batches as usize {
        for out_y in rows.clone() {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, g.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * g.stride_width as usize) as isize - g.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, g.dilation_width as usize, f_w, in_w);
                let out_base = g.band_index(&rows, b, out_y, out_x);
                let out_pixel = part_mut(output, out_base, out_c);
                for (oc, out) in out_pixel.iter_mut().enumerate() {
                    let ic0 = (oc / filters_per_group.max(1)) * f_c;
                    let mut acc: i32 = 0;
                    for fy in fy0..fy1 {
                        let in_y = (in_y0 + (fy * g.dilation_height as usize) as isize) as usize;
                        for fx in fx0..fx1 {
                            let in_x = (in_x0 + (fx * g.dilation_width as usize) as isize) as usize;
                            let x = part(input, g.input.index(b, in_y, in_x, ic0), f_c);
                            let w = part(filter, ((oc * f_h + fy) * f_w + fx) * f_c, f_c);
                            for (&xv, &wv) in x.iter().zip(w) {
                                acc += i32::from(wv) * (i32::from(xv) + p.input_offset);
                            }
                        }
                    }
                    *out = p.channel_output(acc, oc, bias, multiplier, shift);
                }
            }
        }
    }
}

/// The float32 convolution (TFLM's float reference): products summed in the
/// same order, then bias, then the activation clamp.
pub fn conv2d_f32(
    g: &ConvGeometry,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    let dot = |mut total: f32, x: &[f32], w: &[f32]| {
        for (&xv, &wv) in x.iter().zip(w) {
            total += xv * wv;
        }
        total
    };
    convolve(g, (input, filter, output), 0f32, dot, |total, oc| {
        act.apply(total + at(bias, oc, 0.0))
    });
}

/// int16 CONV_2D (TFLite's 16x8 scheme: zero points 0, symmetric int8
/// filter), TFLM's reference `ConvPerChannel` for int16: products summed
/// exactly, then biased and requantized per channel as TFLM's accumulator
/// type does it ([`Bias16x8`]), then clamped.
pub fn conv2d_s16(
    p: &Conv2dParams,
    input: &[i16],
    filter: &[i8],
    bias: Bias16x8,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i16],
) {
    let dot = |mut acc: i64, x: &[i16], w: &[i8]| {
        for (&xv, &wv) in x.iter().zip(w) {
            acc += i64::from(i32::from(xv) * i32::from(wv));
        }
        acc
    };
    convolve(
        &p.geometry,
        (input, filter, output),
        0i64,
        dot,
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

/// The reference convolution's walk over every output element, in TFLM's
/// order (grouped convolutions included): `dot` adds one tap's run of input
/// channels times its filter run to the sum, which starts at `zero`;
/// `finish` makes the output value from the sum and the output channel.
#[inline(always)]
fn convolve<X: Copy, W: Copy, O, A: Copy>(
    g: &ConvGeometry,
    (input, filter, output): (&[X], &[W], &mut [O]),
    zero: A,
    dot: impl Fn(A, &[X], &[W]) -> A,
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
    let (f_h, f_w, f_c) = (
        g.filter_height as usize,
        g.filter_width as usize,
        g.filter_channels as usize,
    );
    let groups = in_c / f_c.max(1);
    let filters_per_group = out_c / groups.max(1);
    for b in 0..g.input.batches as usize {
        for out_y in 0..out_h {
            let in_y0 = (out_y * g.stride_height as usize) as isize - g.padding_top as isize;
            let (fy0, fy1) = valid_taps(in_y0, g.dilation_height as usize, f_h, in_h);
            for out_x in 0..out_w {
                let in_x0 = (out_x * g.stride_width as usize) as isize - g.padding_left as isize;
                let (fx0, fx1) = valid_taps(in_x0, g.dilation_width as usize, f_w, in_w);
                let out_pixel = part_mut(output, g.output.index(b, out_y, out_x, 0), out_c);
                for (oc, out) in out_pixel.iter_mut().enumerate() {
                    let ic0 = (oc / filters_per_group.max(1)) * f_c;
                    let mut sum = zero;
                    for fy in fy0..fy1 {
                        let in_y = (in_y0 + (fy * g.dilation_height as usize) as isize) as usize;
                        for fx in fx0..fx1 {
                            let in_x = (in_x0 + (fx * g.dilation_width as usize) as isize) as usize;
                            let x = part(input, g.input.index(b, in_y, in_x, ic0), f_c);
                            let w = part(filter, ((oc * f_h + fy) * f_w + fx) * f_c, f_c);
                            sum = dot(sum, x, w);
                        }
                    }
                    *out = finish(sum, oc);
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
        let mut out = vec![0i8; p.geometry.output.elements() as usize];
        let f_c = p.geometry.filter_channels as usize;
        let fpg = p.geometry.output.channels as usize / (p.geometry.input.channels as usize / f_c);
        for b in 0..p.geometry.input.batches as usize {
            for oy in 0..p.geometry.output.height as usize {
                for ox in 0..p.geometry.output.width as usize {
                    for oc in 0..p.geometry.output.channels as usize {
                        let mut acc = 0i32;
                        for fy in 0..p.geometry.filter_height as usize {
                            for fx in 0..p.geometry.filter_width as usize {
                                let iy = (oy * p.geometry.stride_height as usize
                                    + fy * p.geometry.dilation_height as usize)
                                    as isize
                                    - p.geometry.padding_top as isize;
                                let ix = (ox * p.geometry.stride_width as usize
                                    + fx * p.geometry.dilation_width as usize)
                                    as isize
                                    - p.geometry.padding_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= p.geometry.input.height as isize
                                    || ix >= p.geometry.input.width as isize
                                {
                                    continue;
                                }
                                for ic in 0..f_c {
                                    let x = input[p.geometry.input.index(
                                        b,
                                        iy as usize,
                                        ix as usize,
                                        (oc / fpg) * f_c + ic,
                                    )];
                                    let w = filter[((oc * p.geometry.filter_height as usize + fy)
                                        * p.geometry.filter_width as usize
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
                        out[p.geometry.output.index(b, oy, ox, oc)] =
                            v.max(p.activation_min).min(p.activation_max) as i8;
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
            geometry: ConvGeometry {
                input: Nhwc::new(1, 2, 2, 1),
                output: Nhwc::new(1, 2, 2, 1),
                filter_height: 1,
                filter_width: 1,
                filter_channels: 1,
                stride_height: 1,
                stride_width: 1,
                dilation_height: 1,
                dilation_width: 1,
                ..Default::default()
            },
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
            geometry: ConvGeometry {
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
            },
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
            geometry: ConvGeometry {
                input: Nhwc::new(1, 1, 2, 1),
                output: Nhwc::new(1, 1, 2, 1),
                filter_height: 1,
                filter_width: 1,
                filter_channels: 1,
                stride_height: 1,
                stride_width: 1,
                dilation_height: 1,
                dilation_width: 1,
                ..Default::default()
            },
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
                geometry: ConvGeometry {
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
                },
                input_offset: 7,
                output_offset: -3,
                activation_min: -100,
                activation_max: 120,
            };
            let input = pseudo_random(p.geometry.input.elements() as usize, i as u32);
            let filter = pseudo_random((oc * fh * fw * fc) as usize, 100 + i as u32);
            let bias: Vec<i32> = (0..oc as i32).map(|c| c * 37 - 50).collect();
            let m: Vec<i32> = (0..oc as i32)
                .map(|c| 1_500_000_000 - c * 10_000_000)
                .collect();
            let s: Vec<i32> = (0..oc as i32).map(|c| -8 - c % 3).collect();
            let mut out = vec![0i8; p.geometry.output.elements() as usize];
            conv2d_s8(&p, &input, &filter, &bias, &m, &s, &mut out);
            assert_eq!(
                out,
                conv_naive(&p, &input, &filter, &bias, &m, &s),
                "case {i}"
            );
        }
    }
}
