//! SLICE with positive, negative or zero steps (BROADCAST_TO), of 1-, 2- or 4-byte values
//! (quantization unchanged: it only moves bytes).
//!
//! Layer: ops; uses `kernels::slice`.

use super::arena::split;
use super::transpose::element_type;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::slice::slice;
pub use crate::kernels::slice::SliceParams;
use crate::tensor::{Span, MAX_RANK};
use crate::wire::wire_struct;

wire_struct! {
    /// SLICE of 1-, 2- or 4-byte values (see `kernels::slice`).
    pub struct SliceOp {
        pub params: SliceParams,
        pub input: Span,
        pub output: Span,
    }
}

impl SliceOp {
    /// A copy of the bytes of `from` to `to` (as long as `from`).
    pub fn copy(from: Span, to: Span) -> SliceOp {
        let mut dims = [1; MAX_RANK];
        dims[MAX_RANK - 1] = from.len;
        SliceOp {
            params: SliceParams {
                input_dims: dims,
                output_dims: dims,
                begin: [0; MAX_RANK],
                step: [1; MAX_RANK],
                element_size: 1,
            },
            input: from,
            output: to,
        }
    }
}

impl OpDescriptor for SliceOp {
    const NAME: &'static str = "SLICE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_slice";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        crate::tensor::element_count(self.params.output_dims.iter().map(|&d| u64::from(d)))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let dtype = element_type(c, p.element_size)?;
        c.ensure(p.reads_inside(), "slice reads outside the input")?;
        let count = |dims: &[u32]| crate::tensor::element_count(dims.iter().map(|&d| u64::from(d)));
        c.arena(self.input, count(&p.input_dims), dtype)?;
        c.output(self.output, count(&p.output_dims), dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        slice(&self.params, io.bytes(self.input), out);
    }
}
