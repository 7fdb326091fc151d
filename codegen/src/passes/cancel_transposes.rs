//! Transpose cancellation: a TRANSPOSE, a chain of elementwise ops, then
//! the inverse TRANSPOSE compute the chain on the untransposed values. The
//! ONNX importer produces this shape when a value goes back to ONNX's NCHW
//! for an op that needs it and an activation sits between that op and the
//! next convolution; each pair removed saves two copies of the tensor and
//! their RAM.
//!
//! Layer: passes; uses `ir` and `IrOp::elementwise`.

use super::readers;
use crate::ir::{Graph, OpKind, TensorId};

/// Whether `node`'s inputs other than `value` are all one-element constants
/// (which broadcast the same way in any layout).
fn only_scalars_besides(g: &Graph, node: &crate::ir::Node, value: TensorId) -> bool {
    node.inputs
        .iter()
        .flatten()
        .filter(|&&t| t != value)
        .all(|&t| g.tensors[t].is_constant() && g.tensors[t].elements() == 1)
}

/// One cancellable pattern: the two transposes' node indices, the chain's
/// node indices in order, and the tensors it starts from and ends in.
struct Pattern {
    first: usize,
    second: usize,
    chain: Vec<usize>,
    input: TensorId,
    output: TensorId,
}

fn find(g: &Graph) -> Option<Pattern> {
    let readers = readers(g);
    let reader_of = |t: TensorId| {
        g.nodes
            .iter()
            .position(|n| n.inputs.iter().flatten().any(|&i| i == t))
    };
    for (first, node) in g.nodes.iter().enumerate() {
        let OpKind::Transpose(t1) = &node.kind else {
            continue;
        };
        let (Some(input), Some(&y)) = (node.input(0), node.outputs.first()) else {
            continue;
        };
        let mut chain = Vec::new();
        let mut value = y;
        while readers[value] == 1 {
            let Some(r) = reader_of(value) else {
                break;
            };
            let next = &g.nodes[r];
            if let OpKind::Transpose(t2) = &next.kind {
                let inverse = t2.perm.len() == t1.perm.len()
                    && (0..t2.perm.len()).all(|d| t1.perm.get(t2.perm[d]) == Some(&d));
                if inverse && !chain.is_empty() {
                    return Some(Pattern {
                        first,
                        second: r,
                        chain,
                        input,
                        output: next.outputs[0],
                    });
                }
                break;
            }
            let elementwise = next.kind.op().elementwise()
                && next.outputs.len() == 1
                && only_scalars_besides(g, next, value);
            if !elementwise {
                break;
            }
            chain.push(r);
            value = next.outputs[0];
        }
    }
    None
}

pub fn run(g: &mut Graph) {
    while let Some(p) = find(g) {
        let y = g.nodes[p.first].outputs[0];
        let input_shape = g.tensors[p.input].shape.clone();
        // The model's own parameters (a QDQ model's) move with the values.
        if g.tensors[p.input].quantization.is_none() {
            g.tensors[p.input].quantization = g.tensors[y].quantization.clone();
        }
        let mut value = y;
        for (k, &c) in p.chain.iter().enumerate() {
            let node = &mut g.nodes[c];
            for slot in node.inputs.iter_mut().flatten() {
                if *slot == value {
                    *slot = if k == 0 { p.input } else { value };
                }
            }
            let out = node.outputs[0];
            if k + 1 == p.chain.len() {
                if g.tensors[p.output].quantization.is_none() {
                    g.tensors[p.output].quantization = g.tensors[out].quantization.clone();
                }
                g.nodes[c].outputs[0] = p.output;
            } else {
                g.tensors[out].shape = input_shape.clone();
            }
            value = out;
        }
        let (a, b) = (p.first.max(p.second), p.first.min(p.second));
        g.nodes.remove(a);
        g.nodes.remove(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Activation, DataType, Node, Tensor};
    use crate::ops::{Relu, Tanh, Transpose};

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

    fn graph(middle: OpKind, second_perm: Vec<usize>) -> Graph {
        let to_nchw = OpKind::Transpose(Transpose {
            perm: vec![0, 3, 1, 2],
        });
        Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x", &[1, 4, 5, 3]),
                tensor("x nchw", &[1, 3, 4, 5]),
                tensor("relu", &[1, 3, 4, 5]),
                tensor("tanh", &[1, 3, 4, 5]),
                tensor("y", &[1, 4, 5, 3]),
            ],
            nodes: vec![
                node(to_nchw, 0, 1),
                node(OpKind::Relu(Relu(Activation::Relu)), 1, 2),
                node(middle, 2, 3),
                node(OpKind::Transpose(Transpose { perm: second_perm }), 3, 4),
            ],
            inputs: vec![0],
            outputs: vec![4],
        }
    }

    #[test]
    fn inverse_transposes_around_elementwise_ops_cancel() {
        let mut g = graph(OpKind::Tanh(Tanh), vec![0, 2, 3, 1]);
        run(&mut g);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["RELU", "TANH"]);
        assert_eq!(g.nodes[0].inputs, [Some(0)]);
        assert_eq!(g.nodes[1].outputs, [4]);
        assert_eq!(g.tensors[g.nodes[0].outputs[0]].shape, [1, 4, 5, 3]);
    }

    #[test]
    fn other_transposes_and_layout_sensitive_ops_stay() {
        // Not the inverse permutation.
        let mut g = graph(OpKind::Tanh(Tanh), vec![0, 1, 2, 3]);
        run(&mut g);
        assert_eq!(g.nodes.len(), 4);
        // A softmax depends on the layout (its axis).
        let mut g = graph(
            OpKind::Softmax(crate::ops::Softmax { beta: 1.0 }),
            vec![0, 2, 3, 1],
        );
        run(&mut g);
        assert_eq!(g.nodes.len(), 4);
    }
}
