//! QUANTIZE (float32 to int8) and DEQUANTIZE (int8 to float32) at the
//! edges of a model and around ops that run in float32.
//!
//! Layer: ops; uses `kernels::quantize`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::quantize::AffineParams;
use crate::kernels::quantize::{dequantize_s8_to_f32, quantize_f32_to_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// float32 to int8 with the output's scale and zero point.
    pub struct QuantizeOp {
        pub params: AffineParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for QuantizeOp {
    const NAME: &'static str = "QUANTIZE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_quantize";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(self.input, DType::F32, self.output, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        quantize_f32_to_s8(&self.params, io.f32(self.input), out_i8(out));
    }
}

wire_struct! {
    /// int8 to float32 with the input's scale and zero point.
    pub struct DequantizeOp {
        pub params: AffineParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for DequantizeOp {
    const NAME: &'static str = "DEQUANTIZE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_dequantize";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(self.input, DType::I8, self.output, DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        dequantize_s8_to_f32(&self.params, io.i8(self.input), out_f32(out));
    }
}
