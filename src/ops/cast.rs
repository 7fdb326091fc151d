//! CAST between int8, int16, int32, float32 and bool values.
//!
//! Layer: ops; uses `kernels::cast`.

use super::arena::split;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::cast::cast;
pub use crate::kernels::cast::CastType;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// Each `from` value of `input` converted to a `to` value.
    pub struct CastOp {
        pub from: CastType,
        pub to: CastType,
        pub input: Span,
        pub output: Span,
    }
}

/// The arena type whose size and alignment a cast type's values have.
fn stored_as(t: CastType) -> DType {
    match t {
        CastType::I8 | CastType::Bool => DType::I8,
        CastType::I16 => DType::I16,
        CastType::I32 => DType::I32,
        CastType::F32 => DType::F32,
    }
}

impl OpDescriptor for CastOp {
    const NAME: &'static str = "CAST";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_cast";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len) / self.from.size() as u64
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.elementwise(
            self.input,
            stored_as(self.from),
            self.output,
            stored_as(self.to),
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        cast(self.from, self.to, io.bytes(self.input), out);
    }
}
