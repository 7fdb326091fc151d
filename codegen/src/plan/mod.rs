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
//!
//! In place: an int8 convolution whose input dies with it may write its
//! output over that input, a band of output rows at a time
//! (`kiln::ops::Bands`). Its output then shares the input's buffer at a
//! fixed byte distance, and the buffer grows to hold both; [`plan_in_place`]
//! chooses the layers for which that lowers the arena.
//!
//! Concatenated in place: a concatenation whose inputs each fill one
//! contiguous run of its output has every input planned inside the output,
//! at its slice ([`Walk::Slices`]); the producers write there and the
//! concatenation runs no op. Along any other axis, a concatenation may
//! lie over its first or last input where that input dies there
//! ([`Walk::Expand`]), which it spreads apart to make room for the others.
//!
//! Streamed: a convolution whose output only the next op, a fully
//! connected layer, reads may pass that output to it a band of rows at a
//! time (`kiln::ops::Stream`): the output then has no buffer, the
//! convolution's input and scratch live on to the fully connected layer,
//! and a buffer for one band and the layer's sums is alive there.

mod place;
mod search;
#[cfg(test)]
mod tests;

pub use search::*;

use crate::ir::{Graph, TensorId};
use place::place;

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
    /// Buffers that run in place share a group: each sits at a fixed
    /// distance (`rel`) from the group's origin, and only a buffer and the
    /// one written over it (at the op where one dies and the other is
    /// born) share bytes while alive. Every other buffer is a group alone
    /// (`rel` 0).
    pub group: usize,
    pub rel: isize,
}

/// How an op runs in place: its walk, its output `delta` bytes from the
/// start of the input it writes over, and the buffer the walk computes
/// into.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InPlace {
    pub walk: Walk,
    pub delta: isize,
    pub buffer_bytes: usize,
}

/// The walk of an in-place op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Walk {
    /// A convolution: bands of `rows` output rows with a lag of `lag` bands
    /// (`kiln::ops::Bands`), over its first input.
    Bands { rows: u32, lag: u32 },
    /// An elementwise op of one shape: chunks of `elements`
    /// (`kiln::ops::Chunks`), over whichever operand dies with it.
    Chunks { elements: u32 },
    /// A fully connected layer that takes the output of the convolution
    /// before it in bands of `rows` rows (`kiln::ops::Stream`), which
    /// then is never stored; its buffer holds a band, then `sums_bytes`
    /// of sums.
    Stream { rows: u32, sums_bytes: u32 },
    /// A residual block's ADD that runs its two convolutions (the two ops
    /// before it) in bands of `rows` rows (`kiln::ops::ResidualBlockOp`),
    /// their outputs never stored, its sum written over the block's input;
    /// its buffer holds the window (`window_bytes`), then a band and a sum
    /// of `band_bytes` each.
    Residual {
        rows: u32,
        window_bytes: u32,
        band_bytes: u32,
    },
    /// A convolution that runs the `layers - 1` convolutions before it
    /// (each one's output read by the next alone) in bands of `rows` of
    /// its own output rows (`kiln::ops::TiledChainOp`): their outputs are
    /// never stored, their rows kept in windows of `windows` bytes (one
    /// after another in the buffer) while read. With `over_input`, the
    /// output may take the first layer's input's place, where that input
    /// dies.
    Tiled {
        rows: u32,
        layers: u32,
        windows: [u32; kiln::ops::MAX_TILED_LAYERS - 1],
        over_input: bool,
    },
    /// A concatenation whose inputs each lie in one contiguous run of its
    /// output's bytes (the axes before the concatenated one all of size
    /// 1): each input is planned inside the output, at its slice, so that
    /// its producer writes it there, and nothing runs (no buffer).
    Slices,
    /// A concatenation whose output lies over its first input (at the
    /// output's start) or, `last`, over its last (at its end), which dies
    /// there (`kiln::ops::ConcatenationInPlaceOp`): no buffer.
    Expand { last: bool },
    /// A slice whose output is one contiguous run of its input's bytes,
    /// `delta` bytes from the input's start: the output is planned there,
    /// inside the input, and nothing runs (no buffer).
    View,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArenaPlan {
    pub buffers: Vec<Buffer>,
    /// For each tensor, the buffer holding it (`None` for constants).
    pub buffer_of: Vec<Option<usize>>,
    /// For each node, the buffer of its scratch (`None` when it needs none).
    pub scratch_of: Vec<Option<usize>>,
    /// For each node that runs in place, how, and the buffer of its bands.
    pub in_place: Vec<Option<(InPlace, usize)>>,
    /// For each node, whether it runs no op: a concatenation whose inputs
    /// are planned in its output's bytes ([`Walk::Slices`]), or a slice
    /// planned in its input's ([`Walk::View`]).
    pub copies_nothing: Vec<bool>,
    /// For each tensor a stream passes on in bands, so that it is never
    /// stored (and has no buffer), the offset past the arena's end that
    /// names it: each such tensor its own, so that the ops of a stream can
    /// tell them from stored tensors and from each other.
    pub streamed: Vec<Option<usize>>,
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
    /// Where convolution chains run tiled: the arena the same search plans
    /// without them (tiles keep their halo rows, so tiling computes no
    /// MAC twice and this is all it trades).
    pub untiled_arena_bytes: Option<usize>,
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

    /// How node `node` runs in place, and the arena offset of its bands'
    /// buffer.
    pub fn bands(&self, node: usize) -> Option<(InPlace, usize)> {
        let (how, b) = self.in_place.get(node).copied().flatten()?;
        Some((how, self.buffers[b].offset))
    }

    /// The node whose op runs node `node`'s too: the fully connected layer
    /// a convolution streams into, the ADD of a residual block that runs
    /// its two convolutions, or the last layer of a tiled chain.
    pub fn fused_into(&self, node: usize) -> Option<usize> {
        (node + 1..node + kiln::ops::MAX_TILED_LAYERS).find(|&j| match self.bands(j) {
            Some((how, _)) => match how.walk {
                Walk::Stream { .. } => j == node + 1,
                Walk::Tiled { layers, .. } => j - node < layers as usize,
                Walk::Residual { .. } => j <= node + 2,
                Walk::Bands { .. }
                | Walk::Chunks { .. }
                | Walk::Expand { .. }
                | Walk::Slices
                | Walk::View => false,
            },
            None => false,
        })
    }

    /// Byte offset and size of a node's scratch.
    pub fn scratch(&self, node: usize) -> Option<(usize, usize)> {
        let b = self.scratch_of.get(node).copied().flatten()?;
        Some((self.buffers[b].offset, self.buffers[b].bytes))
    }
}

/// Plans the arena of `graph`, every op out of place.
pub fn plan(graph: &Graph) -> ArenaPlan {
    plan_with(graph, &vec![None; graph.nodes.len()])
}

/// Plans the arena with the in-place walks `in_place` (per node); a walk
/// whose input does not die at its node, or whose input is a constant, is
/// dropped (`ArenaPlan::in_place` says which ran).
fn plan_with(graph: &Graph, in_place: &[Option<InPlace>]) -> ArenaPlan {
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
    // State lives through every op, and past the last into the next run.
    for &t in &graph.variables {
        touch(t, 0);
        touch(t, end);
    }

    // Streams: when the convolution's output is read by the fully
    // connected layer after it alone, it gets no buffer, and the
    // convolution's input and scratch live on to the layer.
    let mut ran_in_place = vec![None; graph.nodes.len()];
    let mut streamed = vec![false; n];
    let mut scratch_at: Vec<usize> = (0..graph.nodes.len()).collect();
    let mut group: Vec<usize> = (0..n).collect();
    let mut rel: Vec<isize> = vec![0; n];
    // Roots a tiled chain or a residual block writes over, or whose bytes
    // it writes (a concatenation leaves those alone).
    let mut grouped = vec![false; n];
    for (j, node) in graph.nodes.iter().enumerate() {
        let Some(how) = in_place.get(j).copied().flatten() else {
            continue;
        };
        if let Walk::Tiled {
            over_input, layers, ..
        } = how.walk
        {
            // The earlier layers' outputs are never stored; the first
            // layer's input lives on to here, and the output takes its
            // place if it dies here.
            let Some(p) = (j + 1).checked_sub(layers as usize).filter(|_| layers >= 2) else {
                continue;
            };
            let first = &graph.nodes[p];
            let (Some(x), Some(&d)) = (first.input(0), node.outputs.first()) else {
                continue;
            };
            let (rx, rd) = (root[x], root[d]);
            // Each layer's output, read by the next layer alone.
            let hidden: Option<Vec<TensorId>> = (p..j)
                .map(|k| {
                    let t = *graph.nodes[k].outputs.first()?;
                    let read = graph.nodes[k + 1].input(0)?;
                    let r = root[t];
                    let alone =
                        root[read] == r && r != rx && r != rd && life[r] == Some((k, k + 1));
                    alone.then_some(r)
                })
                .collect();
            let Some(hidden) = hidden else {
                continue;
            };
            if rd == d
                && rd != rx
                && !graph.tensors[x].is_constant()
                && !streamed[rx]
                && (p..j).all(|k| ran_in_place[k].is_none())
                && life[rd].is_some_and(|(first, _)| first == j)
            {
                for (k, &r) in (p..j).zip(&hidden) {
                    life[r] = None;
                    streamed[r] = true;
                    scratch_at[k] = j;
                }
                let dies = life[rx].is_some_and(|(_, last)| last == p);
                life[rx] = life[rx].map(|(first, last)| (first, last.max(j)));
                if over_input && dies {
                    group[rd] = group[rx];
                    rel[rd] = rel[rx];
                    grouped[rd] = true;
                    grouped[rx] = true;
                }
                ran_in_place[j] = Some(how);
            }
            continue;
        }
        if let Walk::Residual { .. } = how.walk {
            // The first convolution's input is the ADD's other operand
            // and dies there; the sum is written over it.
            let (Some(p1), Some(p2)) = (j.checked_sub(2), j.checked_sub(1)) else {
                continue;
            };
            let (first, second) = (&graph.nodes[p1], &graph.nodes[p2]);
            let (Some(x), Some(&t1), Some(read), Some(&t2), Some(&d)) = (
                first.input(0),
                first.outputs.first(),
                second.input(0),
                second.outputs.first(),
                node.outputs.first(),
            ) else {
                continue;
            };
            let operands = [node.input(0), node.input(1)].map(|t| t.map(|t| root[t]));
            let (rx, r1, r2, rd) = (root[x], root[t1], root[t2], root[d]);
            let wired = root[read] == r1
                && (operands == [Some(rx), Some(r2)] || operands == [Some(r2), Some(rx)]);
            if wired
                && rx != r1
                && rx != r2
                && rd == d
                && !graph.tensors[x].is_constant()
                && graph.tensors[x].bytes() == graph.tensors[d].bytes()
                && life[r1] == Some((p1, p2))
                && life[r2] == Some((p2, j))
                && life[rx].is_some_and(|(_, last)| last == j)
                && life[rd].is_some_and(|(first, _)| first == j)
                && node.kind.op().scratch_bytes(graph, node) == 0
            {
                life[r1] = None;
                life[r2] = None;
                streamed[r1] = true;
                streamed[r2] = true;
                scratch_at[p1] = j;
                scratch_at[p2] = j;
                group[rd] = group[rx];
                rel[rd] = rel[rx];
                grouped[rd] = true;
                grouped[rx] = true;
                ran_in_place[j] = Some(how);
            }
            continue;
        }
        let (Walk::Stream { .. }, Some(p)) = (how.walk, j.checked_sub(1)) else {
            continue;
        };
        let producer = &graph.nodes[p];
        let (Some(x), Some(&t), Some(read)) =
            (producer.input(0), producer.outputs.first(), node.input(0))
        else {
            continue;
        };
        let (rt, rx) = (root[t], root[x]);
        if root[read] == rt
            && rt != rx
            && !graph.tensors[x].is_constant()
            && ran_in_place[p].is_none()
            && life[rt] == Some((p, j))
            && node.kind.op().scratch_bytes(graph, node) == 0
        {
            life[rt] = None;
            life[rx] = life[rx].map(|(first, last)| (first, last.max(j)));
            streamed[rt] = true;
            scratch_at[p] = j;
            ran_in_place[j] = Some(how);
        }
    }

    // Concatenations in place: each input's root joins the output's group
    // at its slice (an input that is itself such an output brings its own
    // inputs along), and lives until the concatenation only; the output
    // lives from there on as long as any of them is read. The producers
    // then write straight into the output, and the concatenation copies
    // nothing. Every input must fill its root alone (no other tensor under
    // another shape is larger), be stored, and be written over by no
    // tiled chain or residual block.
    //
    // Views: a slice's output that is one contiguous run of its input is
    // planned inside the input's buffer, `delta` bytes on, in its group,
    // for its own lifetime; nothing may write over those bytes while it
    // is read. Input and output then share bytes; no op runs.
    //
    // In place: an op writes its output over an input that dies there.
    //
    // `slice` marks the roots placed inside another's bytes.
    let mut slice = vec![false; n];
    let mut copies_nothing = vec![false; graph.nodes.len()];
    let variable_root = |r: TensorId| graph.variables.iter().any(|&v| root[v] == r);
    // A root's bytes: those of the largest tensor it holds.
    let mut largest = vec![0; n];
    for t in 0..n {
        largest[root[t]] = largest[root[t]].max(graph.tensors[t].bytes());
    }
    let root_bytes = |r: TensorId| largest[r];
    // Each in place, in node order, so that a root's group is settled
    // before a later op places something relative to it.
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(how) = in_place.get(i).copied().flatten() else {
            continue;
        };
        match how.walk {
            // A view joins its input's group, `delta` bytes on.
            Walk::View => {
                let (Some(t), Some(&o)) = (node.input(0), node.outputs.first()) else {
                    continue;
                };
                let r = root[t];
                let fits = root[o] == o
                    && life[o].is_some_and(|(first, _)| first == i)
                    && group[o] == o
                    && !grouped[o]
                    && !slice[o]
                    && !variable_root(o)
                    && !graph.tensors[t].is_constant()
                    && r != o
                    && life[r].is_some()
                    && !streamed[r]
                    && !grouped[r]
                    && !variable_root(r)
                    && how.delta >= 0
                    && how.delta as usize + graph.tensors[o].bytes() <= graph.tensors[t].bytes();
                if fits {
                    group[o] = group[r];
                    rel[o] = rel[r] + how.delta;
                    slice[o] = true;
                    copies_nothing[i] = true;
                }
            }
            // A concatenation's inputs join its output's group.
            Walk::Slices => {
                let (Some(&d), [_]) = (node.outputs.first(), &node.outputs[..]) else {
                    continue;
                };
                let mut members: Vec<(TensorId, isize)> = Vec::new();
                let mut at = 0;
                let mut fits = root[d] == d
                    && life[d].is_some_and(|(first, _)| first == i)
                    && group[d] == d
                    && !grouped[d]
                    && !variable_root(d);
                for input in &node.inputs {
                    let Some(t) = *input else {
                        fits = false;
                        break;
                    };
                    let r = root[t];
                    fits &= !graph.tensors[t].is_constant()
                        && r != d
                        && life[r].is_some()
                        && !streamed[r]
                        && group[r] == r
                        && !grouped[r]
                        && !slice[r]
                        && !variable_root(r)
                        && root_bytes(r) == graph.tensors[t].bytes()
                        && members.iter().all(|&(m, _)| m != r);
                    members.push((r, at as isize));
                    at += graph.tensors[t].bytes();
                }
                if !fits || at != graph.tensors[d].bytes() {
                    continue;
                }
                let mut last = life[d].map_or(i, |(_, last)| last);
                for &(m, offset) in &members {
                    // The input's group (its views, its own inputs) moves along.
                    let moved: Vec<TensorId> = (0..n).filter(|&r| group[r] == m).collect();
                    for r in moved {
                        group[r] = d;
                        rel[r] += offset;
                    }
                    slice[m] = true;
                    if let Some((first, end)) = life[m] {
                        last = last.max(end);
                        life[m] = Some((first, i));
                    }
                }
                life[d] = life[d].map(|(first, _)| (first, last));
                copies_nothing[i] = true;
            }
            // An output root joins its input root's group, `delta` bytes
            // on, when the input's buffer dies at that op: a convolution
            // writes over its data input, an elementwise op over either
            // operand as large as its output, a concatenation over its
            // first or last input where no other operand is that input.
            Walk::Bands { .. } | Walk::Chunks { .. } | Walk::Expand { .. } => {
                let Some(&output) = node.outputs.first() else {
                    continue;
                };
                let elementwise = matches!(how.walk, Walk::Chunks { .. });
                let last_input = [node.inputs.len().saturating_sub(1)];
                let operands: &[usize] = match how.walk {
                    Walk::Chunks { .. } => &[0, 1],
                    Walk::Expand { last: true } => &last_input,
                    _ => &[0],
                };
                let read_once = |input: TensorId| {
                    !matches!(how.walk, Walk::Expand { .. })
                        || node
                            .inputs
                            .iter()
                            .flatten()
                            .filter(|&&t| root[t] == root[input])
                            .count()
                            == 1
                };
                let ro = root[output];
                let born_here =
                    life[ro].is_some_and(|(first, _)| first == i) && ro == output && !slice[ro];
                // Not over a view or a concatenation's input, nor over a
                // buffer while one placed in its group is still read.
                let slices_alive = |ri: TensorId| {
                    (0..n).any(|r| {
                        r != ri
                            && group[r] == group[ri]
                            && slice[r]
                            && life[r].is_some_and(|(_, last)| last >= i)
                    })
                };
                let over = operands
                    .iter()
                    .filter_map(|&k| node.input(k))
                    .find(|&input| {
                        let ri = root[input];
                        !graph.tensors[input].is_constant()
                            && life[ri].is_some_and(|(_, last)| last == i)
                            && ri != ro
                            && !slice[ri]
                            && !slices_alive(ri)
                            && read_once(input)
                            && (!elementwise
                                || graph.tensors[input].bytes() == graph.tensors[output].bytes())
                    });
                if let (Some(input), true) = (over, born_here) {
                    let ri = root[input];
                    group[ro] = group[ri];
                    rel[ro] = rel[ri] + how.delta;
                    ran_in_place[i] = Some(how);
                }
            }
            Walk::Stream { .. } | Walk::Residual { .. } | Walk::Tiled { .. } => {}
        }
    }

    // The state region: every variable tensor in one group, one after
    // another, so that the state is one block no other tensor enters.
    let mut next = 0;
    for &t in &graph.variables {
        let r = root[t];
        if r == t && life[r].is_some() {
            group[r] = n + 2 * graph.nodes.len();
            rel[r] = next as isize;
            next += align(graph.tensors[r].bytes());
        }
    }

    let mut buffers: Vec<Buffer> = Vec::new();
    let mut buffer_of_root = vec![None; n];
    for r in 0..n {
        if let Some((first, last)) = life[r] {
            // A buffer is as large as the largest tensor it holds.
            let bytes = root_bytes(r);
            buffer_of_root[r] = Some(buffers.len());
            buffers.push(Buffer {
                root: Some(r),
                bytes,
                offset: 0,
                first,
                last,
                group: group[r],
                rel: rel[r],
            });
        }
    }

    let mut scratch_of = vec![None; graph.nodes.len()];
    let mut bands_of = vec![None; graph.nodes.len()];
    let alone = |bytes, i| Buffer {
        root: None,
        bytes,
        offset: 0,
        first: i,
        last: i,
        group: n + 2 * i,
        rel: 0,
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        let bytes = node.kind.op().scratch_bytes(graph, node);
        if bytes > 0 {
            scratch_of[i] = Some(buffers.len());
            buffers.push(alone(bytes, scratch_at[i]));
        }
        if let Some(how) = ran_in_place[i] {
            bands_of[i] = Some((how, buffers.len()));
            buffers.push(Buffer {
                group: n + 2 * i + 1,
                ..alone(how.buffer_bytes, i)
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
    // The buffers alive at each op.
    let mut alive: Vec<Vec<usize>> = vec![Vec::new(); end + 1];
    for (i, b) in buffers.iter().enumerate() {
        let last = b.last.min(end);
        for ops in alive.get_mut(b.first..=last).into_iter().flatten() {
            ops.push(i);
        }
    }
    let (peak_op, lower_bound_bytes) = (0..=end)
        .map(|at| (at, live_bytes(&buffers, &alive[at])))
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
        in_place: bands_of,
        copies_nothing,
        streamed: {
            let mut next = align(arena_bytes);
            let mut named = vec![None; n];
            for r in (0..n).filter(|&r| streamed[r]) {
                named[r] = Some(next);
                next += align(graph.tensors[r].bytes());
            }
            (0..n).map(|t| named[root[t]]).collect()
        },
        arena_bytes: align(arena_bytes),
        activation_bytes,
        lower_bound_bytes,
        peak_op,
        unshared_bytes,
        untiled_arena_bytes: None,
    }
}

/// The bytes alive at an op (`alive`: the buffers alive there): per group,
/// the span its live buffers cover
/// (a buffer and the one written over it count once).
fn live_bytes(buffers: &[Buffer], alive: &[usize]) -> usize {
    let mut spans: std::collections::BTreeMap<usize, (isize, isize)> = Default::default();
    for b in alive.iter().map(|&i| &buffers[i]) {
        let (lo, hi) = (b.rel, b.rel + b.bytes as isize);
        let span = spans.entry(b.group).or_insert((lo, hi));
        *span = (span.0.min(lo), span.1.max(hi));
    }
    spans.values().map(|(lo, hi)| (hi - lo) as usize).sum()
}
