//! CONCATENATION of int8 or float32 values: a strided copy of bytes (TFLM
//! requires every int8 input to share the output's quantization).
//!
//! Layer: ops; uses `kernels::concatenation`.

use super::arena::split;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::concatenation::concatenate_into;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The most inputs one CONCATENATION takes, TFLM's `kMaxInputNum`; the
/// codegen rejects more.
pub const MAX_CONCAT_INPUTS: usize = 10;

wire_struct! {
    /// The first `count` of `inputs` are copied, in order, into `outer` rows
    /// of the output. A fixed array keeps ops free of borrowed data.
    pub struct ConcatenationOp {
        pub outer: u32,
        pub count: u32,
        pub inputs: [Span; MAX_CONCAT_INPUTS],
        pub output: Span,
    }
}

impl ConcatenationOp {
    pub fn inputs(&self) -> &[Span] {
        &self.inputs[..(self.count as usize).min(MAX_CONCAT_INPUTS)]
    }
}

impl OpDescriptor for ConcatenationOp {
    const NAME: &'static str = "CONCATENATION";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_concatenation";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(self.outer > 0, "zero rows")?;
        c.ensure(self.count as usize <= MAX_CONCAT_INPUTS, "too many inputs")?;
        let mut total = 0u64;
        for &input in self.inputs() {
            c.ensure(
                input.len % self.outer == 0,
                "input does not split into rows",
            )?;
            c.arena(input, u64::from(input.len), DType::I8)?;
            total += u64::from(input.len);
        }
        c.output(self.output, total, DType::I8, self.inputs())
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let mut column = 0;
        for &input in self.inputs() {
            let bytes = io.bytes(input);
            concatenate_into(self.outer as usize, bytes, out, column);
            column += bytes.len() / (self.outer.max(1) as usize);
        }
    }
}
