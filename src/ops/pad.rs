//! PAD in each border mode: int8 (the constant the output zero point, as
//! TFLM), plain int16 and int32, and float32 (with any value).
//!
//! Layer: ops; uses `kernels::pad`.

use super::arena::{out_f32, out_i16, out_i32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::pad::pad;
pub use crate::kernels::pad::{PadMode, PadParams};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

fn check_pad(
    c: &Checker,
    p: &PadParams,
    (input, output): (Span, Span),
    dtype: DType,
) -> Result<(), Error> {
    let elements = crate::tensor::element_count(p.input_dims.iter().map(|&d| u64::from(d)));
    let padded = crate::tensor::element_count(
        p.input_dims
            .iter()
            .zip(p.before)
            .zip(p.after)
            .map(|((&d, b), a)| u64::from(d) + u64::from(b) + u64::from(a)),
    );
    c.arena(input, elements, dtype)?;
    c.output(output, padded, dtype, &[input])
}

wire_struct! {
    /// PAD of integers (`dtype`: int8, int16 or int32) with `value`: for
    /// quantized int8 the output zero point.
    pub struct PadOp {
        pub params: PadParams,
        pub dtype: DType,
        pub value: i32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for PadOp {
    const NAME: &'static str = "PAD";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_pad";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len) / self.dtype.size() as u64
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let fits = match self.dtype {
            DType::I8 => i8::try_from(self.value).is_ok(),
            DType::I16 => i16::try_from(self.value).is_ok(),
            DType::I32 => true,
            DType::F32 | DType::U32 | DType::U64 | DType::Bool => false,
        };
        c.ensure(fits, "an integer PAD whose value is not of its type")?;
        check_pad(c, &self.params, (self.input, self.output), self.dtype)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (p, v) = (&self.params, self.value);
        match self.dtype {
            DType::I8 => pad(p, v as i8, io.i8(self.input), out_i8(out)),
            DType::I16 => pad(p, v as i16, io.i16(self.input), out_i16(out)),
            DType::I32 => pad(p, v, io.i32(self.input), out_i32(out)),
            // Refused by the check.
            DType::F32 | DType::U32 | DType::U64 | DType::Bool => {}
        }
    }
}

wire_struct! {
    /// float32 PAD with `value`.
    pub struct PadF32Op {
        pub params: PadParams,
        pub value: f32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for PadF32Op {
    const NAME: &'static str = "PAD (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_pad_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_pad(c, &self.params, (self.input, self.output), DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        pad(&self.params, self.value, io.f32(self.input), out_f32(out));
    }
}
