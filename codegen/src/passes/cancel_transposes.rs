//! Transpose cancellation: a TRANSPOSE of a TRANSPOSE is one TRANSPOSE (of
//! the composed permutation), one that permutes nothing is no op at all,
//! and one whose output nobody reads is gone. With `nchw_to_nhwc` moving
//! transposes down the graph, this is what removes the layout changes the
//! ONNX importer puts around each convolution: each pair removed saves two
//! copies of a tensor and their RAM.
//!
//! Layer: passes; uses `ir`.

use super::carry_quantization;
use crate::ir::{Graph, OpKind};
use crate::ops::Transpose;

/// One cancellation, if any applies: true if the graph changed.
fn cancel_one(g: &mut Graph) -> bool {
    for r in 0..g.nodes.len() {
        let OpKind::Transpose(Transpose { perm: q }) = &g.nodes[r].kind else {
            continue;
        };
        let (Some(y), Some(&z)) = (g.nodes[r].input(0), g.nodes[r].outputs.first()) else {
            continue;
        };
        let read = g.outputs.contains(&z) || g.nodes.iter().any(|n| n.inputs.contains(&Some(z)));
        if !read {
            g.nodes.remove(r);
            return true;
        }
        // A transpose of a transpose: `z[d] = y[q[d]] = x[p[q[d]]]`.
        let producer = g.nodes.iter().find(|n| n.outputs.contains(&y));
        if let Some((OpKind::Transpose(Transpose { perm: p }), Some(x))) =
            producer.map(|n| (&n.kind, n.input(0)))
        {
            let perm: Vec<usize> = q.iter().map(|&d| p[d]).collect();
            g.nodes[r].kind = OpKind::Transpose(Transpose { perm });
            g.nodes[r].inputs = vec![Some(x)];
            // The model's own parameters (a QDQ model's) stay with the values.
            carry_quantization(g, y, x);
            return true;
        }
        // A transpose that permutes nothing: its input's producer writes
        // its output (which keeps its name, a model output's included), or,
        // for a model input, its readers read that input.
        let identity = q.iter().enumerate().all(|(d, &p)| d == p);
        if identity && !(g.inputs.contains(&y) && g.outputs.contains(&z)) {
            let producer = g.nodes.iter().position(|n| n.outputs == [y]);
            let (from, to) = match producer {
                Some(p) if !g.outputs.contains(&y) => {
                    g.nodes[p].outputs = vec![z];
                    (y, z)
                }
                _ => (z, y),
            };
            carry_quantization(g, from, to);
            for node in &mut g.nodes {
                for slot in node.inputs.iter_mut().flatten() {
                    if *slot == from {
                        *slot = to;
                    }
                }
            }
            for output in &mut g.outputs {
                if *output == from {
                    *output = to;
                }
            }
            g.nodes.remove(r);
            return true;
        }
    }
    false
}

/// Cancels until nothing more cancels; true if anything did.
pub fn run(g: &mut Graph) -> bool {
    let mut changed = false;
    while cancel_one(g) {
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Activation, DataType, Node, Tensor};
    use crate::ops::Relu;

    fn tensor(name: &str, shape: &[usize]) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DataType::F32,
            quantization: None,
            data: None,
        }
    }

    fn node(kind: OpKind, input: usize, output: usize) -> Node {
        Node {
            source_name: kind.name().into(),
            kind,
            inputs: vec![Some(input)],
            outputs: vec![output],
        }
    }

    fn transpose(perm: &[usize]) -> OpKind {
        OpKind::Transpose(Transpose {
            perm: perm.to_vec(),
        })
    }

    /// x -> TRANSPOSE(first) -> TRANSPOSE(second) -> RELU -> y.
    fn graph(first: &[usize], second: &[usize]) -> Graph {
        Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x", &[1, 4, 5, 3]),
                tensor("a", &[1, 3, 4, 5]),
                tensor("b", &[1, 4, 5, 3]),
                tensor("y", &[1, 4, 5, 3]),
            ],
            nodes: vec![
                node(transpose(first), 0, 1),
                node(transpose(second), 1, 2),
                node(OpKind::Relu(Relu(Activation::Relu)), 2, 3),
            ],
            inputs: vec![0],
            outputs: vec![3],
            variables: vec![],
            variable_init: vec![],
        }
    }

    #[test]
    fn inverse_transposes_cancel() {
        let mut g = graph(&[0, 3, 1, 2], &[0, 2, 3, 1]);
        assert!(run(&mut g));
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["RELU"]);
        assert_eq!(g.nodes[0].inputs, [Some(0)]);
    }

    #[test]
    fn other_transposes_compose_into_one() {
        let mut g = graph(&[0, 3, 1, 2], &[0, 1, 3, 2]);
        assert!(run(&mut g));
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["TRANSPOSE", "RELU"]);
        // b[d] = a[q[d]] = x[p[q[d]]]: [0, 3, 2, 1].
        assert_eq!(g.nodes[0].kind, transpose(&[0, 3, 2, 1]));
        assert_eq!(g.nodes[0].inputs, [Some(0)]);
        assert!(!run(&mut g));
    }
}
