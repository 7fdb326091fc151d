//! FILL: an output made of copies of one constant byte pattern (one value
//! for FILL and ZEROS_LIKE, the whole output for SHAPE, whose values the
//! codegen knows because shapes are static).
//!
//! Layer: kernels; a pure function over slices.

/// Writes `pattern` over `output` again and again; bytes past the last
/// whole copy (which the op's check rules out) stay as they were.
pub fn fill(pattern: &[u8], output: &mut [u8]) {
    if pattern.is_empty() {
        return;
    }
    for copy in output.chunks_exact_mut(pattern.len()) {
        copy.copy_from_slice(pattern);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_pattern_over_the_whole_output() {
        let mut out = [9u8; 6];
        fill(&[1, 2], &mut out);
        assert_eq!(out, [1, 2, 1, 2, 1, 2]);
        fill(&[], &mut out);
        assert_eq!(out, [1, 2, 1, 2, 1, 2]);
    }
}
