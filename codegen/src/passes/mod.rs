//! Graph rewrites on the IR, one per file, each a function from a graph to
//! a graph that computes the same values.
//!
//! Layer: passes; uses `ir` and the op facts of `ops` (which ops take a
//! fused activation, which broadcast elementwise, how an op runs in another
//! layout, which hold per-channel weights).
//! They run on imported ONNX graphs (`after_onnx_import`); a TFLite graph is
//! already in the form TFLite Micro runs, and must stay so to stay
//! bit-exact with it.

pub mod cancel_transposes;
pub mod fold_batch_norm;
pub mod fuse_activations;
pub mod nchw_to_nhwc;

use crate::error::Result;
use crate::ir::{Graph, OpKind, TensorId};

/// The rewrites an imported ONNX graph goes through, in order: the layout
/// changes around convolutions move down and cancel (so that a batch norm
/// or a Relu sits right after its convolution), batch norms fold into the
/// op before them (which must not have an activation yet), then Relus fuse.
pub fn after_onnx_import(g: &mut Graph) -> Result<()> {
    nchw_to_nhwc::run(g);
    fold_batch_norm::run(g)?;
    fuse_activations::run(g);
    Ok(())
}

/// The op that computes `x`, seen through a RESHAPE of its output when
/// that output has no other reader (a 1-D layer gives its output back
/// through one, `import::onnx`'s `one_d`): `(op, last)`, where `last`
/// writes `x` (that RESHAPE, or the op itself).
pub(crate) fn producer_through_reshape(
    g: &Graph,
    x: TensorId,
    readers: &[usize],
) -> Option<(usize, usize)> {
    let last = producer(g, x)?;
    match (&g.nodes[last].kind, g.nodes[last].input(0)) {
        (OpKind::Reshape(_), Some(before)) if readers[before] == 1 => {
            Some((producer(g, before)?, last))
        }
        (OpKind::Reshape(_), _) => None,
        _ => Some((last, last)),
    }
}

/// How many nodes read each tensor, counting a model output as a reader.
pub(crate) fn readers(g: &Graph) -> Vec<usize> {
    let mut readers = vec![0usize; g.tensors.len()];
    for node in &g.nodes {
        for &t in node.inputs.iter().flatten() {
            readers[t] += 1;
        }
    }
    for &t in &g.outputs {
        readers[t] += 1;
    }
    readers
}

/// Tensor `to` takes the place of `from`: it keeps the model's own
/// quantization parameters (a QDQ model's) if it has none of its own.
pub(crate) fn carry_quantization(g: &mut Graph, from: usize, to: usize) {
    if g.tensors[to].quantization.is_none() {
        g.tensors[to].quantization = g.tensors[from].quantization.clone();
    }
}

/// The index of the node that writes tensor `t`, if any.
pub(crate) fn producer(g: &Graph, t: usize) -> Option<usize> {
    g.nodes.iter().position(|n| n.outputs.contains(&t))
}
