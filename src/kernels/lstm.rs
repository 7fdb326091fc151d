//! UNIDIRECTIONAL_SEQUENCE_LSTM with TFLM's integer arithmetic (its 2023
//! kernel, `lstm_eval.h`): int8 or int16 input and hidden state, int8
//! weights, int16 cell state; int32 biases and sums for int8, int64 for
//! int16 (the 16x8 scheme). Each gate is two fully connected layers (of
//! the input and of the hidden state) into int16 Q3.12, summed with
//! saturation, then a table-based sigmoid or tanh into Q0.15; the cell and
//! hidden updates are saturating elementwise products. No peephole, no
//! projection, no layer norm, one scale per weight tensor. And its float32
//! twin, TFLM's float path of the same kernel: the same steps in float32,
//! with `unary`'s LOGISTIC and TANH.
//!
//! Layer: kernels; pure functions over slices, use `quant`, `unary` and
//! `sigmoid_table`.

use super::sigmoid_table::{logistic_q15, tanh_q15};
use super::unary::UnaryFunction;
use super::{at, part, part_mut};
use crate::quant::{
    clamp_to_i8, multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_wide,
};
use crate::wire::wire_struct;

wire_struct! {
    /// The sizes of a recurrent layer (LSTM, GRU): `batches` sequences of
    /// `time` steps of `input_size` values, `units` cells; the input and
    /// output are `[time, batches, ..]` when `time_major`, else
    /// `[batches, time, ..]`.
    pub struct SequenceShape {
        pub batches: u32,
        pub time: u32,
        pub input_size: u32,
        pub units: u32,
        pub time_major: bool,
    }
}

wire_struct! {
    /// One gate's two fully connected layers into Q3.12: of the input,
    /// and of the hidden state.
    pub struct LstmGate {
        pub input_multiplier: i32,
        pub input_shift: i32,
        pub recurrent_multiplier: i32,
        pub recurrent_shift: i32,
    }
}

wire_struct! {
    /// An integer LSTM layer: its shape, its gates in TFLite's order (input,
    /// forget, cell, output), and the requantizations of the cell update
    /// (forget gate x cell, input gate x cell gate) and of the hidden state
    /// (output gate x tanh of the cell).
    pub struct LstmParams {
        pub shape: SequenceShape,
        /// Minus the input zero point.
        pub input_offset: i32,
        pub hidden_zero_point: i32,
        pub gates: [LstmGate; 4],
        pub forget_multiplier: i32,
        pub forget_shift: i32,
        pub input_multiplier: i32,
        pub input_shift: i32,
        pub output_multiplier: i32,
        pub output_shift: i32,
        /// The cell state's scale as a power of two (`2^cell_scale_power`).
        pub cell_scale_power: i32,
        /// The cell state is clipped to `[-cell_clip, cell_clip]`; 0: not at all.
        pub cell_clip: i32,
    }
}

impl SequenceShape {
    /// The values of one state: `units` per batch row.
    pub const fn state_elements(&self) -> u64 {
        self.batches as u64 * self.units as u64
    }

    /// The input and output row of step `t` of sequence `b`.
    #[inline(always)]
    pub fn row(&self, b: usize, t: usize) -> usize {
        if self.time_major {
            t * self.batches as usize + b
        } else {
            b * self.time as usize + t
        }
    }
}

/// The scratch one LSTM run needs: four gates of `units` values per batch
/// row (int16, or float32).
pub const fn lstm_scratch_elements(shape: &SequenceShape) -> u64 {
    4 * shape.state_elements()
}

impl LstmParams {
    /// The scratch one run of the integer layer needs, in int16 values.
    pub const fn scratch_elements(&self) -> u64 {
        lstm_scratch_elements(&self.shape)
    }
}

/// int16 LOGISTIC of a Q3.12 value into Q0.15, as TFLM's LSTM calls
/// TFLite's reference `integer_ops::Logistic` (the input scale 2^-12: the
/// table's multiplier 3, no shift).
fn sigmoid_q3_12(x: i16) -> i16 {
    logistic_q15(x, 3, 0)
}

/// int16 TANH of a value scaled `2^power` into Q0.15, as TFLM's LSTM
/// calls TFLite's reference `integer_ops::Tanh` (`lstm_internal::Tanh`):
/// a power-of-two scale, the input brought to Q3.12 times 3 by shifting
/// left, or by a rounding shift right. `power` is within -27..=2
/// (checked), so nothing overflows.
fn tanh_q(x: i16, power: i32) -> i16 {
    let left = 12 + power;
    if left >= 0 {
        tanh_q15(x, 3 << left, 0)
    } else {
        tanh_q15(x, 3, -left)
    }
}

fn saturate_i16(v: i32) -> i16 {
    v.max(i16::MIN.into()).min(i16::MAX.into()) as i16
}

/// The activation types of TFLM's integer LSTM, as its `EvalLstm` is
/// instantiated: int8 with int32 biases, and int16 (16x8) with int64 biases.
pub trait LstmActivation: Copy {
    /// The gate biases' type, which is also the sums'.
    type Bias: Copy + Default;

    /// A gate's fully connected layer over one row, `Σ w (x + offset) +
    /// bias`, requantized by `multiplier` and `shift` as TFLite's reference
    /// `FullyConnected` does for this type.
    fn gate_sum(
        x: &[Self],
        offset: i32,
        w: &[i8],
        bias: Self::Bias,
        multiplier: i32,
        shift: i32,
    ) -> i32;

    /// `v` clamped to this type.
    fn saturate(v: i32) -> Self;
}

impl LstmActivation for i8 {
    type Bias = i32;

    /// Summed in int32, wrapping as TFLM's int32 arithmetic does.
    #[inline(always)]
    fn gate_sum(x: &[i8], offset: i32, w: &[i8], bias: i32, multiplier: i32, shift: i32) -> i32 {
        let mut acc: i32 = 0;
        for (&xv, &wv) in x.iter().zip(w) {
            acc = acc.wrapping_add(i32::from(wv).wrapping_mul(i32::from(xv) + offset));
        }
        multiply_by_quantized_multiplier(acc.wrapping_add(bias), multiplier, shift)
    }

    fn saturate(v: i32) -> i8 {
        clamp_to_i8(v, -128, 127)
    }
}

impl LstmActivation for i16 {
    type Bias = i64;

    /// Summed in int64 (each product in int32), then TFLite's 64-bit
    /// requantization.
    #[inline(always)]
    fn gate_sum(x: &[i16], offset: i32, w: &[i8], bias: i64, multiplier: i32, shift: i32) -> i32 {
        let mut acc: i64 = 0;
        for (&xv, &wv) in x.iter().zip(w) {
            let product = i32::from(wv).wrapping_mul(i32::from(xv) + offset);
            acc = acc.wrapping_add(i64::from(product));
        }
        multiply_by_quantized_multiplier_wide(acc.wrapping_add(bias), multiplier, shift)
    }

    fn saturate(v: i32) -> i16 {
        saturate_i16(v)
    }
}

/// The weights of one layer: per gate (input, forget, cell, output), the
/// input weights `[units, input_size]`, the recurrent weights `[units,
/// units]` and the bias `[units]`, each kind back to back in gate order.
pub struct LstmWeights<'w, B> {
    pub input: &'w [i8],
    pub recurrent: &'w [i8],
    pub bias: &'w [B],
}

/// Gate `g`'s values for input row `x` and hidden state `h` (before any
/// update of this step), into `out` (Q0.15): sigmoid, or tanh for the cell
/// gate.
fn gate<A: LstmActivation>(
    p: &LstmParams,
    w: &LstmWeights<A::Bias>,
    g: usize,
    x: &[A],
    h: &[A],
    out: &mut [i16],
) {
    let (size, units) = (p.shape.input_size as usize, p.shape.units as usize);
    let q = &p.gates[g % 4];
    for (r, o) in out.iter_mut().enumerate() {
        let row = g * units + r;
        let from_input = A::gate_sum(
            x,
            p.input_offset,
            part(w.input, row * size, size),
            at(w.bias, row, A::Bias::default()),
            q.input_multiplier,
            q.input_shift,
        );
        let from_hidden = A::gate_sum(
            h,
            -p.hidden_zero_point,
            part(w.recurrent, row * units, units),
            A::Bias::default(),
            q.recurrent_multiplier,
            q.recurrent_shift,
        );
        let sum = i32::from(saturate_i16(from_input)) + i32::from(saturate_i16(from_hidden));
        let pre = saturate_i16(sum);
        *o = match g {
            2 => tanh_q(pre, -12),
            _ => sigmoid_q3_12(pre),
        };
    }
}

/// One time step of one sequence: input row `x`, hidden state `h` and
/// cell state `c` (updated in place), the four gates' buffers in
/// `scratch` (`4 x units`).
fn step<A: LstmActivation>(
    p: &LstmParams,
    w: &LstmWeights<A::Bias>,
    x: &[A],
    h: &mut [A],
    c: &mut [i16],
    scratch: &mut [i16],
) {
    let units = p.shape.units as usize;
    let (forget, rest) = scratch.split_at_mut(units.min(scratch.len()));
    let (input, rest) = rest.split_at_mut(units.min(rest.len()));
    let (cell, rest) = rest.split_at_mut(units.min(rest.len()));
    let output = part_mut(rest, 0, units);
    gate(p, w, 1, x, h, forget);
    gate(p, w, 0, x, h, input);
    gate(p, w, 2, x, h, cell);
    for (((cv, &f), &i), &g) in c.iter_mut().zip(&*forget).zip(&*input).zip(&*cell) {
        let kept = multiply_by_quantized_multiplier(
            i32::from(f) * i32::from(*cv),
            p.forget_multiplier,
            p.forget_shift,
        );
        let added = multiply_by_quantized_multiplier(
            i32::from(i) * i32::from(g),
            p.input_multiplier,
            p.input_shift,
        );
        let mut v = saturate_i16(i32::from(saturate_i16(kept)) + i32::from(saturate_i16(added)));
        if p.cell_clip > 0 {
            v = i32::from(v).max(-p.cell_clip).min(p.cell_clip) as i16;
        }
        *cv = v;
    }
    // The output gate still reads the old hidden state.
    gate(p, w, 3, x, h, output);
    for ((hv, &cv), &o) in h.iter_mut().zip(&*c).zip(&*output) {
        let t = tanh_q(cv, p.cell_scale_power);
        let v = multiply_by_quantized_multiplier(
            i32::from(t) * i32::from(o),
            p.output_multiplier,
            p.output_shift,
        )
        .wrapping_add(p.hidden_zero_point);
        *hv = A::saturate(v);
    }
}

/// One inference of an integer LSTM layer (int8 or int16 activations), as
/// TFLM's `EvalLstm` computes it: each sequence row steps through time
/// from the state it holds (`hidden` `[batches, units]`, `cell` `[batches,
/// units]`, updated in place and kept for the next inference), each step's
/// hidden state copied to the output. `scratch` holds `4 x units` int16
/// per batch row.
#[allow(clippy::too_many_arguments)]
pub fn lstm_integer<A: LstmActivation>(
    p: &LstmParams,
    input: &[A],
    weights: &LstmWeights<A::Bias>,
    hidden: &mut [A],
    cell: &mut [i16],
    scratch: &mut [i16],
    output: &mut [A],
) {
    let s = &p.shape;
    let (batches, time) = (s.batches as usize, s.time as usize);
    let (size, units) = (s.input_size as usize, s.units as usize);
    for b in 0..batches {
        let h = part_mut(hidden, b * units, units);
        let c = part_mut(cell, b * units, units);
        let gates = part_mut(scratch, b * 4 * units, 4 * units);
        for t in 0..time {
            let row = s.row(b, t);
            step(p, weights, part(input, row * size, size), h, c, gates);
            let out = part_mut(output, row * units, units);
            if out.len() == h.len() {
                out.copy_from_slice(h);
            }
        }
    }
}

wire_struct! {
    /// A float32 LSTM layer: its shape, its cell clip (the cell state is
    /// clipped to `[-cell_clip, cell_clip]`; 0: not at all), and whether
    /// each run starts from states the op sets (ONNX's LSTM: zeros, or
    /// initial states it is given) instead of the ones the last run left
    /// (TFLite's variable tensors).
    pub struct LstmF32Params {
        pub shape: SequenceShape,
        pub cell_clip: f32,
        pub fresh_state: bool,
    }
}

/// The weights of a float32 layer, laid out as [`LstmWeights`].
pub struct LstmF32Weights<'w> {
    pub input: &'w [f32],
    pub recurrent: &'w [f32],
    pub bias: &'w [f32],
    /// Peepholes (ONNX's `P`): `units` weights each of the cell state into
    /// the input, forget and output gates, in that order; empty for none.
    pub peephole: &'w [f32],
}

/// Gate `g` of a float32 layer, in TFLM's order of operations: the input's
/// fully connected layer with its bias, plus the hidden state's (each dot
/// product summed from its first element), then the peephole's product
/// with the cell state `cell` (the input and forget gates read the old
/// one, the output gate the new), then the sigmoid, or tanh for the cell
/// gate.
fn gate_f32(
    s: &SequenceShape,
    w: &LstmF32Weights,
    g: usize,
    x: &[f32],
    h: &[f32],
    cell: &[f32],
    out: &mut [f32],
) {
    let (size, units) = (s.input_size as usize, s.units as usize);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0.0f32, |acc, (&a, &b)| acc + a * b);
    // The peephole block of this gate: input, forget, output (none for
    // the cell gate, or without peepholes).
    let peephole = match g {
        0 => Some(0),
        1 => Some(1),
        3 => Some(2),
        _ => None,
    }
    .filter(|_| !w.peephole.is_empty())
    .map(|k| part(w.peephole, k * units, units));
    for (r, o) in out.iter_mut().enumerate() {
        let row = g * units + r;
        let from_input = dot(x, part(w.input, row * size, size)) + at(w.bias, row, 0.0);
        let mut pre = from_input + dot(h, part(w.recurrent, row * units, units));
        if let Some(p) = peephole {
            pre += at(p, r, 0.0) * at(cell, r, 0.0);
        }
        *o = match g {
            2 => UnaryFunction::Tanh.at(pre),
            _ => UnaryFunction::Logistic.at(pre),
        };
    }
}

/// One inference of a float32 LSTM layer, as TFLM's float kernel computes
/// it: [`lstm_integer`]'s walk and layouts, from the `hidden` and `cell`
/// states it is given (left holding the last step's). `scratch` holds `4 x
/// units` floats per batch row.
pub fn lstm_f32(
    p: &LstmF32Params,
    input: &[f32],
    weights: &LstmF32Weights,
    hidden: &mut [f32],
    cell: &mut [f32],
    scratch: &mut [f32],
    output: &mut [f32],
) {
    let (s, cell_clip) = (&p.shape, p.cell_clip);
    let (batches, time) = (s.batches as usize, s.time as usize);
    let (size, units) = (s.input_size as usize, s.units as usize);
    for b in 0..batches {
        let h = part_mut(hidden, b * units, units);
        let c = part_mut(cell, b * units, units);
        let gates = part_mut(scratch, b * 4 * units, 4 * units);
        let (forget, rest) = gates.split_at_mut(units.min(gates.len()));
        let (input_gate, rest) = rest.split_at_mut(units.min(rest.len()));
        let (cell_gate, rest) = rest.split_at_mut(units.min(rest.len()));
        let output_gate = part_mut(rest, 0, units);
        for t in 0..time {
            let row = s.row(b, t);
            let x = part(input, row * size, size);
            gate_f32(s, weights, 1, x, h, c, forget);
            gate_f32(s, weights, 0, x, h, c, input_gate);
            gate_f32(s, weights, 2, x, h, c, cell_gate);
            for (((cv, &f), &i), &g) in c
                .iter_mut()
                .zip(&*forget)
                .zip(&*input_gate)
                .zip(&*cell_gate)
            {
                let v = *cv * f + i * g;
                *cv = if cell_clip > 0.0 {
                    v.min(cell_clip).max(-cell_clip)
                } else {
                    v
                };
            }
            // The output gate still reads the old hidden state (and the
            // new cell state).
            gate_f32(s, weights, 3, x, h, c, output_gate);
            for ((hv, &cv), &o) in h.iter_mut().zip(&*c).zip(&*output_gate) {
                *hv = UnaryFunction::Tanh.at(cv) * o;
            }
            let out = part_mut(output, row * units, units);
            if out.len() == h.len() {
                out.copy_from_slice(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An int16 gate sums in int64: a bias past 2^31 survives, and the
    /// 64-bit requantization rounds it (sum 8 * 32767 * 127 + 5e9, halved
    /// and shifted right by 4: (5 033 291 272 + 16) >> 5).
    #[test]
    fn int16_gates_sum_in_int64() {
        let (x, w) = ([32767i16; 8], [127i8; 8]);
        let got = <i16 as LstmActivation>::gate_sum(&x, 0, &w, 5_000_000_000, 1 << 30, -4);
        assert_eq!(got, 157_290_352);
    }

    /// Over every int16 input: sigmoid rises from 11 to 32757 (never
    /// reaching 0 or 1) through 16384 at 0, and tanh of Q3.12 is odd.
    #[test]
    fn int16_sigmoid_and_tanh_keep_their_shape_over_every_input() {
        let mut last = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let s = sigmoid_q3_12(x);
            assert!(s >= last, "sigmoid falls at {x}");
            last = s;
            if x > i16::MIN {
                assert_eq!(tanh_q(-x, -12), -tanh_q(x, -12), "tanh not odd at {x}");
            }
        }
        assert_eq!(sigmoid_q3_12(i16::MIN), 11);
        assert_eq!(sigmoid_q3_12(i16::MAX), 32757);
        assert_eq!(sigmoid_q3_12(0), 16384);
        assert_eq!(tanh_q(0, -12), 0);
        assert_eq!(tanh_q(i16::MAX, -12), 32767);
        // A cell scale of 2^-15 shifts right, rounding: TFLM gives 5 and -3.
        assert_eq!((tanh_q(4, -15), tanh_q(-4, -15)), (5, -3));
    }
}
