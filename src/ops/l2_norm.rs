//! L2_NORMALIZATION of int8 or float32 rows.
//!
//! Layer: ops; uses `kernels::l2_norm`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::l2_norm::{l2_normalize_f32, l2_normalize_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// L2_NORMALIZATION of `rows` rows of `depth` `dtype` values (int8
    /// ones around `input_zero_point`, written in 1/128ths).
    pub struct L2NormOp {
        pub rows: u32,
        pub depth: u32,
        pub input_zero_point: i32,
        pub dtype: DType,
        pub input: Span,
        pub output: Span,
    }
}

/// The most values an int8 row may have: its sum of squares (each at most
/// 255²) must not wrap an int32, as TFLM's does not.
pub const L2_NORM_MAX_DEPTH: u32 = (i32::MAX as u32) / (255 * 255);

impl OpDescriptor for L2NormOp {
    const NAME: &'static str = "L2_NORMALIZATION";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_l2_norm";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.rows)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.depth])?;
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::F32),
            "L2_NORMALIZATION of a type other than int8 or float32",
        )?;
        if self.dtype == DType::I8 {
            c.ensure(
                self.depth <= L2_NORM_MAX_DEPTH,
                "rows too long for an int32 sum of squares",
            )?;
            c.ensure(
                (-128..=127).contains(&self.input_zero_point),
                "zero point outside int8",
            )?;
        }
        let values = u64::from(self.rows) * u64::from(self.depth);
        c.arena(self.input, values, self.dtype)?;
        c.output(self.output, values, self.dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let depth = self.depth as usize;
        match self.dtype {
            DType::I8 => {
                l2_normalize_s8(depth, self.input_zero_point, io.i8(self.input), out_i8(out))
            }
            _ => l2_normalize_f32(depth, io.f32(self.input), out_f32(out)),
        }
    }
}
