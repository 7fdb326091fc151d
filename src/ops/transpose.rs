//! TRANSPOSE of int8, int16 or float32 values (a permutation of bytes).
//!
//! Layer: ops; uses `kernels::transpose`.

use super::arena::split;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::transpose::transpose;
pub use crate::kernels::transpose::TransposeParams;
use crate::tensor::{DType, Span, MAX_RANK};
use crate::wire::wire_struct;

/// The element type of a byte-moving op's `element_size`: 1, 2 or 4 bytes.
pub(crate) fn element_type(c: &Checker, element_size: u32) -> Result<DType, Error> {
    match element_size {
        1 => Ok(DType::I8),
        2 => Ok(DType::I16),
        4 => Ok(DType::F32),
        _ => Err(c.fail("element size must be 1, 2 or 4")),
    }
}

wire_struct! {
    /// A permutation of dimensions, for any element type.
    pub struct TransposeOp {
        pub params: TransposeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for TransposeOp {
    const NAME: &'static str = "TRANSPOSE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_transpose";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        crate::tensor::element_count(self.params.input_dims.iter().map(|&d| u64::from(d)))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let dtype = element_type(c, p.element_size)?;
        let mut seen = [false; MAX_RANK];
        for &d in &p.perm {
            c.ensure(
                usize::from(d) < MAX_RANK && !seen[usize::from(d)],
                "not a permutation",
            )?;
            seen[usize::from(d)] = true;
        }
        let elements = crate::tensor::element_count(p.input_dims.iter().map(|&d| u64::from(d)));
        c.arena(self.input, elements, dtype)?;
        c.output(self.output, elements, dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        transpose(&self.params, io.bytes(self.input), out);
    }
}
