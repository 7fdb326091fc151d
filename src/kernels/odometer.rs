//! Multi-dimensional index stepping shared by the kernels that walk a
//! tensor of up to `MAX_RANK` dimensions (pad, slice, transpose, mean), and
//! the row-major strides they address it with.
//!
//! Layer: kernels; uses `tensor`.

use crate::tensor::MAX_RANK;

/// Steps `index` to the next coordinate over the dimensions `selected`
/// picks, last dimension fastest; false once it wraps around to zero.
#[inline(always)]
pub fn advance(
    index: &mut [usize; MAX_RANK],
    dims: &[usize; MAX_RANK],
    selected: impl Fn(usize) -> bool,
) -> bool {
    for d in (0..MAX_RANK).rev() {
        if !selected(d) {
            continue;
        }
        index[d] += 1;
        if index[d] < dims[d] {
            return true;
        }
        index[d] = 0;
    }
    false
}

/// Row-major strides of `dims`, in units of `element` (1 for elements, the
/// element size for bytes).
#[inline(always)]
pub fn strides(dims: &[u32; MAX_RANK], element: usize) -> [usize; MAX_RANK] {
    let mut strides = [0usize; MAX_RANK];
    let mut stride = element;
    for d in (0..MAX_RANK).rev() {
        strides[d] = stride;
        // Saturating: a shape whose outer dimension is 0 may have inner
        // ones whose product overflows (its tensor is empty, so no index
        // is ever formed from these).
        stride = stride.saturating_mul(dims[d] as usize);
    }
    strides
}
