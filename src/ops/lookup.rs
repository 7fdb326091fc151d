//! An int8 function of one value run as a 256-entry table in the weights
//! (int8 ABS and ELU).
//!
//! Layer: ops; uses `kernels::lookup`.

use super::arena::{constant, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::lookup::lookup;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `output[i] = table[input[i]]`, the table's 256 int8 values in flash.
    pub struct LookupOp {
        pub table: Span,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LookupOp {
    const NAME: &'static str = "LOOKUP";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_lookup";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.constant(self.table, 256, DType::I8, false)?;
        c.arena(self.input, u64::from(self.input.len), DType::I8)?;
        c.output(
            self.output,
            u64::from(self.input.len),
            DType::I8,
            &[self.input],
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        lookup(
            constant(weights, self.table),
            io.i8(self.input),
            out_i8(out),
        );
    }
}
