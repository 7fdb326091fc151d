//! The broadcasting binary ops: ADD, SUB, MUL and DIV in int8 and in
//! float32, ADD, SUB and MUL in int16. Either operand may be a constant in the
//! weights.
//!
//! Layer: ops; uses `kernels::elementwise`.

use super::arena::{operands, out_f32, out_i16, out_i8, split, ConstantOperand};
use super::{Checker, OpDescriptor};
use crate::arch;
use crate::error::Error;
use crate::kernels::elementwise::{
    add_f32, add_s16, div_f32, div_s8, floor_div_f32, floor_mod_f32, mul_f32, mul_s16, mul_s8,
    squared_difference_f32, squared_difference_s16, squared_difference_s8, sub_f32, sub_s16,
};
pub use crate::kernels::elementwise::{AddParams, Broadcast, MulParams};
use crate::tensor::{DType, FloatRange, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// Quantized (int8 or int16) ADD or SUB, which TFLM prepares alike;
    /// one operand may be a constant in the weights.
    pub struct AddSub {
        pub params: AddParams,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

impl AddSub {
    /// int8 operands, or int16 ones (zero points 0, and 15 bits of
    /// headroom at most: the sum must fit 32 bits).
    fn check(&self, c: &Checker, dtype: DType) -> Result<(), Error> {
        let p = &self.params;
        let offsets = [p.input1_offset, p.input2_offset, p.output_offset];
        if dtype == DType::I16 {
            c.ensure(offsets == [0; 3], "int16 values have no zero point")?;
            c.ensure((0..=15).contains(&p.left_shift), "left shift out of range")?;
            c.range_i16(p.activation_min, p.activation_max)?;
        } else {
            c.offsets(&offsets)?;
            c.ensure((0..=22).contains(&p.left_shift), "left shift out of range")?;
            c.range(p.activation_min, p.activation_max)?;
        }
        c.broadcast(
            &p.broadcast,
            (self.input1, self.input2),
            dtype,
            self.constant,
        )?;
        for s in [p.input1_shift, p.input2_shift, p.output_shift] {
            c.shift(s)?;
        }
        let arena = self.constant.arena_operands(self.input1, self.input2);
        c.output(self.output, p.broadcast.elements(), dtype, &arena)
    }

    /// `kernel` over the operands, writing the output `typed` views.
    #[inline(always)]
    fn run_kernel<T: bytemuck::Pod>(
        &self,
        kernel: impl Fn(&AddParams, &[T], &[T], &mut [T]),
        typed: fn(&mut [u8]) -> &mut [T],
        arena: &mut [u8],
        weights: &[u8],
    ) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        kernel(&self.params, a, b, typed(out));
    }
}

/// The quantized ops TFLM prepares as ADD: a descriptor holding an
/// [`AddSub`], its name, its element type and output view, its kernel and
/// its CUDA kernel.
macro_rules! add_like {
    ($($(#[$doc:meta])* $op:ident $name:literal $dtype:ident $out:ident => $kernel:path, $cuda:literal;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $op {
                pub add: AddSub,
            }
        }

        impl OpDescriptor for $op {
            const NAME: &'static str = $name;

            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = $cuda;

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.add.params.broadcast.elements()
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                self.add.check(c, DType::$dtype)
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                self.add.run_kernel($kernel, $out, arena, weights);
            }
        }
    )*};
}

add_like! {
    /// int8 ADD.
    AddOp "ADD" I8 out_i8 => arch::add_s8, "kiln_add";
    /// int8 SUB.
    SubOp "SUB" I8 out_i8 => arch::sub_s8, "kiln_sub";
    /// int8 SQUARED_DIFFERENCE (prepared as ADD, with 7 bits of headroom).
    SquaredDifferenceOp "SQUARED_DIFFERENCE" I8 out_i8 => squared_difference_s8, "kiln_squared_difference";
    /// int16 ADD (TFLite's 16x8 scheme: zero points 0, 15 bits of headroom).
    AddS16Op "ADD (int16)" I16 out_i16 => add_s16, "kiln_add_s16";
    /// int16 SUB.
    SubS16Op "SUB (int16)" I16 out_i16 => sub_s16, "kiln_sub_s16";
    /// int16 SQUARED_DIFFERENCE (zero points 0, no headroom).
    SquaredDifferenceS16Op "SQUARED_DIFFERENCE (int16)" I16 out_i16 => squared_difference_s16, "kiln_squared_difference_s16";
}

/// The quantized ops TFLM prepares as MUL (operand offsets, one output
/// multiplier): a descriptor with their fields, its name, its element type
/// and output view, its kernel and its CUDA kernel. One operand may be a
/// constant in the weights.
macro_rules! mul_like {
    ($($(#[$doc:meta])* $op:ident $name:literal $dtype:ident $out:ident => $kernel:path, $cuda:literal;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $op {
                pub params: MulParams,
                pub constant: ConstantOperand,
                pub input1: Span,
                pub input2: Span,
                pub output: Span,
            }
        }

        impl OpDescriptor for $op {
            const NAME: &'static str = $name;

            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = $cuda;

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.params.broadcast.elements()
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                let p = &self.params;
                let offsets = [p.input1_offset, p.input2_offset, p.output_offset];
                if DType::$dtype == DType::I16 {
                    c.ensure(offsets == [0; 3], "int16 values have no zero point")?;
                    c.range_i16(p.activation_min, p.activation_max)?;
                } else {
                    c.offsets(&offsets)?;
                    c.range(p.activation_min, p.activation_max)?;
                }
                c.broadcast(
                    &p.broadcast,
                    (self.input1, self.input2),
                    DType::$dtype,
                    self.constant,
                )?;
                c.shift(p.output_shift)?;
                let arena = self.constant.arena_operands(self.input1, self.input2);
                c.output(self.output, p.broadcast.elements(), DType::$dtype, &arena)
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                let (io, out) = split(arena, self.output);
                let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
                $kernel(&self.params, a, b, $out(out));
            }
        }
    )*};
}

mul_like! {
    /// int8 MUL.
    MulOp "MUL" I8 out_i8 => mul_s8, "kiln_mul";
    /// int8 DIV (TFLM's integer reciprocal of the divisor).
    DivOp "DIV" I8 out_i8 => div_s8, "kiln_div";
    /// int16 MUL (TFLite's 16x8 scheme: zero points 0).
    MulS16Op "MUL (int16)" I16 out_i16 => mul_s16, "kiln_mul_s16";
}

wire_struct! {
    /// A float32 binary op with broadcasting and a fused activation's clamp;
    /// one operand may be a constant in the weights.
    pub struct BinaryF32 {
        pub broadcast: Broadcast,
        pub activation: FloatRange,
        pub constant: ConstantOperand,
        pub input1: Span,
        pub input2: Span,
        pub output: Span,
    }
}

/// The shape every float32 binary kernel shares.
type BinaryF32Kernel = fn(&Broadcast, FloatRange, &[f32], &[f32], &mut [f32]);

impl BinaryF32 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.broadcast(
            &self.broadcast,
            (self.input1, self.input2),
            DType::F32,
            self.constant,
        )?;
        let arena = self.constant.arena_operands(self.input1, self.input2);
        c.output(self.output, self.broadcast.elements(), DType::F32, &arena)
    }

    fn run_kernel(&self, kernel: BinaryF32Kernel, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        kernel(&self.broadcast, self.activation, a, b, out_f32(out));
    }
}

/// The float32 binary ops: a descriptor holding a [`BinaryF32`], its name,
/// its kernel and its CUDA kernel.
macro_rules! binary_f32 {
    ($($(#[$doc:meta])* $op:ident $name:literal => $kernel:ident, $cuda:literal;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $op {
                pub binary: BinaryF32,
            }
        }

        impl OpDescriptor for $op {
            const NAME: &'static str = $name;

            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = $cuda;

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.binary.broadcast.elements()
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                self.binary.check(c)
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                self.binary.run_kernel($kernel, arena, weights);
            }
        }
    )*};
}

binary_f32! {
    /// float32 ADD.
    AddF32Op "ADD (float32)" => add_f32, "kiln_add_f32";
    /// float32 SUB.
    SubF32Op "SUB (float32)" => sub_f32, "kiln_sub_f32";
    /// float32 MUL.
    MulF32Op "MUL (float32)" => mul_f32, "kiln_mul_f32";
    /// float32 DIV (ONNX Div).
    DivF32Op "DIV (float32)" => div_f32, "kiln_div_f32";
    /// float32 SQUARED_DIFFERENCE.
    SquaredDifferenceF32Op "SQUARED_DIFFERENCE (float32)" => squared_difference_f32, "kiln_squared_difference_f32";
    /// float32 FLOOR_DIV.
    FloorDivF32Op "FLOOR_DIV (float32)" => floor_div_f32, "kiln_floor_div_f32";
    /// float32 FLOOR_MOD.
    FloorModF32Op "FLOOR_MOD (float32)" => floor_mod_f32, "kiln_floor_mod_f32";
}
