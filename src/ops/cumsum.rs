//! CUMSUM of int8 or float32 values.
//!
//! Layer: ops; uses `kernels::cumsum`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::add_n::AddNParams;
pub use crate::kernels::cumsum::CumSumShape;
use crate::kernels::cumsum::{cumsum_f32, cumsum_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// Running sums of `input` (`dtype` values, `shape`) along one axis;
    /// int8 with ADD_N's arithmetic (`params`).
    pub struct CumSumOp {
        pub params: AddNParams,
        pub dtype: DType,
        pub shape: CumSumShape,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for CumSumOp {
    const NAME: &'static str = "CUMSUM";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_cumsum";

    /// One thread per sum.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.shape.outer) * u64::from(self.shape.inner)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::F32),
            "CUMSUM of a type other than int8 or float32",
        )?;
        let s = &self.shape;
        c.positive(&[s.outer, s.depth, s.inner])?;
        let p = &self.params;
        c.offsets(&[p.input_offset, p.output_offset])?;
        c.shift(p.input_shift)?;
        c.shift(p.output_shift)?;
        c.arena(self.input, s.elements(), self.dtype)?;
        c.output(self.output, s.elements(), self.dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        match self.dtype {
            DType::I8 => cumsum_s8(&self.params, &self.shape, io.i8(self.input), out_i8(out)),
            _ => cumsum_f32(&self.shape, io.f32(self.input), out_f32(out)),
        }
    }
}
