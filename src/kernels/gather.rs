//! GATHER: slices of a table picked by int32 indices along one axis, for
//! any element size (it only moves bytes: quantization unchanged).
//!
//! Layer: kernels; a pure function over byte slices.

use crate::wire::wire_struct;

wire_struct! {
    /// The table read as `[batches, outer, axis, inner]` and the indices as
    /// `[batches, indices]`; the output is `[batches, outer, indices,
    /// inner]` (TFLM's `batch_dims` are the shared leading `batches`).
    #[derive(Eq)]
    pub struct GatherParams {
        /// Leading dimensions the table and the indices share.
        pub batches: u32,
        /// Table dimensions between those and the gathered axis.
        pub outer: u32,
        /// Length of the gathered axis.
        pub axis: u32,
        /// Indices per batch.
        pub indices: u32,
        /// Bytes of one gathered slice (the dimensions after the axis).
        pub inner_bytes: u32,
    }
}

impl GatherParams {
    /// Saturating, as every size a check compares: a descriptor whose
    /// product overflows cannot match its span.
    pub fn table_bytes(&self) -> u64 {
        crate::tensor::element_count([
            u64::from(self.batches),
            u64::from(self.outer),
            u64::from(self.axis),
            u64::from(self.inner_bytes),
        ])
    }

    pub fn output_bytes(&self) -> u64 {
        crate::tensor::element_count([
            u64::from(self.batches),
            u64::from(self.outer),
            u64::from(self.indices),
            u64::from(self.inner_bytes),
        ])
    }
}

/// Output slice `(b, o, c)` is table slice `(b, o, indices[b, c])`. An index
/// outside the axis writes zeros: TFLM fails the inference there, and kiln's
/// run cannot fail once the graph is checked.
pub fn gather(p: &GatherParams, table: &[u8], indices: &[i32], output: &mut [u8]) {
    let inner = p.inner_bytes as usize;
    let (outer, axis, count) = (p.outer as usize, p.axis as usize, p.indices as usize);
    // The output's rows bound the walk (an empty output walks nothing,
    // whatever the counts say).
    let Some(row_bytes) = count.checked_mul(inner).filter(|&n| n > 0) else {
        return;
    };
    for (row, out_row) in output.chunks_exact_mut(row_bytes).enumerate() {
        let picks = super::part(indices, row / outer.max(1) * count, count);
        for (out, &index) in out_row.chunks_exact_mut(inner.max(1)).zip(picks) {
            match usize::try_from(index).ok().filter(|&i| i < axis) {
                Some(i) => super::copy(out, super::part(table, (row * axis + i) * inner, inner)),
                None => out.fill(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_columns_of_every_row() {
        // A [2, 3] table gathered along axis 1 by [2, 0, 2, 7].
        let p = GatherParams {
            batches: 1,
            outer: 2,
            axis: 3,
            indices: 4,
            inner_bytes: 1,
        };
        let mut out = [9u8; 8];
        gather(&p, &[10, 11, 12, 20, 21, 22], &[2, 0, 2, 7], &mut out);
        assert_eq!(out, [12, 10, 12, 0, 22, 20, 22, 0]);
        assert_eq!((p.table_bytes(), p.output_bytes()), (6, 8));
    }

    #[test]
    fn batches_pick_with_their_own_indices() {
        // Two batches of a [2, 2] table of 2-byte rows, one index each.
        let p = GatherParams {
            batches: 2,
            outer: 1,
            axis: 2,
            indices: 1,
            inner_bytes: 2,
        };
        let mut out = [0u8; 4];
        gather(&p, &[1, 2, 3, 4, 5, 6, 7, 8], &[1, -1], &mut out);
        assert_eq!(out, [3, 4, 0, 0]);
    }

    #[test]
    fn the_output_bounds_the_walk() {
        // Counts whose product is far beyond the (empty) spans: nothing is
        // read or written, and the walk ends at once.
        let p = GatherParams {
            batches: u32::MAX,
            outer: u32::MAX,
            axis: 0,
            indices: 1,
            inner_bytes: 1,
        };
        gather(&p, &[], &[], &mut []);
        assert_eq!(p.table_bytes(), 0);
        assert_eq!(p.output_bytes(), u64::from(u32::MAX) * u64::from(u32::MAX));
    }
}
