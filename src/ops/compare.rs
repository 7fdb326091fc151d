//! The ops that compare values: LESS, LESS_EQUAL, GREATER, GREATER_EQUAL,
//! EQUAL and NOT_EQUAL to a bool tensor (one byte per value), SELECT_V2 by
//! one, and MAXIMUM and MINIMUM; int8 and float32. Either value operand may
//! be a constant in the weights.
//!
//! Layer: ops; uses `kernels::compare`.

use super::arena::{operands, out_f32, out_i16, out_i32, out_i8, split, ConstantOperand};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::compare::{compare_s8, compare_values, max_min, select};
pub use crate::kernels::compare::{CompareKind, CompareParams, SelectGeometry};
use crate::kernels::elementwise::Broadcast;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// A broadcasting binary op's operands and its output of `output_type`.
fn check_binary(
    c: &Checker,
    b: &Broadcast,
    (input1, input2, output): (Span, Span, Span),
    constant: ConstantOperand,
    (input_type, output_type): (DType, DType),
) -> Result<(), Error> {
    c.broadcast(b, (input1, input2), input_type, constant)?;
    let arena = constant.arena_operands(input1, input2);
    c.output(output, b.elements(), output_type, &arena)
}

wire_struct! {
    /// int8 comparison to bool.
    pub struct CompareOp {
        pub params: CompareParams,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for CompareOp {
    const NAME: &'static str = "COMPARE";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_compare";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.input1_offset, p.input2_offset])?;
        c.ensure((0..=15).contains(&p.left_shift), "left shift out of range")?;
        c.shift(p.input1_shift)?;
        c.shift(p.input2_shift)?;
        let spans = (self.input1, self.input2, self.output);
        check_binary(
            c,
            &p.broadcast,
            spans,
            self.constant,
            (DType::I8, DType::I8),
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        compare_s8(&self.params, a, b, out_i8(out));
    }
}

wire_struct! {
    /// float32 comparison to bool.
    pub struct CompareF32Op {
        pub broadcast: Broadcast,
        pub kind: CompareKind,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for CompareF32Op {
    const NAME: &'static str = "COMPARE (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_compare_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input1, self.input2, self.output);
        check_binary(
            c,
            &self.broadcast,
            spans,
            self.constant,
            (DType::F32, DType::I8),
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        compare_values::<f32>(&self.broadcast, self.kind, a, b, out_i8(out));
    }
}

wire_struct! {
    /// SELECT_V2 by a bool `condition` in the arena, of int8 (quantized
    /// alike, or plain), int16 or int32 (plain) or float32 values
    /// (`element`).
    pub struct SelectOp {
        pub geometry: SelectGeometry,
        pub element: DType,
        pub constant: ConstantOperand,
        pub condition: Span,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SelectOp {
    const NAME: &'static str = "SELECT_V2";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_select";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.geometry.values.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let g = &self.geometry;
        c.ensure(
            matches!(
                self.element,
                DType::I8 | DType::I16 | DType::I32 | DType::F32
            ),
            "SELECT_V2 of int8, int16, int32 or float32 values",
        )?;
        let reach = g
            .values
            .output_dims
            .iter()
            .zip(&g.condition_strides)
            .fold(1u64, |sum, (&d, &s)| {
                sum.saturating_add(u64::from(d.saturating_sub(1)) * u64::from(s))
            });
        let conditions = u64::from(self.condition.len);
        c.arena(self.condition, conditions, DType::I8)?;
        c.ensure(
            reach <= conditions,
            "condition smaller than its strides reach",
        )?;
        c.broadcast(
            &g.values,
            (self.input1, self.input2),
            self.element,
            self.constant,
        )?;
        let [a, b] = self.constant.arena_operands(self.input1, self.input2);
        let inputs = [a, b, self.condition];
        c.output(self.output, g.values.elements(), self.element, &inputs)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let condition = io.i8(self.condition);
        let spans = (self.input1, self.input2);
        // It moves values: by their size (float32 as its 32 bits).
        match self.element.size() {
            1 => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                select::<i8>(&self.geometry, condition, a, b, out_i8(out));
            }
            2 => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                select::<i16>(&self.geometry, condition, a, b, out_i16(out));
            }
            _ => {
                let (a, b) = operands(&io, weights, spans, self.constant);
                select::<i32>(&self.geometry, condition, a, b, out_i32(out));
            }
        }
    }
}

wire_struct! {
    /// int8 MAXIMUM or MINIMUM (`maximum` false), inputs and output of one
    /// quantization.
    pub struct MaxMinOp {
        pub broadcast: Broadcast,
        pub maximum: bool,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for MaxMinOp {
    const NAME: &'static str = "MAXIMUM/MINIMUM";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_max_min";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input1, self.input2, self.output);
        check_binary(
            c,
            &self.broadcast,
            spans,
            self.constant,
            (DType::I8, DType::I8),
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        max_min::<i8>(&self.broadcast, self.maximum, a, b, out_i8(out));
    }
}

wire_struct! {
    /// float32 MAXIMUM or MINIMUM (`maximum` false).
    pub struct MaxMinF32Op {
        pub broadcast: Broadcast,
        pub maximum: bool,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl OpDescriptor for MaxMinF32Op {
    const NAME: &'static str = "MAXIMUM/MINIMUM (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_max_min_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.broadcast.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = (self.input1, self.input2, self.output);
        check_binary(
            c,
            &self.broadcast,
            spans,
            self.constant,
            (DType::F32, DType::F32),
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        max_min::<f32>(&self.broadcast, self.maximum, a, b, out_f32(out));
    }
}
