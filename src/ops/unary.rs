//! The float32 functions of one value (EXP, SQRT, RSQRT, LOG, ABS, NEG,
//! SQUARE, SIN, COS, FLOOR, CEIL, ROUND, ELU, LOGISTIC, TANH): one
//! descriptor, the function a field.
//!
//! Layer: ops; uses `kernels::unary`.

use super::arena::{out_f32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::unary::unary_f32;
pub use crate::kernels::unary::UnaryFunction;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// A float32 function of each input value.
    pub struct UnaryF32Op {
        pub function: UnaryFunction,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for UnaryF32Op {
    const NAME: &'static str = "unary function (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_unary_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(self.input, DType::F32, self.output, DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        unary_f32(self.function, io.f32(self.input), out_f32(out));
    }
}
