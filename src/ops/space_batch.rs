//! SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND of int8 or float32 pixels (any
//! element size moves alike).
//!
//! Layer: ops; uses `kernels::space_batch`.

use super::arena::split;
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::space_batch::SpaceBatchParams;
use crate::kernels::space_batch::{batch_to_space, space_to_batch};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// SPACE_TO_BATCH_ND (see `kernels::space_batch`).
    pub struct SpaceToBatchOp {
        pub params: SpaceBatchParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SpaceToBatchOp {
    const NAME: &'static str = "SPACE_TO_BATCH_ND";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_space_to_batch";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        SpaceBatchParams::pixels(self.params.output_dims)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            self.params.fits_space_to_batch(),
            "output shape does not fit the blocks and padding",
        )?;
        check_pixels(c, &self.params, self.input, self.output)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        space_to_batch(&self.params, io.bytes(self.input), out);
    }
}

wire_struct! {
    /// BATCH_TO_SPACE_ND (see `kernels::space_batch`).
    pub struct BatchToSpaceOp {
        pub params: SpaceBatchParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for BatchToSpaceOp {
    const NAME: &'static str = "BATCH_TO_SPACE_ND";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_batch_to_space";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        SpaceBatchParams::pixels(self.params.output_dims)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            self.params.fits_batch_to_space(),
            "output shape does not fit the blocks and crops",
        )?;
        check_pixels(c, &self.params, self.input, self.output)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        batch_to_space(&self.params, io.bytes(self.input), out);
    }
}

/// Spans of the pixels both shapes give, in bytes (the checker counts
/// int8 values, which are bytes).
fn check_pixels(c: &Checker, p: &SpaceBatchParams, input: Span, output: Span) -> Result<(), Error> {
    c.positive(&[p.pixel_bytes])?;
    let bytes = |dims| {
        crate::tensor::element_count([SpaceBatchParams::pixels(dims), u64::from(p.pixel_bytes)])
    };
    c.arena(input, bytes(p.input_dims), DType::I8)?;
    c.output(output, bytes(p.output_dims), DType::I8, &[input])
}
