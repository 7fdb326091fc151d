//! GATHER: slices of a table picked by int32 indices along one axis, and
//! GATHER_ND: slices picked by tuples of indices into its leading axes,
//! for any element size (they only move bytes: quantization unchanged).
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

/// The most leading table axes a GATHER_ND index tuple addresses (TFLM's
/// `MAX_INDICES_ND`).
pub const MAX_INDEX_DEPTH: usize = 5;

wire_struct! {
    /// The indices read as `[lookups, depth]`: each row a tuple into the
    /// table's first `depth` axes (`dims`), which picks a slice of
    /// `slice_bytes` (the remaining axes); the output is the slices in
    /// order.
    #[derive(Eq)]
    pub struct GatherNdParams {
        pub lookups: u32,
        pub depth: u32,
        /// The table's first `depth` dimensions (the rest unused).
        pub dims: [u32; MAX_INDEX_DEPTH],
        pub slice_bytes: u32,
    }
}

impl GatherNdParams {
    /// Slices in the table; saturating.
    pub fn slices(&self) -> u64 {
        let depth = (self.depth as usize).min(MAX_INDEX_DEPTH);
        crate::tensor::element_count(self.dims[..depth].iter().map(|&d| u64::from(d)))
    }

    pub fn table_bytes(&self) -> u64 {
        crate::tensor::element_count([self.slices(), u64::from(self.slice_bytes)])
    }

    pub fn output_bytes(&self) -> u64 {
        crate::tensor::element_count([u64::from(self.lookups), u64::from(self.slice_bytes)])
    }

    /// The slice index tuple `tuple` picks, as TFLM computes it: each
    /// index times its axis's stride in slices, summed in an int32 (which
    /// wraps where TFLM's would), and only the sum checked against the
    /// table (so `[0, 5]` in a `[2, 3]` table is slice 5, as in TFLM).
    /// `None` outside the table.
    pub fn slice_of(&self, tuple: &[i32]) -> Option<usize> {
        let depth = tuple.len().min(MAX_INDEX_DEPTH);
        let mut slice = 0i32;
        let mut stride = 1i32;
        for d in (0..depth).rev() {
            slice = slice.wrapping_add(tuple[d].wrapping_mul(stride));
            stride = stride.wrapping_mul(self.dims[d] as i32);
        }
        usize::try_from(slice)
            .ok()
            .filter(|&s| (s as u64) < self.slices())
    }
}

/// Output slice `k` is the table slice the `k`th index tuple picks; a
/// tuple whose slice lies outside the table writes zeros (TFLM fails the
/// inference there, and kiln's run cannot fail once the graph is checked).
pub fn gather_nd(p: &GatherNdParams, table: &[u8], indices: &[i32], output: &mut [u8]) {
    let (size, depth) = (
        p.slice_bytes as usize,
        (p.depth as usize).min(MAX_INDEX_DEPTH),
    );
    if size == 0 {
        return;
    }
    for (k, out) in output.chunks_exact_mut(size).enumerate() {
        match p.slice_of(super::part(indices, k * depth, depth)) {
            Some(slice) => super::copy(out, super::part(table, slice * size, size)),
            None => out.fill(0),
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

    #[test]
    fn gather_nd_picks_rows_and_elements() {
        // A [2, 3] table: tuples of depth 2 pick elements, an outside one zero.
        let mut p = GatherNdParams {
            lookups: 3,
            depth: 2,
            dims: [2, 3, 0, 0, 0],
            slice_bytes: 1,
        };
        let table = [10u8, 11, 12, 20, 21, 22];
        let mut out = [9u8; 3];
        gather_nd(&p, &table, &[1, 2, 0, 1, 2, 0], &mut out);
        assert_eq!(out, [22, 11, 0]);
        // Only the flat position is checked, as TFLM does: [0, 5] is
        // element 5, [1, 3] lies past the table, [-1, 4] is element 1.
        gather_nd(&p, &table, &[0, 5, 1, 3, -1, 4], &mut out);
        assert_eq!(out, [22, 0, 11]);
        // Depth 1 picks whole rows.
        p.depth = 1;
        p.lookups = 2;
        p.slice_bytes = 3;
        let mut rows = [0u8; 6];
        gather_nd(&p, &table, &[1, 0], &mut rows);
        assert_eq!(rows, [20, 21, 22, 10, 11, 12]);
    }
}
