//! UNIDIRECTIONAL_SEQUENCE_LSTM, int8 or int16 with an int16 cell state
//! (TFLM's integer kernel), and float32: a stateful layer whose hidden and cell
//! states are variable tensors of the graph, read and rewritten on every
//! run; or, in float32 with `fresh_state` (ONNX's LSTM), outputs that each
//! run starts afresh, from initial states or zeros.
//!
//! Layer: ops; uses `kernels::lstm`.

use super::arena::{constant, disjoint, out_f32, out_i16, out_i8, start_state};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::lstm::LstmF32Params;
use crate::kernels::lstm::{
    lstm_f32, lstm_integer, lstm_scratch_elements, LstmF32Weights, LstmWeights,
};
pub use crate::kernels::lstm::{LstmGate, LstmParams, SequenceShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// Integer LSTM: its input, output and hidden state all int8, or all
    /// int16 (16x8, zero points 0), as `activation` says. The input and
    /// output sequences in the arena; the four gates' input weights `[4,
    /// units, input_size]`, recurrent weights `[4, units, units]` (int8)
    /// and biases `[4, units]` (int32, or int64 for int16) in the weights,
    /// in gate order; the hidden state `[batches, units]` and cell state
    /// `[batches, units]` (int16), variable tensors; and scratch for the
    /// gates (`LstmParams::scratch_elements` int16).
    pub struct LstmOp {
        pub params: LstmParams,
        pub activation: DType,
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
        // Wrapping: a forged i32::MIN stays out of range instead of
        // overflowing.
        c.offsets(&[p.input_offset, p.hidden_zero_point.wrapping_neg()])?;
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
        let spans = LstmSpans {
            input: self.input,
            input_weights: self.input_weights,
            recurrent_weights: self.recurrent_weights,
            hidden: self.hidden,
            cell: self.cell,
            scratch: self.scratch,
            output: self.output,
            initial: [Span::EMPTY; 2],
        };
        // The bias, whose type depends on the activations'.
        let bias_count = 4 * u64::from(p.shape.units);
        let types = match self.activation {
            DType::I8 => {
                c.constant(self.bias, bias_count, DType::I32, false)?;
                [DType::I8, DType::I8, DType::I8, DType::I16]
            }
            DType::I16 => {
                c.ensure(
                    p.input_offset == 0 && p.hidden_zero_point == 0,
                    "int16 LSTM with a zero point",
                )?;
                c.constant_i64(self.bias, bias_count, false)?;
                [DType::I16, DType::I8, DType::I16, DType::I16]
            }
            _ => return Err(c.fail("LSTM activations neither int8 nor int16")),
        };
        check_spans(
            c,
            &p.shape,
            &spans,
            types,
            p.scratch_elements().saturating_mul(2),
        )
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
        let (input_weights, recurrent_weights) = (
            constant(weights, self.input_weights),
            constant(weights, self.recurrent_weights),
        );
        let bias = self.bias;
        match self.activation {
            DType::I16 => lstm_integer::<i16>(
                &self.params,
                out_i16(input),
                &LstmWeights {
                    input: input_weights,
                    recurrent: recurrent_weights,
                    bias: constant(weights, bias),
                },
                out_i16(hidden),
                out_i16(cell),
                out_i16(scratch),
                out_i16(output),
            ),
            _ => lstm_integer::<i8>(
                &self.params,
                out_i8(input),
                &LstmWeights {
                    input: input_weights,
                    recurrent: recurrent_weights,
                    bias: constant(weights, bias),
                },
                out_i8(hidden),
                out_i16(cell),
                out_i16(scratch),
                out_i8(output),
            ),
        }
    }
}

/// An LSTM layer's spans, for the checks both types share.
struct LstmSpans {
    input: Span,
    input_weights: Span,
    recurrent_weights: Span,
    hidden: Span,
    cell: Span,
    scratch: Span,
    output: Span,
    /// The states a fresh-state run starts from (empty: zeros; always
    /// empty for variable states).
    initial: [Span; 2],
}

/// Checks `shape` and the spans (but the bias, whose type the caller
/// knows): the input of type `values`, the weights of type `weights`, the
/// hidden state and output of type `hidden`, the cell state `cell`, and
/// `scratch_bytes` of scratch.
fn check_spans(
    c: &Checker,
    s: &SequenceShape,
    spans: &LstmSpans,
    [values, weights, hidden, cell]: [DType; 4],
    scratch_bytes: u64,
) -> Result<(), Error> {
    c.positive(&[s.batches, s.time, s.input_size, s.units])?;
    // Saturating: a forged shape must fail the span checks, not overflow.
    let (rows, units) = (u64::from(s.batches) * u64::from(s.time), u64::from(s.units));
    let (size, state) = (u64::from(s.input_size), s.state_elements());
    c.arena(spans.input, rows.saturating_mul(size), values)?;
    let input_weights = units.saturating_mul(size).saturating_mul(4);
    c.constant(spans.input_weights, input_weights, weights, false)?;
    let recurrent_weights = units.saturating_mul(units).saturating_mul(4);
    c.constant(spans.recurrent_weights, recurrent_weights, weights, false)?;
    // The initial states are read while every other span is written (on
    // a GPU, by other threads): apart from all of them.
    let [h0, c0] = spans.initial;
    for (given, dtype) in [(h0, hidden), (c0, cell)] {
        if given.len != 0 {
            c.arena(given, state, dtype)?;
        }
    }
    c.output(spans.hidden, state, hidden, &[spans.input, h0, c0])?;
    c.output(
        spans.cell,
        state,
        cell,
        &[spans.input, h0, c0, spans.hidden],
    )?;
    let written = [spans.input, h0, c0, spans.hidden, spans.cell];
    c.output(spans.output, rows.saturating_mul(units), hidden, &written)?;
    let operands = [spans.input, h0, c0, spans.hidden, spans.cell, spans.output];
    let scratch_bytes = usize::try_from(scratch_bytes).unwrap_or(usize::MAX);
    c.scratch(spans.scratch, scratch_bytes, &operands)
}

wire_struct! {
    /// float32 LSTM: its parameters, and its spans laid out as the int8
    /// layer's, every tensor float32 (the scratch
    /// `lstm_scratch_elements` floats). With `fresh_state` the
    /// hidden and cell states are outputs of the run rather than variable
    /// tensors, and each run starts them from `initial_hidden` and
    /// `initial_cell` (inputs of the run), or from zeros where those are
    /// empty.
    pub struct LstmF32Op {
        pub params: LstmF32Params,
        pub input: Span,
        pub input_weights: Span,
        pub recurrent_weights: Span,
        pub bias: Span,
        pub hidden: Span,
        pub cell: Span,
        pub scratch: Span,
        pub output: Span,
        pub initial_hidden: Span,
        pub initial_cell: Span,
        /// Peephole weights (`3 x units`: into the input, forget and
        /// output gates), or empty.
        pub peephole: Span,
    }
}

impl OpDescriptor for LstmF32Op {
    const NAME: &'static str = "UNIDIRECTIONAL_SEQUENCE_LSTM (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_lstm_f32";

    /// One thread per sequence, as the int8 layer.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.ensure(
            p.cell_clip.is_finite() && p.cell_clip >= 0.0,
            "LSTM cell clip negative or not finite",
        )?;
        let spans = LstmSpans {
            input: self.input,
            input_weights: self.input_weights,
            recurrent_weights: self.recurrent_weights,
            hidden: self.hidden,
            cell: self.cell,
            scratch: self.scratch,
            output: self.output,
            initial: [self.initial_hidden, self.initial_cell],
        };
        let scratch = lstm_scratch_elements(&p.shape).saturating_mul(4);
        let bias_count = 4 * u64::from(p.shape.units);
        c.constant(self.bias, bias_count, DType::F32, false)?;
        let peepholes = 3 * u64::from(p.shape.units);
        c.constant(self.peephole, peepholes, DType::F32, true)?;
        let given = self.initial_hidden.len != 0 || self.initial_cell.len != 0;
        c.ensure(
            p.fresh_state || !given,
            "LSTM initial state of a carried-over state",
        )?;
        check_spans(c, &p.shape, &spans, [DType::F32; 4], scratch)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        if self.params.fresh_state {
            start_state(arena, self.initial_hidden, self.hidden);
            start_state(arena, self.initial_cell, self.cell);
        }
        let spans = [
            self.input,
            self.hidden,
            self.cell,
            self.scratch,
            self.output,
        ];
        let [input, hidden, cell, scratch, output] = disjoint(arena, spans);
        let weights = LstmF32Weights {
            input: constant(weights, self.input_weights),
            recurrent: constant(weights, self.recurrent_weights),
            bias: constant(weights, self.bias),
            peephole: constant(weights, self.peephole),
        };
        lstm_f32(
            &self.params,
            out_f32(input),
            &weights,
            out_f32(hidden),
            out_f32(cell),
            out_f32(scratch),
            out_f32(output),
        );
    }
}
