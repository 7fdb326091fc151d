//! The micro-kernels of the GEMM paths in plain Rust: the fallback on cores
//! without a DSP extension (Cortex-M0, RISC-V) and on the host. Register
//! blocking (two columns by two filter rows, or one column by four rows)
//! and iterators over exact chunks keep bounds checks out of the inner
//! loops.
//!
//! Layer: arch; safe code only.

use super::depthwise::TapWalk;

/// Channel pairs of a convolution per micro-kernel call (kept small: their
/// accumulators wait on the stack). The x86 kernels, which fall back on
/// these functions, take their own.
#[cfg_attr(
    all(target_arch = "x86_64", any(test, feature = "host")),
    allow(dead_code)
)]
pub const PAIRS_PER_CALL: usize = 8;

/// Where value `k % 4` of a group of four sits among the group's slots:
/// in order.
pub const ORDER: [usize; 4] = [0, 1, 2, 3];

/// Writes `src + offset` into the four slots of one group.
#[inline(always)]
pub fn expand4(src: &[i8; 4], offset: i32, slots: &mut [i16; 4]) {
    for (slot, &x) in slots.iter_mut().zip(src) {
        *slot = (i32::from(x) + offset) as i16;
    }
}

/// [`expand4`] for each group of four values of `src`, the groups'
/// slots `stride` apart from the start of `slots`.
#[inline(always)]
pub fn expand_groups(src: &[i8], offset: i32, slots: &mut [i16], stride: usize) {
    for (i, group) in src.chunks_exact(4).enumerate() {
        let at = &mut slots[i * stride..][..4];
        expand4(group.try_into().unwrap(), offset, at.try_into().unwrap());
    }
}

/// Dot products of two interleaved columns (`groups` groups of eight
/// slots: four of column 0, four of column 1) with two filter rows:
/// `[col0·w0, col1·w0, col0·w1, col1·w1]`.
#[inline(always)]
pub fn dot_2x2(cols: &[i16], w0: &[i8], w1: &[i8], groups: usize) -> [i32; 4] {
    let mut acc = [0i32; 4];
    let slots = cols.chunks_exact(8).take(groups);
    for ((c, a), b) in slots.zip(w0.chunks_exact(4)).zip(w1.chunks_exact(4)) {
        for j in 0..4 {
            let (x0, x1) = (i32::from(c[j]), i32::from(c[4 + j]));
            let (a, b) = (i32::from(a[j]), i32::from(b[j]));
            acc[0] = acc[0].wrapping_add(x0 * a);
            acc[1] = acc[1].wrapping_add(x1 * a);
            acc[2] = acc[2].wrapping_add(x0 * b);
            acc[3] = acc[3].wrapping_add(x1 * b);
        }
    }
    acc
}

/// `dot_2x2` for `acc.len() / 4` consecutive pairs of filter rows of `k`
/// values each (each row read for `4 * groups` bytes): pair `j`'s four
/// accumulators go to `acc[4j..4j + 4]`.
#[inline(always)]
pub fn dot_2xn(cols: &[i16], filter: &[i8], k: usize, groups: usize, acc: &mut [i32]) {
    for (j, quad) in acc.chunks_exact_mut(4).enumerate() {
        let w0 = &filter[2 * j * k..][..4 * groups];
        let w1 = &filter[(2 * j + 1) * k..][..4 * groups];
        quad.copy_from_slice(&dot_2x2(cols, w0, w1, groups));
    }
}

/// Dot products of the first `n` int8 values of `x` with those of four
/// filter rows, read straight from the input (no widened copy: the input
/// offset is in the bias, folded at code generation).
#[inline(always)]
pub fn dot_1x4_s8(x: &[i8], w: [&[i8]; 4], n: usize) -> [i32; 4] {
    let mut acc = [0i32; 4];
    let rows = w.map(|row| &row[..n]);
    for (k, &x) in x[..n].iter().enumerate() {
        let x = i32::from(x);
        for (a, row) in acc.iter_mut().zip(rows) {
            *a = a.wrapping_add(x * i32::from(row[k]));
        }
    }
    acc
}

/// Depthwise sums of `walk.blocks` blocks of four channels from `input`
/// and `filter` (both at the first tap's first channel): block `j`'s four
/// accumulators go to `acc[4j..4j + 4]`, `(x + offset) * w` summed over the
/// taps.
#[inline(always)]
pub fn depthwise_blocks(input: &[i8], filter: &[i8], walk: &TapWalk, acc: &mut [i32]) {
    debug_assert!({
        let (x, w) = walk.reach();
        x < input.len() && w < filter.len()
    });
    let blocks = walk.blocks as usize;
    for (i, quad) in acc
        .chunks_exact_mut(4)
        .take(blocks * walk.pixels as usize)
        .enumerate()
    {
        quad.copy_from_slice(&block_sums(input, filter, walk, i / blocks, i % blocks));
    }
}

/// The four sums of block `block` of pixel `pixel` of a walk.
#[inline(always)]
pub fn block_sums(
    input: &[i8],
    filter: &[i8],
    walk: &TapWalk,
    pixel: usize,
    block: usize,
) -> [i32; 4] {
    let offset = i32::from(walk.offsets as u16 as i16);
    let step = walk.step as usize;
    let (x_row, w_row) = (
        walk.cols as usize * step + walk.input_row_skip as usize,
        walk.cols as usize * step + walk.filter_row_skip as usize,
    );
    let input = &input[pixel * walk.pixel_step as usize + 4 * block..];
    let filter = &filter[4 * block..];
    let mut sums = [0i32; 4];
    for r in 0..walk.rows as usize {
        for c in 0..walk.cols as usize {
            let x = &input[r * x_row + c * step..][..4];
            let w = &filter[r * w_row + c * step..][..4];
            for ((s, &x), &w) in sums.iter_mut().zip(x).zip(w) {
                *s = s.wrapping_add((i32::from(x) + offset) * i32::from(w));
            }
        }
    }
    sums
}
