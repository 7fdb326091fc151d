//! An int8 function of one value as a table of its 256 results: the codegen
//! fills the table with TFLM's own arithmetic for that op (its integer
//! formula, or the float lookup table TFLM itself builds), so the lookup is
//! bit-exact with it whatever the function.
//!
//! Layer: kernels; a pure function over slices.

/// `output[i] = table[input[i] as u8]`: the table lists the results for
/// inputs 0, 1, …, 127, -128, …, -1 (the inputs' bytes in order).
pub fn lookup(table: &[i8], input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = super::at(table, usize::from(x as u8), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_index_the_table_by_their_bytes() {
        let table: [i8; 256] = core::array::from_fn(|i| (i as u8 as i8).wrapping_neg());
        let mut out = [0i8; 4];
        lookup(&table, &[0, 5, -1, -128], &mut out);
        assert_eq!(out, [0, -5, 1, -128]);
    }
}
