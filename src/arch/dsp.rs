//! The micro-kernels of the GEMM paths on Cortex-M cores with the DSP
//! extension (`kiln_dsp`, set by `build.rs`). A filter word of four int8
//! weights becomes two pairs with SXTB16 (`w0, w2` and, rotated, `w1, w3`);
//! the columns hold their i16 values in that order (`ORDER`), so one SMLAD
//! multiplies and accumulates two products. The dot products are naked
//! functions: they need every register (the frame pointer r7 included,
//! which an `asm!` block may not name) to keep four accumulators, the
//! column words and a filter word without spilling.
//!
//! Layer: arch; `unsafe` for the assembly, each block with its `SAFETY`.

use core::arch::{asm, naked_asm};

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

/// Dot products of two interleaved columns (`groups` groups of eight
/// slots: four of column 0, four of column 1) with two filter rows:
/// `[col0·w0, col1·w0, col0·w1, col1·w1]`.
#[inline(always)]
pub fn dot_2x2(cols: &[i16], w0: &[i8], w1: &[i8], groups: usize) -> [i32; 4] {
    assert!(
        cols.len() >= 8 * groups
            && w0.len() >= 4 * groups
            && w1.len() >= 4 * groups
            && cols.as_ptr() as usize % 4 == 0
    );
    let mut acc = [0i32; 4];
    if groups > 0 {
        let row_distance = (w1.as_ptr() as isize).wrapping_sub(w0.as_ptr() as isize);
        // SAFETY: the assertion above: the kernel reads `8 * groups` i16
        // from the word-aligned `cols` (LDM needs the alignment) and
        // `4 * groups` bytes from each row, and writes the four
        // accumulators of `acc`. It restores every callee-saved register.
        unsafe {
            dot_2x2_asm(
                cols.as_ptr(),
                w0.as_ptr(),
                row_distance,
                groups as u32,
                &mut acc,
            );
        }
    }
    acc
}

/// r0 columns, r1 row 0 (post-incremented), r2 the distance to row 1 (less
/// four once r1 has moved), r3 groups (at least one), [sp] the four
/// accumulators. Per group: one LDM of both columns' four words, then per
/// row a load, two SXTB16 and four SMLAD.
#[unsafe(naked)]
unsafe extern "C" fn dot_2x2_asm(
    cols: *const i16,
    w0: *const i8,
    row_distance: isize,
    groups: u32,
    acc: *mut [i32; 4],
) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "subs r2, r2, #4",
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
        "ldr r12, [sp, #36]",
        "stm r12, {{r4, r5, r6, r7}}",
        "pop {{r4-r11, pc}}",
    )
}

/// Dot products of one column (`groups` groups of four slots) with four
/// filter rows.
#[inline(always)]
pub fn dot_1x4(col: &[i16], w: [&[i8]; 4], groups: usize) -> [i32; 4] {
    assert!(
        col.len() >= 4 * groups
            && w.iter().all(|row| row.len() >= 4 * groups)
            && col.as_ptr() as usize % 4 == 0
    );
    let mut acc = [0i32; 4];
    if groups > 0 {
        let base = w[0].as_ptr() as isize;
        let distance = |row: &[i8]| (row.as_ptr() as isize).wrapping_sub(base);
        // SAFETY: the assertion above: the kernel reads `4 * groups` i16
        // from the word-aligned `col` (LDRD needs the alignment) and
        // `4 * groups` bytes from each row, and writes the four
        // accumulators of `acc`. It restores every callee-saved register.
        unsafe {
            dot_1x4_asm(
                col.as_ptr(),
                w[0].as_ptr(),
                distance(w[1]),
                distance(w[2]),
                distance(w[3]),
                groups as u32,
                &mut acc,
            );
        }
    }
    acc
}

/// r0 column, r1 row 0 (post-incremented, so rows 1 to 3 are read first),
/// r2 and r3 the distances to rows 1 and 2, then on the stack the distance
/// to row 3, the groups (at least one) and the four accumulators. Per
/// group: one LDRD of the column's two words, then per row a load, two
/// SXTB16 and two SMLAD.
#[unsafe(naked)]
unsafe extern "C" fn dot_1x4_asm(
    col: *const i16,
    w0: *const i8,
    distance1: isize,
    distance2: isize,
    distance3: isize,
    groups: u32,
    acc: *mut [i32; 4],
) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "ldr r12, [sp, #36]",
        "ldr lr, [sp, #40]",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "2:",
        "ldrd r8, r9, [r0], #8",
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
        "subs lr, lr, #1",
        "bne 2b",
        "ldr r12, [sp, #44]",
        "stm r12, {{r4, r5, r6, r7}}",
        "pop {{r4-r11, pc}}",
    )
}
