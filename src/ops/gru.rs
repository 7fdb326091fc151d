//! GRU in float32 (ONNX's; TFLite has none): a recurrent layer whose
//! hidden state starts afresh on every run (from an initial state, or
//! zeros) and ends as an output.
//!
//! Layer: ops; uses `kernels::gru`.

use super::arena::{constant, disjoint, out_f32, start_state};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::gru::GruF32Params;
use crate::kernels::gru::{gru_f32, gru_scratch_elements, GruF32Weights};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// float32 GRU: the input and output sequences and the final hidden
    /// state `[batches, units]` in the arena; the input weights `[3, units,
    /// input_size]`, recurrent weights `[3, units, units]` and biases `[6,
    /// units]` in the weights (ONNX's gate order and layout); scratch for
    /// the gates (`gru_scratch_elements` floats).
    pub struct GruF32Op {
        pub params: GruF32Params,
        pub input: Span,
        pub input_weights: Span,
        pub recurrent_weights: Span,
        pub bias: Span,
        pub hidden: Span,
        pub scratch: Span,
        pub output: Span,
        /// The state each run starts from (an input of the run, `[batches,
        /// units]`); empty: zeros.
        pub initial_hidden: Span,
    }
}

impl OpDescriptor for GruF32Op {
    const NAME: &'static str = "GRU (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_gru_f32";

    /// One thread per sequence: its steps are sequential in time.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let s = &self.params.shape;
        c.positive(&[s.batches, s.time, s.input_size, s.units])?;
        // Saturating: a forged shape must fail the span checks, not overflow.
        let (rows, units) = (u64::from(s.batches) * u64::from(s.time), u64::from(s.units));
        let (size, f32) = (u64::from(s.input_size), DType::F32);
        c.arena(self.input, rows.saturating_mul(size), f32)?;
        let input_weights = units.saturating_mul(size).saturating_mul(3);
        c.constant(self.input_weights, input_weights, f32, false)?;
        let recurrent_weights = units.saturating_mul(units).saturating_mul(3);
        c.constant(self.recurrent_weights, recurrent_weights, f32, false)?;
        c.constant(self.bias, 6 * units, f32, false)?;
        if self.initial_hidden.len != 0 {
            c.arena(self.initial_hidden, s.state_elements(), f32)?;
        }
        let read = [self.input, self.initial_hidden];
        c.output(self.hidden, s.state_elements(), f32, &read)?;
        let written = [self.input, self.initial_hidden, self.hidden];
        c.output(self.output, rows.saturating_mul(units), f32, &written)?;
        let scratch = gru_scratch_elements(s).saturating_mul(4);
        let scratch = usize::try_from(scratch).unwrap_or(usize::MAX);
        c.scratch(
            self.scratch,
            scratch,
            &[self.input, self.initial_hidden, self.hidden, self.output],
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        start_state(arena, self.initial_hidden, self.hidden);
        let spans = [self.input, self.hidden, self.scratch, self.output];
        let [input, hidden, scratch, output] = disjoint(arena, spans);
        let weights = GruF32Weights {
            input: constant(weights, self.input_weights),
            recurrent: constant(weights, self.recurrent_weights),
            bias: constant(weights, self.bias),
        };
        gru_f32(
            &self.params,
            out_f32(input),
            &weights,
            out_f32(hidden),
            out_f32(scratch),
            out_f32(output),
        );
    }
}
