//! What ONNX's recurrent layers (LSTM, GRU) share as kiln imports them:
//! any direction, the default activations, no clip, and a `sequence_lens`
//! only where it gives every sequence its whole length;
//! every run starts from the initial states, values of the graph (its
//! inputs, say), or zeros where they are absent or constant zeros. The
//! input is read as `[seq, batch, input]` or, with layout 1, `[batch,
//! seq, input]`.
//!
//! Each direction is one of kiln's forward layers: a `reverse` one reads
//! the input reversed in time and its sequence of hidden states is
//! reversed back, so `Y[t]` is the state after step `t` and its final
//! state the one after step 0, as ONNX defines them. `Y` is the
//! directions' sequences stacked into ONNX's `[seq, directions, batch,
//! hidden]` (`[batch, seq, directions, hidden]`), each final state output
//! the directions' states stacked into `[directions, batch, hidden]`
//! (`[batch, directions, hidden]`).
//!
//! Layer: import (part of the ONNX importer); uses `context`, `proto` and
//! `ir`.

use super::context::{Importer, Step};
use super::proto::OnnxNode;
use crate::ir::{Activation, DataType, OpKind, TensorId};
use crate::ops::{Concatenation, Slice};

/// A recurrent node's input and sizes, once its attributes are checked.
pub(crate) struct OnnxSequence {
    pub x: TensorId,
    /// Layout 1: `[batch, seq, ..]`.
    pub batch_major: bool,
    pub time: usize,
    pub batches: usize,
    pub size: usize,
    pub hidden: usize,
    /// 1, or 2 for a bidirectional layer.
    pub directions: usize,
    /// A one-direction layer that walks the sequence backwards.
    reverse: bool,
    /// The initial states ONNX gives as values (`[directions, batch,
    /// hidden]`, batch major `[batch, directions, hidden]`), in the order
    /// of the op's states; `None`: zeros.
    initial: Vec<Option<TensorId>>,
    /// Names for the tensors kiln adds: after the first output ONNX names.
    pub label: String,
}

/// One direction of a layer, as the op building it sees it.
pub(crate) struct Direction {
    /// Which block of ONNX's weights and biases (their first axis) it uses.
    pub index: usize,
    /// Its input: the node's, reversed in time for a backward direction.
    pub x: TensorId,
    /// Its forward layer's outputs: the sequence of hidden states, then
    /// the final states.
    pub outputs: Vec<TensorId>,
    /// The states it starts from (`None`: zeros), shaped as its final
    /// states.
    pub initial: Vec<Option<TensorId>>,
    /// Names for its tensors.
    pub label: String,
}

/// Checks `n`, an ONNX `op` whose default activations are `activations`
/// and whose initial states are the inputs `initial_states`, and reads its
/// input.
pub(crate) fn onnx_sequence(
    cx: &Importer,
    n: &OnnxNode,
    op: &str,
    activations: &[&str],
    initial_states: &[usize],
) -> Step<OnnxSequence> {
    let (directions, reverse) = match n.string("direction").unwrap_or("forward") {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => return Err(format!("{op} direction '{other}'")),
    };
    if let Some(a) = n.strings("activations") {
        let expected: Vec<&str> = activations.repeat(directions);
        if a != expected {
            return Err(format!("{op} activations {a:?} (kiln: {expected:?})"));
        }
    }
    if n.attributes.contains_key("clip") {
        return Err(format!("{op} with clip"));
    }
    let batch_major = n.int("layout", 0) == 1;
    let x = cx.value(&n.inputs[0])?;
    let [d0, d1, size] = cx.shape(x)[..] else {
        return Err(format!("{op} input of shape {:?}, not rank 3", cx.shape(x)));
    };
    // Bounded so that the 8 gate blocks' sizes cannot wrap.
    let hidden = usize::try_from(n.int("hidden_size", 0)).unwrap_or(0);
    if hidden == 0 || hidden > crate::ir::MAX_ELEMENTS / 8 {
        return Err(format!("{op} hidden_size {}", n.int("hidden_size", 0)));
    }
    let (time, batches) = if batch_major { (d1, d0) } else { (d0, d1) };
    // sequence_lens: only where it gives every sequence its whole length
    // (what exporters write when they fill it in), which changes nothing.
    if present(n, 4) {
        let lens = cx.constant(&n.inputs[4]).ok().and_then(|t| t.i64s());
        let whole = lens.as_ref().is_some_and(|l| {
            l.len() == batches && l.iter().all(|&t| usize::try_from(t) == Ok(time))
        });
        if !whole {
            return Err(format!(
                "{op} with sequence_lens {lens:?} (kiln: a constant that gives every one of the \
                 {batches} sequences its {time} steps)"
            ));
        }
    }
    let state_shape = match batch_major {
        true => vec![batches, directions, hidden],
        false => vec![directions, batches, hidden],
    };
    let mut initial = Vec::new();
    for &i in initial_states {
        initial.push(match present(n, i) {
            false => None,
            true => initial_state(cx, &n.inputs[i], op, &state_shape)?,
        });
    }
    let label = n
        .outputs
        .iter()
        .find(|o| !o.is_empty())
        .cloned()
        .unwrap_or_default();
    Ok(OnnxSequence {
        x,
        batch_major,
        time,
        batches,
        size,
        hidden,
        directions,
        reverse,
        initial,
        label,
    })
}

/// An initial state `name` of shape `shape`: `None` for constant zeros, a
/// value of the graph as it is; any other constant is refused.
fn initial_state(cx: &Importer, name: &str, op: &str, shape: &[usize]) -> Step<Option<TensorId>> {
    if let Ok(t) = cx.constant(name) {
        return match t.f32s() {
            Some(v) if v.iter().all(|&x| x == 0.0) => Ok(None),
            _ => Err(format!(
                "{op} with a constant initial state that is not zeros (kiln: zeros, or a value \
                 of the graph such as an input)"
            )),
        };
    }
    let v = cx.value(name)?;
    if cx.shape(v) != shape || cx.g.tensors[v].dtype != DataType::F32 {
        return Err(format!(
            "{op} initial state '{name}' of shape {:?}, not float32 {shape:?}",
            cx.shape(v)
        ));
    }
    Ok(Some(v))
}

/// Whether optional input `i` of `n` is given.
pub(crate) fn present(n: &OnnxNode, i: usize) -> bool {
    n.inputs.get(i).is_some_and(|s| !s.is_empty())
}

/// Direction `d`'s block of a constant holding one block per direction.
pub(crate) fn block<T>(values: &[T], directions: usize, d: usize) -> &[T] {
    let len = values.len() / directions.max(1);
    &values[d * len..(d + 1) * len]
}

impl OnnxSequence {
    /// Builds the layer: `layer` pushes one direction's forward layer
    /// (with `states` final states), and this wires the directions into
    /// ONNX's outputs `Y`, then `states` final states (outputs `1 + k`),
    /// where the node names them.
    pub(crate) fn build(
        &self,
        cx: &mut Importer,
        n: &OnnxNode,
        states: usize,
        mut layer: impl FnMut(&mut Importer, &Direction) -> Step<()>,
    ) -> Step<()> {
        let named = |i: usize| n.outputs.get(i).filter(|o| !o.is_empty()).cloned();
        let mut sequences = Vec::new();
        let mut finals = vec![Vec::new(); states];
        for index in 0..self.directions {
            let backward = self.reverse || index == 1;
            let label = match (self.directions, backward) {
                (1, false) => self.label.clone(),
                (1, true) => format!("{} reverse", self.label),
                (_, false) => format!("{} forward", self.label),
                (_, true) => format!("{} backward", self.label),
            };
            let x = match backward {
                true => self.time_reversed(cx, self.x, format!("{label} (input reversed)")),
                false => self.x,
            };
            let outputs = self.layer_outputs(cx, n, states, &label);
            let initial = (self.initial.iter())
                .map(|s| s.map(|s| self.direction_state(cx, s, index, &label)))
                .collect();
            let direction = Direction {
                index,
                x,
                outputs,
                initial,
                label,
            };
            layer(cx, &direction)?;
            let sequence = direction.outputs[0];
            sequences.push(match backward && named(0).is_some() {
                true => {
                    let name = format!("{} (sequence in order)", direction.label);
                    self.time_reversed(cx, sequence, name)
                }
                false => sequence,
            });
            for (k, state) in finals.iter_mut().enumerate() {
                state.push(direction.outputs[1 + k]);
            }
        }
        let (time, batches, hidden, dirs) = (self.time, self.batches, self.hidden, self.directions);
        if let Some(y) = named(0) {
            let (axis, shape) = match self.batch_major {
                true => (2, vec![batches, time, dirs, hidden]),
                false => (1, vec![time, dirs, batches, hidden]),
            };
            self.stacked(cx, sequences, axis, shape, y);
        }
        if dirs > 1 {
            let (axis, shape) = match self.batch_major {
                true => (1, vec![batches, dirs, hidden]),
                false => (0, vec![dirs, batches, hidden]),
            };
            for (k, state) in finals.into_iter().enumerate() {
                if let Some(name) = named(1 + k) {
                    self.stacked(cx, state, axis, shape.clone(), name);
                }
            }
        }
        Ok(())
    }

    /// A direction's outputs: its sequence of hidden states in kiln's
    /// layout (time major unless batch major), then `states` final states
    /// `[1, batch, hidden]` (`[batch, 1, hidden]`); a one-direction
    /// layer's states are ONNX's outputs themselves where it names them.
    fn layer_outputs(
        &self,
        cx: &mut Importer,
        n: &OnnxNode,
        states: usize,
        label: &str,
    ) -> Vec<TensorId> {
        let (time, batches, hidden) = (self.time, self.batches, self.hidden);
        let sequence = match self.batch_major {
            true => vec![batches, time, hidden],
            false => vec![time, batches, hidden],
        };
        let mut outputs =
            vec![cx.tensor(format!("{label} (sequence)"), sequence, DataType::F32, None)];
        let state_shape = match self.batch_major {
            true => vec![batches, 1, hidden],
            false => vec![1, batches, hidden],
        };
        for k in 0..states {
            let onnx_name = n.outputs.get(k + 1).filter(|o| !o.is_empty());
            outputs.push(match onnx_name {
                Some(o) if self.directions == 1 => cx.new_value(o.clone(), state_shape.clone()),
                _ => {
                    let name = format!("{label} state {k}");
                    cx.tensor(name, state_shape.clone(), DataType::F32, None)
                }
            });
        }
        outputs
    }

    /// Direction `index`'s part of the initial state `v`: all of it for
    /// one direction, else a slice along the directions' axis.
    fn direction_state(
        &self,
        cx: &mut Importer,
        v: TensorId,
        index: usize,
        label: &str,
    ) -> TensorId {
        if self.directions == 1 {
            return v;
        }
        let axis = usize::from(self.batch_major);
        let name = format!("{label} initial {}", cx.g.tensors[v].name);
        sliced(cx, v, (axis, index, 1), name, "direction's initial state")
    }

    /// `v` (`[seq, batch, ..]`, or batch major `[batch, seq, ..]`) with
    /// its time axis reversed, as a new tensor `name`.
    fn time_reversed(&self, cx: &mut Importer, v: TensorId, name: String) -> TensorId {
        let axis = usize::from(self.batch_major);
        let last = cx.shape(v)[axis].saturating_sub(1);
        sliced(cx, v, (axis, last, -1), name, "reverse in time")
    }

    /// The ONNX value `name` of shape `shape`: `parts` (one per direction)
    /// joined along `axis`, the directions' axis (one direction: reshaped).
    fn stacked(
        &self,
        cx: &mut Importer,
        parts: Vec<TensorId>,
        axis: usize,
        shape: Vec<usize>,
        name: String,
    ) {
        let v = match parts[..] {
            [one] => cx.reshaped(one, shape, name.clone()),
            _ => {
                let v = cx.tensor(name.clone(), shape, DataType::F32, None);
                let kind = OpKind::Concatenation(Concatenation {
                    axis: axis as i32,
                    activation: Activation::None,
                });
                let inputs = parts.into_iter().map(Some).collect();
                cx.push(kind, inputs, vec![v], "stack directions");
                v
            }
        };
        cx.values.insert(name, v);
    }
}

/// `v` cut along one axis, `(axis, begin, step)`: a step of -1 walks the
/// whole axis backwards from `begin`, a step of 1 takes the one element at
/// `begin`; every other axis whole. A SLICE into a new tensor `name`.
fn sliced(
    cx: &mut Importer,
    v: TensorId,
    (axis, begin, step): (usize, usize, i64),
    name: String,
    source: &str,
) -> TensorId {
    let mut shape = cx.shape(v);
    let mut starts = vec![0; shape.len()];
    let mut steps = vec![1; shape.len()];
    starts[axis] = begin;
    steps[axis] = step;
    if step == 1 {
        shape[axis] = 1;
    }
    let t = cx.tensor(name, shape, DataType::F32, None);
    let kind = OpKind::Slice(Slice {
        begin: starts,
        step: steps,
        dropped: 0,
    });
    cx.push(kind, vec![Some(v)], vec![t], source);
    t
}
