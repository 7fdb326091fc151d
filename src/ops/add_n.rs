//! ADD_N of int8 or float32 inputs.
//!
//! Layer: ops; uses `kernels::add_n`.

use super::arena::{out_f32, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::add_n::AddNParams;
use crate::kernels::add_n::{add_n_f32, add_n_s8};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The most inputs one ADD_N takes (the codegen refuses more): int8 sums
/// of more than 15 could wrap TFLM's int32 accumulator.
pub const MAX_ADD_N_INPUTS: usize = 10;

wire_struct! {
    /// The sum of the first `count` of `inputs`, `dtype` values each as
    /// long as `output`.
    pub struct AddNOp {
        pub params: AddNParams,
        pub dtype: DType,
        pub count: u32,
        pub inputs: [Span; MAX_ADD_N_INPUTS],
        pub output: Span,
    }
}

impl AddNOp {
    pub fn inputs(&self) -> &[Span] {
        &self.inputs[..(self.count as usize).min(MAX_ADD_N_INPUTS)]
    }
}

impl OpDescriptor for AddNOp {
    const NAME: &'static str = "ADD_N";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_add_n";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / self.dtype.size() as u32)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            (1..=MAX_ADD_N_INPUTS as u32).contains(&self.count),
            "ADD_N input count out of range",
        )?;
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::F32),
            "ADD_N of a type other than int8 or float32",
        )?;
        let p = &self.params;
        c.offsets(&[p.input_offset, p.output_offset])?;
        c.shift(p.input_shift)?;
        c.shift(p.output_shift)?;
        let elements = u64::from(self.output.len) / self.dtype.size() as u64;
        for &input in self.inputs() {
            c.arena(input, elements, self.dtype)?;
        }
        c.output(self.output, elements, self.dtype, self.inputs())
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let io = &io;
        let spans = self.inputs().iter();
        match self.dtype {
            DType::I8 => add_n_s8(&self.params, spans.map(|&s| io.i8(s)), out_i8(out)),
            _ => add_n_f32(spans.map(|&s| io.f32(s)), out_f32(out)),
        }
    }
}
