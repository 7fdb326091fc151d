//! BATCH_MATMUL, int8, int16 and float32. Either operand may be a constant in the
//! weights (an ONNX MatMul with a batched constant); both may be
//! activations (attention's query times key).
//!
//! Layer: ops; uses `kernels::batch_matmul`.

use super::arena::{operands, out_f32, out_i16, out_i8, split, ConstantOperand};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::batch_matmul::{batch_matmul_f32, batch_matmul_s16, batch_matmul_s8};
pub use crate::kernels::batch_matmul::{BatchMatMulParams, MatMulGeometry, MAX_BATCH_DIMS};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The operands reach no further than they hold, and the output holds
/// every product.
fn check_matmul(
    c: &Checker,
    g: &MatMulGeometry,
    (lhs, rhs, output): (Span, Span, Span),
    constant: ConstantOperand,
    dtype: DType,
) -> Result<(), Error> {
    c.positive(&[g.rows, g.depth, g.cols])?;
    c.positive(&g.batches)?;
    let (rows, depth, cols) = (u64::from(g.rows), u64::from(g.depth), u64::from(g.cols));
    // The int32 sum of one int8 output stays exact (int16 sums in 64 bits).
    c.ensure(depth < 1 << 16, "product depth out of range")?;
    let size = dtype.size() as u64;
    let operand = |span: Span, strides, matrix: u64, is_constant: bool| {
        // `checked_div`: no division fault reaches the firmware.
        let elements = u64::from(span.len).checked_div(size).unwrap_or(0);
        if is_constant {
            c.constant(span, elements, dtype, false)?;
        } else {
            c.arena(span, elements, dtype)?;
        }
        c.ensure(
            g.reach(strides, matrix) <= elements,
            "operand smaller than its batches reach",
        )
    };
    operand(
        lhs,
        &g.lhs_strides,
        rows * depth,
        constant == ConstantOperand::First,
    )?;
    operand(
        rhs,
        &g.rhs_strides,
        depth * cols,
        constant == ConstantOperand::Second,
    )?;
    let elements = g.batch_count().saturating_mul(rows * cols);
    c.output(output, elements, dtype, &constant.arena_operands(lhs, rhs))
}

wire_struct! {
    /// int8 BATCH_MATMUL.
    pub struct BatchMatMulOp {
        pub params: BatchMatMulParams,
        pub constant: ConstantOperand,
        pub lhs: Span,
        pub rhs: Span,
        pub output: Span,
    }
}

impl OpDescriptor for BatchMatMulOp {
    const NAME: &'static str = "BATCH_MATMUL";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_batch_matmul";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.lhs_zero_point, p.rhs_zero_point, p.output_zero_point])?;
        c.shift(p.shift)?;
        let spans = (self.lhs, self.rhs, self.output);
        check_matmul(c, &p.geometry, spans, self.constant, DType::I8)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (lhs, rhs) = operands(&io, weights, (self.lhs, self.rhs), self.constant);
        batch_matmul_s8(&self.params, lhs, rhs, out_i8(out));
    }
}

wire_struct! {
    /// int16 BATCH_MATMUL (TFLite's 16x8 scheme: zero points 0; 64-bit
    /// sums).
    pub struct BatchMatMulS16Op {
        pub params: BatchMatMulParams,
        pub constant: ConstantOperand,
        pub lhs: Span,
        pub rhs: Span,
        pub output: Span,
    }
}

impl OpDescriptor for BatchMatMulS16Op {
    const NAME: &'static str = "BATCH_MATMUL (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_batch_matmul_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.ensure(
            p.lhs_zero_point == 0 && p.rhs_zero_point == 0 && p.output_zero_point == 0,
            "int16 values have no zero point",
        )?;
        c.shift(p.shift)?;
        let spans = (self.lhs, self.rhs, self.output);
        check_matmul(c, &p.geometry, spans, self.constant, DType::I16)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (lhs, rhs) = operands(&io, weights, (self.lhs, self.rhs), self.constant);
        batch_matmul_s16(&self.params, lhs, rhs, out_i16(out));
    }
}

wire_struct! {
    /// float32 BATCH_MATMUL.
    pub struct BatchMatMulF32Op {
        pub geometry: MatMulGeometry,
        pub constant: ConstantOperand,
        pub lhs: Span,
        pub rhs: Span,
        pub output: Span,
    }
}

impl OpDescriptor for BatchMatMulF32Op {
    const NAME: &'static str = "BATCH_MATMUL (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_batch_matmul_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.lhs, self.rhs, self.output);
        check_matmul(c, &self.geometry, spans, self.constant, DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (lhs, rhs) = operands(&io, weights, (self.lhs, self.rhs), self.constant);
        batch_matmul_f32(&self.geometry, lhs, rhs, out_f32(out));
    }
}
