//! GRU in float32, as ONNX defines it (TFLite has no GRU): per step the
//! update gate `z` and reset gate `r` are sigmoids of the input's and the
//! hidden state's fully connected layers with their biases, the candidate
//! `n` a tanh, and the hidden state becomes `(1 - z) n + z h`. The
//! candidate applies the reset gate before its recurrent layer, or with
//! `linear_before_reset` (PyTorch's GRU) after it, to the layer's output
//! with its bias. A run starts from the hidden state it is given (the op
//! sets it: ONNX's initial state, or zeros).
//!
//! Layer: kernels; a pure function over slices, uses `unary` and `lstm`'s
//! sequence shape.

use super::lstm::SequenceShape;
use super::unary::UnaryFunction;
use super::{at, part, part_mut};
use crate::wire::wire_struct;

wire_struct! {
    /// A float32 GRU layer: its shape, and where the reset gate applies.
    pub struct GruF32Params {
        pub shape: SequenceShape,
        pub linear_before_reset: bool,
    }
}

/// The weights of a GRU layer in ONNX's gate order (update, reset,
/// candidate): the input weights `[3, units, input_size]`, the recurrent
/// weights `[3, units, units]`, and the biases `[6, units]` (the input
/// layer's three, then the recurrent layer's three).
pub struct GruF32Weights<'w> {
    pub input: &'w [f32],
    pub recurrent: &'w [f32],
    pub bias: &'w [f32],
}

/// The scratch one run needs: the two gates, the candidate and the reset
/// hidden state, `units` floats each per batch row.
pub const fn gru_scratch_elements(shape: &SequenceShape) -> u64 {
    4 * shape.state_elements()
}

/// `Σ a b`, summed from the first element.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (&a, &b)| acc + a * b)
}

/// Row `row` of gate block `g`'s input layer with its bias applied to `x`,
/// and of its recurrent layer with its bias applied to `h`.
#[inline(always)]
fn layers(
    w: &GruF32Weights,
    s: &SequenceShape,
    g: usize,
    r: usize,
    x: &[f32],
    h: &[f32],
) -> (f32, f32) {
    let (size, units) = (s.input_size as usize, s.units as usize);
    let row = g * units + r;
    let from_input = dot(x, part(w.input, row * size, size)) + at(w.bias, row, 0.0);
    let from_hidden =
        dot(h, part(w.recurrent, row * units, units)) + at(w.bias, 3 * units + row, 0.0);
    (from_input, from_hidden)
}

/// One inference of a GRU layer: each sequence steps through time from the
/// `hidden` state it is given (`[batches, units]`, left holding the last
/// step's), each step's hidden state copied to the output.
pub fn gru_f32(
    p: &GruF32Params,
    input: &[f32],
    weights: &GruF32Weights,
    hidden: &mut [f32],
    scratch: &mut [f32],
    output: &mut [f32],
) {
    let s = &p.shape;
    let (size, units) = (s.input_size as usize, s.units as usize);
    let sigmoid = |v: f32| UnaryFunction::Logistic.at(v);
    let tanh = |v: f32| UnaryFunction::Tanh.at(v);
    for b in 0..s.batches as usize {
        let h = part_mut(hidden, b * units, units);
        let buffers = part_mut(scratch, b * 4 * units, 4 * units);
        let (update, rest) = buffers.split_at_mut(units.min(buffers.len()));
        let (reset, rest) = rest.split_at_mut(units.min(rest.len()));
        let (candidate, rest) = rest.split_at_mut(units.min(rest.len()));
        let reset_hidden = part_mut(rest, 0, units);
        for t in 0..s.time as usize {
            let row = s.row(b, t);
            let x = part(input, row * size, size);
            for (r, (z, rv)) in update.iter_mut().zip(reset.iter_mut()).enumerate() {
                let (zx, zh) = layers(weights, s, 0, r, x, h);
                let (rx, rh) = layers(weights, s, 1, r, x, h);
                *z = sigmoid(zx + zh);
                *rv = sigmoid(rx + rh);
            }
            if p.linear_before_reset {
                for (r, n) in candidate.iter_mut().enumerate() {
                    let (nx, nh) = layers(weights, s, 2, r, x, h);
                    *n = tanh(nx + at(reset, r, 0.0) * nh);
                }
            } else {
                for ((rh, &rv), &hv) in reset_hidden.iter_mut().zip(&*reset).zip(&*h) {
                    *rh = rv * hv;
                }
                for (r, n) in candidate.iter_mut().enumerate() {
                    let (nx, nh) = layers(weights, s, 2, r, x, reset_hidden);
                    *n = tanh(nx + nh);
                }
            }
            for ((hv, &z), &n) in h.iter_mut().zip(&*update).zip(&*candidate) {
                *hv = (1.0 - z) * n + z * *hv;
            }
            let out = part_mut(output, row * units, units);
            if out.len() == h.len() {
                out.copy_from_slice(h);
            }
        }
    }
}
