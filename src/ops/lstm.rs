//! UNIDIRECTIONAL_SEQUENCE_LSTM, int8 with an int16 cell state (TFLM's
//! integer kernel): a stateful layer whose hidden and cell states are
//! variable tensors of the graph, read and rewritten on every run.
//!
//! Layer: ops; uses `kernels::lstm`.

use super::arena::{constant, disjoint, out_i16, out_i8};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::lstm::{lstm_s8, LstmWeights};
pub use crate::kernels::lstm::{LstmGate, LstmParams, LstmShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// int8 LSTM: the input and output sequences in the arena; the four
    /// gates' input weights `[4, units, input_size]`, recurrent weights
    /// `[4, units, units]` (int8) and biases `[4, units]` (int32) in the
    /// weights, in gate order; the hidden state `[batches, units]` (int8)
    /// and cell state `[batches, units]` (int16), variable tensors; and
    /// scratch for the gates (`LstmParams::scratch_elements` int16).
    pub struct LstmOp {
        pub params: LstmParams,
        pub input: Span,
        pub input_weights: Span,
        pub recurrent_weights: Span,
        pub bias: Span,
        pub hidden: Span,
        pub cell: Span,
        pub scratch: Span,
        pub output: Span,
    }
}

impl OpDescriptor for LstmOp {
    const NAME: &'static str = "UNIDIRECTIONAL_SEQUENCE_LSTM";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_lstm";

    /// One thread per sequence: its steps are sequential in time.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let s = &p.shape;
        c.positive(&[s.batches, s.time, s.input_size, s.units])?;
        c.offsets(&[p.input_offset, -p.hidden_zero_point])?;
        for g in &p.gates {
            c.shift(g.input_shift)?;
            c.shift(g.recurrent_shift)?;
        }
        c.shift(p.forget_shift)?;
        c.shift(p.input_shift)?;
        c.shift(p.output_shift)?;
        c.ensure(
            (-27..=2).contains(&p.cell_scale_power),
            "LSTM cell scale out of range",
        )?;
        c.ensure(
            (0..=i32::from(i16::MAX)).contains(&p.cell_clip),
            "LSTM cell clip outside int16",
        )?;
        let (rows, units) = (u64::from(s.batches) * u64::from(s.time), u64::from(s.units));
        let state = u64::from(s.batches) * units;
        c.arena(self.input, rows * u64::from(s.input_size), DType::I8)?;
        c.constant(
            self.input_weights,
            4 * units * u64::from(s.input_size),
            DType::I8,
            false,
        )?;
        c.constant(self.recurrent_weights, 4 * units * units, DType::I8, false)?;
        c.constant(self.bias, 4 * units, DType::I32, false)?;
        c.output(self.hidden, state, DType::I8, &[self.input])?;
        c.output(self.cell, state, DType::I16, &[self.input, self.hidden])?;
        let written = [self.input, self.hidden, self.cell];
        c.output(self.output, rows * units, DType::I8, &written)?;
        let scratch = p.scratch_elements().saturating_mul(2);
        let operands = [self.input, self.hidden, self.cell, self.output];
        c.scratch(self.scratch, scratch as usize, &operands)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let spans = [
            self.input,
            self.hidden,
            self.cell,
            self.scratch,
            self.output,
        ];
        let [input, hidden, cell, scratch, output] = disjoint(arena, spans);
        let weights = LstmWeights {
            input: constant(weights, self.input_weights),
            recurrent: constant(weights, self.recurrent_weights),
            bias: constant(weights, self.bias),
        };
        lstm_s8(
            &self.params,
            out_i8(input),
            &weights,
            out_i8(hidden),
            out_i16(cell),
            out_i16(scratch),
            out_i8(output),
        );
    }
}
