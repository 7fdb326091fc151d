//! SVDF, int8 with int16 state (TFLM's integer arithmetic) and float32: a
//! stateful layer, whose state is a variable tensor of the graph
//! (`graph::StateTensor`) that it reads and rewrites on every run.
//!
//! Layer: ops; uses `kernels::svdf`.

use super::arena::{constant, disjoint, out_f32, out_i16, out_i8};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::svdf::{svdf_f32, svdf_s8};
pub use crate::kernels::svdf::{SvdfParams, SvdfShape};
use crate::tensor::{DType, FloatRange, Span};
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
        check_shape(c, s)?;
        c.offsets(&[p.input_offset, p.output_offset])?;
        c.ensure(
            i16::try_from(p.state_zero_point).is_ok(),
            "SVDF state zero point outside int16",
        )?;
        c.shift(p.feature_shift)?;
        c.shift(p.output_shift)?;
        let spans = [
            self.input,
            self.feature_weights,
            self.time_weights,
            self.bias,
            self.state,
            self.output,
        ];
        check_spans(c, s, spans, [DType::I8, DType::I16, DType::I32])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let [input, state, out] = disjoint(arena, [self.input, self.state, self.output]);
        svdf_s8(
            &self.params,
            out_i8(input),
            constant(weights, self.feature_weights),
            constant(weights, self.time_weights),
            constant(weights, self.bias),
            out_i16(state),
            out_i8(out),
        );
    }
}

/// Every size positive, whole units.
fn check_shape(c: &Checker, s: &SvdfShape) -> Result<(), Error> {
    c.positive(&[s.batches, s.input_size, s.filters, s.rank, s.memory])?;
    c.ensure(
        s.filters.is_multiple_of(s.rank),
        "SVDF filters not a multiple of its rank",
    )
}

/// The spans of an SVDF layer `[input, feature weights, time weights,
/// bias, state, output]`, sized for `s`: the input, feature weights and
/// output of type `values`, the time weights and state of type `state`, the
/// bias of type `bias`. The state is written, so it may share no byte with
/// the input or the output.
fn check_spans(
    c: &Checker,
    s: &SvdfShape,
    [input, feature, time, bias, state, output]: [Span; 6],
    [values, state_type, bias_type]: [DType; 3],
) -> Result<(), Error> {
    let (b, filters) = (u64::from(s.batches), u64::from(s.filters));
    c.arena(input, b * u64::from(s.input_size), values)?;
    c.constant(feature, filters * u64::from(s.input_size), values, false)?;
    c.constant(time, filters * u64::from(s.memory), state_type, false)?;
    c.constant(bias, u64::from(s.units()), bias_type, true)?;
    c.output(state, s.state_elements(), state_type, &[input])?;
    c.output(output, b * u64::from(s.units()), values, &[input, state])
}

wire_struct! {
    /// float32 SVDF: its shape, fused activation and spans, laid out as
    /// the int8 layer's, every tensor float32.
    pub struct SvdfF32Op {
        pub shape: SvdfShape,
        pub activation: FloatRange,
        pub input: Span,
        pub feature_weights: Span,
        pub time_weights: Span,
        pub bias: Span,
        pub state: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SvdfF32Op {
    const NAME: &'static str = "SVDF (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_svdf_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.shape.batches)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_shape(c, &self.shape)?;
        let spans = [
            self.input,
            self.feature_weights,
            self.time_weights,
            self.bias,
            self.state,
            self.output,
        ];
        check_spans(c, &self.shape, spans, [DType::F32; 3])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let [input, state, out] = disjoint(arena, [self.input, self.state, self.output]);
        svdf_f32(
            &self.shape,
            self.activation,
            out_f32(input),
            constant(weights, self.feature_weights),
            constant(weights, self.time_weights),
            constant(weights, self.bias),
            out_f32(state),
            out_f32(out),
        );
    }
}
