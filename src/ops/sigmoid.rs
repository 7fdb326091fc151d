//! LOGISTIC and TANH in int8 (TFLM's gemmlowp fixed point, fixed output
//! quantization); their float32 forms are unary functions (`unary`).
//!
//! Layer: ops; uses `kernels::activation`.

use super::arena::{out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::activation::SigmoidParams;
use crate::kernels::activation::{logistic_s8, tanh_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// An int8 LOGISTIC or TANH: the input's scaling into Q4.27.
    pub struct SigmoidS8 {
        pub params: SigmoidParams,
        pub input: Span,
        pub output: Span,
    }
}

impl SigmoidS8 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.offsets(&[self.params.input_zero_point])?;
        c.shift(self.params.input_left_shift)?;
        c.elementwise(self.input, DType::I8, self.output, DType::I8)
    }
}

wire_struct! {
    /// int8 LOGISTIC (output scale 1/256, zero point -128).
    pub struct LogisticOp {
        pub sigmoid: SigmoidS8,
    }
}

impl OpDescriptor for LogisticOp {
    const NAME: &'static str = "LOGISTIC";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_logistic";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.sigmoid.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.sigmoid.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let s = &self.sigmoid;
        let (io, out) = split(arena, s.output);
        logistic_s8(&s.params, io.i8(s.input), out_i8(out));
    }
}

wire_struct! {
    /// int8 TANH (output scale 1/128, zero point 0).
    pub struct TanhOp {
        pub sigmoid: SigmoidS8,
    }
}

impl OpDescriptor for TanhOp {
    const NAME: &'static str = "TANH";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_tanh";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.sigmoid.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.sigmoid.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let s = &self.sigmoid;
        let (io, out) = split(arena, s.output);
        tanh_s8(&s.params, io.i8(s.input), out_i8(out));
    }
}
