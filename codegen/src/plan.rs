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
//! Streamed: a convolution whose output only the next op, a fully
//! connected layer, reads may pass that output to it a band of rows at a
//! time (`kiln::ops::Stream`): the output then has no buffer, the
//! convolution's input and scratch live on to the fully connected layer,
//! and a buffer for one band and the layer's sums is alive there.

use kiln::kernels::conv2d::ConvGeometry;

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
}

/// An op the planner may run in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Candidate {
    /// An int8 convolution of one batch, with its geometry.
    Convolution(ConvGeometry),
    /// An int8 elementwise op whose operands have its output's shape, of
    /// `elements` elements.
    Elementwise { elements: u32 },
    /// An int8 fully connected layer of one batch and `outputs` outputs
    /// whose input is the output of the op before it, an int8 convolution
    /// of one batch of geometry `producer`.
    Stream {
        producer: ConvGeometry,
        outputs: u32,
    },
    /// An int8 ADD of one shape and `elements` elements whose operands are
    /// the output of the op before it, a convolution of geometry `second`
    /// over the output of the op before that, a convolution of geometry
    /// `first`, and that one's input: a residual block. It may also run in
    /// place alone (as `Elementwise`).
    Residual {
        first: ConvGeometry,
        second: ConvGeometry,
        elements: u32,
    },
}

/// Elements per chunk of an in-place elementwise op: the buffer's size,
/// and enough that the walk's per-chunk call costs little.
const CHUNK_ELEMENTS: u32 = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct ArenaPlan {
    pub buffers: Vec<Buffer>,
    /// For each tensor, the buffer holding it (`None` for constants).
    pub buffer_of: Vec<Option<usize>>,
    /// For each node, the buffer of its scratch (`None` when it needs none).
    pub scratch_of: Vec<Option<usize>>,
    /// For each node that runs in place, how, and the buffer of its bands.
    pub in_place: Vec<Option<(InPlace, usize)>>,
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
    /// a convolution streams into, or the ADD of a residual block that
    /// runs its two convolutions.
    pub fn fused_into(&self, node: usize) -> Option<usize> {
        (node + 1..=node + 2).find(|&j| match self.bands(j) {
            Some((how, _)) => match how.walk {
                Walk::Stream { .. } => j == node + 1,
                Walk::Residual { .. } => true,
                Walk::Bands { .. } | Walk::Chunks { .. } => false,
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

/// Plans the arena of `graph`, running in place the convolutions among
/// `candidates` (per node: its geometry, for int8 convolutions of one
/// batch) for which that lowers the arena: each in turn is kept if the
/// arena does not grow, then each is toggled while that lowers the arena or
/// keeps it with fewer layers in place.
pub fn plan_in_place(graph: &Graph, candidates: &[Option<Candidate>]) -> ArenaPlan {
    let mut chosen: Vec<Option<InPlace>> = vec![None; graph.nodes.len()];
    let mut best = plan_with(graph, &chosen);
    let chunks = |elements: u32| {
        let elements = elements.min(CHUNK_ELEMENTS);
        InPlace {
            walk: Walk::Chunks { elements },
            delta: 0,
            buffer_bytes: align(elements as usize),
        }
    };
    // Each candidate's ways to run, the better first.
    let options: Vec<(usize, Vec<InPlace>)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let ways = match (*c)? {
                Candidate::Convolution(g) => band_walk(&g).into_iter().collect(),
                Candidate::Elementwise { elements } => vec![chunks(elements)],
                Candidate::Stream { producer, outputs } => vec![stream_walk(&producer, outputs)],
                Candidate::Residual {
                    first,
                    second,
                    elements,
                } => residual_walk(&first, &second)
                    .into_iter()
                    .chain([chunks(elements)])
                    .collect(),
            };
            Some((i, ways))
        })
        .filter(|(i, ways)| *i < chosen.len() && !ways.is_empty())
        .collect();
    for (i, ways) in &options {
        for &how in ways {
            chosen[*i] = Some(how);
            let p = plan_with(graph, &chosen);
            if p.in_place[*i].is_some() && p.arena_bytes <= best.arena_bytes {
                best = p;
                break;
            }
            chosen[*i] = None;
        }
    }
    // Then try each other way (or none) for each while that helps: a
    // smaller arena, or the same arena with one layer fewer in place (a
    // walk costs a little time). Each pass is a few plans per candidate; a
    // few settle it.
    for _ in 0..4 {
        let mut changed = false;
        for (i, ways) in options.iter().rev() {
            for way in std::iter::once(None).chain(ways.iter().copied().map(Some)) {
                let was = chosen[*i];
                if way == was {
                    continue;
                }
                chosen[*i] = way;
                let p = plan_with(graph, &chosen);
                let better = p.arena_bytes < best.arena_bytes
                    || (p.arena_bytes == best.arena_bytes && way.is_none());
                if better {
                    best = p;
                    changed = true;
                } else {
                    chosen[*i] = was;
                }
            }
        }
        if !changed {
            break;
        }
    }
    best
}

/// Reorders ops where that lowers the arena: of two adjacent ops, the
/// later moves before the earlier when it does not read the earlier's
/// outputs and reads a tensor another op reads too (a residual block's
/// shortcut, which, run before the block's second convolution, frees the
/// block's input sooner), and the arena [`plan_in_place`] plans shrinks.
/// The ops' results do not depend on their order. Returns the order of
/// `graph`'s nodes (indices into them) and its plan.
pub fn schedule(graph: &Graph, candidates: &[Option<Candidate>]) -> (Vec<usize>, ArenaPlan) {
    let n = graph.nodes.len();
    let mut readers = vec![0usize; graph.tensors.len()];
    for t in graph
        .nodes
        .iter()
        .flat_map(|node| node.inputs.iter().flatten())
    {
        readers[*t] += 1;
    }
    let shared = |i: usize| {
        graph.nodes[i]
            .inputs
            .iter()
            .flatten()
            .any(|&t| readers[t] > 1 && !graph.tensors[t].is_constant())
    };
    let in_order = |order: &[usize]| {
        let mut g = graph.clone();
        g.nodes = order.iter().map(|&i| graph.nodes[i].clone()).collect();
        let c: Vec<_> = order
            .iter()
            .map(|&i| candidates.get(i).copied().flatten())
            .collect();
        plan_in_place(&g, &c)
    };
    let mut order: Vec<usize> = (0..n).collect();
    let mut best = plan_in_place(graph, candidates);
    for _ in 0..3 {
        let mut improved = false;
        for k in 1..n {
            let (a, b) = (order[k - 1], order[k]);
            let depends = graph.nodes[b]
                .inputs
                .iter()
                .flatten()
                .any(|t| graph.nodes[a].outputs.contains(t));
            if depends || !shared(b) {
                continue;
            }
            order.swap(k - 1, k);
            let p = in_order(&order);
            if p.arena_bytes < best.arena_bytes {
                best = p;
                improved = true;
            } else {
                order.swap(k - 1, k);
            }
        }
        if !improved {
            break;
        }
    }
    (order, best)
}

/// The cheapest band walk for a convolution of one batch: bands of a few
/// output rows, the lag (0 to 2) and output placement for which the input,
/// the output and the band buffer together take the fewest bytes (ties:
/// the output nearest the input's start, so that a chain of layers does
/// not drift).
pub fn band_walk(g: &ConvGeometry) -> Option<InPlace> {
    if g.input.batches != 1 || g.output.batches != 1 {
        return None;
    }
    let rows = band_rows(g);
    let count = g.output.height.div_ceil(rows);
    let row_in = (g.input.width * g.input.channels) as isize;
    let row_out = (g.output.width * g.output.channels) as isize;
    let (in_bytes, out_bytes) = (
        row_in * g.input.height as isize,
        row_out * g.output.height as isize,
    );
    let first_row = |k: u32| g.input_rows(k * rows..((k + 1) * rows).min(g.output.height));
    // Every band must read some input (the runtime checks the same).
    for k in 0..count {
        first_row(k)?;
    }
    let mut best: Option<(isize, isize, InPlace)> = None;
    for lag in 0..3u32.min(count) {
        // Band j is copied out after band j + lag: it must end below the
        // input band j + lag + 1 reads first.
        let mut delta = 0isize;
        for j in 0..count {
            let next = j + lag + 1;
            if next >= count {
                break;
            }
            let input_rows = first_row(next)?;
            let limit = input_rows.start as isize * row_in - ((j + 1) * rows) as isize * row_out;
            delta = delta.min(limit);
        }
        let delta = delta.div_euclid(ALIGNMENT as isize) * ALIGNMENT as isize;
        let buffer_bytes = align((lag as usize + 1) * rows as usize * row_out as usize);
        let extent = in_bytes.max(delta + out_bytes) - delta.min(0);
        let cost = extent + buffer_bytes as isize;
        let how = InPlace {
            walk: Walk::Bands { rows, lag },
            delta,
            buffer_bytes,
        };
        if best.is_none_or(|(c, d, _)| (cost, delta.abs()) < (c, d)) {
            best = Some((cost, delta.abs(), how));
        }
    }
    best.map(|(_, _, how)| how)
}

/// The rows of a band: the fewest that make at least 8 pixels, an even
/// number. Each band is a kernel call, and the matrix-product kernel
/// computes pixels in pairs (an odd band would cost a whole pixel more).
fn band_rows(g: &ConvGeometry) -> u32 {
    let width = g.output.width.max(1);
    let mut rows = 1;
    while rows < g.output.height && (rows * width < 8 || rows * width % 2 == 1) {
        rows += 1;
    }
    rows
}

/// A stream's walk: bands of [`band_rows`] rows of the convolution's
/// output, and the fully connected layer's `outputs` sums.
pub fn stream_walk(g: &ConvGeometry, outputs: u32) -> InPlace {
    let rows = band_rows(g);
    let band = align((rows * g.output.width * g.output.channels) as usize);
    let sums_bytes = 4 * outputs;
    InPlace {
        walk: Walk::Stream { rows, sums_bytes },
        delta: 0,
        buffer_bytes: band + sums_bytes as usize,
    }
}

/// A residual block's walk: bands of [`band_rows`] rows of its output, and
/// the window the first convolution's rows need then
/// (`kiln::ops::window_rows`); `None` when the block cannot run in bands.
pub fn residual_walk(first: &ConvGeometry, second: &ConvGeometry) -> Option<InPlace> {
    let rows = band_rows(second);
    let most = kiln::ops::window_rows(first, second, rows)?;
    let window = align((most * second.input.width * second.input.channels) as usize);
    let band = align((rows * second.output.width * second.output.channels) as usize);
    Some(InPlace {
        walk: Walk::Residual {
            rows,
            window_bytes: window as u32,
            band_bytes: band as u32,
        },
        delta: 0,
        buffer_bytes: window + 2 * band,
    })
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

    // Streams: when the convolution's output is read by the fully
    // connected layer after it alone, it gets no buffer, and the
    // convolution's input and scratch live on to the layer.
    let mut ran_in_place = vec![None; graph.nodes.len()];
    let mut streamed = vec![false; n];
    let mut scratch_at: Vec<usize> = (0..graph.nodes.len()).collect();
    let mut group: Vec<usize> = (0..n).collect();
    let mut rel: Vec<isize> = vec![0; n];
    for (j, node) in graph.nodes.iter().enumerate() {
        let Some(how) = in_place.get(j).copied().flatten() else {
            continue;
        };
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

    // In-place groups: an output root joins its input root's group, `delta`
    // bytes on, when the input's buffer dies at that op.
    for (i, node) in graph.nodes.iter().enumerate() {
        let (Some(how), Some(&output)) = (in_place.get(i).copied().flatten(), node.outputs.first())
        else {
            continue;
        };
        // A convolution writes over its data input; an elementwise op over
        // either operand, as large as its output.
        let operands: &[usize] = match how.walk {
            Walk::Bands { .. } => &[0],
            Walk::Chunks { .. } => &[0, 1],
            Walk::Stream { .. } | Walk::Residual { .. } => continue,
        };
        let ro = root[output];
        let born_here = life[ro].is_some_and(|(first, _)| first == i) && ro == output;
        let over = operands
            .iter()
            .filter_map(|&k| node.input(k))
            .find(|&input| {
                let ri = root[input];
                let fits = match how.walk {
                    Walk::Chunks { .. } => {
                        graph.tensors[input].bytes() == graph.tensors[output].bytes()
                    }
                    Walk::Bands { .. } | Walk::Stream { .. } | Walk::Residual { .. } => true,
                };
                !graph.tensors[input].is_constant()
                    && life[ri].is_some_and(|(_, last)| last == i)
                    && ri != ro
                    && fits
            });
        if let (Some(input), true) = (over, born_here) {
            let ri = root[input];
            group[ro] = group[ri];
            rel[ro] = rel[ri] + how.delta;
            ran_in_place[i] = Some(how);
        }
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
    let (peak_op, lower_bound_bytes) = (0..=end)
        .map(|at| (at, live_bytes(&buffers, at)))
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
    }
}

/// The bytes alive at op `at`: per group, the span its live buffers cover
/// (a buffer and the one written over it count once).
fn live_bytes(buffers: &[Buffer], at: usize) -> usize {
    let mut spans: std::collections::BTreeMap<usize, (isize, isize)> = Default::default();
    for b in buffers.iter().filter(|b| b.first <= at && at <= b.last) {
        let (lo, hi) = (b.rel, b.rel + b.bytes as isize);
        let span = spans.entry(b.group).or_insert((lo, hi));
        *span = (span.0.min(lo), span.1.max(hi));
    }
    spans.values().map(|(lo, hi)| (hi - lo) as usize).sum()
}

/// Greedy placement: each group of buffers, in turn, at the lowest aligned
/// offset where none of its buffers meets a placed buffer alive at the same
/// time. Two orders are tried, largest group first (TFLM's) and in order of
/// birth (which suits chains of in-place layers), and the smaller arena
/// kept; returns the end of the highest buffer.
fn place(buffers: &mut [Buffer]) -> usize {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, b) in buffers.iter().enumerate() {
        groups.entry(b.group).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let largest = |g: &Vec<usize>| g.iter().map(|&b| buffers[b].bytes).max().unwrap_or(0);
    let earliest = |g: &Vec<usize>| g.iter().map(|&b| buffers[b].first).min().unwrap_or(0);
    let mut by_size = groups.clone();
    by_size.sort_by_key(|g| (std::cmp::Reverse(largest(g)), earliest(g)));
    let mut by_birth = groups;
    by_birth.sort_by_key(|g| (earliest(g), std::cmp::Reverse(largest(g))));
    let mut other = buffers.to_vec();
    let (size_first, birth_first) = (
        place_in_order(buffers, &by_size),
        place_in_order(&mut other, &by_birth),
    );
    if birth_first < size_first {
        buffers.clone_from_slice(&other);
        birth_first
    } else {
        size_first
    }
}

fn place_in_order(buffers: &mut [Buffer], order: &[Vec<usize>]) -> usize {
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_bytes = 0;
    for members in order {
        // The group's origin may not put any member below offset 0.
        let lowest = members.iter().map(|&m| -buffers[m].rel).max().unwrap_or(0);
        // Origins at which a member would meet a placed, live buffer.
        let mut busy: Vec<(isize, isize)> = Vec::new();
        for &m in members {
            let b = &buffers[m];
            for &p in &placed {
                let q = &buffers[p];
                if q.first <= b.last && b.first <= q.last && b.bytes > 0 && q.bytes > 0 {
                    let start = q.offset as isize - b.rel - b.bytes as isize;
                    let stop = (q.offset + q.bytes) as isize - b.rel;
                    busy.push((start, stop));
                }
            }
        }
        busy.sort();
        let step = ALIGNMENT as isize;
        let mut origin = lowest.div_euclid(step) * step;
        if origin < lowest {
            origin += step;
        }
        // Each interval forbids the origins strictly between its ends.
        for (start, stop) in busy {
            if origin <= start {
                break;
            }
            if origin < stop {
                origin = (stop + step - 1).div_euclid(step) * step;
            }
        }
        for &m in members {
            let b = &mut buffers[m];
            b.offset = (origin + b.rel) as usize;
            arena_bytes = arena_bytes.max(b.offset + b.bytes);
            placed.push(m);
        }
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
                let in_place = a.group == b.group && (a.last == b.first || b.last == a.first);
                let live_together = a.first <= b.last && b.first <= a.last && !in_place;
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

    /// A 1x1 convolution's geometry over `pixels` pixels of `channels`
    /// in and `out` channels out, one row.
    fn pointwise(pixels: u32, channels: u32, out: u32) -> ConvGeometry {
        ConvGeometry {
            input: kiln::tensor::Nhwc::new(1, pixels, 1, channels),
            output: kiln::tensor::Nhwc::new(1, pixels, 1, out),
            filter_height: 1,
            filter_width: 1,
            filter_channels: channels,
            stride_height: 1,
            stride_width: 1,
            dilation_height: 1,
            dilation_width: 1,
            ..ConvGeometry::default()
        }
    }

    #[test]
    fn in_place_chain_needs_one_buffer_and_bands() {
        // a -> b -> c -> d, each 64 pixels of 4 channels.
        let g = chain([256, 256, 256, 256]);
        let geometry = pointwise(64, 4, 4);
        let out_of_place = plan(&g);
        assert_eq!(out_of_place.arena_bytes, 512);
        let p = plan_in_place(&g, &[Some(Candidate::Convolution(geometry)); 3]);
        assert_no_live_overlap(&g, &p);
        // One 256-byte buffer and one band buffer (8 one-pixel rows of 4
        // bytes) at a time; each output at its input's offset.
        assert_eq!(p.arena_bytes, 256 + 32, "{p:?}");
        assert!(p.in_place.iter().all(Option::is_some));
        assert_eq!(p.offset(0), p.offset(3));
        assert_eq!(p.lower_bound_bytes, 288);
    }

    #[test]
    fn a_growing_layer_writes_its_output_ending_past_its_input() {
        // 16 rows of one pixel, 2 channels to 4, in bands of 8 rows: band
        // 0 may overwrite input rows up to 7, so the output starts
        // (16 - 8) * 2 bytes early.
        let g = chain([32, 64, 64, 64]);
        let walk = band_walk(&pointwise(16, 2, 4)).unwrap();
        assert_eq!(
            (walk.walk, walk.delta),
            (Walk::Bands { rows: 8, lag: 0 }, -16)
        );
        let p = plan_in_place(
            &g,
            &[
                Some(Candidate::Convolution(pointwise(16, 2, 4))),
                None,
                None,
            ],
        );
        assert_no_live_overlap(&g, &p);
        if p.in_place[0].is_some() {
            assert_eq!(
                p.offset(1).unwrap() as isize - p.offset(0).unwrap() as isize,
                -16
            );
        }
    }

    #[test]
    fn a_streamed_tensor_has_no_buffer() {
        // a -> b (a 1x1 convolution, 4 channels to 16) -> c (fully
        // connected, 16 outputs) -> d.
        let g = chain([256, 1024, 16, 16]);
        let stream = Candidate::Stream {
            producer: pointwise(64, 4, 16),
            outputs: 16,
        };
        let p = plan_in_place(&g, &[None, Some(stream), None]);
        assert_no_live_overlap(&g, &p);
        assert_eq!(p.offset(1), None);
        assert!(p.streamed[1].is_some_and(|at| at >= p.arena_bytes));
        assert_eq!(p.streamed[0], None);
        // a, a band of 8 one-pixel rows of 16 channels and 16 sums, and c.
        let (how, _) = p.bands(1).unwrap();
        assert_eq!(
            how.walk,
            Walk::Stream {
                rows: 8,
                sums_bytes: 64
            }
        );
        assert_eq!(p.arena_bytes, 256 + 128 + 64 + 16, "{p:?}");
        assert_eq!(plan(&g).arena_bytes, 256 + 1024);

        // Read by another op too, b is stored and the stream dropped.
        let mut g = g;
        g.nodes[2].inputs.push(Some(1));
        let p = plan_in_place(&g, &[None, Some(stream), None]);
        assert!(p.in_place[1].is_none() && p.offset(1).is_some());
        assert_no_live_overlap(&g, &p);
    }

    #[test]
    fn a_residual_block_keeps_its_input_and_a_few_rows() {
        // a -> b -> c, d = a + c: 64 one-pixel rows of 4 channels each,
        // the convolutions 3x1 (each band of 8 rows reads 10 of b).
        let mut g = chain([256, 256, 256, 256]);
        g.nodes[2].inputs = vec![Some(0), Some(2)];
        let conv = ConvGeometry {
            filter_height: 3,
            padding_top: 1,
            ..pointwise(64, 4, 4)
        };
        let residual = Candidate::Residual {
            first: conv,
            second: conv,
            elements: 256,
        };
        let p = plan_in_place(&g, &[None, None, Some(residual)]);
        assert_no_live_overlap(&g, &p);
        let (how, _) = p.bands(2).unwrap();
        let Walk::Residual {
            rows,
            window_bytes,
            band_bytes,
        } = how.walk
        else {
            panic!("{how:?}");
        };
        assert_eq!((rows, window_bytes, band_bytes), (8, 48, 32));
        assert_eq!((p.offset(1), p.offset(2)), (None, None));
        assert_eq!(p.offset(3), p.offset(0));
        assert_eq!(p.fused_into(0), Some(2));
        assert_eq!(p.fused_into(1), Some(2));
        // a (and d over it), the window, a band and a sum.
        assert_eq!(p.arena_bytes, 256 + 48 + 32 + 32, "{p:?}");
    }

    #[test]
    fn a_shortcut_runs_before_the_branch_that_outlives_its_input() {
        // d -> e -> f on one branch, d -> g on the other, h = f + g. As
        // ordered, d lives until g is made, beside e and f: 576 bytes.
        // Making g before f frees d first: 384.
        let op = || OpKind::Logistic(crate::ops::Logistic);
        let g = Graph {
            source: "test".into(),
            tensors: [("d", 256), ("e", 64), ("f", 256), ("g", 64), ("h", 64)]
                .map(|(name, n)| tensor(name, n))
                .to_vec(),
            nodes: vec![
                node(op(), &[0], &[1]),
                node(op(), &[1], &[2]),
                node(op(), &[0], &[3]),
                node(op(), &[2, 3], &[4]),
            ],
            inputs: vec![0],
            outputs: vec![4],
        };
        assert_eq!(plan(&g).arena_bytes, 576);
        let (order, p) = schedule(&g, &[None; 4]);
        assert_eq!(order, [0, 2, 1, 3]);
        assert_eq!(p.arena_bytes, 384);
        // A chain has nothing to reorder.
        let chain = chain([64, 64, 64, 64]);
        assert_eq!(schedule(&chain, &[None; 3]).0, [0, 1, 2]);
    }

    #[test]
    fn a_walk_whose_input_lives_on_is_dropped() {
        // b is read by both later ops: the first may not write over it.
        let mut g = chain([256, 256, 256, 256]);
        g.nodes[2].inputs = vec![Some(1)];
        let p = plan_in_place(
            &g,
            &[
                None,
                Some(Candidate::Convolution(pointwise(64, 4, 4))),
                None,
            ],
        );
        assert!(p.in_place[1].is_none());
        assert_no_live_overlap(&g, &p);
    }

    #[test]
    fn an_elementwise_op_writes_over_the_operand_that_dies() {
        // b = f(a), c = f(b), d = c + b, with b also a model output: the
        // ADD may write over c (which dies there), not over b.
        let mut g = chain([1024, 1024, 1024, 1024]);
        g.nodes[2] = node(
            OpKind::Add(crate::ops::Add {
                activation: Activation::None,
            }),
            &[2, 1],
            &[3],
        );
        g.outputs = vec![3, 1];
        assert_eq!(plan(&g).arena_bytes, 3 * 1024);
        let add = Candidate::Elementwise { elements: 1024 };
        let p = plan_in_place(&g, &[None, None, Some(add)]);
        assert_no_live_overlap(&g, &p);
        assert!(p.in_place[2].is_some());
        assert_eq!(p.offset(3), p.offset(2));
        // b and c (then d) and one chunk's buffer.
        assert_eq!(p.lower_bound_bytes, 2 * 1024 + CHUNK_ELEMENTS as usize);
        assert_eq!(p.arena_bytes, p.lower_bound_bytes);
        // With b as the first operand it still picks c.
        g.nodes[2].inputs = vec![Some(1), Some(2)];
        let p = plan_in_place(&g, &[None, None, Some(add)]);
        assert_eq!(p.offset(3), p.offset(2));
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
