//! Arena planning: every activation tensor gets a byte offset in one arena,
//! from tensor lifetimes, so that tensors alive at the same time never share
//! bytes and the arena is as small as the greedy strategy finds.
//!
//! Layer: plan; uses `ir` and each op's scratch figure (`ops`). RESHAPE
//! outputs share their input's bytes (no copy); an op's scratch is a
//! buffer alive during that op only. Placement is greedy by decreasing
//! size, each buffer at the lowest 16-byte aligned offset that no
//! overlapping-lifetime buffer occupies, the same strategy as TFLM's greedy
//! planner, so the activations never need more than TFLM's head for the
//! same graph; sharing reshaped buffers makes them smaller. The fast
//! kernels' scratch comes on top, as CMSIS-NN's does in TFLM.

use crate::ir::{Graph, TensorId};

pub const ALIGNMENT: usize = kiln::graph::ALIGNMENT;

fn align(x: usize) -> usize {
    x.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// One buffer in the arena: a tensor and every tensor that aliases it, or
/// one op's scratch.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// The tensor whose bytes these are (the others alias it); `None` for
    /// an op's scratch.
    pub root: Option<TensorId>,
    pub bytes: usize,
    pub offset: usize,
    /// First and last op index (inclusive) at which the buffer is alive;
    /// graph inputs are born before op 0, outputs live past the last op.
    pub first: usize,
    pub last: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArenaPlan {
    pub buffers: Vec<Buffer>,
    /// For each tensor, the buffer holding it (`None` for constants).
    pub buffer_of: Vec<Option<usize>>,
    /// For each node, the buffer of its scratch (`None` when it needs none).
    pub scratch_of: Vec<Option<usize>>,
    pub arena_bytes: usize,
    /// The arena the activations alone would need, planned without any
    /// op's scratch.
    pub activation_bytes: usize,
    /// No plan can do with less: the most bytes alive at once (at any op,
    /// scratch included), before alignment.
    pub lower_bound_bytes: usize,
    /// Where that happens: the op index (the model's outputs, alive after
    /// the last op, count as index `nodes.len()`).
    pub peak_op: usize,
    /// What the arena would need if no two tensors shared bytes.
    pub unshared_bytes: usize,
}

impl ArenaPlan {
    /// Byte offset of a tensor in the arena.
    pub fn offset(&self, t: TensorId) -> Option<usize> {
        self.buffer_of
            .get(t)
            .copied()
            .flatten()
            .map(|b| self.buffers[b].offset)
    }

    /// Byte offset and size of a node's scratch.
    pub fn scratch(&self, node: usize) -> Option<(usize, usize)> {
        let b = self.scratch_of.get(node).copied().flatten()?;
        Some((self.buffers[b].offset, self.buffers[b].bytes))
    }
}

/// Plans the arena of `graph`.
pub fn plan(graph: &Graph) -> ArenaPlan {
    let n = graph.tensors.len();
    // Storage root of each tensor: RESHAPE outputs alias their input.
    let mut root: Vec<TensorId> = (0..n).collect();
    for node in &graph.nodes {
        if node.kind.op().aliases_input() {
            if let (Some(input), Some(&output)) = (node.input(0), node.outputs.first()) {
                if !graph.tensors[input].is_constant() {
                    root[output] = root[input];
                }
            }
        }
    }

    // Lifetimes, in op indices, per root.
    let end = graph.nodes.len();
    let mut life: Vec<Option<(usize, usize)>> = vec![None; n];
    let mut touch = |t: TensorId, at: usize| {
        if graph.tensors[t].is_constant() {
            return;
        }
        let r = root[t];
        life[r] = Some(match life[r] {
            Some((a, b)) => (a.min(at), b.max(at)),
            None => (at, at),
        });
    };
    for &t in &graph.inputs {
        touch(t, 0);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        for t in node.inputs.iter().flatten() {
            touch(*t, i);
        }
        for &t in &node.outputs {
            touch(t, i);
        }
    }
    for &t in &graph.outputs {
        touch(t, end);
    }

    let mut buffers: Vec<Buffer> = Vec::new();
    let mut buffer_of_root = vec![None; n];
    for r in 0..n {
        if let Some((first, last)) = life[r] {
            // A buffer is as large as the largest tensor it holds.
            let bytes = (0..n)
                .filter(|&t| root[t] == r)
                .map(|t| graph.tensors[t].bytes())
                .max()
                .unwrap_or(0);
            buffer_of_root[r] = Some(buffers.len());
            buffers.push(Buffer {
                root: Some(r),
                bytes,
                offset: 0,
                first,
                last,
            });
        }
    }

    let mut scratch_of = vec![None; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        let bytes = node.kind.op().scratch_bytes(graph, node);
        if bytes > 0 {
            scratch_of[i] = Some(buffers.len());
            buffers.push(Buffer {
                root: None,
                bytes,
                offset: 0,
                first: i,
                last: i,
            });
        }
    }

    // What the activations alone take (TFLM's reference kernels need no
    // scratch, so this is the figure to hold against TFLM's head).
    let mut activations: Vec<Buffer> = buffers
        .iter()
        .filter(|b| b.root.is_some())
        .cloned()
        .collect();
    let activation_bytes = align(place(&mut activations));
    let arena_bytes = place(&mut buffers);
    let live = |at: usize| -> usize {
        buffers
            .iter()
            .filter(|b| b.first <= at && at <= b.last)
            .map(|b| b.bytes)
            .sum()
    };
    let (peak_op, lower_bound_bytes) = (0..=end)
        .map(|at| (at, live(at)))
        .max_by_key(|&(at, bytes)| (bytes, std::cmp::Reverse(at)))
        .unwrap_or((0, 0));

    let buffer_of = (0..n)
        .map(|t| {
            if life[root[t]].is_some() {
                buffer_of_root[root[t]]
            } else {
                None
            }
        })
        .collect();
    let scratch_bytes: usize = scratch_of
        .iter()
        .flatten()
        .map(|&b| align(buffers[b].bytes))
        .sum();
    let unshared_bytes = scratch_bytes
        + (0..n)
            .filter(|&t| !graph.tensors[t].is_constant() && life[root[t]].is_some())
            .map(|t| align(graph.tensors[t].bytes()))
            .sum::<usize>();
    ArenaPlan {
        buffers,
        buffer_of,
        scratch_of,
        arena_bytes: align(arena_bytes),
        activation_bytes,
        lower_bound_bytes,
        peak_op,
        unshared_bytes,
    }
}

/// Greedy placement, largest first, each buffer at the lowest aligned
/// offset no buffer with an overlapping lifetime occupies; returns the end
/// of the highest buffer.
fn place(buffers: &mut [Buffer]) -> usize {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&b| (std::cmp::Reverse(buffers[b].bytes), buffers[b].first));
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_bytes = 0;
    for b in order {
        let (first, last) = (buffers[b].first, buffers[b].last);
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| buffers[p].first <= last && first <= buffers[p].last)
            .map(|&p| (buffers[p].offset, buffers[p].offset + buffers[p].bytes))
            .collect();
        busy.sort();
        let mut offset = 0;
        for (start, stop) in busy {
            if offset + buffers[b].bytes <= start {
                break;
            }
            offset = offset.max(align(stop));
        }
        buffers[b].offset = offset;
        arena_bytes = arena_bytes.max(offset + buffers[b].bytes);
        placed.push(b);
    }
    arena_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::*;

    fn tensor(name: &str, elements: usize) -> Tensor {
        Tensor {
            name: name.into(),
            shape: vec![elements],
            dtype: DataType::I8,
            quantization: None,
            data: None,
        }
    }

    fn node(kind: OpKind, inputs: &[usize], outputs: &[usize]) -> Node {
        Node {
            kind,
            inputs: inputs.iter().map(|&i| Some(i)).collect(),
            outputs: outputs.to_vec(),
            source_name: String::new(),
        }
    }

    /// A chain a -> b -> c -> d through three ops.
    fn chain(sizes: [usize; 4]) -> Graph {
        Graph {
            source: "test".into(),
            tensors: vec![
                tensor("a", sizes[0]),
                tensor("b", sizes[1]),
                tensor("c", sizes[2]),
                tensor("d", sizes[3]),
            ],
            nodes: vec![
                node(OpKind::Logistic(crate::ops::Logistic), &[0], &[1]),
                node(OpKind::Logistic(crate::ops::Logistic), &[1], &[2]),
                node(OpKind::Logistic(crate::ops::Logistic), &[2], &[3]),
            ],
            inputs: vec![0],
            outputs: vec![3],
        }
    }

    fn assert_no_live_overlap(g: &Graph, p: &ArenaPlan) {
        for (i, a) in p.buffers.iter().enumerate() {
            assert_eq!(a.offset % ALIGNMENT, 0);
            assert!(a.offset + a.bytes <= p.arena_bytes);
            for b in &p.buffers[i + 1..] {
                let live_together = a.first <= b.last && b.first <= a.last;
                let share_bytes = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
                assert!(
                    !(live_together && share_bytes),
                    "{a:?} and {b:?} collide in {g:?}"
                );
            }
        }
    }

    #[test]
    fn chain_reuses_dead_buffers() {
        let g = chain([100, 200, 100, 50]);
        let p = plan(&g);
        assert_no_live_overlap(&g, &p);
        // At most two tensors are alive at once: 208 + 112.
        assert_eq!(p.arena_bytes, 320);
        assert_eq!(p.unshared_bytes, 112 + 208 + 112 + 64);
    }

    #[test]
    fn reshape_shares_its_input_bytes() {
        let mut g = chain([64, 64, 64, 64]);
        g.nodes[1].kind = OpKind::Reshape(crate::ops::Reshape);
        let p = plan(&g);
        assert_no_live_overlap(&g, &p);
        assert_eq!(p.offset(1), p.offset(2));
        assert_eq!(p.arena_bytes, 128);
    }

    #[test]
    fn random_graphs_never_collide() {
        let mut seed = 12345u64;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..200 {
            let count = 2 + next(12);
            let tensors: Vec<Tensor> = (0..count)
                .map(|i| tensor(&format!("t{i}"), 1 + next(300)))
                .collect();
            let mut nodes = Vec::new();
            for out in 1..count {
                let a = next(out);
                let b = next(out);
                nodes.push(node(
                    OpKind::Add(crate::ops::Add {
                        activation: Activation::None,
                    }),
                    &[a, b],
                    &[out],
                ));
            }
            let g = Graph {
                source: "r".into(),
                tensors,
                nodes,
                inputs: vec![0],
                outputs: vec![count - 1],
            };
            let p = plan(&g);
            assert_no_live_overlap(&g, &p);
            // The lower bound is what some op has alive, and no plan beats it.
            assert!(p.lower_bound_bytes <= p.arena_bytes);
            let live_at_peak: usize = p
                .buffers
                .iter()
                .filter(|b| b.first <= p.peak_op && p.peak_op <= b.last)
                .map(|b| b.bytes)
                .sum();
            assert_eq!(live_at_peak, p.lower_bound_bytes);
        }
    }
}
