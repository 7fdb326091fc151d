//! SVDF, int8 with int16 state (TFLM's integer arithmetic): a stateful
//! layer, the first of kiln's, whose state is a variable tensor of the
//! graph (`graph::StateTensor`) that it reads and rewrites on every run.
//!
//! Layer: ops; uses `kernels::svdf`.

use super::arena::{constant, out_i8, split_with_scratch};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::svdf::svdf_s8;
pub use crate::kernels::svdf::{SvdfParams, SvdfShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// int8 SVDF: input and output rows in the arena, feature weights
    /// `[filters, input_size]` (int8), time weights `[filters, memory]`
    /// (int16) and an optional bias `[units]` (int32) in the weights, and
    /// its state `[batches, filters, memory]` (int16), a variable tensor.
    pub struct SvdfOp {
        pub params: SvdfParams,
        pub input: Span,
        pub feature_weights: Span,
        pub time_weights: Span,
        pub bias: Span,
        pub state: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SvdfOp {
    const NAME: &'static str = "SVDF";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_svdf";

    /// One thread per row: a row's state update is sequential in time.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let s = &p.shape;
        c.positive(&[s.batches, s.input_size, s.filters, s.rank, s.memory])?;
        c.ensure(
            s.filters.is_multiple_of(s.rank),
            "SVDF filters not a multiple of its rank",
        )?;
        c.offsets(&[p.input_offset, p.output_offset])?;
        c.ensure(
            i16::try_from(p.state_zero_point).is_ok(),
            "SVDF state zero point outside int16",
        )?;
        c.shift(p.feature_shift)?;
        c.shift(p.output_shift)?;
        let (b, filters) = (u64::from(s.batches), u64::from(s.filters));
        c.arena(self.input, b * u64::from(s.input_size), DType::I8)?;
        c.constant(
            self.feature_weights,
            filters * u64::from(s.input_size),
            DType::I8,
            false,
        )?;
        c.constant(
            self.time_weights,
            filters * u64::from(s.memory),
            DType::I16,
            false,
        )?;
        c.constant(self.bias, u64::from(s.units()), DType::I32, true)?;
        c.output(self.state, s.state_elements(), DType::I16, &[self.input])?;
        c.output(
            self.output,
            b * u64::from(s.units()),
            DType::I8,
            &[self.input, self.state],
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out, state) = split_with_scratch(arena, self.output, self.state);
        svdf_s8(
            &self.params,
            io.i8(self.input),
            constant(weights, self.feature_weights),
            constant(weights, self.time_weights),
            constant(weights, self.bias),
            state,
            out_i8(out),
        );
    }
}
