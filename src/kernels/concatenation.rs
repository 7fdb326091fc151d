//! CONCATENATION. TFLM requires every input to share the output's
//! quantization for int8, so concatenation is a strided copy of bytes and
//! works for any element type.
//!
//! In place, the output lies over one input, the first (at the output's
//! start) or the last (at its end): that input's rows are spread to their
//! places first, then the others are copied between them.
//!
//! Layer: kernels; pure functions over byte slices.

/// Copies one input into its place in the output. Both are viewed as `outer`
/// rows: the input's rows are `input.len() / outer` bytes long and land at
/// byte `column` of each output row.
pub fn concatenate_into(outer: usize, input: &[u8], output: &mut [u8], column: usize) {
    if outer == 0 {
        return;
    }
    let in_row = input.len() / outer;
    let out_row = output.len() / outer;
    for (row, chunk) in input.chunks_exact(in_row.max(1)).take(outer).enumerate() {
        super::copy(
            super::part_mut(output, row * out_row + column, in_row),
            chunk,
        );
    }
}

/// Spreads an input that lies at the start of `output` (or, `at_end`, at
/// its end) to its place among `outer` rows of the output: its row `o` of
/// `in_row` bytes goes to the start of output row `o` (or to that row's
/// last `in_row` bytes). Row `o` moves `o * gap` bytes on (or
/// `(outer - 1 - o) * gap` back), `gap` being the bytes the other inputs
/// add to a row; so moving the rows last to first (or first to last)
/// writes only over rows already moved, and over the row itself, which
/// [`move_within`](super::move_within) copies as `memmove` does. Sizes that
/// do not fit `output` move nothing (the checks exclude them).
pub fn spread_rows(outer: usize, in_row: usize, output: &mut [u8], at_end: bool) {
    let Some(out_row) = output.len().checked_div(outer) else {
        return;
    };
    let Some(gap) = out_row.checked_sub(in_row) else {
        return;
    };
    let moved = outer.saturating_mul(in_row);
    let Some(first) = (if at_end {
        output.len().checked_sub(moved)
    } else {
        Some(0)
    }) else {
        return;
    };
    let column = if at_end { gap } else { 0 };
    let mut move_row = |o: usize| {
        let from = first + o * in_row;
        super::move_within(output, from, o * out_row + column, in_row);
    };
    if at_end {
        (0..outer).for_each(&mut move_row);
    } else {
        (0..outer).rev().for_each(&mut move_row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spreading an input in place, then copying the others, gives the
    /// bytes of the copy out of place, on random shapes and either end.
    #[test]
    fn spreading_in_place_matches_the_copy() {
        let mut seed = 5u64;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..500 {
            let outer = 1 + next(6);
            let rows: Vec<usize> = (0..1 + next(4)).map(|_| next(5)).collect();
            let inputs: Vec<Vec<u8>> = rows
                .iter()
                .map(|&r| (0..outer * r).map(|_| next(256) as u8).collect())
                .collect();
            let out_row: usize = rows.iter().sum();
            let mut want = vec![0u8; outer * out_row];
            let mut column = 0;
            for input in &inputs {
                concatenate_into(outer, input, &mut want, column);
                column += input.len() / outer;
            }
            for at_end in [false, true] {
                let over = if at_end { inputs.len() - 1 } else { 0 };
                let mut got = vec![0xee; outer * out_row];
                let start = if at_end {
                    got.len() - inputs[over].len()
                } else {
                    0
                };
                got[start..][..inputs[over].len()].copy_from_slice(&inputs[over]);
                spread_rows(outer, rows[over], &mut got, at_end);
                let mut column = 0;
                for (k, input) in inputs.iter().enumerate() {
                    if k != over {
                        concatenate_into(outer, input, &mut got, column);
                    }
                    column += rows[k];
                }
                assert_eq!(got, want, "outer {outer}, rows {rows:?}, at end {at_end}");
            }
        }
    }

    #[test]
    fn interleaves_rows_along_the_axis() {
        // [2, 2] ++ [2, 1] along axis 1 -> [2, 3]
        let mut out = [0u8; 6];
        concatenate_into(2, &[1, 2, 3, 4], &mut out, 0);
        concatenate_into(2, &[9, 8], &mut out, 2);
        assert_eq!(out, [1, 2, 9, 3, 4, 8]);
    }

    #[test]
    fn outer_one_is_a_plain_append() {
        let mut out = [0u8; 5];
        concatenate_into(1, &[1, 2], &mut out, 0);
        concatenate_into(1, &[3, 4, 5], &mut out, 2);
        assert_eq!(out, [1, 2, 3, 4, 5]);
    }
}
