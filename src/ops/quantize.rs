//! QUANTIZE (float32 to int8) and DEQUANTIZE (int8 to float32) at the
//! edges of a model and around ops that run in float32; QUANTIZE between
//! integer widths at the edges of int16 layers.
//!
//! Layer: ops; uses `kernels::quantize`.

use super::arena::{out_f32, out_i16, out_i32, out_i8, split, Inputs};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::quantize::{
    dequantize_s16_to_f32, dequantize_s8_to_f32, quantize_f32_to_s16, quantize_f32_to_s8,
    requantize_int, IntElement,
};
pub use crate::kernels::quantize::{AffineParams, IntRequantizeParams};
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

wire_struct! {
    /// QUANTIZE from float32 to int16.
    pub struct QuantizeS16Op {
        pub params: AffineParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for QuantizeS16Op {
    const NAME: &'static str = "QUANTIZE (float32 to int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_quantize_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(self.input, DType::F32, self.output, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        quantize_f32_to_s16(&self.params, io.f32(self.input), out_i16(out));
    }
}

wire_struct! {
    /// DEQUANTIZE from int16 to float32.
    pub struct DequantizeS16Op {
        pub params: AffineParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for DequantizeS16Op {
    const NAME: &'static str = "DEQUANTIZE (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_dequantize_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(self.input, DType::I16, self.output, DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        dequantize_s16_to_f32(&self.params, io.i16(self.input), out_f32(out));
    }
}

wire_struct! {
    /// QUANTIZE from one integer type to another (int8, int16, int32, in
    /// any pair but int8 to int8, which `RequantizeOp` runs).
    pub struct RequantizeIntOp {
        pub params: IntRequantizeParams,
        pub input_type: DType,
        pub output_type: DType,
        pub input: Span,
        pub output: Span,
    }
}

/// The range of a quantized integer type's values (`None` for float32 and
/// for the unsigned types, which TFLite never quantizes).
fn int_range(dtype: DType) -> Option<(i64, i64)> {
    match dtype {
        DType::I8 => Some((i8::MIN.into(), i8::MAX.into())),
        DType::I16 => Some((i16::MIN.into(), i16::MAX.into())),
        DType::I32 => Some((i32::MIN.into(), i32::MAX.into())),
        DType::F32 | DType::U32 | DType::U64 | DType::Bool => None,
    }
}

/// Requantizes `input` (read as `I`) into `out` as the output type says.
fn requantize_into<I: IntElement>(op: &RequantizeIntOp, input: &[I], out: &mut [u8]) {
    let p = &op.params;
    match op.output_type {
        DType::I8 => requantize_int(p, input, out_i8(out)),
        DType::I16 => requantize_int(p, input, out_i16(out)),
        DType::I32 => requantize_int(p, input, out_i32(out)),
        // `check` refuses them.
        DType::F32 | DType::U32 | DType::U64 | DType::Bool => {}
    }
}

impl RequantizeIntOp {
    fn run_on(&self, io: &Inputs, out: &mut [u8]) {
        match self.input_type {
            DType::I8 => requantize_into(self, io.i8(self.input), out),
            DType::I16 => requantize_into(self, io.i16(self.input), out),
            DType::I32 => requantize_into(self, io.i32(self.input), out),
            DType::F32 | DType::U32 | DType::U64 | DType::Bool => {}
        }
    }
}

impl OpDescriptor for RequantizeIntOp {
    const NAME: &'static str = "QUANTIZE (integer widths)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_requantize_int";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len) / self.output_type.size() as u64
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let (Some((in_min, in_max)), Some((out_min, out_max))) =
            (int_range(self.input_type), int_range(self.output_type))
        else {
            return Err(c.fail("QUANTIZE between integer types on a float32 or unsigned tensor"));
        };
        c.ensure(
            (in_min..=in_max).contains(&i64::from(p.input_zero_point))
                && (out_min..=out_max).contains(&i64::from(p.output_zero_point)),
            "zero point outside its type",
        )?;
        c.shift(p.shift)?;
        c.elementwise(self.input, self.input_type, self.output, self.output_type)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        self.run_on(&io, out);
    }
}
