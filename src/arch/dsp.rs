//! The micro-kernels of the GEMM paths on Cortex-M cores with the DSP
//! extension (`kiln_dsp`, set by `build.rs`). A filter word of four int8
//! weights becomes two pairs with SXTB16 (`w0, w2` and, rotated, `w1, w3`);
//! the columns hold their i16 values in that order (`ORDER`), so one SMLAD
//! multiplies and accumulates two products. The dot products are naked
//! functions: they need every register (the frame pointer r7 included,
//! which an `asm!` block may not name) to keep four accumulators, the
//! column words and a filter word without spilling.
//!
//! Each assembly block starts with `.arch armv7e-m`: Armv8-M Mainline
//! targets do not enable the DSP instructions by default, and the
//! instructions used here are the same on both architectures.
//!
//! Layer: arch; `unsafe` for the assembly, each block with its `SAFETY`.

use core::arch::{asm, naked_asm};

use super::depthwise::TapWalk;
use super::requant::StoreRun;

/// Channel pairs of a convolution per micro-kernel call (kept small: their
/// accumulators wait on the stack).
pub const PAIRS_PER_CALL: usize = 8;

/// Where value `k % 4` of a group of four sits among the group's slots:
/// SXTB16's lane order.
pub const ORDER: [usize; 4] = [0, 2, 1, 3];

/// Writes `src + offset` into the four slots of one group, in `ORDER`.
#[inline(always)]
pub fn expand4(src: &[i8; 4], offset: i32, slots: &mut [i16; 4]) {
    let word = u32::from_le_bytes(src.map(|b| b as u8));
    let offsets = (offset as u32 & 0xFFFF) * 0x0001_0001;
    let (even, odd): (u32, u32);
    // SAFETY: register-only DSP arithmetic (SXTB16, SADD16); no memory, no
    // stack. The outputs are plain `out`, so they never share a register
    // with the inputs read after the first write.
    unsafe {
        asm!(
            ".arch armv7e-m",
            "sxtb16 {even}, {word}",
            "sxtb16 {odd}, {word}, ror #8",
            "sadd16 {even}, {even}, {offsets}",
            "sadd16 {odd}, {odd}, {offsets}",
            word = in(reg) word,
            offsets = in(reg) offsets,
            even = out(reg) even,
            odd = out(reg) odd,
            options(pure, nomem, nostack),
        );
    }
    let words = slots.as_mut_ptr().cast::<u32>();
    // SAFETY: `slots` is 8 bytes, exactly the two words written; Cortex-M4
    // stores words at any address, so no alignment is assumed.
    unsafe {
        words.write_unaligned(even);
        words.add(1).write_unaligned(odd);
    }
}

/// [`expand4`] for each group of four values of `src`, the groups'
/// slots `stride` apart from the start of `slots`.
#[inline(always)]
pub fn expand_groups(src: &[i8], offset: i32, slots: &mut [i16], stride: usize) {
    let (groups, _) = src.as_chunks::<4>();
    for (i, group) in groups.iter().enumerate() {
        let at = slots
            .get_mut(i * stride..)
            .and_then(|s| s.first_chunk_mut::<4>());
        if let Some(at) = at {
            expand4(group, offset, at);
        }
    }
}

/// Dot products of two interleaved columns (`groups` groups of eight
/// slots: four of column 0, four of column 1) with two filter rows:
/// `[col0·w0, col1·w0, col0·w1, col1·w1]`.
#[inline(always)]
pub fn dot_2x2(cols: &[i16], w0: &[i8], w1: &[i8], groups: usize) -> [i32; 4] {
    let covered = cols.len() >= 8 * groups
        && w0.len() >= 4 * groups
        && w1.len() >= 4 * groups
        && (cols.as_ptr() as usize).is_multiple_of(4);
    let mut acc = [0i32; 4];
    // Slices that do not cover the groups (which the ops' checks exclude)
    // give zeros rather than a panic.
    if groups > 0 && covered {
        // One pair of rows `row_distance` apart: `dot_2xn_asm` reads its
        // second row at that distance from the first, whatever it is.
        let row_distance = (w1.as_ptr() as isize).wrapping_sub(w0.as_ptr() as isize);
        // SAFETY: `covered`: the kernel reads `8 * groups` i16
        // from the word-aligned `cols` (LDM needs the alignment) and
        // `4 * groups` bytes from `w0` and from `w0 + row_distance` (`w1`),
        // and writes the four accumulators of `acc`. It restores every
        // callee-saved register and the stack pointer.
        unsafe {
            dot_2xn_asm(
                cols.as_ptr(),
                w0.as_ptr(),
                row_distance as u32,
                groups as u32,
                1,
                acc.as_mut_ptr(),
            );
        }
    }
    acc
}

/// `dot_2x2` for `acc.len() / 4` consecutive pairs of filter rows of `k`
/// values each (rows `2j` and `2j + 1` from the start of `filter`, each
/// read for `4 * groups` bytes): pair `j`'s four accumulators go to
/// `acc[4j..4j + 4]`. One call per run of
/// pairs keeps the call and the setup out of the per-channel cost.
#[inline(always)]
pub fn dot_2xn(cols: &[i16], filter: &[i8], k: usize, groups: usize, acc: &mut [i32]) {
    let pairs = acc.len() / 4;
    let covered = cols.len() >= 8 * groups
        && (pairs == 0 || filter.len() >= (2 * pairs - 1) * k + 4 * groups)
        && (cols.as_ptr() as usize).is_multiple_of(4);
    // Slices that do not cover the rows (which the ops' checks exclude)
    // give zeros rather than a panic.
    if groups > 0 && pairs > 0 && covered {
        // SAFETY: `covered`: for each pair the kernel reads
        // `8 * groups` i16 from the word-aligned `cols` and `4 * groups`
        // bytes of rows `2j` and `2j + 1` (all inside `filter`), and writes
        // `4 * pairs` accumulators into `acc`. It restores every
        // callee-saved register and the stack pointer.
        unsafe {
            dot_2xn_asm(
                cols.as_ptr(),
                filter.as_ptr(),
                k as u32,
                groups as u32,
                pairs as u32,
                acc.as_mut_ptr(),
            );
        }
    } else {
        acc.fill(0);
    }
}

/// r0 columns, r1 filter, r2 the distance from a pair's first row to its
/// second (`k`, or any distance for one pair: the arithmetic wraps), r3
/// groups (at least one), then on the stack the pairs (at least one) and
/// the accumulators. Per group: one LDM of both columns' four words, then
/// per row a load, two SXTB16 and four SMLAD. Per pair, the accumulators
/// are cleared, stored (STM with writeback) and the filter pointer moved
/// to the next pair of rows. Locals: [sp] the columns, [sp, #4] the pairs
/// left, [sp, #8] the accumulator pointer, [sp, #12] the groups.
#[unsafe(naked)]
unsafe extern "C" fn dot_2xn_asm(
    cols: *const i16,
    filter: *const i8,
    k: u32,
    groups: u32,
    pairs: u32,
    acc: *mut i32,
) {
    naked_asm!(
        ".arch armv7e-m",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #16",
        "str r0, [sp]",
        "ldr r4, [sp, #52]",
        "str r4, [sp, #4]",
        "ldr r4, [sp, #56]",
        "str r4, [sp, #8]",
        "str r3, [sp, #12]",
        "subs r2, r2, #4",
        "3:",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "ldr r0, [sp]",
        "ldr r3, [sp, #12]",
        "2:",
        "ldm r0!, {{r8, r9, r10, r11}}",
        "ldr lr, [r1], #4",
        "sxtb16 r12, lr",
        "sxtb16 lr, lr, ror #8",
        "smlad r4, r8, r12, r4",
        "smlad r4, r9, lr, r4",
        "smlad r5, r10, r12, r5",
        "smlad r5, r11, lr, r5",
        "ldr lr, [r1, r2]",
        "sxtb16 r12, lr",
        "sxtb16 lr, lr, ror #8",
        "smlad r6, r8, r12, r6",
        "smlad r6, r9, lr, r6",
        "smlad r7, r10, r12, r7",
        "smlad r7, r11, lr, r7",
        "subs r3, r3, #1",
        "bne 2b",
        "ldr r12, [sp, #8]",
        "stm r12!, {{r4, r5, r6, r7}}",
        "str r12, [sp, #8]",
        "ldr r12, [sp, #12]",
        "sub r1, r1, r12, lsl #2",
        "add r1, r1, r2, lsl #1",
        "adds r1, r1, #8",
        "ldr r12, [sp, #4]",
        "subs r12, r12, #1",
        "str r12, [sp, #4]",
        "bne 3b",
        "add sp, sp, #16",
        "pop {{r4-r11, pc}}",
    )
}

/// `portable::dot_1x4_s8`: whole groups of four values in assembly (the
/// input word unpacked with SXTB16 as the filter's are), the last `n % 4`
/// values in Rust.
#[inline(always)]
pub fn dot_1x4_s8(x: &[i8], w: [&[i8]; 4], n: usize) -> [i32; 4] {
    // Rows shorter than `n` (which the ops' checks exclude) give zeros
    // rather than a panic.
    let (Some(x), [Some(w0), Some(w1), Some(w2), Some(w3)]) = (x.get(..n), w.map(|r| r.get(..n)))
    else {
        return [0; 4];
    };
    let w = [w0, w1, w2, w3];
    // Two groups of four per loop turn: the loop's own two instructions
    // are then 4 % of the work, not 8 %.
    let groups = 2 * (n / 8);
    let mut acc = [0i32; 4];
    if groups > 0 {
        let base = w[0].as_ptr() as isize;
        let distance = |row: &[i8]| (row.as_ptr() as isize).wrapping_sub(base);
        // SAFETY: `x` and every row hold `n >= 4 * groups` bytes (sliced
        // above); the kernel reads `4 * groups` bytes from each (LDR takes
        // unaligned words on these cores) and writes the four accumulators
        // of `acc`. It restores every callee-saved register.
        unsafe {
            dot_1x4_s8_asm(
                x.as_ptr(),
                w[0].as_ptr(),
                distance(w[1]),
                distance(w[2]),
                distance(w[3]),
                (groups / 2) as u32,
                &mut acc,
            );
        }
    }
    let done = 4 * groups;
    for (a, row) in acc.iter_mut().zip(w) {
        for (&v, &r) in x.iter().zip(row).skip(done) {
            *a = a.wrapping_add(i32::from(v) * i32::from(r));
        }
    }
    acc
}

/// r0 input, r1 row 0 (post-incremented, so rows 1 to 3 are read first),
/// r2 and r3 the distances to rows 1 and 2, then on the stack the distance
/// to row 3, the pairs of groups (at least one) and the four accumulators.
/// Per group: one LDR of four input values and two SXTB16 (lanes `x0, x2`
/// and `x1, x3`, as the filter's), then per row a load, two SXTB16 and two
/// SMLAD; two groups per loop turn.
#[unsafe(naked)]
unsafe extern "C" fn dot_1x4_s8_asm(
    x: *const i8,
    w0: *const i8,
    distance1: isize,
    distance2: isize,
    distance3: isize,
    pairs: u32,
    acc: *mut [i32; 4],
) {
    naked_asm!(
        ".arch armv7e-m",
        "push {{r4-r11, lr}}",
        "ldr r12, [sp, #36]",
        "ldr lr, [sp, #40]",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "2:",
        // Two groups of four values per loop turn.
        ".rept 2",
        "ldr r9, [r0], #4",
        "sxtb16 r8, r9",
        "sxtb16 r9, r9, ror #8",
        "ldr r10, [r1, r2]",
        "sxtb16 r11, r10",
        "sxtb16 r10, r10, ror #8",
        "smlad r5, r8, r11, r5",
        "smlad r5, r9, r10, r5",
        "ldr r10, [r1, r3]",
        "sxtb16 r11, r10",
        "sxtb16 r10, r10, ror #8",
        "smlad r6, r8, r11, r6",
        "smlad r6, r9, r10, r6",
        "ldr r10, [r1, r12]",
        "sxtb16 r11, r10",
        "sxtb16 r10, r10, ror #8",
        "smlad r7, r8, r11, r7",
        "smlad r7, r9, r10, r7",
        "ldr r10, [r1], #4",
        "sxtb16 r11, r10",
        "sxtb16 r10, r10, ror #8",
        "smlad r4, r8, r11, r4",
        "smlad r4, r9, r10, r4",
        ".endr",
        "subs lr, lr, #1",
        "bne 2b",
        "ldr r12, [sp, #44]",
        "stm r12, {{r4, r5, r6, r7}}",
        "pop {{r4-r11, pc}}",
    )
}

/// Depthwise sums of `walk.blocks` blocks of four channels for
/// `walk.pixels` pixels from `input` and `filter` (both at the first tap's
/// first channel of the first pixel): pixel `p`'s block `j` goes to
/// `acc[4(p * blocks + j)..][..4]`, `(x + offset) * w` summed over the
/// taps.
#[inline(always)]
pub fn depthwise_blocks(input: &[i8], filter: &[i8], walk: &TapWalk, acc: &mut [i32]) {
    let counted = walk.rows > 0 && walk.cols > 0 && walk.blocks > 0 && walk.pixels > 0;
    let covered = counted && {
        let (input_reach, filter_reach) = walk.reach();
        input_reach < input.len()
            && filter_reach < filter.len()
            && acc.len() >= 4 * walk.blocks as usize * walk.pixels as usize
    };
    // A walk the slices do not cover (which the ops' checks exclude) sums
    // nothing rather than panic.
    if !covered {
        return;
    }
    // SAFETY: `covered`: every word the kernel loads lies inside
    // `input` and `filter` (Cortex-M4 loads words at any alignment), and it
    // writes `4 * blocks * pixels` accumulators into `acc`. It restores
    // every callee-saved register and the stack pointer.
    unsafe {
        depthwise_blocks_asm(input.as_ptr(), filter.as_ptr(), walk, acc.as_mut_ptr());
    }
}

/// r0 input, r1 filter, r2 the walk, r3 the accumulators. Registers in the
/// tap loop: r0/r1 the tap pointers, r2 the step, r3 the column counter,
/// r4-r7 four channels' sums, r8-r11 the unpacked input and filter pairs,
/// r12 the walk, lr the offsets. Per tap: two loads, two pointer steps,
/// four SXTB16, two SADD16 and four 16x16 multiply-accumulates (SMLABB and
/// SMLATT: one channel each). Locals: [sp] the walk, [sp, #4] the
/// accumulator pointer, [sp, #8] the blocks left, [sp, #12] the rows left,
/// [sp, #16] and [sp, #20] the block's first input and filter byte,
/// [sp, #24] the pixel's first input byte, [sp, #28] the pixels left,
/// [sp, #32] the filter's first byte.
#[unsafe(naked)]
unsafe extern "C" fn depthwise_blocks_asm(
    input: *const i8,
    filter: *const i8,
    walk: *const TapWalk,
    acc: *mut i32,
) {
    naked_asm!(
        ".arch armv7e-m",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #40",
        "str r2, [sp]",
        "str r3, [sp, #4]",
        "str r0, [sp, #24]",
        "str r1, [sp, #32]",
        "ldr r4, [r2, #28]",
        "str r4, [sp, #28]",
        "ldr lr, [r2, #20]",
        "mov r12, r2",
        "ldr r2, [r2, #8]",
        "5:",
        "ldr r4, [r12, #24]",
        "str r4, [sp, #8]",
        "ldr r0, [sp, #24]",
        "str r0, [sp, #16]",
        "ldr r1, [sp, #32]",
        "str r1, [sp, #20]",
        "4:",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "ldr r3, [r12]",
        "str r3, [sp, #12]",
        "3:",
        "ldr r3, [r12, #4]",
        "2:",
        "ldr r9, [r0]",
        "ldr r11, [r1]",
        "add r0, r0, r2",
        "add r1, r1, r2",
        "sxtb16 r8, r9",
        "sxtb16 r9, r9, ror #8",
        "sadd16 r8, r8, lr",
        "sadd16 r9, r9, lr",
        "sxtb16 r10, r11",
        "sxtb16 r11, r11, ror #8",
        "smlabb r4, r8, r10, r4",
        "smlatt r6, r8, r10, r6",
        "smlabb r5, r9, r11, r5",
        "smlatt r7, r9, r11, r7",
        "subs r3, r3, #1",
        "bne 2b",
        "ldr r3, [r12, #12]",
        "add r0, r0, r3",
        "ldr r3, [r12, #16]",
        "add r1, r1, r3",
        "ldr r3, [sp, #12]",
        "subs r3, r3, #1",
        "str r3, [sp, #12]",
        "bne 3b",
        "ldr r3, [sp, #4]",
        "stm r3!, {{r4, r5, r6, r7}}",
        "str r3, [sp, #4]",
        "ldr r0, [sp, #16]",
        "adds r0, r0, #4",
        "str r0, [sp, #16]",
        "ldr r1, [sp, #20]",
        "adds r1, r1, #4",
        "str r1, [sp, #20]",
        "ldr r3, [sp, #8]",
        "subs r3, r3, #1",
        "str r3, [sp, #8]",
        "bne 4b",
        "ldr r0, [sp, #24]",
        "ldr r3, [r12, #32]",
        "add r0, r0, r3",
        "str r0, [sp, #24]",
        "ldr r3, [sp, #28]",
        "subs r3, r3, #1",
        "str r3, [sp, #28]",
        "bne 5b",
        "add sp, sp, #40",
        "pop {{r4-r11, pc}}",
    )
}

/// A run of requantized outputs in assembly: per output three loads, the
/// 64-bit multiply and TFLM's two roundings, the zero point and the clamp.
/// The second rounding is a nudge and a shift when the shift is not
/// positive and `|x| <= 2^30` (then `|high| < 2^30` and the nudge cannot
/// overflow): about 28 instructions per output where the compiled loop
/// takes about 50. When `run.short` says every channel qualifies (checked
/// per run from the biases and the tap count), the loop does only that;
/// otherwise it checks each output and sends the others (a positive shift,
/// or the huge bias of a channel TFLite quantized to nothing) to TFLM's
/// mask-and-threshold rounding, so every output is exact either way.
#[inline(always)]
pub fn store_run(run: &StoreRun) {
    if run.count > 0 {
        // SAFETY: `StoreRun::new` checked that every pointer covers `count`
        // values (the accumulators `count` steps of `acc_step` bytes). The
        // kernel reads those, writes `count` bytes from `out`, and restores
        // every callee-saved register and the stack pointer.
        unsafe { store_run_asm(run) }
    }
}

/// r0 the run; its fields load into r0 (accumulators), r1 (bias), r2
/// (multipliers), r3 (shifts), r4 (output), r5 (count), r6 (accumulator
/// step), r7 (output zero point), r8 and r9 (clamp), then `short` decides
/// the loop. r10-r12 and lr are the temporaries; the rare general branch
/// borrows r0 and r1 on the stack.
#[unsafe(naked)]
unsafe extern "C" fn store_run_asm(run: *const StoreRun) {
    naked_asm!(
        ".arch armv7e-m",
        "push {{r4-r11, lr}}",
        "ldr r10, [r0, #40]",
        "mov r12, r0",
        "ldm r12, {{r0-r9}}",
        "cmp r10, #0",
        "beq 6f",
        // Every channel takes the short rounding.
        "2:",
        "ldr r10, [r0]",
        "add r0, r0, r6",
        "ldr r11, [r1], #4",
        "add r10, r10, r11",
        "ldr r11, [r3], #4",
        "ldr r12, [r2], #4",
        "smull r12, lr, r10, r12",
        "adds r12, r12, #0x40000000",
        "adc lr, lr, #0",
        "lsls lr, lr, #1",
        "orr lr, lr, r12, lsr #31",
        "rsbs r11, r11, #0",
        "beq 3f",
        "mov r12, #1",
        "lsl r12, r12, r11",
        "add lr, lr, lr, asr #31",
        "add lr, lr, r12, lsr #1",
        "asr lr, lr, r11",
        "3:",
        "qadd lr, lr, r7",
        "cmp lr, r8",
        "it lt",
        "movlt lr, r8",
        "cmp lr, r9",
        "it gt",
        "movgt lr, r9",
        "strb lr, [r4], #1",
        "subs r5, r5, #1",
        "bne 2b",
        "pop {{r4-r11, pc}}",
        // Each output checked: the short rounding needs shift <= 0 and
        // |x| <= 2^30.
        "6:",
        "ldr r10, [r0]",
        "add r0, r0, r6",
        "ldr r11, [r1], #4",
        "add r10, r10, r11",
        "ldr r11, [r3], #4",
        "cmp r11, #0",
        "bgt 5f",
        "eor r12, r10, r10, asr #31",
        "lsrs r12, r12, #30",
        "bne 5f",
        "ldr r12, [r2], #4",
        "smull r12, lr, r10, r12",
        "adds r12, r12, #0x40000000",
        "adc lr, lr, #0",
        "lsls lr, lr, #1",
        "orr lr, lr, r12, lsr #31",
        "rsbs r11, r11, #0",
        "beq 7f",
        "mov r12, #1",
        "lsl r12, r12, r11",
        "add lr, lr, lr, asr #31",
        "add lr, lr, r12, lsr #1",
        "asr lr, lr, r11",
        "7:",
        "qadd lr, lr, r7",
        "cmp lr, r8",
        "it lt",
        "movlt lr, r8",
        "cmp lr, r9",
        "it gt",
        "movgt lr, r9",
        "strb lr, [r4], #1",
        "subs r5, r5, #1",
        "bne 6b",
        "pop {{r4-r11, pc}}",
        // TFLM's rounding for any shift: x << max(shift, 0), the high
        // multiply, then (high >> e) + ((high & mask) > (mask >> 1) + (high < 0))
        // with e = max(-shift, 0) and mask = 2^e - 1.
        "5:",
        "push {{r0, r1}}",
        "usat r12, #5, r11",
        "lsl r10, r10, r12",
        "ldr r12, [r2], #4",
        "smull r12, lr, r10, r12",
        "adds r12, r12, #0x40000000",
        "adc lr, lr, #0",
        "lsls lr, lr, #1",
        "orr lr, lr, r12, lsr #31",
        "rsb r11, r11, #0",
        "usat r11, #5, r11",
        "mov r12, #1",
        "lsl r12, r12, r11",
        "sub r12, r12, #1",
        "and r0, lr, r12",
        "lsr r12, r12, #1",
        "add r12, r12, lr, lsr #31",
        "asr lr, lr, r11",
        "cmp r0, r12",
        "it gt",
        "addgt lr, lr, #1",
        "pop {{r0, r1}}",
        "b 7b",
    )
}
