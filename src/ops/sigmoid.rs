//! LOGISTIC and TANH, int8 (TFLM's gemmlowp fixed point, fixed output
//! quantization) and float32.
//!
//! Layer: ops; uses `kernels::activation`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::activation::SigmoidParams;
use crate::kernels::activation::{logistic_f32, logistic_s8, tanh_f32, tanh_s8};
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

wire_struct! {
    /// float32 LOGISTIC.
    pub struct LogisticF32Op {
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LogisticF32Op {
    const NAME: &'static str = "LOGISTIC (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_logistic_f32";

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
        logistic_f32(io.f32(self.input), out_f32(out));
    }
}

wire_struct! {
    /// float32 TANH.
    pub struct TanhF32Op {
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for TanhF32Op {
    const NAME: &'static str = "TANH (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_tanh_f32";

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
        tanh_f32(io.f32(self.input), out_f32(out));
    }
}
