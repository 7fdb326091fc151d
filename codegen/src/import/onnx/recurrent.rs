//! What ONNX's recurrent layers (LSTM, GRU) share as kiln imports them:
//! forward only, the default activations, no clip and no `sequence_lens`,
//! initial states absent or constant zeros (every run starts from zero);
//! the input read as `[seq, batch, input]` or, with layout 1, `[batch,
//! seq, input]`; `Y` the layer's output reshaped to ONNX's `[seq, 1,
//! batch, hidden]` (`[batch, seq, 1, hidden]`), the final states its
//! other outputs.
//!
//! Layer: import (part of the ONNX importer); uses `context`, `proto` and
//! `ir`.

use super::context::{Importer, Step};
use super::proto::OnnxNode;
use crate::ir::{DataType, TensorId};

/// A recurrent node's input and sizes, once its attributes are checked.
pub(crate) struct OnnxSequence {
    pub x: TensorId,
    /// Layout 1: `[batch, seq, ..]`.
    pub batch_major: bool,
    pub time: usize,
    pub batches: usize,
    pub size: usize,
    pub hidden: usize,
    /// Names for the tensors kiln adds: after the first output ONNX names.
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
    let direction = n.string("direction").unwrap_or("forward");
    if direction != "forward" {
        return Err(format!("a {direction} {op} (kiln: forward)"));
    }
    if let Some(a) = n.strings("activations") {
        if a != activations {
            return Err(format!("{op} activations {a:?} (kiln: {activations:?})"));
        }
    }
    if n.attributes.contains_key("clip") {
        return Err(format!("{op} with clip"));
    }
    if present(n, 4) {
        return Err(format!("{op} with sequence_lens"));
    }
    for &i in initial_states {
        if present(n, i) {
            let zero = cx.constant(&n.inputs[i]).ok().and_then(|t| t.f32s());
            if !zero.is_some_and(|v| v.iter().all(|&x| x == 0.0)) {
                return Err(format!(
                    "{op} with an initial state that is not constant zeros"
                ));
            }
        }
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
        label,
    })
}

/// Whether optional input `i` of `n` is given.
pub(crate) fn present(n: &OnnxNode, i: usize) -> bool {
    n.inputs.get(i).is_some_and(|s| !s.is_empty())
}

impl OnnxSequence {
    /// The layer's outputs: the sequence of hidden states in kiln's layout
    /// (time major unless batch major), then `states` final states, each
    /// ONNX's output `1 + k` where it names one.
    pub(crate) fn outputs(&self, cx: &mut Importer, n: &OnnxNode, states: usize) -> Vec<TensorId> {
        let (label, hidden) = (&self.label, self.hidden);
        let sequence = match self.batch_major {
            true => vec![self.batches, self.time, hidden],
            false => vec![self.time, self.batches, hidden],
        };
        let mut outputs =
            vec![cx.tensor(format!("{label} (sequence)"), sequence, DataType::F32, None)];
        let state_shape = match self.batch_major {
            true => vec![self.batches, 1, hidden],
            false => vec![1, self.batches, hidden],
        };
        for k in 0..states {
            outputs.push(match n.outputs.get(k + 1).filter(|o| !o.is_empty()) {
                Some(o) => cx.new_value(o.clone(), state_shape.clone()),
                None => {
                    let name = format!("{label} state {k}");
                    cx.tensor(name, state_shape.clone(), DataType::F32, None)
                }
            });
        }
        outputs
    }

    /// ONNX's `Y` (where the node names it): the sequence of hidden states
    /// `sequence` reshaped to ONNX's layout.
    pub(crate) fn publish_y(&self, cx: &mut Importer, n: &OnnxNode, sequence: TensorId) {
        let name = n.outputs[0].clone();
        if name.is_empty() {
            return;
        }
        let shape = match self.batch_major {
            true => vec![self.batches, self.time, 1, self.hidden],
            false => vec![self.time, 1, self.batches, self.hidden],
        };
        let y = cx.reshaped(sequence, shape, name.clone());
        cx.values.insert(name, y);
    }
}
