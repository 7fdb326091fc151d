//! Plain (not quantized) integer ADD, SUB, MUL, MAXIMUM and MINIMUM, and
//! the comparisons, on int8, int16 or int32 tensors: TFLM's int32 kernels,
//! and ONNX's arithmetic on integer tensors. The type is a field.
//!
//! Layer: ops; uses `kernels::integer`.

use super::arena::{operands, out_i16, out_i32, out_i8, split, ConstantOperand};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::compare::compare_values;
use crate::kernels::compare::CompareKind;
use crate::kernels::elementwise::Broadcast;
use crate::kernels::integer::integer_binary;
pub use crate::kernels::integer::{IntegerFunction, IntegerParams};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// A plain-integer binary op on `dtype` values (int8, int16 or int32).
    pub struct IntegerBinaryOp {
        pub params: IntegerParams,
        pub dtype: DType,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for IntegerBinaryOp {
    const NAME: &'static str = "integer ADD/SUB/MUL/MAXIMUM/MINIMUM";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_integer_binary";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::I16 | DType::I32),
            "a plain-integer op on other than int8, int16 or int32 values",
        )?;
        let b = &self.params.broadcast;
        c.broadcast(b, (self.input1, self.input2), self.dtype, self.constant)?;
        let arena = self.constant.arena_operands(self.input1, self.input2);
        c.output(self.output, b.elements(), self.dtype, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let spans = (self.input1, self.input2);
        match self.dtype {
            DType::I8 => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                integer_binary::<i8>(&self.params, a, b, out_i8(out));
            }
            DType::I16 => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                integer_binary::<i16>(&self.params, a, b, out_i16(out));
            }
            DType::I32 => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                integer_binary::<i32>(&self.params, a, b, out_i32(out));
            }
            // Refused by the check.
            DType::F32 | DType::U32 | DType::U64 | DType::Bool => {}
        }
    }
}

wire_struct! {
    /// A comparison of plain-integer `dtype` values (int8, int16 or int32),
    /// to bool.
    pub struct IntegerCompareOp {
        pub broadcast: Broadcast,
        pub kind: CompareKind,
        pub dtype: DType,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for IntegerCompareOp {
    const NAME: &'static str = "integer COMPARE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_integer_compare";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::I16 | DType::I32),
            "a plain-integer comparison of other than int8, int16 or int32 values",
        )?;
        let b = &self.broadcast;
        c.broadcast(b, (self.input1, self.input2), self.dtype, self.constant)?;
        let arena = self.constant.arena_operands(self.input1, self.input2);
        c.output(self.output, b.elements(), DType::I8, &arena)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let spans = (self.input1, self.input2);
        let (b, kind, out) = (&self.broadcast, self.kind, out_i8(out));
        match self.dtype {
            DType::I8 => {
                let (x, y) = operands(&io, weights, spans, self.constant);
                compare_values::<i8>(b, kind, x, y, out);
            }
            DType::I16 => {
                let (x, y) = operands(&io, weights, spans, self.constant);
                compare_values::<i16>(b, kind, x, y, out);
            }
            DType::I32 => {
                let (x, y) = operands(&io, weights, spans, self.constant);
                compare_values::<i32>(b, kind, x, y, out);
            }
            // Refused by the check.
            DType::F32 | DType::U32 | DType::U64 | DType::Bool => {}
        }
    }
}
