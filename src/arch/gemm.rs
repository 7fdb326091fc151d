//! CONV_2D and FULLY_CONNECTED (int8) as matrix products, with TFLM's
//! reference bytes. For a convolution the input offset is added as values
//! are widened to i16 into a small scratch buffer of "columns" (the
//! receptive field of one output pixel: im2col, padding as zero), so the
//! inner loop is a plain dot product of i16 columns with the int8 filter
//! rows as TFLite stores them; it fills two columns at a time and takes two
//! filter rows per step (2×2 register blocking). A fully connected layer
//! reads its input row as stored, four filter rows per step, with the input
//! offset folded into the bias at code generation ([`folded_bias`]). The micro-kernels come from
//! `micro` (the Cortex-M DSP ones or the portable ones); everything else,
//! the gathering and the requantization, is shared.
//!
//! Values come in groups of four. When a row's length `k` is no multiple of
//! four, the columns' last group is padded with zeros and the last group of
//! a filter row reads up to three bytes past it: the next row's first
//! bytes, or for the last row the weights that follow the filter (the ops
//! check that the weights reach that far: [`filter_reach`]). Those bytes
//! meet zeros, so the sums are unchanged and no tail loop is needed.
//!
//! Layer: arch; uses `kernels` (param types), `quant` and the micro-kernels.

use core::ops::Range;

use super::micro::{self, ORDER};
use super::requant::{to_output, Requantization};
use crate::kernels::conv2d::{valid_taps, Conv2dParams, ConvGeometry};
use crate::kernels::fully_connected::FullyConnectedParams;
use crate::kernels::{at, part, part_mut};

/// Values per column, rounded up to whole groups of four.
const fn padded(values: usize) -> usize {
    values.div_ceil(4) * 4
}

/// How many filter bytes from its start the matrix products read for
/// `rows` rows of `k` values: the last row's last group reaches past it.
pub const fn filter_reach(rows: usize, k: usize) -> usize {
    if rows == 0 {
        0
    } else {
        (rows - 1) * k + padded(k)
    }
}

/// Scratch bytes [`conv2d_s8`] needs: two columns of i16.
pub const fn conv2d_scratch_bytes(g: &ConvGeometry) -> usize {
    let k = g.filter_height as usize * g.filter_width as usize * g.filter_channels as usize;
    2 * padded(k) * 2
}

/// `C` interleaved columns: group `k / 4` of column `c` is the four slots
/// from `(k / 4) * 4 * C + 4 * c`, in the micro-kernels' `ORDER`.
struct Columns<'a, const C: usize> {
    slots: &'a mut [i16],
}

impl<const C: usize> Columns<'_, C> {
    /// Writes `values` into slots `k0, k0 + 1, ...` of column `col`. A slot
    /// outside the columns (which the checks exclude) ends the writing: an
    /// exit from the loop, like the panic of plain indexing, so the
    /// compiler can still check the loop's range once instead of each slot.
    #[inline(always)]
    fn set(&mut self, col: usize, k0: usize, values: impl Iterator<Item = i32>) {
        for (k, v) in (k0..).zip(values) {
            let Some(slot) = self.slots.get_mut((k / 4) * 4 * C + 4 * col + ORDER[k % 4]) else {
                return;
            };
            *slot = v as i16;
        }
    }

    /// Values `k0..` of column `col`: `src` plus `offset`, four at a time
    /// once `k` is a multiple of four.
    fn expand(&mut self, col: usize, k0: usize, src: &[i8], offset: i32) {
        let (head, rest) = src.split_at(((4 - k0 % 4) % 4).min(src.len()));
        self.set(col, k0, head.iter().map(|&x| i32::from(x) + offset));
        let k = k0 + head.len();
        let (groups, tail) = rest.split_at(rest.len() / 4 * 4);
        if !groups.is_empty() {
            let at = (k / 4) * 4 * C + 4 * col;
            let slots = part_mut(self.slots, at, 4 * C * (groups.len() / 4 - 1) + 4);
            micro::expand_groups(groups, offset, slots, 4 * C);
        }
        let k = k + groups.len();
        self.set(col, k, tail.iter().map(|&x| i32::from(x) + offset));
    }

    /// Values `k0..k0 + len` of column `col`: padding, zero once offset.
    fn zero(&mut self, col: usize, k0: usize, len: usize) {
        self.set(col, k0, core::iter::repeat_n(0, len));
    }
}

/// CONV_2D (one group: `filter_channels == input.channels`), the same bytes
/// as `kernels::conv2d::conv2d_s8`; `scratch` holds at least
/// [`conv2d_scratch_bytes`] bytes and `filter` at least [`filter_reach`]
/// bytes for its output channels.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_s8(
    p: &Conv2dParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    scratch: &mut [i16],
    output: &mut [i8],
) {
    let rows = p.geometry.all_rows();
    conv2d_s8_rows(
        p, rows, input, filter, bias, multiplier, shift, scratch, output,
    )
}

/// [`conv2d_s8`] for output rows `rows` only (see
/// `ConvGeometry::band_index`): the pixels of those rows, in pairs.
// Its own frame, so that the op's other kernel does not add to it.
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
    scratch: &mut [i16],
    output: &mut [i8],
) {
    let g = &p.geometry;
    let (out_w, out_c) = (g.output.width as usize, g.output.channels as usize);
    // The band's pixels, numbered from the output's first.
    let (first, end) = (rows.start * out_w, rows.end * out_w);
    let pixels = end.saturating_sub(first);
    // The output row length as a divisor the compiler knows is not zero.
    let row_len = out_w.max(1);
    let k = g.filter_height as usize * g.filter_width as usize * g.filter_channels as usize;
    let groups = k.div_ceil(4);
    // Opaque to link-time specialization: with the trip count known (a
    // layer called from one site), LLVM unrolls the portable micro-kernel
    // whole and spills its sums and filter values (1.3 KiB of frame on the
    // RV32 for an RGB first layer, the conv_rgb fixture; 1 KiB for other
    // small depths), so the frame would grow with the layer. Hiding the
    // depth alone, or the channel pairs, still let some geometries spill.
    // This costs the RV32 about 5 % on kws and micro_speech. The DSP
    // micro-kernel is assembly: nothing to unroll.
    #[cfg(not(kiln_dsp))]
    let groups = core::hint::black_box(groups);
    let mut cols = Columns::<2> {
        slots: part_mut(scratch, 0, 2 * padded(k)),
    };
    // The padding of the last group stays zero: the gathering writes only
    // values below `k`.
    cols.slots.fill(0);
    let range = (p.activation_min, p.activation_max);
    let q = Requantization::new(bias, multiplier, shift, p.output_offset, range, k);
    for b in 0..g.input.batches as usize {
        for px in (0..pixels).step_by(2) {
            // An odd last pixel is computed twice; the copy is not stored.
            let pair = [px, (px + 1).min(pixels - 1)];
            for (col, &q) in pair.iter().enumerate() {
                let q = first + q;
                gather(p, input, b, (q / row_len, q % row_len), col, &mut cols);
            }
            let out = [
                (b * pixels + pair[0]) * out_c,
                (b * pixels + pair[1]) * out_c,
            ];
            let (out0, out1) = if pair[1] == pair[0] {
                let Some(out0) = output.get_mut(out[0]..out[0] + out_c) else {
                    return;
                };
                (out0, None)
            } else {
                let Some((first, second)) = output.split_at_mut_checked(out[1]) else {
                    return;
                };
                let (Some(out0), Some(out1)) = (
                    first.get_mut(out[0]..out[0] + out_c),
                    second.get_mut(..out_c),
                ) else {
                    return;
                };
                (out0, Some(out1))
            };
            product(&cols, filter, (k, groups), &q, out0, out1);
        }
    }
}

/// Channel pairs per micro-kernel call: their accumulators live on the
/// stack (4 per pair) until they are requantized.
const PAIRS_PER_CALL: usize = micro::PAIRS_PER_CALL;

/// Every output channel of the two pixels in `cols`: the filter rows in
/// runs of pairs through the micro-kernel, an odd last row on its own.
fn product(
    cols: &Columns<'_, 2>,
    filter: &[i8],
    (k, groups): (usize, usize),
    q: &Requantization<'_>,
    out0: &mut [i8],
    mut out1: Option<&mut [i8]>,
) {
    let out_c = out0.len();
    let mut acc = [0i32; 4 * PAIRS_PER_CALL];
    let mut row = 0;
    while row < out_c {
        // Whole pairs, or the odd last row twice (its copy is not stored).
        let (pairs, rows) = if row + 1 < out_c {
            let pairs = ((out_c - row) / 2).min(PAIRS_PER_CALL);
            (pairs, row..row + 2 * pairs)
        } else {
            (1, row..row + 1)
        };
        // Slices the checks guarantee; were one short, the layer would
        // stop here rather than panic (a branch as cheap as a bounds check).
        let (Some(acc), Some(out0)) = (acc.get_mut(..4 * pairs), out0.get_mut(rows.clone())) else {
            return;
        };
        if rows.len() == 1 {
            let Some(w) = filter.get(row * k..row * k + 4 * groups) else {
                return;
            };
            if let Some(acc) = acc.first_chunk_mut::<4>() {
                *acc = micro::dot_2x2(cols.slots, w, w, groups);
            }
        } else {
            let reach = filter_reach(rows.len(), k);
            let Some(w) = filter.get(row * k..row * k + reach) else {
                return;
            };
            micro::dot_2xn(cols.slots, w, k, groups, acc);
        }
        match out1.as_deref_mut() {
            Some(out1) => {
                let Some(out1) = out1.get_mut(rows.clone()) else {
                    return;
                };
                q.store_pair(acc, rows.start, out0, out1)
            }
            None => q.store(acc, 2, rows.start, out0),
        }
        row = rows.end;
    }
}

/// Fills column `col` with the receptive field of output pixel `(y, x)` of
/// batch `b`, in the filter's `[KH, KW, C]` order.
#[inline(always)]
fn gather(
    p: &Conv2dParams,
    input: &[i8],
    b: usize,
    (y, x): (usize, usize),
    col: usize,
    cols: &mut Columns<'_, 2>,
) {
    let g = &p.geometry;
    let (in_h, in_w, in_c) = (
        g.input.height as usize,
        g.input.width as usize,
        g.input.channels as usize,
    );
    let (f_h, f_w) = (g.filter_height as usize, g.filter_width as usize);
    let (d_h, d_w) = (g.dilation_height as usize, g.dilation_width as usize);
    let in_y0 = (y * g.stride_height as usize) as isize - g.padding_top as isize;
    let in_x0 = (x * g.stride_width as usize) as isize - g.padding_left as isize;
    let (fx0, fx1) = valid_taps(in_x0, d_w, f_w, in_w);
    for fy in 0..f_h {
        let row = fy * f_w * in_c;
        let in_y = in_y0 + (fy * d_h) as isize;
        if in_y < 0 || in_y >= in_h as isize || fx0 == fx1 {
            cols.zero(col, row, f_w * in_c);
            continue;
        }
        let in_y = in_y as usize;
        cols.zero(col, row, fx0 * in_c);
        if d_w == 1 {
            // The valid taps of a row are one run of the input.
            let start = g.input.index(b, in_y, (in_x0 + fx0 as isize) as usize, 0);
            let Some(src) = input.get(start..start + (fx1 - fx0) * in_c) else {
                return;
            };
            cols.expand(col, row + fx0 * in_c, src, p.input_offset);
        } else {
            for fx in fx0..fx1 {
                let in_x = (in_x0 + (fx * d_w) as isize) as usize;
                let at = g.input.index(b, in_y, in_x, 0);
                let Some(src) = input.get(at..at + in_c) else {
                    return;
                };
                cols.expand(col, row + fx * in_c, src, p.input_offset);
            }
        }
        cols.zero(col, row + fx1 * in_c, (f_w - fx1) * in_c);
    }
}

/// The bias [`fully_connected_s8`] takes: `bias + input_offset × Σ row`
/// for each of the filter's rows of `depth` values (wrapping, as the i32
/// accumulator of TFLM's kernel wraps), so that the input is multiplied as
/// stored, with no widened copy. `bias` is empty when the layer has none.
/// The codegen writes it into the weights; the self-test computes it too.
pub fn folded_bias(filter: &[i8], bias: &[i32], depth: usize, input_offset: i32, out: &mut [i32]) {
    for (r, folded) in out.iter_mut().enumerate() {
        let row = part(filter, r * depth, depth);
        let sum = row.iter().fold(0i32, |s, &w| s.wrapping_add(i32::from(w)));
        let b = bias.get(r).copied().unwrap_or(0);
        *folded = b.wrapping_add(input_offset.wrapping_mul(sum));
    }
}

/// [`fully_connected_s8`]'s products in parts, four filter rows at a
/// time: adds to `sums` (one per output channel) the products of `input`,
/// values `first..first + input.len()` of the input row as stored, with
/// the same columns of each filter row. The folded bias then finishes them
/// (`kernels::fully_connected::fully_connected_s8_finish`).
pub fn fully_connected_s8_accumulate(
    p: &FullyConnectedParams,
    input: &[i8],
    first: usize,
    filter: &[i8],
    sums: &mut [i32],
) {
    let depth = p.shape.input_depth as usize;
    let (n, outputs) = (input.len(), sums.len());
    for oc in (0..outputs).step_by(4) {
        // A last group of fewer than four rows repeats its last row.
        let rows = [0, 1, 2, 3].map(|i| (oc + i).min(outputs - 1));
        let [Some(w0), Some(w1), Some(w2), Some(w3)] =
            rows.map(|r| filter.get(r * depth + first..r * depth + first + n))
        else {
            return;
        };
        let acc = micro::dot_1x4_s8(input, [w0, w1, w2, w3], n);
        for (sum, a) in sums.iter_mut().skip(oc).zip(acc) {
            *sum = sum.wrapping_add(a);
        }
    }
}

/// FULLY_CONNECTED with symmetric weights (`filter_offset == 0`), the same
/// bytes as `kernels::fully_connected::fully_connected_s8`, given the
/// [`folded_bias`]: four filter rows at a time against the input row as
/// stored (CMSIS-NN's way: no scratch, so the arena holds only the
/// activations).
// Its own frame, so that the op's other kernel does not add to it.
#[inline(never)]
pub fn fully_connected_s8(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    folded_bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
) {
    let depth = p.shape.input_depth as usize;
    let out_depth = p.shape.output_depth as usize;
    let per_channel = multiplier.len() > 1;
    let range = (p.activation_min, p.activation_max);
    // Slices the checks guarantee; were one short, the layer would stop
    // rather than panic, and with them cut to size the indexing below is
    // visibly in bounds.
    let Some(bias) = folded_bias.get(..out_depth) else {
        return;
    };
    for b in 0..p.shape.batches as usize {
        let x_at = b * depth;
        let out_at = b * out_depth;
        let (Some(x), Some(out)) = (
            input.get(x_at..x_at + depth),
            output.get_mut(out_at..out_at + out_depth),
        ) else {
            return;
        };
        for oc in (0..out_depth).step_by(4) {
            // A last group of fewer than four rows repeats its last row.
            let rows = [0, 1, 2, 3].map(|i| (oc + i).min(out_depth - 1));
            let [Some(w0), Some(w1), Some(w2), Some(w3)] =
                rows.map(|r| filter.get(r * depth..r * depth + depth))
            else {
                return;
            };
            let acc = micro::dot_1x4_s8(x, [w0, w1, w2, w3], depth);
            for (&r, &a) in rows.iter().zip(&acc).take(out_depth - oc) {
                let q = if per_channel { r } else { 0 };
                if let (Some(o), Some(&folded)) = (out.get_mut(r), bias.get(r)) {
                    *o = to_output(
                        a.wrapping_add(folded),
                        at(multiplier, q, 0),
                        at(shift, q, 0),
                        p.output_offset,
                        range,
                    );
                }
            }
        }
    }
}
