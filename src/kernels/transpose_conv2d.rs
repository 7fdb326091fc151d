//! Transposed convolution (ONNX ConvTranspose, TFLite TRANSPOSE_CONV), float32
//! and int8, written as a gather: each output sums the input pixels whose
//! scattered taps land on it, so every output is one independent sum in a
//! fixed order (the CUDA kernels compute the same sums).
//!
//! Layer: kernels; uses `quant`, `tensor` and the conv geometry of `conv2d`.

use crate::kernels::conv2d::Conv2dParams;
use crate::quant::multiply_by_quantized_multiplier;
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
    p: &Conv2dParams,
    mut tap: impl FnMut(&mut A, usize, usize),
    mut finish: impl FnMut(A, usize, usize),
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
    let (sh, sw) = (p.stride_height as usize, p.stride_width as usize);
    let (dh, dw) = (p.dilation_height as usize, p.dilation_width as usize);
    let (pt, pl) = (p.padding_top as usize, p.padding_left as usize);
    for b in 0..p.input.batches as usize {
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
                                p.input.index(b, in_y, in_x, ic0),
                                ((oc * f_h + fy) * f_w + fx) * f_c,
                            );
                        }
                    }
                    finish(acc, p.output.index(b, out_y, out_x, oc), oc);
                }
            }
        }
    }
}

/// `p` describes the equivalent convolution's geometry: `input` and
/// `output` are this op's, the filter is `[out_c, fh, fw, filter_channels]`
/// (grouped like `conv2d_f32`), padding is what ONNX's `pads` removes from
/// the start of each axis. The int8 fields are unused.
pub fn transpose_conv2d_f32(
    p: &Conv2dParams,
    act: FloatRange,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) {
    let f_c = p.filter_channels as usize;
    gather(
        p,
        |total: &mut f32, i, w| {
            for (&xv, &wv) in input[i..][..f_c].iter().zip(&filter[w..][..f_c]) {
                *total += xv * wv;
            }
        },
        |total, o, oc| {
            let bias = if bias.is_empty() { 0.0 } else { bias[oc] };
            output[o] = act.apply(total + bias);
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
    let f_c = p.filter_channels as usize;
    gather(
        p,
        |acc: &mut i32, i, w| {
            for (&xv, &wv) in input[i..][..f_c].iter().zip(&filter[w..][..f_c]) {
                *acc += (i32::from(xv) + p.input_offset) * i32::from(wv);
            }
        },
        |acc, o, oc| {
            let acc = acc + if bias.is_empty() { 0 } else { bias[oc] };
            let v = multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc])
                .saturating_add(p.output_offset);
            output[o] = v.clamp(p.activation_min, p.activation_max) as i8;
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
        let p = Conv2dParams {
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
            ..Default::default()
        };
        let mut out = vec![0f32; expected.len()];
        transpose_conv2d_f32(&p, FloatRange::NONE, &input, &filter, &bias, &mut out);
        for (g, e) in out.iter().zip(&expected) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{g} vs {e}");
        }
    }
}
