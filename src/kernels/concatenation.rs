//! CONCATENATION. TFLM requires every input to share the output's
//! quantization for int8, so concatenation is a strided copy of bytes and
//! works for any element type.
//!
//! Layer: kernels; a pure function over byte slices.

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

#[cfg(test)]
mod tests {
    use super::*;

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
