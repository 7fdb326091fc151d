//! Which ops run in place, streamed, tiled or as a residual block, and in
//! which order: the candidates a lowering offers, each one's walk (bands
//! of a convolution, chunks of an elementwise op, a stream, a tiled chain's
//! or a residual block's windows), and the searches that keep those, and
//! the op order, for which the planned arena shrinks.
//!
//! Layer: plan; uses `ir`, the runtime's convolution geometry and walk
//! rules (`kiln::ops::chain_walk`), and the planner ([`super::plan_with`]).

use kiln::kernels::conv2d::ConvGeometry;

use super::{align, plan_with, ArenaPlan, InPlace, Walk, ALIGNMENT};
use crate::ir::{Graph, TensorId};

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
    /// An int8 convolution (plain or depthwise) of one batch, the last of
    /// `layers[..count]` (two or three), each over the output of the one
    /// before it alone: a chain that may run tiled. It may also run in
    /// place alone (as `Convolution`), or tiled with fewer layers before
    /// it ([`Candidate::with_chains_of`]).
    Chain {
        layers: [ConvGeometry; kiln::ops::MAX_TILED_LAYERS],
        count: u32,
    },
    /// A concatenation (a plain copy of bytes). With `contiguous`, its
    /// inputs each fill one contiguous run of its output: they may be
    /// planned in its output. Along any axis, its output may lie over its
    /// first or last input.
    Concatenation { contiguous: bool },
    /// A slice (a plain copy of bytes) whose output is one contiguous run
    /// of its input, `offset` bytes from its start: it may be planned there.
    View { offset: u32 },
}

impl Candidate {
    /// This candidate with its chain cut to its last `layers` layers (a
    /// plain convolution below two); with `exactly`, a shorter chain
    /// becomes a plain convolution too.
    pub fn with_chains_of(self, layers: usize, exactly: bool) -> Candidate {
        let Candidate::Chain { layers: all, count } = self else {
            return self;
        };
        let count = (count as usize).min(all.len());
        let last = Candidate::Convolution(all[count.saturating_sub(1)]);
        match layers.min(count) {
            0 | 1 => last,
            m if exactly && m < layers => last,
            m => {
                let mut kept = [ConvGeometry::default(); kiln::ops::MAX_TILED_LAYERS];
                kept[..m].copy_from_slice(&all[count - m..count]);
                Candidate::Chain {
                    layers: kept,
                    count: m as u32,
                }
            }
        }
    }
}

/// Elements per chunk of an in-place elementwise op: the buffer's size,
/// and enough that the walk's per-chunk call costs little.
pub(super) const CHUNK_ELEMENTS: u32 = 256;

/// Plans the arena of `graph`, running in place the convolutions among
/// `candidates` (per node: its geometry, for int8 convolutions of one
/// batch) for which that lowers the arena: each in turn is kept if the
/// arena does not grow, then each is toggled while that lowers the arena or
/// keeps it with fewer layers in place.
///
/// The greedy search can settle on a worse arena when tiled chains are
/// offered (a chain taken early keeps later layers from running in place,
/// or from ending a longer chain), so it runs once with each chain's last
/// layer a plain convolution candidate, then, for each chain length, with
/// the chains cut to at most that length and with only the chains of
/// exactly that length, and the smallest arena wins (the first found on a
/// tie, so the fewer layers tiled: tiling costs a little time).
pub fn plan_in_place(graph: &Graph, candidates: &[Option<Candidate>]) -> ArenaPlan {
    let cut = |layers: usize, exactly: bool| -> Vec<Option<Candidate>> {
        candidates
            .iter()
            .map(|c| c.map(|c| c.with_chains_of(layers, exactly)))
            .collect()
    };
    let untiled = cut(1, false);
    let without = search(graph, &untiled);
    let mut best: Option<ArenaPlan> = None;
    let mut tried = vec![untiled];
    for layers in 2..=kiln::ops::MAX_TILED_LAYERS {
        for exactly in [false, true] {
            let offered = cut(layers, exactly);
            if tried.contains(&offered) {
                continue;
            }
            let with = search(graph, &offered);
            tried.push(offered);
            let tiled = with
                .in_place
                .iter()
                .flatten()
                .any(|(how, _)| matches!(how.walk, Walk::Tiled { .. }));
            let smallest = best.as_ref().map_or(without.arena_bytes, |b| b.arena_bytes);
            if tiled && with.arena_bytes < smallest {
                best = Some(with);
            }
        }
    }
    match best {
        Some(with) => ArenaPlan {
            untiled_arena_bytes: Some(without.arena_bytes),
            ..with
        },
        None => without,
    }
}

/// The search [`plan_in_place`] runs.
fn search(graph: &Graph, candidates: &[Option<Candidate>]) -> ArenaPlan {
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
                Candidate::Chain { layers, count } => {
                    let layers = layers.get(..count as usize)?;
                    let untiled = layers.last().and_then(band_walk);
                    tiled_walks(layers).into_iter().chain(untiled).collect()
                }
                Candidate::Concatenation { contiguous } => {
                    let node = graph.nodes.get(i)?;
                    let bytes = |t: Option<&Option<TensorId>>| {
                        t.copied().flatten().map_or(0, |t| graph.tensors[t].bytes())
                    };
                    let output = node
                        .outputs
                        .first()
                        .map_or(0, |&t| graph.tensors[t].bytes());
                    let last = bytes(node.inputs.last()) as isize - output as isize;
                    let slices = (Walk::Slices, 0);
                    let expand = [
                        (Walk::Expand { last: false }, 0),
                        (Walk::Expand { last: true }, last),
                    ];
                    contiguous
                        .then_some(slices)
                        .into_iter()
                        .chain(expand)
                        .map(|(walk, delta)| InPlace {
                            walk,
                            delta,
                            buffer_bytes: 0,
                        })
                        .collect()
                }
                Candidate::View { offset } => vec![InPlace {
                    walk: Walk::View,
                    delta: offset as isize,
                    buffer_bytes: 0,
                }],
            };
            Some((i, ways))
        })
        .filter(|(i, ways)| *i < chosen.len() && !ways.is_empty())
        .collect();
    for (i, ways) in &options {
        for &how in ways {
            chosen[*i] = Some(how);
            let p = plan_with(graph, &chosen);
            let ran = p.in_place[*i].is_some() || p.copies_nothing[*i];
            if ran && p.arena_bytes <= best.arena_bytes {
                best = p;
                break;
            }
            chosen[*i] = None;
        }
    }
    // Then try each other way (or none) for each while that helps: a
    // smaller arena, or the same arena with one layer fewer in place (a
    // walk costs a little time; a concatenation or a slice planned in
    // place costs less than none, it copies nothing). Each pass is a few plans per candidate; a
    // few settle it.
    let cost = |way: Option<InPlace>| match way.map(|how| how.walk) {
        Some(Walk::Slices | Walk::View) => 0,
        None => 1,
        Some(_) => 2,
    };
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
                    || (p.arena_bytes == best.arena_bytes && cost(way) < cost(was));
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

/// What [`schedule`] may spend: swaps tried times the square of the ops.
const SCHEDULE_WORK: usize = 1 << 18;

/// Reorders ops where that lowers the arena: of two adjacent ops, the
/// later moves before the earlier when it does not read the earlier's
/// outputs and reads a tensor another op reads too (a residual block's
/// shortcut, which, run before the block's second convolution, frees the
/// block's input sooner), and the arena [`plan_in_place`] plans shrinks.
/// Two ops that touch the same variable tensor never swap.
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
    // Each swap tried runs the whole in-place search again, which costs
    // about the square of the ops: the swaps tried are bounded so that a
    // long graph does not take minutes (a GRU unrolled over its time
    // steps, thousands of ops, would try hundreds). Graphs of up to about
    // forty ops try every swap, as before (the models of ../shared try
    // at most four).
    let mut tries = SCHEDULE_WORK / n.max(1).pow(2);
    for _ in 0..3 {
        let mut improved = false;
        for k in 1..n {
            let (a, b) = (order[k - 1], order[k]);
            // Ops that touch one variable keep their order: READ_VARIABLE
            // and ASSIGN_VARIABLE both take it as an input.
            let touches = |i: usize, t: &TensorId| graph.nodes[i].inputs.contains(&Some(*t));
            let depends = graph.nodes[b].inputs.iter().flatten().any(|t| {
                graph.nodes[a].outputs.contains(t) || (graph.variables.contains(t) && touches(a, t))
            });
            if depends || !shared(b) {
                continue;
            }
            if tries == 0 {
                break;
            }
            tries -= 1;
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

/// A stream's walk: bands of `band_rows` rows of the convolution's
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

/// A residual block's walk: bands of `band_rows` rows of its output, and
/// the window the first convolution's rows need then
/// (`kiln::ops::window_rows`); `None` when the block cannot run in bands.
pub fn residual_walk(first: &ConvGeometry, second: &ConvGeometry) -> Option<InPlace> {
    let rows = band_rows(second);
    let most = kiln::ops::window_rows(first, second, rows, true)?;
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

/// A tiled chain's walk: bands of `band_rows` rows of the last layer's
/// output, and the windows the earlier layers' rows need then
/// (`kiln::ops::chain_walk`), with the output over the first layer's
/// input (`over_input`) or apart from it; `None` when the chain cannot
/// run in bands that way.
pub fn tiled_walk(layers: &[ConvGeometry], over_input: bool) -> Option<InPlace> {
    tiled_walk_in(layers, band_rows(layers.last()?), over_input)
}

/// The ways a tiled chain may walk, the faster first: in `band_rows`
/// bands, then a row at a time, whose windows are smaller (a strided
/// layer's window holds the rows a band reads); each with the output
/// over the input, then apart.
fn tiled_walks(layers: &[ConvGeometry]) -> Vec<InPlace> {
    let Some(last) = layers.last() else {
        return Vec::new();
    };
    let mut ways = Vec::new();
    for rows in [band_rows(last), 1] {
        for over_input in [true, false] {
            let way = tiled_walk_in(layers, rows, over_input);
            if let Some(way) = way.filter(|w| !ways.contains(w)) {
                ways.push(way);
            }
        }
    }
    ways
}

/// A tiled chain's walk in bands of `rows` rows (as [`tiled_walk`]).
fn tiled_walk_in(layers: &[ConvGeometry], rows: u32, over_input: bool) -> Option<InPlace> {
    if layers.iter().any(|g| g.input.batches != 1) {
        return None;
    }
    let walk = kiln::ops::chain_walk(layers, rows, over_input)?;
    let mut windows = [0u32; kiln::ops::MAX_TILED_LAYERS - 1];
    for (j, g) in layers.iter().take(layers.len() - 1).enumerate() {
        let row = g.output.width * g.output.channels;
        windows[j] = align((walk.window_rows[j] * row) as usize) as u32;
    }
    Some(InPlace {
        walk: Walk::Tiled {
            rows,
            layers: layers.len() as u32,
            windows,
            over_input,
        },
        delta: 0,
        buffer_bytes: windows.iter().map(|&w| w as usize).sum(),
    })
}
