//! MEAN and SUM over any set of axes, int8 and int16 (TFLM's requantized
//! sum, one op for both) and float32, and REDUCE_MAX, int8 and float32.
//!
//! Layer: ops; uses `kernels::mean`.

use super::arena::{out_f32, out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::mean::Extreme;
use crate::kernels::mean::{
    mean_f32, mean_s16, mean_s8, reduce_extreme_f32, reduce_extreme_s8, sum_f32,
};
pub use crate::kernels::mean::{MeanParams, Reduction};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The input and output of a reduction; `max_reduced` bounds how many
/// elements one output may sum.
fn check_reduction(
    c: &Checker,
    r: &Reduction,
    (input, output): (Span, Span),
    dtype: DType,
    max_reduced: u64,
) -> Result<(), Error> {
    let elements = crate::tensor::element_count(r.input_dims.iter().map(|&d| u64::from(d)));
    let reduced = r.reduced_elements();
    c.ensure(
        reduced > 0 && reduced < max_reduced,
        "reduction size out of range",
    )?;
    c.arena(input, elements, dtype)?;
    c.output(output, elements / reduced, dtype, &[input])
}

wire_struct! {
    /// int8 MEAN, and SUM (the same requantized sum, with a multiplier that
    /// does not divide by the count).
    pub struct MeanOp {
        pub params: MeanParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for MeanOp {
    const NAME: &'static str = "MEAN";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_mean";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.input_zero_point, p.output_zero_point])?;
        c.shift(p.shift)?;
        // The int32 sum of the reduced values stays exact.
        let spans = (self.input, self.output);
        check_reduction(c, &p.reduction, spans, DType::I8, 1 << 22)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        mean_s8(&self.params, io.i8(self.input), out_i8(out));
    }
}

wire_struct! {
    /// int16 MEAN and SUM (TFLite's 16x8 scheme: zero points 0).
    pub struct MeanS16Op {
        pub params: MeanParams,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for MeanS16Op {
    const NAME: &'static str = "MEAN (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_mean_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.ensure(
            p.input_zero_point == 0 && p.output_zero_point == 0,
            "int16 values have no zero point",
        )?;
        c.shift(p.shift)?;
        // The int32 sum of the reduced values stays exact.
        let spans = (self.input, self.output);
        check_reduction(c, &p.reduction, spans, DType::I16, 1 << 15)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        mean_s16(&self.params, io.i16(self.input), out_i16(out));
    }
}

wire_struct! {
    /// float32 MEAN.
    pub struct MeanF32Op {
        pub reduction: Reduction,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for MeanF32Op {
    const NAME: &'static str = "MEAN (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_mean_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input, self.output);
        check_reduction(c, &self.reduction, spans, DType::F32, u64::MAX)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        mean_f32(&self.reduction, io.f32(self.input), out_f32(out));
    }
}

wire_struct! {
    /// float32 SUM.
    pub struct SumF32Op {
        pub reduction: Reduction,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SumF32Op {
    const NAME: &'static str = "SUM (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_sum_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input, self.output);
        check_reduction(c, &self.reduction, spans, DType::F32, u64::MAX)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        sum_f32(&self.reduction, io.f32(self.input), out_f32(out));
    }
}

wire_struct! {
    /// int8 REDUCE_MAX or REDUCE_MIN (the output has the input's
    /// parameters).
    pub struct ReduceExtremeOp {
        pub reduction: Reduction,
        pub extreme: Extreme,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ReduceExtremeOp {
    const NAME: &'static str = "REDUCE_MAX/REDUCE_MIN";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_reduce_extreme";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input, self.output);
        check_reduction(c, &self.reduction, spans, DType::I8, u64::MAX)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        reduce_extreme_s8(
            &self.reduction,
            self.extreme,
            io.i8(self.input),
            out_i8(out),
        );
    }
}

wire_struct! {
    /// float32 REDUCE_MAX or REDUCE_MIN.
    pub struct ReduceExtremeF32Op {
        pub reduction: Reduction,
        pub extreme: Extreme,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ReduceExtremeF32Op {
    const NAME: &'static str = "REDUCE_MAX/REDUCE_MIN (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_reduce_extreme_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input, self.output);
        check_reduction(c, &self.reduction, spans, DType::F32, u64::MAX)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        reduce_extreme_f32(
            &self.reduction,
            self.extreme,
            io.f32(self.input),
            out_f32(out),
        );
    }
}
