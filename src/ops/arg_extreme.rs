//! ARG_MAX and ARG_MIN of int8, int16, int32 or float32 values, to int32
//! indices.
//!
//! Layer: ops; uses `kernels::arg_extreme`.

use super::arena::{out_i32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::arg_extreme::arg_extreme;
pub use crate::kernels::arg_extreme::ArgExtremeParams;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// ARG_MAX or ARG_MIN (`params.extreme`) of `dtype` values.
    pub struct ArgExtremeOp {
        pub params: ArgExtremeParams,
        pub dtype: DType,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ArgExtremeOp {
    const NAME: &'static str = "ARG_MAX/ARG_MIN";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_arg_extreme";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.positive(&[p.axis])?;
        c.ensure(
            !matches!(self.dtype, DType::U32 | DType::U64 | DType::Bool),
            "ARG_MAX or ARG_MIN of unsigned values or bools",
        )?;
        let rows = crate::tensor::element_count([u64::from(p.outer), u64::from(p.inner)]);
        let elements = crate::tensor::element_count([rows, u64::from(p.axis)]);
        c.arena(self.input, elements, self.dtype)?;
        c.output(self.output, rows, DType::I32, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (p, out) = (&self.params, out_i32(out));
        match self.dtype {
            DType::I8 => arg_extreme(p, io.i8(self.input), out),
            DType::I16 => arg_extreme(p, io.i16(self.input), out),
            DType::I32 => arg_extreme(p, io.i32(self.input), out),
            DType::F32 => arg_extreme(p, io.f32(self.input), out),
            // Refused by the check.
            DType::U32 | DType::U64 | DType::Bool => {}
        }
    }
}
