//! GATHER and GATHER_ND of 1-, 2- or 4-byte values by int32 indices; the
//! table or the indices may be a constant in the weights (an embedding
//! table in flash; a fixed pick of a computed value).
//!
//! Layer: ops; uses `kernels::gather`.

use super::arena::{split, ConstantOperand, Inputs};
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
        let operands = (self.constant, self.table, self.indices);
        check_operands(c, operands, (p.table_bytes(), index_count))?;
        let arena = self.constant.arena_operands(self.table, self.indices);
        c.output(self.output, p.output_bytes(), DType::I8, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (table, indices) = operands(&io, weights, (self.constant, self.table, self.indices));
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
        let operands = (self.constant, self.table, self.indices);
        check_operands(c, operands, (p.table_bytes(), index_count))?;
        let arena = self.constant.arena_operands(self.table, self.indices);
        c.output(self.output, p.output_bytes(), DType::I8, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (table, indices) = operands(&io, weights, (self.constant, self.table, self.indices));
        gather_nd(&self.params, table, indices, out);
    }
}

/// A table and its int32 indices, `constant` saying which one lies in
/// the weights: `(constant, table, indices)`.
type Operands = (ConstantOperand, Span, Span);

/// Both gathers' operand checks: a table of `table_bytes` and
/// `index_count` int32 indices, each in the weights or the arena.
fn check_operands(
    c: &Checker,
    (constant, table, indices): Operands,
    (table_bytes, index_count): (u64, u64),
) -> Result<(), Error> {
    match constant {
        ConstantOperand::First => c.constant(table, table_bytes, DType::I8, false)?,
        _ => c.arena(table, table_bytes, DType::I8)?,
    }
    match constant {
        ConstantOperand::Second => c.constant(indices, index_count, DType::I32, false),
        _ => c.arena(indices, index_count, DType::I32),
    }
}

/// Both gathers' operands, from the weights or the arena (inlined: each
/// op keeps one frame, whose size the stack estimate counts).
#[inline(always)]
fn operands<'a>(
    io: &'a Inputs<'a>,
    weights: &'a [u8],
    (constant, table, indices): Operands,
) -> (&'a [u8], &'a [i32]) {
    let table = match constant {
        ConstantOperand::First => super::arena::constant(weights, table),
        _ => io.bytes(table),
    };
    let indices = match constant {
        ConstantOperand::Second => super::arena::constant(weights, indices),
        _ => io.i32(indices),
    };
    (table, indices)
}
