//! DYNAMIC_UPDATE_SLICE of int8, int16, int32 or float32 values.
//!
//! Layer: ops; uses `kernels::dynamic_update_slice`.

use super::arena::{constant, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::dynamic_update_slice::dynamic_update_slice;
pub use crate::kernels::dynamic_update_slice::UpdateSliceShape;
use crate::tensor::{DType, Span, MAX_RANK};
use crate::wire::wire_struct;

wire_struct! {
    /// `output` = `operand` with `update` written over it from `starts`
    /// (int32, one per axis of the model's rank). The update and the
    /// starts are in the weights when `constant_update` and
    /// `constant_starts` say so, else in the arena.
    pub struct DynamicUpdateSliceOp {
        pub dtype: DType,
        pub shape: UpdateSliceShape,
        pub constant_update: bool,
        pub constant_starts: bool,
        pub operand: Span,
        pub update: Span,
        pub starts: Span,
        pub output: Span,
    }
}

impl OpDescriptor for DynamicUpdateSliceOp {
    const NAME: &'static str = "DYNAMIC_UPDATE_SLICE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_dynamic_update_slice";

    /// One thread per output byte.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let s = &self.shape;
        c.ensure(
            s.element_size as usize == self.dtype.size(),
            "DYNAMIC_UPDATE_SLICE element size differs from its type's",
        )?;
        c.ensure(
            s.operand.iter().zip(&s.update).all(|(o, u)| u <= o),
            "DYNAMIC_UPDATE_SLICE update larger than its operand",
        )?;
        let count = |dims: &[u32; MAX_RANK]| {
            dims.iter()
                .fold(1u64, |n, &d| n.saturating_mul(u64::from(d)))
        };
        let rank = u64::from(self.starts.len) / 4;
        c.ensure(
            (1..=MAX_RANK as u64).contains(&rank)
                && s.operand[..MAX_RANK - rank as usize]
                    .iter()
                    .all(|&d| d == 1),
            "DYNAMIC_UPDATE_SLICE start count differs from its rank",
        )?;
        if self.constant_starts {
            c.constant(self.starts, rank, DType::I32, false)?;
        } else {
            c.arena(self.starts, rank, DType::I32)?;
        }
        c.arena(self.operand, count(&s.operand), self.dtype)?;
        let mut inputs = [self.operand; 3];
        if self.constant_update {
            c.constant(self.update, count(&s.update), self.dtype, false)?;
        } else {
            c.arena(self.update, count(&s.update), self.dtype)?;
            inputs[1] = self.update;
        }
        if !self.constant_starts {
            inputs[2] = self.starts;
        }
        c.output(self.output, count(&s.operand), self.dtype, &inputs)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let starts = if self.constant_starts {
            constant(weights, self.starts)
        } else {
            io.i32(self.starts)
        };
        let update = if self.constant_update {
            constant(weights, self.update)
        } else {
            io.bytes(self.update)
        };
        dynamic_update_slice(&self.shape, io.bytes(self.operand), update, starts, out);
    }
}
