//! LEAKY_RELU, int8 and int16 (two rescalings, as TFLM) and float32.
//!
//! Layer: ops; uses `kernels::activation` and the rescaling check of
//! `ops::requantize`.

use super::arena::{out_f32, out_i16, out_i8, split};
use super::requantize::{check_requantize, check_requantize_s16, RequantizeParams};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::activation::{leaky_relu_f32, leaky_relu_s16, leaky_relu_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// int8 LEAKY_RELU: `positive` rescales inputs at or above the zero
    /// point, `negative` (alpha folded into its multiplier) those below.
    pub struct LeakyReluOp {
        pub positive: RequantizeParams,
        pub negative: RequantizeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LeakyReluOp {
    const NAME: &'static str = "LEAKY_RELU";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_leaky_relu";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_requantize(c, &self.positive)?;
        check_requantize(c, &self.negative)?;
        c.ensure(
            self.positive.input_zero_point == self.negative.input_zero_point,
            "the two rescalings read different zero points",
        )?;
        c.elementwise(self.input, DType::I8, self.output, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        leaky_relu_s8(
            &self.positive,
            &self.negative,
            io.i8(self.input),
            out_i8(out),
        );
    }
}

wire_struct! {
    /// float32 LEAKY_RELU: `x` if `x >= 0`, else `alpha * x`.
    pub struct LeakyReluF32Op {
        pub alpha: f32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LeakyReluF32Op {
    const NAME: &'static str = "LEAKY_RELU (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_leaky_relu_f32";

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
        leaky_relu_f32(self.alpha, io.f32(self.input), out_f32(out));
    }
}

wire_struct! {
    /// int16 LEAKY_RELU (TFLite's 16x8 scheme: zero points 0), rescaled
    /// as [`LeakyReluOp`].
    pub struct LeakyReluS16Op {
        pub positive: RequantizeParams,
        pub negative: RequantizeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LeakyReluS16Op {
    const NAME: &'static str = "LEAKY_RELU (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_leaky_relu_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        for p in [&self.positive, &self.negative] {
            check_requantize_s16(c, p)?;
        }
        c.elementwise(self.input, DType::I16, self.output, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        leaky_relu_s16(
            &self.positive,
            &self.negative,
            io.i16(self.input),
            out_i16(out),
        );
    }
}
