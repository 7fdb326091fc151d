//! REQUANTIZE: int8 to int8 rescaling with a clamp, which runs QUANTIZE
//! between int8 scales and the standalone RELU family in int8, and its
//! int16 twin (RELU and RELU6) and int16 ABS (a rescaling of the
//! magnitude); and CLAMP, the standalone RELU family (and ONNX Clip) in
//! float32.
//!
//! Layer: ops; uses `kernels::activation`.

use super::arena::{out_f32, out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::activation::RequantizeParams;
use crate::kernels::activation::{abs_s16, clamp_f32, requantize_s16, requantize_s8};
use crate::tensor::{DType, FloatRange, Span};
use crate::wire::wire_struct;

/// Zero points, shift and clamp of one int8 rescaling.
pub(crate) fn check_requantize(c: &Checker, p: &RequantizeParams) -> Result<(), Error> {
    c.offsets(&[p.input_zero_point, p.output_zero_point])?;
    c.shift(p.shift)?;
    c.range(p.activation_min, p.activation_max)
}

/// Zero points (0: TFLite's 16x8 scheme), shift and clamp of one int16
/// rescaling.
pub(crate) fn check_requantize_s16(c: &Checker, p: &RequantizeParams) -> Result<(), Error> {
    c.ensure(
        p.input_zero_point == 0 && p.output_zero_point == 0,
        "int16 values have no zero point",
    )?;
    c.shift(p.shift)?;
    c.range_i16(p.activation_min, p.activation_max)
}

wire_struct! {
    /// int8 to int8 rescaling with a clamp.
    pub struct RequantizeOp {
        pub params: RequantizeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for RequantizeOp {
    const NAME: &'static str = "REQUANTIZE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_requantize";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_requantize(c, &self.params)?;
        c.elementwise(self.input, DType::I8, self.output, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        requantize_s8(&self.params, io.i8(self.input), out_i8(out));
    }
}

wire_struct! {
    /// int16 to int16 rescaling with a clamp (standalone RELU and RELU6).
    pub struct RequantizeS16Op {
        pub params: RequantizeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for RequantizeS16Op {
    const NAME: &'static str = "REQUANTIZE (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_requantize_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_requantize_s16(c, &self.params)?;
        c.elementwise(self.input, DType::I16, self.output, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        requantize_s16(&self.params, io.i16(self.input), out_i16(out));
    }
}

wire_struct! {
    /// int16 ABS: the magnitude, rescaled with a clamp (int8 ABS is a
    /// table, `LookupOp`).
    pub struct AbsS16Op {
        pub params: RequantizeParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for AbsS16Op {
    const NAME: &'static str = "ABS (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_abs_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_requantize_s16(c, &self.params)?;
        c.elementwise(self.input, DType::I16, self.output, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        abs_s16(&self.params, io.i16(self.input), out_i16(out));
    }
}

wire_struct! {
    /// float32 clamp to `range` (standalone RELU, RELU6, RELU_N1_TO_1, Clip).
    pub struct ClampF32Op {
        pub range: FloatRange,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ClampF32Op {
    const NAME: &'static str = "RELU (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_clamp_f32";

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
        clamp_f32(self.range, io.f32(self.input), out_f32(out));
    }
}
