//! PRELU, int8, int16 (with int8 slopes) and float32: `x` where it is not
//! negative, `x * alpha` where it is; `alpha` (the slopes) broadcasts and
//! may be a constant.
//!
//! Layer: ops; uses `kernels::elementwise`.

use super::arena::{operands, out_f32, out_i16, out_i8, split, typed_operands, ConstantOperand};
use super::elementwise::Broadcast;
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::elementwise::PReluParams;
use crate::kernels::elementwise::{prelu_f32, prelu_s16, prelu_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The operands of either PRELU: the input and the slopes, either of them
/// possibly in the weights, broadcast onto the output.
fn check_operands(
    c: &Checker,
    broadcast: &Broadcast,
    (input, alpha, output): (Span, Span, Span),
    (dtype, alpha_type): (DType, DType),
    constant: ConstantOperand,
) -> Result<(), Error> {
    c.broadcast_typed(broadcast, (input, alpha), (dtype, alpha_type), constant)?;
    let arena = constant.arena_operands(input, alpha);
    c.output(output, broadcast.elements(), dtype, &arena)
}

wire_struct! {
    /// int8 PRELU.
    pub struct PReluOp {
        pub params: PReluParams,
        pub constant: ConstantOperand,
        pub input: Span,
        pub alpha: Span,
        pub output: Span,
    }
}

impl OpDescriptor for PReluOp {
    const NAME: &'static str = "PRELU";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_prelu";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.input_offset, p.alpha_offset, p.output_offset])?;
        c.shift(p.identity_shift)?;
        c.shift(p.alpha_shift)?;
        // The codegen never makes one; TFLM has no kernel for it either.
        c.ensure(
            self.constant != ConstantOperand::First,
            "PRELU's input is a constant",
        )?;
        let spans = (self.input, self.alpha, self.output);
        check_operands(
            c,
            &p.broadcast,
            spans,
            (DType::I8, DType::I8),
            self.constant,
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (x, alpha) = operands(&io, weights, (self.input, self.alpha), self.constant);
        prelu_s8(&self.params, x, alpha, out_i8(out));
    }
}

wire_struct! {
    /// int16 PRELU (TFLite's 16x8 scheme: the input and output zero points
    /// 0) with int8 slopes.
    pub struct PReluS16Op {
        pub params: PReluParams,
        pub constant: ConstantOperand,
        pub input: Span,
        pub alpha: Span,
        pub output: Span,
    }
}

impl OpDescriptor for PReluS16Op {
    const NAME: &'static str = "PRELU (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_prelu_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.ensure(
            p.input_offset == 0 && p.output_offset == 0,
            "int16 values have no zero point",
        )?;
        c.offsets(&[p.alpha_offset])?;
        c.shift(p.identity_shift)?;
        c.shift(p.alpha_shift)?;
        c.ensure(
            self.constant != ConstantOperand::First,
            "PRELU's input is a constant",
        )?;
        let spans = (self.input, self.alpha, self.output);
        check_operands(
            c,
            &p.broadcast,
            spans,
            (DType::I16, DType::I8),
            self.constant,
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let spans = (self.input, self.alpha);
        let (x, alpha) = typed_operands(&io, weights, spans, self.constant);
        prelu_s16(&self.params, x, alpha, out_i16(out));
    }
}

wire_struct! {
    /// float32 PRELU (ONNX PRelu).
    pub struct PReluF32Op {
        pub broadcast: Broadcast,
        pub constant: ConstantOperand,
        pub input: Span,
        pub alpha: Span,
        pub output: Span,
    }
}

impl OpDescriptor for PReluF32Op {
    const NAME: &'static str = "PRELU (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_prelu_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input, self.alpha, self.output);
        let types = (DType::F32, DType::F32);
        check_operands(c, &self.broadcast, spans, types, self.constant)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (x, alpha) = operands(&io, weights, (self.input, self.alpha), self.constant);
        prelu_f32(&self.broadcast, x, alpha, out_f32(out));
    }
}
