//! The micro-kernels on x86-64 hosts (feature `host`): AVX2 where the CPU
//! has it (checked at run time, once per call), the portable ones
//! otherwise. The dot products widen the int8 filter rows with VPMOVSXBW
//! and multiply-add pairs with VPMADDWD, which is exact here (each pair of
//! products stays far inside i32); nothing saturates. The columns keep the
//! portable layout (groups of four values per column), so a 256-bit load
//! of one column pair holds two groups of each column, and the filter's
//! groups are duplicated to meet them with VPERMQ.
//!
//! Layer: arch; `unsafe` for the intrinsics (`target_feature` functions
//! run only after the feature check), each block with its `SAFETY`.

use core::arch::x86_64::*;

use super::depthwise::TapWalk;
use super::portable;
pub use super::portable::{dot_2x2, ORDER};
use super::requant::{clamp, Channel, StoreRun};

/// Channel pairs of a convolution per micro-kernel call (a host has stack
/// to spare, and longer runs amortize each call).
pub const PAIRS_PER_CALL: usize = 32;

fn avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// `portable::expand_groups`, sixteen values per step with AVX2.
#[inline(always)]
pub fn expand_groups(src: &[i8], offset: i32, slots: &mut [i16], stride: usize) {
    if !avx2() || src.len() < 16 {
        return portable::expand_groups(src, offset, slots, stride);
    }
    // SAFETY: AVX2 is present (checked above).
    unsafe { expand_groups_avx2(src, offset, slots, stride) }
}

#[target_feature(enable = "avx2")]
fn expand_groups_avx2(src: &[i8], offset: i32, slots: &mut [i16], stride: usize) {
    let offsets = _mm256_set1_epi16(offset as i16);
    let mut chunks = src.chunks_exact(16);
    let mut group = 0;
    for chunk in &mut chunks {
        // SAFETY: reads exactly the 16 bytes of `chunk`.
        let values = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let wide = _mm256_add_epi16(_mm256_cvtepi8_epi16(values), offsets);
        let (lo, hi) = (
            _mm256_castsi256_si128(wide),
            _mm256_extracti128_si256::<1>(wide),
        );
        for (i, half) in [lo, lo, hi, hi].into_iter().enumerate() {
            let at = &mut slots[(group + i) * stride..][..4];
            let quad = if i % 2 == 0 {
                half
            } else {
                _mm_unpackhi_epi64(half, half)
            };
            // SAFETY: writes exactly the 8 bytes of `at`.
            unsafe { _mm_storel_epi64(at.as_mut_ptr().cast(), quad) };
        }
        group += 4;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        portable::expand_groups(rest, offset, &mut slots[group * stride..], stride);
    }
}

/// `portable::dot_2xn`, 64 products per step with AVX2.
#[inline(always)]
pub fn dot_2xn(cols: &[i16], filter: &[i8], k: usize, groups: usize, acc: &mut [i32]) {
    let pairs = acc.len() / 4;
    if !avx2() || pairs == 0 {
        return portable::dot_2xn(cols, filter, k, groups, acc);
    }
    let cols = &cols[..8 * groups];
    let filter = &filter[..(2 * pairs - 1) * k + 4 * groups];
    // SAFETY: AVX2 is present (checked above); the slices were cut to what
    // the kernel reads.
    unsafe { dot_2xn_avx2(cols, filter, k, groups, acc) }
}

/// Two rows' sums of products with two interleaved columns, four groups
/// (16 values per column) per step: lane `i` of a row's accumulator holds
/// column 0 for lanes 0, 1, 4, 5 and column 1 for lanes 2, 3, 6, 7.
#[target_feature(enable = "avx2")]
fn dot_2xn_avx2(cols: &[i16], filter: &[i8], k: usize, groups: usize, acc: &mut [i32]) {
    let blocks = groups / 4;
    for (j, quad) in acc.chunks_exact_mut(4).enumerate() {
        let w0 = &filter[2 * j * k..][..4 * groups];
        let w1 = &filter[(2 * j + 1) * k..][..4 * groups];
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for b in 0..blocks {
            let c = &cols[32 * b..][..32];
            let (r0, r1) = (&w0[16 * b..][..16], &w1[16 * b..][..16]);
            // SAFETY: each load reads exactly the 32 bytes of `c` or the 16
            // bytes of `r0`/`r1` (unaligned loads).
            let (lo, hi, a, b) = unsafe {
                (
                    _mm256_loadu_si256(c.as_ptr().cast()),
                    _mm256_loadu_si256(c[16..].as_ptr().cast()),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(r0.as_ptr().cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(r1.as_ptr().cast())),
                )
            };
            // Groups 0 and 1 of the row against `lo`, 2 and 3 against `hi`.
            let a_lo = _mm256_permute4x64_epi64::<0b01_01_00_00>(a);
            let a_hi = _mm256_permute4x64_epi64::<0b11_11_10_10>(a);
            let b_lo = _mm256_permute4x64_epi64::<0b01_01_00_00>(b);
            let b_hi = _mm256_permute4x64_epi64::<0b11_11_10_10>(b);
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(lo, a_lo));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(hi, a_hi));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(lo, b_lo));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(hi, b_hi));
        }
        // Two groups more with one 256-bit load of the columns.
        let mut done = 4 * blocks;
        if groups - done >= 2 {
            let c = &cols[8 * done..][..16];
            let (r0, r1) = (&w0[4 * done..][..8], &w1[4 * done..][..8]);
            // SAFETY: each load reads exactly the 32 bytes of `c` or the 8
            // bytes of `r0`/`r1`.
            let (x, a, b) = unsafe {
                (
                    _mm256_loadu_si256(c.as_ptr().cast()),
                    _mm_cvtepi8_epi16(_mm_loadl_epi64(r0.as_ptr().cast())),
                    _mm_cvtepi8_epi16(_mm_loadl_epi64(r1.as_ptr().cast())),
                )
            };
            let spread =
                |r: __m128i| _mm256_permute4x64_epi64::<0b01_01_00_00>(_mm256_castsi128_si256(r));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x, spread(a)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x, spread(b)));
            done += 2;
        }
        // Fold the halves, then pairs: [row 0 col 0, row 0 col 1, row 1 col 0,
        // row 1 col 1].
        let fold =
            |s: __m256i| _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
        let sums = _mm_hadd_epi32(fold(s0), fold(s1));
        // SAFETY: `quad` has room for the four i32 of `sums`.
        unsafe { _mm_storeu_si128(quad.as_mut_ptr().cast(), sums) };
        // The group past the last whole step.
        if done < groups {
            let rest = portable::dot_2x2(&cols[8 * done..], &w0[4 * done..], &w1[4 * done..], 1);
            for (q, r) in quad.iter_mut().zip(rest) {
                *q = q.wrapping_add(r);
            }
        }
    }
}

/// `portable::dot_1x4_s8`, 64 products per step with AVX2 (input and
/// filter widened with VPMOVSXBW, multiplied with VPMADDWD: exact).
#[inline(always)]
pub fn dot_1x4_s8(x: &[i8], w: [&[i8]; 4], n: usize) -> [i32; 4] {
    if !avx2() {
        return portable::dot_1x4_s8(x, w, n);
    }
    let (x, w) = (&x[..n], w.map(|row| &row[..n]));
    // SAFETY: AVX2 is present (checked above); the slices were cut to what
    // the kernel reads.
    unsafe { dot_1x4_s8_avx2(x, w) }
}

#[target_feature(enable = "avx2")]
fn dot_1x4_s8_avx2(x: &[i8], w: [&[i8]; 4]) -> [i32; 4] {
    let blocks = x.len() / 16;
    let mut s = [_mm256_setzero_si256(); 4];
    for b in 0..blocks {
        let xs = &x[16 * b..][..16];
        // SAFETY: reads exactly the 16 bytes of `xs`.
        let xs = unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(xs.as_ptr().cast())) };
        for (s, row) in s.iter_mut().zip(w) {
            let r = &row[16 * b..][..16];
            // SAFETY: reads exactly the 16 bytes of `r`.
            let r = unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(r.as_ptr().cast())) };
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(xs, r));
        }
    }
    let fold =
        |s: __m256i| _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    let sums = _mm_hadd_epi32(
        _mm_hadd_epi32(fold(s[0]), fold(s[1])),
        _mm_hadd_epi32(fold(s[2]), fold(s[3])),
    );
    let mut out = [0i32; 4];
    // SAFETY: `out` has room for the four i32 of `sums`.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), sums) };
    let done = 16 * blocks;
    let rest = portable::dot_1x4_s8(&x[done..], w.map(|row| &row[done..]), x.len() - done);
    for (o, r) in out.iter_mut().zip(rest) {
        *o = o.wrapping_add(r);
    }
    out
}

/// A run of requantized outputs with AVX2, eight per step; `false`
/// (nothing written) when the CPU lacks AVX2.
#[inline(always)]
pub fn store_run(run: &StoreRun) -> bool {
    if !avx2() {
        return false;
    }
    // SAFETY: AVX2 is present; `StoreRun::new` checked that its pointers
    // cover `count` values.
    unsafe { store_run_avx2(run) };
    true
}

/// Eight lanes of `SmallChannel::requantize`: the 64-bit products of the
/// even and odd lanes (VPMULDQ), `+ 2^30` and `>> 31` (whose low 32 bits
/// are the same for a logical shift), then the nudge, the sign correction
/// and a per-lane arithmetic shift (VPSRAVD); the zero point cannot
/// overflow (`|high| < 2^30`), and the clamp is VPMINSD/VPMAXSD. Lanes
/// outside that arithmetic's reach (a positive shift, `|x| > 2^30`) are
/// redone one at a time with TFLM's general rounding.
#[target_feature(enable = "avx2")]
unsafe fn store_run_avx2(run: &StoreRun) {
    let (count, step) = (run.count as usize, run.acc_step as usize / 4);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let index = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(step as i32));
    let half = _mm256_set1_epi64x(1 << 30);
    let one = _mm256_set1_epi32(1);
    let offset = _mm256_set1_epi32(run.output_offset);
    let (min, max) = (_mm256_set1_epi32(run.min), _mm256_set1_epi32(run.max));
    let full = count / 8;
    for i in 0..full {
        // SAFETY: outputs `8i..8i + 8` are below `count`, so every load
        // and the 8-byte store stay inside the run's slices (the two
        // sixteen-lane loads only when `acc_len` covers them).
        unsafe {
            let at = run.acc.add(8 * i * step);
            let readable = run.acc_len as usize - 8 * i * step;
            let acc = match step {
                1 => _mm256_loadu_si256(at.cast()),
                2 if readable >= 16 => {
                    // The even lanes of sixteen: one pixel of a conv pair.
                    let even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
                    let a = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(at.cast()), even);
                    let b = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(at.add(8).cast()), even);
                    _mm256_permute2x128_si256::<0x20>(a, b)
                }
                _ => _mm256_i32gather_epi32::<4>(at, index),
            };
            let bias = _mm256_loadu_si256(run.bias.add(8 * i).cast());
            let m = _mm256_loadu_si256(run.multiplier.add(8 * i).cast());
            let shift = _mm256_loadu_si256(run.shift.add(8 * i).cast());
            let x = _mm256_add_epi32(acc, bias);
            let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, m), half));
            let odd = _mm256_add_epi64(
                _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m)),
                half,
            );
            let odd = _mm256_slli_epi64::<1>(odd);
            // Even lanes from `even`, odd lanes from the high words of `odd`.
            let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
            let e = _mm256_sub_epi32(_mm256_setzero_si256(), shift);
            let nudge = _mm256_srli_epi32::<1>(_mm256_sllv_epi32(one, e));
            let negative = _mm256_and_si256(
                _mm256_srai_epi32::<31>(high),
                _mm256_cmpgt_epi32(e, _mm256_setzero_si256()),
            );
            let sum = _mm256_add_epi32(_mm256_add_epi32(high, nudge), negative);
            let r = _mm256_add_epi32(_mm256_srav_epi32(sum, e), offset);
            let r = _mm256_min_epi32(_mm256_max_epi32(r, min), max);
            // Narrow to bytes; the values already fit, so saturation keeps them.
            let words = _mm256_packs_epi32(r, r);
            let bytes = _mm256_packs_epi16(words, words);
            let lo = _mm256_castsi256_si128(bytes);
            let hi = _mm256_extracti128_si256::<1>(bytes);
            let packed = _mm_unpacklo_epi32(lo, hi);
            _mm_storel_epi64(run.out.add(8 * i).cast(), packed);
            if run.short != 0 {
                continue;
            }
            let magnitude = _mm256_xor_si256(x, _mm256_srai_epi32::<31>(x));
            let reachable = _mm256_and_si256(
                _mm256_cmpeq_epi32(_mm256_srli_epi32::<30>(magnitude), _mm256_setzero_si256()),
                _mm256_cmpgt_epi32(one, shift),
            );
            let reachable = _mm256_movemask_ps(_mm256_castsi256_ps(reachable));
            if reachable != 0xFF {
                for lane in (0..8).filter(|l| reachable & (1 << l) == 0) {
                    general(run, 8 * i + lane, step);
                }
            }
        }
    }
    // The last outputs, one at a time.
    for i in 8 * full..count {
        // SAFETY: `i < count`.
        unsafe { general(run, i, step) };
    }
}

/// Output `i` of a run with TFLM's general arithmetic.
///
/// # Safety
/// `i` is below the run's `count`.
unsafe fn general(run: &StoreRun, i: usize, step: usize) {
    // SAFETY: the caller's `i < count`; `StoreRun::new` checked the run.
    unsafe {
        let x = (*run.acc.add(i * step)).wrapping_add(*run.bias.add(i));
        let channel = Channel::new(*run.multiplier.add(i), *run.shift.add(i));
        *run.out.add(i) = clamp(channel.requantize(x), run.output_offset, (run.min, run.max));
    }
}

/// `portable::depthwise_blocks`, sixteen channels (four blocks) per step
/// with AVX2: the products fit i16 (`|x + offset| <= 255`, `|w| <= 128`), so
/// VPMULLW is exact, and they are widened to i32 before they are summed.
#[inline(always)]
pub fn depthwise_blocks(input: &[i8], filter: &[i8], walk: &TapWalk, acc: &mut [i32]) {
    if !avx2() {
        return portable::depthwise_blocks(input, filter, walk, acc);
    }
    let (x, w) = walk.reach();
    let (input, filter) = (&input[..=x], &filter[..=w]);
    // SAFETY: AVX2 is present (checked above); the slices were cut to the
    // walk's reach and every load is checked against them.
    unsafe { depthwise_blocks_avx2(input, filter, walk, acc) }
}

#[target_feature(enable = "avx2")]
fn depthwise_blocks_avx2(input: &[i8], filter: &[i8], walk: &TapWalk, acc: &mut [i32]) {
    let offset = _mm256_set1_epi16(walk.offsets as u16 as i16);
    let step = walk.step as usize;
    let (x_row, w_row) = (
        walk.cols as usize * step + walk.input_row_skip as usize,
        walk.cols as usize * step + walk.filter_row_skip as usize,
    );
    let blocks = walk.blocks as usize;
    for pixel in 0..walk.pixels as usize {
        let x0 = pixel * walk.pixel_step as usize;
        let out = &mut acc[4 * blocks * pixel..][..4 * blocks];
        for chunk in 0..blocks / 4 {
            let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for r in 0..walk.rows as usize {
                for c in 0..walk.cols as usize {
                    let x = &input[x0 + 16 * chunk + r * x_row + c * step..][..16];
                    let w = &filter[16 * chunk + r * w_row + c * step..][..16];
                    // SAFETY: each load reads exactly the 16 bytes of `x` or `w`.
                    let (x, w) = unsafe {
                        (
                            _mm256_cvtepi8_epi16(_mm_loadu_si128(x.as_ptr().cast())),
                            _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().cast())),
                        )
                    };
                    let products = _mm256_mullo_epi16(_mm256_add_epi16(x, offset), w);
                    let low = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(products));
                    let high = _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(products));
                    lo = _mm256_add_epi32(lo, low);
                    hi = _mm256_add_epi32(hi, high);
                }
            }
            let sums = &mut out[16 * chunk..][..16];
            // SAFETY: `sums` holds the sixteen i32 of the two stores.
            unsafe {
                _mm256_storeu_si256(sums.as_mut_ptr().cast(), lo);
                _mm256_storeu_si256(sums[8..].as_mut_ptr().cast(), hi);
            }
        }
        // Eight channels more with 128-bit products.
        let mut block = 4 * (blocks / 4);
        if blocks - block >= 2 {
            let offset = _mm_set1_epi16(walk.offsets as u16 as i16);
            let mut sum = _mm256_setzero_si256();
            for r in 0..walk.rows as usize {
                for c in 0..walk.cols as usize {
                    let x = &input[x0 + 4 * block + r * x_row + c * step..][..8];
                    let w = &filter[4 * block + r * w_row + c * step..][..8];
                    // SAFETY: each load reads exactly the 8 bytes of `x` or `w`.
                    let (x, w) = unsafe {
                        (
                            _mm_cvtepi8_epi16(_mm_loadl_epi64(x.as_ptr().cast())),
                            _mm_cvtepi8_epi16(_mm_loadl_epi64(w.as_ptr().cast())),
                        )
                    };
                    let products = _mm_mullo_epi16(_mm_add_epi16(x, offset), w);
                    sum = _mm256_add_epi32(sum, _mm256_cvtepi16_epi32(products));
                }
            }
            let sums = &mut out[4 * block..][..8];
            // SAFETY: `sums` holds the eight i32 of the store.
            unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), sum) };
            block += 2;
        }
        for block in block..blocks {
            let sums = portable::block_sums(input, filter, walk, pixel, block);
            out[4 * block..][..4].copy_from_slice(&sums);
        }
    }
}
