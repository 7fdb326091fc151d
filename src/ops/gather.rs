//! GATHER and GATHER_ND of 1-, 2- or 4-byte values by int32 indices; the
//! table or the indices may be a constant in the weights (an embedding
//! table in flash; a fixed pick of a computed value).
//!
//! Layer: ops; uses `kernels::gather`.

use super::arena::{constant, split, ConstantOperand};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::gather::{gather, gather_nd};
pub use crate::kernels::gather::{GatherNdParams, GatherParams, MAX_INDEX_DEPTH};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// GATHER: `constant` says which of the table (`First`) and the indices
    /// (`Second`) lies in the weights.
    pub struct GatherOp {
        pub params: GatherParams,
        pub constant: ConstantOperand,
        pub table: Span,
        pub indices: Span,
        pub output: Span,
    }
}

impl OpDescriptor for GatherOp {
    const NAME: &'static str = "GATHER";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_gather";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.output_bytes() / u64::from(self.params.inner_bytes.max(1))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let index_count =
            crate::tensor::element_count([u64::from(p.batches), u64::from(p.indices)]);
        match self.constant {
            ConstantOperand::First => c.constant(self.table, p.table_bytes(), DType::I8, false)?,
            _ => c.arena(self.table, p.table_bytes(), DType::I8)?,
        }
        match self.constant {
            ConstantOperand::Second => c.constant(self.indices, index_count, DType::I32, false)?,
            _ => c.arena(self.indices, index_count, DType::I32)?,
        }
        let arena = self.constant.arena_operands(self.table, self.indices);
        c.output(self.output, p.output_bytes(), DType::I8, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let table = match self.constant {
            ConstantOperand::First => constant(weights, self.table),
            _ => io.bytes(self.table),
        };
        let indices = match self.constant {
            ConstantOperand::Second => constant(weights, self.indices),
            _ => io.i32(self.indices),
        };
        gather(&self.params, table, indices, out);
    }
}

wire_struct! {
    /// GATHER_ND: `constant` says which of the table (`First`) and the
    /// indices (`Second`) lies in the weights.
    pub struct GatherNdOp {
        pub params: GatherNdParams,
        pub constant: ConstantOperand,
        pub table: Span,
        pub indices: Span,
        pub output: Span,
    }
}

impl OpDescriptor for GatherNdOp {
    const NAME: &'static str = "GATHER_ND";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_gather_nd";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.lookups)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.ensure(
            (1..=MAX_INDEX_DEPTH as u32).contains(&p.depth),
            "GATHER_ND index depth out of range",
        )?;
        let index_count = crate::tensor::element_count([u64::from(p.lookups), u64::from(p.depth)]);
        match self.constant {
            ConstantOperand::First => c.constant(self.table, p.table_bytes(), DType::I8, false)?,
            _ => c.arena(self.table, p.table_bytes(), DType::I8)?,
        }
        match self.constant {
            ConstantOperand::Second => c.constant(self.indices, index_count, DType::I32, false)?,
            _ => c.arena(self.indices, index_count, DType::I32)?,
        }
        let arena = self.constant.arena_operands(self.table, self.indices);
        c.output(self.output, p.output_bytes(), DType::I8, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let table = match self.constant {
            ConstantOperand::First => constant(weights, self.table),
            _ => io.bytes(self.table),
        };
        let indices = match self.constant {
            ConstantOperand::Second => constant(weights, self.indices),
            _ => io.i32(self.indices),
        };
        gather_nd(&self.params, table, indices, out);
    }
}
