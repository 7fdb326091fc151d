//! SOFTMAX over the last axis, int8 to int8 or int16 (TFLM's fixed point),
//! int16 to int16 (TFLM's tables) and float32, and LOG_SOFTMAX of int8 or
//! float32.
//!
//! Layer: ops; uses `kernels::softmax`.

use super::arena::{constant, out_f32, out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::softmax::{
    log_softmax_f32, log_softmax_s8, softmax_f32, softmax_s16, softmax_s8, softmax_s8_to_s16,
};
pub use crate::kernels::softmax::{
    LogSoftmaxParams, SoftmaxInt16Params, SoftmaxParams, INT16_TABLE_LEN,
};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// int8 SOFTMAX (output scale 1/256, zero point -128).
    pub struct SoftmaxOp {
        pub params: SoftmaxParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SoftmaxOp {
    const NAME: &'static str = "SOFTMAX";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_softmax";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.outer)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_softmax(c, &self.params, self.input, self.output, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        softmax_s8(&self.params, io.i8(self.input), out_i8(out));
    }
}

/// The checks of an int8 SOFTMAX writing `output_type`.
fn check_softmax(
    c: &Checker,
    p: &SoftmaxParams,
    input: Span,
    output: Span,
    output_type: DType,
) -> Result<(), Error> {
    // A row's sum of exponentials (each at most 2^19 in Q12.19) stays in
    // i32; rows are not empty (billions of empty rows would pass the span
    // checks and run for minutes: the fuzzer found one).
    c.positive(&[p.depth])?;
    c.ensure(p.depth < 1 << 12 && p.diff_min <= 0, "softmax row too long")?;
    c.ensure(
        (0..=31).contains(&p.input_left_shift),
        "softmax shift out of range",
    )?;
    let n = u64::from(p.outer) * u64::from(p.depth);
    c.arena(input, n, DType::I8)?;
    c.output(output, n, output_type, &[input])
}

wire_struct! {
    /// int8 SOFTMAX to int16 (output scale 1/65536, zero point -32768):
    /// where an int8 layer feeds an int16 model's output.
    pub struct SoftmaxS16Op {
        pub params: SoftmaxParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SoftmaxS16Op {
    const NAME: &'static str = "SOFTMAX (int16 output)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_softmax_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.outer)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_softmax(c, &self.params, self.input, self.output, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        softmax_s8_to_s16(&self.params, io.i8(self.input), out_i16(out));
    }
}

wire_struct! {
    /// int16 SOFTMAX (int16 in and out, TFLM's `SoftmaxInt16`): its two
    /// tables live in the weights.
    pub struct SoftmaxInt16Op {
        pub params: SoftmaxInt16Params,
        pub exp_table: Span,
        pub reciprocal_table: Span,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SoftmaxInt16Op {
    const NAME: &'static str = "SOFTMAX (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_softmax_int16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.outer)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.positive(&[p.depth])?;
        // A row's int32 sum of exponentials (each below 2^15) stays exact.
        c.ensure(p.depth < 1 << 16, "softmax row too long")?;
        c.shift(p.input_shift)?;
        let len = INT16_TABLE_LEN as u64;
        c.constant(self.exp_table, len, DType::I16, false)?;
        c.constant(self.reciprocal_table, len, DType::I16, false)?;
        let n = u64::from(p.outer) * u64::from(p.depth);
        c.arena(self.input, n, DType::I16)?;
        c.output(self.output, n, DType::I16, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let tables = (
            constant(weights, self.exp_table),
            constant(weights, self.reciprocal_table),
        );
        softmax_s16(&self.params, tables, io.i16(self.input), out_i16(out));
    }
}

wire_struct! {
    /// float32 SOFTMAX: `outer` rows of `depth` values, with `beta`.
    pub struct SoftmaxF32Op {
        pub outer: u32,
        pub depth: u32,
        pub beta: f32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SoftmaxF32Op {
    const NAME: &'static str = "SOFTMAX (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_softmax_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.outer)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.depth])?;
        let n = u64::from(self.outer) * u64::from(self.depth);
        c.arena(self.input, n, DType::F32)?;
        c.output(self.output, n, DType::F32, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        softmax_f32(
            self.outer as usize,
            self.depth as usize,
            self.beta,
            io.f32(self.input),
            out_f32(out),
        );
    }
}

wire_struct! {
    /// LOG_SOFTMAX of `dtype` values over rows (int8: output scale 16/256,
    /// zero point 127; float32 reads only the geometry of `params`).
    pub struct LogSoftmaxOp {
        pub params: LogSoftmaxParams,
        pub dtype: DType,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LogSoftmaxOp {
    const NAME: &'static str = "LOG_SOFTMAX";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_log_softmax";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.softmax.outer)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        match self.dtype {
            DType::I8 => {
                c.ensure(
                    (-31..=0).contains(&p.reverse_scaling_left_shift),
                    "log softmax shift out of range",
                )?;
                check_softmax(c, &p.softmax, self.input, self.output, DType::I8)
            }
            DType::F32 => {
                c.positive(&[p.softmax.depth])?;
                let n = u64::from(p.softmax.outer) * u64::from(p.softmax.depth);
                c.arena(self.input, n, DType::F32)?;
                c.output(self.output, n, DType::F32, &[self.input])
            }
            _ => Err(c.fail("LOG_SOFTMAX of a type other than int8 or float32")),
        }
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let p = &self.params;
        match self.dtype {
            DType::I8 => log_softmax_s8(p, io.i8(self.input), out_i8(out)),
            _ => log_softmax_f32(
                p.softmax.outer as usize,
                p.softmax.depth as usize,
                io.f32(self.input),
                out_f32(out),
            ),
        }
    }
}
