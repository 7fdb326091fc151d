//! PAD (constant), int8 (with the output zero point, as TFLM) and float32
//! (with any value).
//!
//! Layer: ops; uses `kernels::pad`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::pad::{pad_f32, pad_s8};
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
    /// int8 PAD with `value`, the output zero point.
    pub struct PadOp {
        pub params: PadParams,
        pub value: i8,
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
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_pad(c, &self.params, (self.input, self.output), DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        pad_s8(&self.params, self.value, io.i8(self.input), out_i8(out));
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
        pad_f32(&self.params, self.value, io.f32(self.input), out_f32(out));
    }
}
