//! TRANSPOSE_CONV's kernels, int8, int16 and float32: the gather form of
//! the scatter TFLM computes (each output sums the input pixels whose
//! scatter lands on it), on the forward convolution's geometry and
//! parameters (`kernels::conv2d`).
//!
//! Layer: kernels; pure functions over slices, use `quant` and `tensor`.

use super::conv2d::{Conv2dParams, ConvGeometry};
use super::fully_connected::Bias16x8;
use super::{at, part};
use crate::tensor::FloatRange;

/// The input coordinate tap `k` of output coordinate `out` reads: input `i`
/// scatters to `i * stride - padding + k * dilation`, so `i` is that solved
/// for, when it is a whole coordinate inside the input.
#[inline(always)]
fn source(
    out: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: usize,
    extent: usize,
) -> Option<usize> {
    let shifted = (out + padding).checked_sub(k * dilation)?;
    // At least 1 (checked): the division cannot fail.
    let stride = stride.max(1);
    (shifted % stride == 0)
        .then_some(shifted / stride)
        .filter(|&i| i < extent)
}

/// Visits every output of a transposed convolution in NHWC order:
/// `tap(acc, input_start, filter_start)` for each filter tap that lands on
/// it (each covering `filter_channels` values), then `finish(acc,
/// output_index, channel)`. Float and int8 share this walk; only the
/// arithmetic differs.
fn gather<A: Default>(
    g: &ConvGeometry,
    mut tap: impl FnMut(&mut A, usize, usize),
    mut finish: impl FnMut(A, usize, usize),
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
    let (sh, sw) = (g.stride_height as usize, g.stride_width as usize);
    let (dh, dw) = (g.dilation_height as usize, g.dilation_width as usize);
    let (pt, pl) = (g.padding_top as usize, g.padding_left as usize);
    for b in 0..g.input.batches as usize {
        for out_y in 0..out_h {
            for out_x in 0..out_w {
                for oc in 0..out_c {
                    let ic0 = (oc / filters_per_group.max(1)) * f_c;
                    let mut acc = A::default();
                    for fy in 0..f_h {
                        let Some(in_y) = source(out_y, fy, sh, dh, pt, in_h) else {
                            continue;
                        };
                        for fx in 0..f_w {
                            let Some(in_x) = source(out_x, fx, sw, dw, pl, in_w) else {
                                continue;
                            };
                            tap(
                                &mut acc,
                                g.input.index(b, in_y, in_x, ic0),
                                ((oc * f_h + fy) * f_w + fx) * f_c,
                            );
                        }
                    }
                    finish(acc, g.output.index(b, out_y, out_x, oc), oc);
                }
            }
        }
    }
}

/// Transposed convolution in float32. `g` describes the equivalent
/// convolution's geometry: `input` and `output` are this op's, the filter is
/// `[out_c, fh, fw, filter_channels]` (grouped like `conv2d_f32`), padding is
/// what ONNX's `pads` removes from the start of each axis.
pub fn transpose_conv2d_f32(
    g: &ConvGeometry,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    let f_c = g.filter_channels as usize;
    gather(
        g,
        |total: &mut f32, i, w| {
            for (&xv, &wv) in part(input, i, f_c).iter().zip(part(filter, w, f_c)) {
                *total += xv * wv;
            }
        },
        |total, o, oc| {
            if let Some(out) = output.get_mut(o) {
                *out = act.apply(total + at(bias, oc, 0.0));
            }
        },
    );
}

/// int8 TRANSPOSE_CONV (TFLM's reference: per-channel weights, int32
/// accumulation, per-channel requantization). TFLM scatters into an int32
/// scratch buffer; the gather adds the same integers, so the sums, and the
/// outputs, are identical.
pub fn transpose_conv2d_s8(
    p: &Conv2dParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let f_c = p.geometry.filter_channels as usize;
    gather(
        &p.geometry,
        |acc: &mut i32, i, w| {
            // Wrapping, as TFLM's int32 accumulator does (a blob may carry
            // any bias and depth).
            for (&xv, &wv) in part(input, i, f_c).iter().zip(part(filter, w, f_c)) {
                *acc = acc.wrapping_add((i32::from(xv) + p.input_offset) * i32::from(wv));
            }
        },
        |acc, o, oc| {
            if let Some(out) = output.get_mut(o) {
                *out = p.channel_output(acc, oc, bias, multiplier, shift);
            }
        },
    );
}

/// int16 TRANSPOSE_CONV (TFLM's 16x8 reference: int64 accumulation with
/// an int64 bias, the 64-bit requantization per channel). TFLM scatters
/// into an int64 scratch buffer; the gather adds the same integers.
pub fn transpose_conv2d_s16(
    p: &Conv2dParams,
    input: &[i16],
    filter: &[i8],
    bias: Bias16x8,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i16],
) {
    let f_c = p.geometry.filter_channels as usize;
    gather(
        &p.geometry,
        |acc: &mut i64, i, w| {
            for (&xv, &wv) in part(input, i, f_c).iter().zip(part(filter, w, f_c)) {
                *acc += i64::from(i32::from(xv) * i32::from(wv));
            }
        },
        |acc, o, oc| {
            if let Some(out) = output.get_mut(o) {
                let range = (p.activation_min, p.activation_max);
                *out = bias.output_s16(oc, acc, (multiplier, shift), range);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Nhwc;

    /// The scatter form, as the operator is defined.
    #[test]
    fn gather_equals_scatter_with_stride_padding_and_groups() {
        let (in_h, in_w, in_c, out_c, f, stride, pad, groups) = (3, 4, 4, 6, 3, 2, 1, 2);
        let f_c = in_c / groups;
        let out_h = stride * (in_h - 1) + f - 2 * pad + 1; // output_padding 1
        let out_w = stride * (in_w - 1) + f - 2 * pad;
        let input: Vec<f32> = (0..in_h * in_w * in_c)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let filter: Vec<f32> = (0..out_c * f * f * f_c)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let bias: Vec<f32> = (0..out_c).map(|i| i as f32 * 0.1).collect();
        let mut expected = vec![0f32; out_h * out_w * out_c];
        for iy in 0..in_h {
            for ix in 0..in_w {
                for oc in 0..out_c {
                    let ic0 = (oc / (out_c / groups)) * f_c;
                    for ky in 0..f {
                        for kx in 0..f {
                            let (oy, ox) = (
                                (iy * stride + ky) as isize - pad as isize,
                                (ix * stride + kx) as isize - pad as isize,
                            );
                            if oy < 0 || ox < 0 || oy as usize >= out_h || ox as usize >= out_w {
                                continue;
                            }
                            for c in 0..f_c {
                                expected[(oy as usize * out_w + ox as usize) * out_c + oc] += input
                                    [(iy * in_w + ix) * in_c + ic0 + c]
                                    * filter[((oc * f + ky) * f + kx) * f_c + c];
                            }
                        }
                    }
                }
            }
        }
        for (i, e) in expected.iter_mut().enumerate() {
            *e += bias[i % out_c];
        }
        let g = ConvGeometry {
            input: Nhwc::new(1, in_h as u32, in_w as u32, in_c as u32),
            output: Nhwc::new(1, out_h as u32, out_w as u32, out_c as u32),
            filter_height: f as u32,
            filter_width: f as u32,
            filter_channels: f_c as u32,
            stride_height: stride as u32,
            stride_width: stride as u32,
            dilation_height: 1,
            dilation_width: 1,
            padding_top: pad as u32,
            padding_left: pad as u32,
        };
        let mut out = vec![0f32; expected.len()];
        transpose_conv2d_f32(&g, FloatRange::NONE, &input, &filter, &bias, &mut out);
        for (g, e) in out.iter().zip(&expected) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{g} vs {e}");
        }
    }
}
