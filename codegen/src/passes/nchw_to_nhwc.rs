//! NCHW to NHWC. The ONNX importer keeps ONNX's layout and wraps each op
//! that only runs in NHWC (convolutions, pools) in a TRANSPOSE to NHWC and
//! one back. This pass moves each TRANSPOSE down the graph, past the ops
//! that can run in the transposed layout (broadcasting elementwise ops,
//! with their constant operands permuted; batch norm, concatenation, pad,
//! slice, mean and softmax, with their axes rewritten: `IrOp::permuted`),
//! until it meets its inverse, which cancels it (`cancel_transposes`), or an
//! op that needs the layout it has (a reshape, a fully connected layer, a
//! model output). A chain of convolutions and elementwise ops then has no
//! transpose left inside it. Last, a TRANSPOSE that only moves dimensions
//! of size 1 becomes a RESHAPE, which costs nothing.
//!
//! Layer: passes; uses `ir`, `cancel_transposes` and the op facts of `ops`
//! (`IrOp::broadcasting`, `IrOp::permuted`).

use super::{cancel_transposes, carry_quantization};
use crate::ir::{Graph, Node, OpKind, Tensor, TensorId};
use crate::ops::{permute_shape, Permuted, Reshape, Transpose};

/// A constant of `rank` dimensions or fewer (right-aligned, numpy style),
/// in the new layout of a rank-`rank` value: a new tensor, or `t` itself
/// when it holds one value.
fn permute_constant(g: &mut Graph, t: TensorId, to_new: &[usize]) -> Option<TensorId> {
    let tensor = &g.tensors[t];
    let rank = to_new.len();
    if tensor.elements() == 1 {
        return Some(t);
    }
    if tensor.shape.len() > rank {
        return None;
    }
    let data = tensor.data.as_ref()?;
    let size = tensor.dtype.size();
    let lead = rank - tensor.shape.len();
    let old: Vec<usize> = std::iter::repeat_n(1, lead)
        .chain(tensor.shape.iter().copied())
        .collect();
    let new = permute_shape(&old, to_new);
    let strides = |s: &[usize]| -> Vec<usize> {
        let mut st = vec![1; s.len()];
        for d in (0..s.len().saturating_sub(1)).rev() {
            st[d] = st[d + 1] * s[d + 1];
        }
        st
    };
    let (old_strides, new_strides) = (strides(&old), strides(&new));
    let mut bytes = vec![0u8; data.len()];
    for (i, chunk) in data.chunks_exact(size).enumerate() {
        let at: usize = (0..rank)
            .map(|d| (i / old_strides[d]) % old[d] * new_strides[to_new[d]])
            .sum();
        bytes[at * size..][..size].copy_from_slice(chunk);
    }
    let mut quantization = tensor.quantization.clone();
    if let Some(q) = quantization.as_mut().filter(|q| q.scale.len() > 1) {
        q.axis = to_new[q.axis + lead];
    }
    g.tensors.push(Tensor {
        name: format!("{} (permuted)", tensor.name),
        shape: new,
        dtype: tensor.dtype,
        quantization,
        data: Some(bytes),
    });
    Some(g.tensors.len() - 1)
}

/// The TRANSPOSE whose output `t` is, with its input and `perm`: output
/// dimension `d` is input dimension `perm[d]`, so a value in the output's
/// layout has old dimension `d` at new dimension `perm[d]` in the input's.
fn transposed(g: &Graph, t: TensorId) -> Option<(TensorId, Vec<usize>)> {
    let node = g.nodes.iter().find(|n| n.outputs.contains(&t))?;
    match &node.kind {
        OpKind::Transpose(Transpose { perm }) => Some((node.input(0)?, perm.clone())),
        _ => None,
    }
}

/// A reader of a transposed value rewritten to run in the layout before
/// the transpose.
struct Rewritten {
    node: Node,
    /// Where each dimension of its output went.
    output: Vec<usize>,
    /// The transposed values it no longer reads, and what it reads instead.
    bypassed: Vec<(TensorId, TensorId)>,
}

/// Node `r` rewritten to read the values before the layout change
/// `to_new` (its data inputs: `y` itself, or values transposed the same way,
/// or constants permuted), or `None` if it cannot run in that layout.
fn rewrite(
    g: &mut Graph,
    r: usize,
    y: TensorId,
    x: TensorId,
    to_new: &[usize],
) -> Option<Rewritten> {
    let node = g.nodes[r].clone();
    if node.outputs.len() != 1 {
        return None;
    }
    let rank = g.tensors[node.outputs[0]].shape.len();
    let permuted = if node.kind.op().broadcasting() {
        if rank != to_new.len() {
            return None;
        }
        Permuted {
            kind: node.kind.clone(),
            data_inputs: (0..node.inputs.len()).collect(),
            params: vec![],
            output: to_new.to_vec(),
        }
    } else {
        node.kind.op().permuted(&node, to_new, g)?
    };
    if permuted.output.len() != rank {
        return None;
    }
    let mut inputs = node.inputs.clone();
    let mut bypassed = Vec::new();
    for &i in &permuted.data_inputs {
        let Some(t) = node.input(i) else {
            continue;
        };
        let source = if t == y {
            x
        } else if g.tensors[t].is_constant() {
            permute_constant(g, t, to_new)?
        } else {
            match transposed(g, t) {
                Some((source, same)) if same == to_new => source,
                _ => return None,
            }
        };
        if !g.tensors[t].is_constant() {
            bypassed.push((t, source));
        }
        inputs[i] = Some(source);
    }
    for &(i, t) in &permuted.params {
        inputs[i] = Some(t);
    }
    let node = Node {
        kind: permuted.kind,
        inputs,
        ..node
    };
    Some(Rewritten {
        node,
        output: permuted.output,
        bypassed,
    })
}

/// Moves one TRANSPOSE past its readers, if it can: true if it did.
fn sink_one(g: &mut Graph) -> bool {
    for t in 0..g.nodes.len() {
        let OpKind::Transpose(Transpose { perm }) = &g.nodes[t].kind else {
            continue;
        };
        let to_new = perm.clone();
        let (Some(x), Some(&y)) = (g.nodes[t].input(0), g.nodes[t].outputs.first()) else {
            continue;
        };
        let readers: Vec<usize> = (0..g.nodes.len())
            .filter(|&r| g.nodes[r].inputs.contains(&Some(y)))
            .collect();
        if readers.is_empty()
            || g.outputs.contains(&y)
            || readers
                .iter()
                .any(|&r| matches!(g.nodes[r].kind, OpKind::Transpose(_)))
        {
            continue;
        }
        let saved = g.tensors.len();
        let rewritten: Option<Vec<(usize, Rewritten)>> = readers
            .iter()
            .map(|&r| rewrite(g, r, y, x, &to_new).map(|w| (r, w)))
            .collect();
        let Some(rewritten) = rewritten else {
            g.tensors.truncate(saved);
            continue;
        };
        // Each reader now writes its output in the new layout; a TRANSPOSE
        // after it gives the old tensor, for its own readers to move on.
        for (r, w) in rewritten.into_iter().rev() {
            let Rewritten {
                mut node,
                output,
                bypassed,
            } = w;
            for (from, to) in bypassed {
                carry_quantization(g, from, to);
            }
            let old = node.outputs[0];
            let mut new = g.tensors[old].clone();
            new.name = format!("{} (moved)", new.name);
            new.shape = permute_shape(&g.tensors[old].shape, &output);
            g.tensors.push(new);
            let new = g.tensors.len() - 1;
            node.outputs[0] = new;
            let back = Node {
                kind: OpKind::Transpose(Transpose { perm: output }),
                inputs: vec![Some(new)],
                outputs: vec![old],
                source_name: g.nodes[t].source_name.clone(),
            };
            g.nodes[r] = node;
            g.nodes.insert(r + 1, back);
        }
        return true;
    }
    false
}

/// A TRANSPOSE that moves only dimensions of size 1 keeps every byte in
/// place: it becomes a RESHAPE (which the planner gives its input's bytes).
fn reshape_trivial_transposes(g: &mut Graph) {
    for node in &mut g.nodes {
        let (OpKind::Transpose(Transpose { perm }), Some(x)) = (&node.kind, node.input(0)) else {
            continue;
        };
        let shape = &g.tensors[x].shape;
        let moved: Vec<usize> = perm.iter().copied().filter(|&d| shape[d] != 1).collect();
        if moved.windows(2).all(|w| w[0] < w[1]) {
            node.kind = OpKind::Reshape(Reshape);
        }
    }
}

pub fn run(g: &mut Graph) {
    loop {
        let cancelled = cancel_transposes::run(g);
        if !sink_one(g) && !cancelled {
            break;
        }
    }
    reshape_trivial_transposes(g);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Activation, DataType};
    use crate::ops::{Add, Reduce, Reducer, Relu};

    fn tensor(name: &str, shape: &[usize], data: Option<Vec<u8>>) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DataType::F32,
            quantization: None,
            data,
        }
    }

    fn node(kind: OpKind, inputs: &[usize], output: usize) -> Node {
        Node {
            source_name: kind.name().into(),
            kind,
            inputs: inputs.iter().map(|&i| Some(i)).collect(),
            outputs: vec![output],
        }
    }

    fn transpose(perm: &[usize]) -> OpKind {
        OpKind::Transpose(Transpose {
            perm: perm.to_vec(),
        })
    }

    fn f32s(values: &[f32]) -> Option<Vec<u8>> {
        Some(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    #[test]
    fn transposes_move_through_elementwise_ops_and_cancel() {
        // NHWC x, to NCHW, Relu, + a per-channel NCHW constant, back to NHWC.
        let mut g = Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x", &[1, 4, 5, 3], None),
                tensor("a", &[1, 3, 4, 5], None),
                tensor("b", &[1, 3, 4, 5], None),
                tensor("bias", &[3, 1, 1], f32s(&[1.0, 2.0, 3.0])),
                tensor("c", &[1, 3, 4, 5], None),
                tensor("y", &[1, 4, 5, 3], None),
            ],
            nodes: vec![
                node(transpose(&[0, 3, 1, 2]), &[0], 1),
                node(OpKind::Relu(Relu(Activation::Relu)), &[1], 2),
                node(
                    OpKind::Add(Add {
                        activation: Activation::None,
                    }),
                    &[2, 3],
                    4,
                ),
                node(transpose(&[0, 2, 3, 1]), &[4], 5),
            ],
            inputs: vec![0],
            outputs: vec![5],
            variables: vec![],
            variable_init: vec![],
        };
        run(&mut g);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["RELU", "ADD"]);
        assert_eq!(g.nodes[0].inputs, [Some(0)]);
        assert_eq!(g.nodes[1].outputs, [5]);
        let bias = &g.tensors[g.nodes[1].input(1).unwrap()];
        assert_eq!(bias.shape, [1, 1, 1, 3]);
        assert_eq!(bias.data, f32s(&[1.0, 2.0, 3.0]));
        assert_eq!(g.tensors[g.nodes[0].outputs[0]].shape, [1, 4, 5, 3]);
    }

    #[test]
    fn both_operands_keep_the_models_parameters() {
        // Two NHWC values to NCHW (a QDQ model quantized each there), added,
        // and back: the ADD runs in NHWC on tensors that keep the parameters.
        let per_tensor = |scale: f32| {
            Some(crate::ir::Quantization {
                scale: vec![scale],
                zero_point: vec![0],
                axis: 0,
            })
        };
        let mut g = Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x1", &[1, 4, 5, 3], None),
                tensor("x2", &[1, 4, 5, 3], None),
                Tensor {
                    quantization: per_tensor(0.5),
                    ..tensor("a", &[1, 3, 4, 5], None)
                },
                Tensor {
                    quantization: per_tensor(0.25),
                    ..tensor("b", &[1, 3, 4, 5], None)
                },
                tensor("c", &[1, 3, 4, 5], None),
                tensor("y", &[1, 4, 5, 3], None),
            ],
            nodes: vec![
                node(transpose(&[0, 3, 1, 2]), &[0], 2),
                node(transpose(&[0, 3, 1, 2]), &[1], 3),
                node(
                    OpKind::Add(Add {
                        activation: Activation::None,
                    }),
                    &[2, 3],
                    4,
                ),
                node(transpose(&[0, 2, 3, 1]), &[4], 5),
            ],
            inputs: vec![0, 1],
            outputs: vec![5],
            variables: vec![],
            variable_init: vec![],
        };
        run(&mut g);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["ADD"]);
        assert_eq!(g.nodes[0].inputs, [Some(0), Some(1)]);
        let scale = |t: usize| g.tensors[t].quantization.as_ref().map(|q| q.scale0());
        assert_eq!((scale(0), scale(1)), (Some(0.5), Some(0.25)));
    }

    #[test]
    fn a_mean_takes_its_axes_along() {
        // NHWC x, to NCHW, mean over H and W without keeping them: [1, C].
        let axes: Vec<u8> = [2i32, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut g = Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x", &[1, 4, 5, 3], None),
                tensor("a", &[1, 3, 4, 5], None),
                Tensor {
                    dtype: DataType::I32,
                    ..tensor("axes", &[2], Some(axes))
                },
                tensor("y", &[1, 3], None),
            ],
            nodes: vec![
                node(transpose(&[0, 3, 1, 2]), &[0], 1),
                node(
                    OpKind::Reduce(Reduce {
                        reducer: Reducer::Mean,
                        keep_dims: false,
                    }),
                    &[1, 2],
                    3,
                ),
            ],
            inputs: vec![0],
            outputs: vec![3],
            variables: vec![],
            variable_init: vec![],
        };
        run(&mut g);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["MEAN"]);
        let axes = &g.tensors[g.nodes[0].input(1).unwrap()];
        assert_eq!(axes.data_i32(), Some(vec![1, 2]));
        assert_eq!(g.nodes[0].inputs[0], Some(0));
        assert_eq!(g.nodes[0].outputs, [3]);
    }

    #[test]
    fn a_reshape_keeps_the_layout_it_reads() {
        let mut g = Graph {
            source: "t".into(),
            tensors: vec![
                tensor("x", &[1, 4, 5, 3], None),
                tensor("a", &[1, 3, 4, 5], None),
                tensor("y", &[1, 60], None),
            ],
            nodes: vec![
                node(transpose(&[0, 3, 1, 2]), &[0], 1),
                node(OpKind::Reshape(Reshape), &[1], 2),
            ],
            inputs: vec![0],
            outputs: vec![2],
            variables: vec![],
            variable_init: vec![],
        };
        run(&mut g);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(kinds, ["TRANSPOSE", "RESHAPE"]);
    }
}
