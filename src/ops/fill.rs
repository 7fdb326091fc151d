//! FILL, ZEROS_LIKE and SHAPE: an output of copies of a constant.
//!
//! Layer: ops; uses `kernels::fill`.

use super::arena::{constant, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::fill::fill;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `output` (`dtype` values) made of copies of `value`, one or more
    /// `dtype` values in the weights.
    pub struct FillOp {
        pub dtype: DType,
        pub value: Span,
        pub output: Span,
    }
}

impl OpDescriptor for FillOp {
    const NAME: &'static str = "FILL";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_fill";

    /// One thread per output byte.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let size = self.dtype.size() as u64;
        let values = u64::from(self.value.len) / size;
        c.ensure(values > 0, "FILL with no value")?;
        c.constant(self.value, values, self.dtype, false)?;
        c.ensure(
            u64::from(self.output.len).is_multiple_of(u64::from(self.value.len)),
            "FILL output not a whole number of copies of its value",
        )?;
        c.output(
            self.output,
            u64::from(self.output.len) / size,
            self.dtype,
            &[],
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (_, out) = split(arena, self.output);
        fill(constant(weights, self.value), out);
    }
}
