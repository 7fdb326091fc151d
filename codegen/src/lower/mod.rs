//! Lowering: IR nodes to the runtime's op descriptors. The driver (here)
//! walks the nodes in order and asks each node's op (`ops/`) for its runtime
//! op; the [`Lowering`] context (`context.rs`) gives an op what every op
//! needs: its tensors' arena spans and quantization, and a place for its
//! constants in one 16-byte aligned weights blob.
//!
//! Layer: lower; uses `ir`, `plan`, `ops` and the runtime's `graph`.
//! The resulting [`CompiledModel`] is what the emitter prints as Rust and
//! what the host CLI runs through `kiln::Executor`: the same ops either way.

mod context;

pub use context::{
    float_range, invalid, padded_dims, to_u32, unsupported, Lowered, Lowering, Problem,
};

use std::path::PathBuf;

use kiln::graph::{Op, StateTensor, TensorIo};
use kiln::ops::{
    in_chunks, Bands, Chunks, ConcatenationInPlaceOp, Conv2dInPlaceOp, Conv2dIntoFullyConnectedOp,
    Conv2dOp, DepthwiseConv2dInPlaceOp, DepthwiseConv2dIntoFullyConnectedOp, Residual,
    ResidualBlockOp, Stream, TiledChainOp, TiledLayer, Tiles,
};
use kiln::tensor::Span;

use crate::error::{Error, Result, Unsupported};
use crate::ir::{Graph, TensorId};
use crate::plan::{self, ArenaPlan, Candidate, Walk};

/// Larger arenas are rejected: no microcontroller has them, and the arena
/// must be addressable with `u32` offsets.
pub const MAX_ARENA_BYTES: usize = 1 << 30;

/// A model ready to run or emit.
pub struct CompiledModel {
    pub graph: Graph,
    pub plan: ArenaPlan,
    pub ops: Vec<Op>,
    /// The IR node each op came from.
    pub op_nodes: Vec<usize>,
    pub inputs: Vec<TensorIo>,
    pub outputs: Vec<TensorIo>,
    /// The variable tensors, which persist from one run to the next.
    pub state: Vec<StateTensor>,
    /// Backing store of the weights; `u128` for 16-byte alignment.
    weights: Vec<u128>,
    weights_len: usize,
}

impl CompiledModel {
    pub fn source(&self) -> &PathBuf {
        &self.graph.source
    }

    pub fn weights(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.weights)[..self.weights_len]
    }

    pub fn arena_bytes(&self) -> usize {
        self.plan.arena_bytes
    }

    /// The runtime view, borrowing this model's ops and weights.
    pub fn runtime_graph(&self) -> kiln::Graph<'_> {
        kiln::Graph {
            ops: &self.ops,
            inputs: &self.inputs,
            outputs: &self.outputs,
            state: &self.state,
            arena_bytes: self.plan.arena_bytes as u32,
            weights: self.weights(),
        }
    }
}

/// Lowers an imported graph. Unsupported types and options are collected
/// over all nodes and reported together. The graph is lowered twice: once
/// out of place, for the ops that may run in place, streamed or as a
/// residual block (`in_place_candidates`); then, after the ops are
/// scheduled and those walks chosen (`plan::schedule`), with the final
/// plan.
pub fn compile(mut graph: Graph) -> Result<CompiledModel> {
    check_dataflow(&graph)?;
    let plan = plan::plan(&graph);
    check_arena(&graph, &plan)?;
    let first = lower_nodes(&graph, &plan)?;
    let candidates = in_place_candidates(graph.nodes.len(), &first.ops, &first.op_nodes);
    let (order, in_place) = plan::schedule(&graph, &candidates);
    let reordered = order.iter().enumerate().any(|(k, &i)| k != i);
    if reordered {
        let mut nodes: Vec<Option<_>> = std::mem::take(&mut graph.nodes)
            .into_iter()
            .map(Some)
            .collect();
        graph.nodes = order.iter().filter_map(|&i| nodes[i].take()).collect();
    }
    let rewalked = in_place.in_place.iter().any(Option::is_some);
    let (plan, lowered) = if reordered || rewalked || in_place.copies_nothing.contains(&true) {
        check_arena(&graph, &in_place)?;
        let lowered = lower_nodes(&graph, &in_place)?;
        (in_place, lowered)
    } else {
        (plan, first)
    };
    let LoweredNodes {
        ops,
        op_nodes,
        inputs,
        outputs,
        state,
        weight_bytes,
    } = lowered;
    let weights_len = weight_bytes.len();
    let mut weights = vec![0u128; weights_len.div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut weights)[..weights_len]
        .copy_from_slice(&weight_bytes);
    let model = CompiledModel {
        graph,
        plan,
        ops,
        op_nodes,
        inputs,
        outputs,
        state,
        weights,
        weights_len,
    };
    kiln::exec::validate(&model.runtime_graph()).map_err(|error| Error::Runtime {
        path: model.graph.source.clone(),
        error,
    })?;
    Ok(model)
}

/// Per node, whether the planner may run its op in place, from the ops
/// a lowering gave (`ops`, from nodes `op_nodes`): int8 convolutions, int8
/// ADD, SUB and MUL of one shape, the int8 ops of one input that run
/// elementwise (REQUANTIZE, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU), a
/// concatenation of contiguous slices (nothing before its axis), a slice
/// that is one contiguous run of its input, and
/// an int8 fully connected layer of one
/// batch reading the output of the convolution just before it, a stream
/// (an op already in place or streamed counts too).
pub fn in_place_candidates(nodes: usize, ops: &[Op], op_nodes: &[usize]) -> Vec<Option<Candidate>> {
    let stream = |producer: &kiln::ops::Conv2dS8, fc: &kiln::ops::FullyConnectedOp| {
        let one_row = fc.params.shape.batches == 1 && producer.output == fc.input;
        one_row.then_some(Candidate::Stream {
            producer: producer.params.geometry,
            outputs: fc.params.shape.output_depth,
        })
    };
    // A residual block: ADD(first's input, second(first(input))).
    let residual = |first: &Conv2dOp, second: &Conv2dOp, add: &kiln::ops::AddOp| {
        let (a, f, s) = (&add.add, &first.conv, &second.conv);
        let wired = f.output == s.input
            && ((a.input1 == f.input && a.input2 == s.output)
                || (a.input2 == f.input && a.input1 == s.output));
        let elements = u32::try_from(a.params.broadcast.elements()).ok()?;
        (wired && a.params.broadcast.same_shape).then_some(Candidate::Residual {
            first: f.params.geometry,
            second: s.params.geometry,
            elements,
        })
    };
    // A tiled chain: a convolution over the output of the one before it,
    // and the one before that: up to three.
    let convolution = |op: &Op| match op {
        Op::Conv2d(o) => Some(o.conv),
        Op::DepthwiseConv2d(o) => Some(o.conv),
        _ => None,
    };
    let chain = |convolutions: &[kiln::ops::Conv2dS8]| {
        let wired = convolutions
            .windows(2)
            .all(|pair| pair[0].output == pair[1].input);
        let mut layers = [Default::default(); kiln::ops::MAX_TILED_LAYERS];
        for (g, conv) in layers.iter_mut().zip(convolutions) {
            *g = conv.params.geometry;
        }
        let count = convolutions.len().min(layers.len());
        (wired && count >= 2).then_some(Candidate::Chain {
            layers,
            count: count as u32,
        })
    };
    let mut candidates = vec![None; nodes];
    for (k, (op, &node)) in ops.iter().zip(op_nodes).enumerate() {
        let at = |back: usize| {
            k.checked_sub(back)
                .filter(|&b| op_nodes[b] + back == node)
                .map(|b| &ops[b])
        };
        let before = at(1);
        if let (Op::Add(add), Some(Op::Conv2d(second)), Some(Op::Conv2d(first))) =
            (op, at(1), at(2))
        {
            if let Some(c) = residual(first, second, add) {
                candidates[node] = Some(c);
                continue;
            }
        }
        if let Op::ResidualBlock(o) = op {
            candidates[node] = residual(&o.first, &o.second, &o.add);
            for (back, conv) in [(1, &o.second), (2, &o.first)] {
                if let Some(slot) = node.checked_sub(back).and_then(|p| candidates.get_mut(p)) {
                    *slot = Some(Candidate::Convolution(conv.conv.params.geometry));
                }
            }
            continue;
        }
        if let Op::TiledChain(o) = op {
            let layers: Vec<_> = o.layers().iter().map(|l| l.op.conv).collect();
            candidates[node] = chain(&layers);
            for (back, layer) in (1..layers.len()).zip(layers.iter().rev().skip(1)) {
                if let Some(slot) = node.checked_sub(back).and_then(|p| candidates.get_mut(p)) {
                    *slot = Some(Candidate::Convolution(layer.params.geometry));
                }
            }
            continue;
        }
        // The convolutions before this one, each read by the next, nearest
        // first, as long as each reads the one before's output.
        let mut layers = match convolution(op) {
            Some(last) => vec![last],
            None => Vec::new(),
        };
        for back in 1..kiln::ops::MAX_TILED_LAYERS {
            let Some(earlier) = at(back).and_then(convolution) else {
                break;
            };
            if layers
                .last()
                .is_none_or(|l: &kiln::ops::Conv2dS8| l.input != earlier.output)
            {
                break;
            }
            layers.push(earlier);
        }
        layers.reverse();
        let candidate = chain(&layers);
        let candidate = candidate.or_else(|| match (op, before) {
            (Op::FullyConnected(fc), Some(Op::Conv2d(o))) => stream(&o.conv, fc),
            (Op::FullyConnected(fc), Some(Op::DepthwiseConv2d(o))) => stream(&o.conv, fc),
            (Op::Conv2dIntoFullyConnected(o), _) => stream(&o.conv.conv, &o.fc),
            (Op::DepthwiseConv2dIntoFullyConnected(o), _) => stream(&o.conv.conv, &o.fc),
            (op, _) => match op {
                Op::Conv2d(o) => Some(Candidate::Convolution(o.conv.params.geometry)),
                Op::Conv2dInPlace(o) => Some(Candidate::Convolution(o.op.conv.params.geometry)),
                Op::DepthwiseConv2d(o) => Some(Candidate::Convolution(o.conv.params.geometry)),
                Op::DepthwiseConv2dInPlace(o) => {
                    Some(Candidate::Convolution(o.op.conv.params.geometry))
                }
                Op::Concatenation(o) => Some(Candidate::Concatenation {
                    contiguous: o.outer == 1,
                }),
                Op::Slice(o) => crate::ops::slice::contiguous_offset(&o.params)
                    .map(|offset| Candidate::View { offset }),
                op => kiln::ops::chunked_elements(op)
                    .map(|elements| Candidate::Elementwise { elements }),
            },
        });
        if let Some(slot) = candidates.get_mut(node) {
            *slot = candidate;
        }
        // A streamed convolution may run in place instead.
        let streamed = match op {
            Op::Conv2dIntoFullyConnected(o) => Some(o.conv.conv.params.geometry),
            Op::DepthwiseConv2dIntoFullyConnected(o) => Some(o.conv.conv.params.geometry),
            _ => None,
        };
        if let (Some(g), Some(slot)) = (
            streamed,
            node.checked_sub(1).and_then(|p| candidates.get_mut(p)),
        ) {
            *slot = Some(Candidate::Convolution(g));
        }
    }
    candidates
}

/// Every tensor an op reads holds values when it runs: a constant, a graph
/// input, a variable, the output of an earlier op, or nothing at all (no
/// elements). Anything else (a
/// constant whose data the file lacks, an op reading an output of a later
/// one) would read arena bytes nobody wrote.
fn check_dataflow(graph: &Graph) -> Result<()> {
    let mut written = vec![false; graph.tensors.len()];
    for &t in graph.inputs.iter().chain(&graph.variables) {
        written[t] = true;
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        for t in node.inputs.iter().flatten().copied() {
            let tensor = &graph.tensors[t];
            // A tensor of no elements (an empty shape constant, which
            // TFLite files store without data) has nothing to read.
            if !written[t] && !tensor.is_constant() && tensor.elements() > 0 {
                return Err(Error::Invalid {
                    path: graph.source.clone(),
                    detail: format!(
                        "op #{i} {} reads tensor '{}', which is neither a constant (no data), \
                         a graph input nor a variable, and no earlier op writes",
                        node.kind.name(),
                        tensor.name
                    ),
                });
            }
        }
        for &t in &node.outputs {
            written[t] = true;
        }
    }
    Ok(())
}

fn check_arena(graph: &Graph, plan: &ArenaPlan) -> Result<()> {
    if plan.arena_bytes > MAX_ARENA_BYTES {
        return Err(Error::Invalid {
            path: graph.source.clone(),
            detail: format!(
                "the arena would need {} bytes (over {MAX_ARENA_BYTES})",
                plan.arena_bytes
            ),
        });
    }
    Ok(())
}

/// What lowering every node against one plan gives.
struct LoweredNodes {
    ops: Vec<Op>,
    op_nodes: Vec<usize>,
    inputs: Vec<TensorIo>,
    outputs: Vec<TensorIo>,
    state: Vec<StateTensor>,
    weight_bytes: Vec<u8>,
}

/// Lowers every node against `plan`; a node the plan runs in place
/// becomes its op's in-place form.
fn lower_nodes(graph: &Graph, plan: &ArenaPlan) -> Result<LoweredNodes> {
    let mut cx = Lowering::new(graph, plan);
    let mut ops = Vec::new();
    let mut op_nodes = Vec::new();
    // The ops a later node's op runs (a stream's convolution, a residual
    // block's two), in order.
    let mut fused = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        cx.start_node(i);
        let runs_later = plan.fused_into(i).is_some();
        let output = match node.kind.op().has_output() {
            true => cx.output(node).map(|_| ()),
            false => Ok(()),
        };
        match output
            .and_then(|_| node.kind.op().lower(&mut cx, node))
            .and_then(|op| match runs_later {
                true => Ok(op),
                false => in_place(plan, i, op, std::mem::take(&mut fused)),
            }) {
            Ok(Some(op)) if runs_later => fused.push(op),
            Ok(Some(op)) => {
                ops.push(op);
                op_nodes.push(i);
            }
            Ok(None) => {}
            Err(Problem::Unsupported(reason)) => cx.unsupported_node(i, node, reason),
            Err(Problem::Invalid(detail)) => {
                return Err(Error::Invalid {
                    path: graph.source.clone(),
                    detail: format!("op #{i} {}: {detail}", node.source_name),
                })
            }
        }
    }
    let io = |ids: &[TensorId], is_input: bool, cx: &mut Lowering| -> Vec<TensorIo> {
        ids.iter()
            .filter_map(|&t| match cx.tensor_io(t, is_input) {
                Ok(io) => Some(io),
                Err(Problem::Unsupported(reason)) | Err(Problem::Invalid(reason)) => {
                    cx.record(Unsupported {
                        op_index: None,
                        op_name: "model input/output".into(),
                        tensors: vec![graph.tensors[t].name.clone()],
                        reason,
                    });
                    None
                }
            })
            .collect()
    };
    let inputs = io(&graph.inputs, true, &mut cx);
    let outputs = io(&graph.outputs, false, &mut cx);
    let state = graph
        .variables
        .iter()
        .map(|&t| cx.state_tensor(t))
        .collect::<Lowered<Vec<_>>>()
        .or_else(|p| match p {
            Problem::Unsupported(reason) | Problem::Invalid(reason) => {
                invalid(format!("a variable tensor: {reason}"))
            }
        });
    let (weight_bytes, problems) = cx.finish();
    if !problems.is_empty() {
        return Err(Error::Unsupported {
            path: graph.source.clone(),
            problems,
        });
    }
    let state = state.map_err(|p| Error::Invalid {
        path: graph.source.clone(),
        detail: match p {
            Problem::Unsupported(d) | Problem::Invalid(d) => d,
        },
    })?;
    Ok(LoweredNodes {
        ops,
        op_nodes,
        inputs,
        outputs,
        state,
        weight_bytes,
    })
}

/// Node `node`'s op in the form the plan runs it: in place, its bands in
/// the buffer the planner gave them; or running `fused`, the ops before it
/// (a stream's convolution, a residual block's two); or nothing, a
/// concatenation whose inputs were written into its output or a slice
/// planned inside its input.
fn in_place(plan: &ArenaPlan, node: usize, op: Option<Op>, fused: Vec<Op>) -> Lowered<Option<Op>> {
    if plan.copies_nothing.get(node).copied().unwrap_or(false) {
        return match op {
            Some(Op::Concatenation(_) | Op::Slice(_)) => Ok(None),
            _ => invalid("the planner planned in place an op that copies more than bytes"),
        };
    }
    let Some((how, offset)) = plan.bands(node) else {
        return Ok(op);
    };
    let buffer = Span::new(to_u32(offset)?, to_u32(how.buffer_bytes)?);
    if let (Some(Op::FullyConnected(fc)), Walk::Stream { rows, sums_bytes }) = (op, how.walk) {
        let band = how.buffer_bytes - sums_bytes as usize;
        let stream = Stream {
            buffer: Span::new(buffer.offset, to_u32(band)?),
            rows,
            sums: Span::new(buffer.offset + to_u32(band)?, sums_bytes),
        };
        return Ok(Some(match fused.first().copied() {
            Some(Op::Conv2d(conv)) => {
                Op::Conv2dIntoFullyConnected(Conv2dIntoFullyConnectedOp { conv, fc, stream })
            }
            Some(Op::DepthwiseConv2d(conv)) => {
                Op::DepthwiseConv2dIntoFullyConnected(DepthwiseConv2dIntoFullyConnectedOp {
                    conv,
                    fc,
                    stream,
                })
            }
            _ => return invalid("the planner streamed a layer from an op that cannot stream"),
        }));
    }
    if let (
        Some(Op::Add(add)),
        Walk::Residual {
            rows,
            window_bytes,
            band_bytes,
        },
    ) = (op, how.walk)
    {
        let [Op::Conv2d(first), Op::Conv2d(second)] = fused[..] else {
            return invalid("the planner streamed a residual block of other ops");
        };
        let at = |bytes: u32| Span::new(buffer.offset + bytes, band_bytes);
        let walk = Residual {
            window: Span::new(buffer.offset, window_bytes),
            band: at(window_bytes),
            sum: at(window_bytes + band_bytes),
            rows,
        };
        return Ok(Some(Op::ResidualBlock(ResidualBlockOp {
            first,
            second,
            add,
            walk,
        })));
    }
    if let Walk::Tiled {
        rows,
        layers: count,
        windows,
        ..
    } = how.walk
    {
        let mut layers = [TiledLayer::default(); kiln::ops::MAX_TILED_LAYERS];
        let all: Option<Vec<TiledLayer>> = fused.iter().chain(&op).map(tiled_layer).collect();
        match all {
            Some(all) if all.len() == count as usize && all.len() <= layers.len() => {
                layers[..all.len()].copy_from_slice(&all);
            }
            _ => return invalid("the planner tiled a chain of ops that are not convolutions"),
        }
        // The windows lie one after another in the buffer.
        let mut spans = [Span::default(); kiln::ops::MAX_TILED_LAYERS - 1];
        let mut at = buffer.offset;
        for (span, &bytes) in spans.iter_mut().zip(&windows).take(count as usize - 1) {
            *span = Span::new(at, bytes);
            at += bytes;
        }
        let walk = Tiles {
            windows: spans,
            rows,
        };
        return Ok(Some(Op::TiledChain(TiledChainOp {
            layers,
            count,
            walk,
        })));
    }
    Ok(Some(match (op, how.walk) {
        (Some(Op::Conv2d(op)), Walk::Bands { rows, lag }) => {
            let bands = Bands { buffer, rows, lag };
            Op::Conv2dInPlace(Conv2dInPlaceOp { op, bands })
        }
        (Some(Op::DepthwiseConv2d(op)), Walk::Bands { rows, lag }) => {
            let bands = Bands { buffer, rows, lag };
            Op::DepthwiseConv2dInPlace(DepthwiseConv2dInPlaceOp { op, bands })
        }
        (Some(Op::Concatenation(op)), Walk::Expand { last }) => {
            let over = if last { op.count.saturating_sub(1) } else { 0 };
            Op::ConcatenationInPlace(ConcatenationInPlaceOp { op, over })
        }
        (Some(op), Walk::Chunks { elements }) => match in_chunks(op, Chunks { buffer, elements }) {
            Some(op) => op,
            None => return invalid("the planner ran in chunks an op that has no chunked form"),
        },
        _ => return invalid("the planner ran in place an op that has no in-place form"),
    }))
}

/// A convolution as one layer of a tiled chain.
fn tiled_layer(op: &Op) -> Option<TiledLayer> {
    match *op {
        Op::Conv2d(op) => Some(TiledLayer {
            depthwise: false,
            op,
        }),
        Op::DepthwiseConv2d(o) => Some(TiledLayer {
            depthwise: true,
            op: Conv2dOp {
                conv: o.conv,
                kernel: o.kernel,
                scratch: Span::default(),
            },
        }),
        _ => None,
    }
}
