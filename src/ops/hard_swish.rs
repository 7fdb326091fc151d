//! HARD_SWISH, int8 (TFLM's 16-bit fixed point) and float32, and the
//! float32 HARD_SIGMOID it is built on (`x * hard_sigmoid(x)`).
//!
//! Layer: ops; uses `kernels::activation`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::activation::HardSwishParams;
use crate::kernels::activation::{hard_sigmoid_f32, hard_swish_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// int8 HARD_SWISH.
    pub struct HardSwishOp {
        pub params: HardSwishParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for HardSwishOp {
    const NAME: &'static str = "HARD_SWISH";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_hard_swish";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.input_zero_point, p.output_zero_point])?;
        c.ensure(
            (0..=i32::from(i16::MAX)).contains(&p.reluish_multiplier)
                && (0..=i32::from(i16::MAX)).contains(&p.output_multiplier),
            "HARD_SWISH multiplier outside Q15",
        )?;
        c.ensure(
            (-15..=15).contains(&p.reluish_exponent) && (-15..=0).contains(&p.output_exponent),
            "HARD_SWISH exponent out of range",
        )?;
        c.elementwise(self.input, DType::I8, self.output, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        hard_swish_s8(&self.params, io.i8(self.input), out_i8(out));
    }
}

wire_struct! {
    /// float32 HARD_SWISH (ONNX HardSwish: `x * clamp(x / 6 + 1/2, 0, 1)`).
    pub struct HardSwishF32Op {
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for HardSwishF32Op {
    const NAME: &'static str = "HARD_SWISH (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_hard_swish_f32";

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
        hard_sigmoid_f32(1.0 / 6.0, 0.5, true, io.f32(self.input), out_f32(out));
    }
}

wire_struct! {
    /// float32 HARD_SIGMOID (ONNX HardSigmoid: `clamp(alpha * x + beta, 0, 1)`).
    pub struct HardSigmoidF32Op {
        pub alpha: f32,
        pub beta: f32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for HardSigmoidF32Op {
    const NAME: &'static str = "HARD_SIGMOID (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_hard_sigmoid_f32";

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
        hard_sigmoid_f32(
            self.alpha,
            self.beta,
            false,
            io.f32(self.input),
            out_f32(out),
        );
    }
}
