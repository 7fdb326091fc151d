//! Activation fusion: a Relu or Relu6 right after an op that takes a fused
//! activation (conv, depthwise, fully connected, Add, Sub, Mul, a batch norm
//! not folded yet) becomes that op's activation, as TFLite's converter does:
//! one op and one buffer fewer, and int8 ranges that start at zero. Only
//! where the Relu is the producer's sole reader and the pre-activation value
//! is no model output. A RESHAPE between them (a 1-D layer run as a 2-D
//! one gives its output back through one) does not stop it: the activation
//! is elementwise, so it may as well apply before the reshape.
//!
//! Layer: passes; uses `ir` and `IrOp::fused_activation`.

use super::{producer_through_reshape, readers};
use crate::ir::{Activation, Graph, OpKind};
use crate::ops::Relu;

/// Makes `act` the fused activation of an op that has none and can take
/// one; false for any other.
pub fn fuse(kind: &mut OpKind, act: Activation) -> bool {
    match kind.op_mut().fused_activation() {
        Some(slot) if *slot == Activation::None => {
            *slot = act;
            true
        }
        _ => false,
    }
}

pub fn run(g: &mut Graph) {
    let readers = readers(g);
    let mut fused = Vec::new();
    for r in 0..g.nodes.len() {
        let (OpKind::Relu(Relu(act @ (Activation::Relu | Activation::Relu6))), Some(x), Some(&y)) = (
            g.nodes[r].kind.clone(),
            g.nodes[r].input(0),
            g.nodes[r].outputs.first(),
        ) else {
            continue;
        };
        let Some((p, last)) = producer_through_reshape(g, x, &readers) else {
            continue;
        };
        if readers[x] != 1 || g.nodes[p].outputs.len() != 1 {
            continue;
        }
        if fuse(&mut g.nodes[p].kind, act) {
            g.nodes[last].outputs[0] = y;
            fused.push(r);
        }
    }
    let nodes = std::mem::take(&mut g.nodes);
    g.nodes = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !fused.contains(i))
        .map(|(_, n)| n)
        .collect();
}
