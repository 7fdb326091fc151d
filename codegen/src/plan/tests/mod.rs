//! The planner's unit tests: placements, in-place groups, streams,
//! residual blocks, tiled chains and the schedule on small hand-built
//! graphs.

use super::*;
use crate::ir::*;
use kiln::kernels::conv2d::ConvGeometry;
use search::CHUNK_ELEMENTS;

mod random;
use random::simulate;

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
        variables: vec![],
        variable_init: vec![],
    }
}

fn assert_no_live_overlap(g: &Graph, p: &ArenaPlan) {
    for (i, a) in p.buffers.iter().enumerate() {
        // Views and concatenation inputs may start anywhere in their group.
        assert!(a.offset % ALIGNMENT == 0 || a.rel % ALIGNMENT as isize != 0);
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

/// Variable tensors live through every op and past the last (into the
/// next run), side by side in one block that no other tensor enters.
#[test]
fn state_gets_a_region_of_its_own() {
    let mut g = chain([100, 200, 100, 50]);
    g.tensors.push(tensor("state_e", 30));
    g.tensors.push(tensor("state_f", 20));
    g.nodes[1].inputs.extend([Some(4), Some(5)]);
    g.variables = vec![4, 5];
    let p = plan(&g);
    assert_no_live_overlap(&g, &p);
    let (e, f) = (p.buffer_of[4].unwrap(), p.buffer_of[5].unwrap());
    for b in [e, f] {
        assert_eq!((p.buffers[b].first, p.buffers[b].last), (0, g.nodes.len()));
    }
    assert_eq!(p.buffers[f].offset, p.buffers[e].offset + 32);
    // The chain's two live tensors (208 + 112) beside the state (32 + 32).
    assert_eq!(p.arena_bytes, 320 + 64);
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

/// A chain candidate of `layers`.
fn tiled_chain(layers: &[ConvGeometry]) -> Candidate {
    let mut all = [ConvGeometry::default(); kiln::ops::MAX_TILED_LAYERS];
    all[..layers.len()].copy_from_slice(layers);
    Candidate::Chain {
        layers: all,
        count: layers.len() as u32,
    }
}

#[test]
fn a_tiled_chain_stores_neither_wide_tensor_of_an_inverted_bottleneck() {
    // a -> b -> c -> d: a pointwise layer widens 64 one-pixel rows from 4
    // to 16 channels, a 3x1 layer keeps them at 16, a pointwise layer
    // narrows them back to 4: MobileNetV2's inverted bottleneck. A pair
    // stores b or c (1,024 bytes); the chain of three stores neither.
    let g = chain([256, 1024, 1024, 256]);
    let widen = pointwise(64, 4, 16);
    let middle = ConvGeometry {
        filter_height: 3,
        padding_top: 1,
        ..pointwise(64, 16, 16)
    };
    let narrow = pointwise(64, 16, 4);
    let all = tiled_chain(&[widen, middle, narrow]);
    let candidates = [None, Some(all.with_chains_of(2, false)), Some(all)];
    let p = plan_in_place(&g, &candidates);
    assert_no_live_overlap(&g, &p);
    let (how, _) = p.bands(2).unwrap();
    let Walk::Tiled {
        layers,
        windows,
        over_input,
        ..
    } = how.walk
    else {
        panic!("{how:?}");
    };
    assert_eq!((layers, over_input), (3, true));
    assert!(windows[0] > 0 && windows[1] > 0, "{windows:?}");
    assert_eq!(how.buffer_bytes, (windows[0] + windows[1]) as usize);
    assert_eq!((p.offset(1), p.offset(2)), (None, None));
    assert_eq!(p.offset(3), p.offset(0));
    assert_eq!((p.fused_into(0), p.fused_into(1)), (Some(2), Some(2)));
    assert_eq!(p.fused_into(2), None);
    assert_eq!(p.arena_bytes, 256 + how.buffer_bytes, "{p:?}");
    assert!(p.untiled_arena_bytes.is_some_and(|b| b >= 1024 + 256));
    // Offered pairs only, one wide tensor is stored.
    let pairs: Vec<_> = candidates
        .iter()
        .map(|c| c.map(|c| c.with_chains_of(2, false)))
        .collect();
    let p2 = plan_in_place(&g, &pairs);
    assert_no_live_overlap(&g, &p2);
    assert!(p2.arena_bytes >= 1024, "{p2:?}");
    assert!(p.arena_bytes < p2.arena_bytes);
}

#[test]
fn a_tiled_pair_never_stores_its_widest_tensor() {
    // a -> b -> c -> d: a pointwise layer widens 64 one-pixel rows from 4
    // to 16 channels, then a 3x1 layer of stride 2 narrows them to 32
    // rows of 4. Tiled, b is never stored: in the kernels' bands of 8 rows,
    // a band of c reads 17 rows of b (a 272-byte window); a row at a time,
    // 3 rows (48 bytes), which the search keeps as the smaller arena; and
    // c takes a's place.
    let mut g = chain([256, 1024, 128, 128]);
    g.nodes[1].kind = g.nodes[0].kind.clone();
    let first = pointwise(64, 4, 16);
    let second = ConvGeometry {
        output: kiln::tensor::Nhwc::new(1, 32, 1, 4),
        filter_height: 3,
        stride_height: 2,
        padding_top: 1,
        ..pointwise(64, 16, 4)
    };
    let pair = tiled_chain(&[first, second]);
    let p = plan_in_place(&g, &[None, Some(pair), None]);
    assert_no_live_overlap(&g, &p);
    let (how, _) = p.bands(1).unwrap();
    assert_eq!(
        how.walk,
        Walk::Tiled {
            rows: 1,
            layers: 2,
            windows: [48, 0],
            over_input: true
        }
    );
    let eight = tiled_walk(&[first, second], true).unwrap();
    assert_eq!(
        (eight.walk, eight.buffer_bytes),
        (
            Walk::Tiled {
                rows: 8,
                layers: 2,
                windows: [272, 0],
                over_input: true
            },
            272
        )
    );
    assert_eq!(p.offset(1), None);
    assert_eq!(p.offset(2), p.offset(0));
    assert_eq!(p.fused_into(0), Some(1));
    assert_eq!(p.fused_into(1), None);
    // a (and c over it) and the window, against a and b in place (1024
    // bytes and bands) without tiling.
    assert_eq!(p.arena_bytes, 256 + 48, "{p:?}");
    // A pair whose first input lives on keeps its output apart.
    g.nodes[2].inputs.push(Some(0));
    let p = plan_in_place(&g, &[None, Some(pair), None]);
    assert_no_live_overlap(&g, &p);
    assert!(p.bands(1).is_some());
    assert_ne!(p.offset(2), p.offset(0));
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
        variables: vec![],
        variable_init: vec![],
    };
    assert_eq!(plan(&g).arena_bytes, 576);
    let (order, p) = schedule(&g, &[None; 4]);
    assert_eq!(order, [0, 2, 1, 3]);
    assert_eq!(p.arena_bytes, 384);
    // A chain has nothing to reorder.
    let chain = chain([64, 64, 64, 64]);
    assert_eq!(schedule(&chain, &[None; 3]).0, [0, 1, 2]);
    // Two ops that both take a variable (READ_VARIABLE, ASSIGN_VARIABLE)
    // keep their order, whatever it would save.
    let mut g = g;
    g.tensors.push(tensor("v", 64));
    g.variables = vec![5];
    g.nodes[1].inputs.push(Some(5));
    g.nodes[2].inputs.push(Some(5));
    assert_eq!(schedule(&g, &[None; 4]).0, [0, 1, 2, 3]);
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

fn concatenation() -> OpKind {
    OpKind::Concatenation(crate::ops::Concatenation {
        axis: 0,
        activation: Activation::None,
    })
}

/// b = f(a), c = f(a), d = concat(b, c), of 64, 128, 128 and 256 bytes.
fn two_activations_concatenated() -> Graph {
    let mut g = chain([64, 128, 128, 256]);
    g.nodes = vec![
        node(OpKind::Logistic(crate::ops::Logistic), &[0], &[1]),
        node(OpKind::Logistic(crate::ops::Logistic), &[0], &[2]),
        node(concatenation(), &[1, 2], &[3]),
    ];
    g
}

const SLICES: Option<Candidate> = Some(Candidate::Concatenation { contiguous: true });
const ROWS: Option<Candidate> = Some(Candidate::Concatenation { contiguous: false });

#[test]
fn a_concatenation_plans_its_inputs_in_its_output() {
    // b and c are written at their slices of d, and the concatenation
    // copies nothing.
    let g = two_activations_concatenated();
    let copied = plan(&g);
    let p = plan_in_place(&g, &[None, None, SLICES]);
    assert_no_live_overlap(&g, &p);
    assert!(p.copies_nothing[2] && !copied.copies_nothing[2]);
    let d = p.offset(3).unwrap();
    assert_eq!(p.offset(1), Some(d));
    assert_eq!(p.offset(2), Some(d + 128));
    // At the concatenation b, c and d were alive (512 bytes); now the peak
    // is a, b and c (320).
    assert_eq!(copied.lower_bound_bytes, 512);
    assert_eq!(p.lower_bound_bytes, 320);
    assert_eq!(p.arena_bytes, 320);
}

#[test]
fn a_concatenation_along_rows_lies_over_an_input_that_dies_there() {
    // Along an inner axis: d lies over b (or c), which it spreads apart,
    // and needs no bytes beside it.
    let mut g = two_activations_concatenated();
    let copied = plan(&g);
    let p = plan_in_place(&g, &[None, None, ROWS]);
    assert_no_live_overlap(&g, &p);
    let Some((how, _)) = p.in_place[2] else {
        panic!("copied: {p:?}");
    };
    let d = p.offset(3).unwrap();
    match how.walk {
        Walk::Expand { last: false } => assert_eq!(p.offset(1), Some(d)),
        Walk::Expand { last: true } => assert_eq!(p.offset(2), Some(d + 128)),
        walk => panic!("{walk:?}"),
    }
    // At the concatenation b, c and d were alive (512 bytes); now c and d
    // are, or a, b and c before it (320).
    assert_eq!(copied.lower_bound_bytes, 512);
    assert_eq!(p.arena_bytes, 384);
    simulate(&g, &p, &[1, 1, 4]);
    // d cannot lie over b while b is read after it; over c it may.
    g.tensors.push(tensor("e", 128));
    g.nodes
        .push(node(OpKind::Logistic(crate::ops::Logistic), &[1], &[4]));
    g.outputs = vec![3, 4];
    for (last, delta, lies_over) in [(false, 0, false), (true, -128, true)] {
        let mut how = vec![None; 4];
        how[2] = Some(InPlace {
            walk: Walk::Expand { last },
            delta,
            buffer_bytes: 0,
        });
        let p = plan_with(&g, &how);
        assert_eq!(p.in_place[2].is_some(), lies_over, "{p:?}");
        simulate(&g, &p, &[1, 1, 4, 1]);
    }
}

#[test]
fn concatenations_in_place_refuse_what_they_cannot_hold() {
    // d = concat(b, b): one tensor cannot sit in two slices.
    let mut g = chain([64, 64, 64, 128]);
    g.nodes[2] = node(concatenation(), &[1, 1], &[3]);
    g.nodes[1] = node(OpKind::Logistic(crate::ops::Logistic), &[0], &[2]);
    let p = plan_in_place(&g, &[None, None, SLICES]);
    assert!(!p.copies_nothing[2]);
    // A variable (state) input stays in the state region.
    let mut g = chain([64, 64, 64, 128]);
    g.nodes[2] = node(concatenation(), &[1, 2], &[3]);
    g.nodes[1] = node(OpKind::Logistic(crate::ops::Logistic), &[0], &[2]);
    g.variables = vec![1];
    assert!(!plan_in_place(&g, &[None, None, SLICES]).copies_nothing[2]);
    g.variables = vec![];
    assert!(plan_in_place(&g, &[None, None, SLICES]).copies_nothing[2]);
    // An input read again after the concatenation keeps the output alive
    // until then (its bytes are the output's).
    g.tensors.push(tensor("e", 64));
    g.nodes
        .push(node(OpKind::Logistic(crate::ops::Logistic), &[1], &[4]));
    g.outputs = vec![3, 4];
    let p = plan_in_place(&g, &[None, None, SLICES, None]);
    assert!(p.copies_nothing[2]);
    assert_no_live_overlap(&g, &p);
    let b = &p.buffers[p.buffer_of[1].unwrap()];
    let d = &p.buffers[p.buffer_of[3].unwrap()];
    assert_eq!((b.last, d.first), (2, 2));
}

#[test]
fn a_slice_of_one_run_of_its_input_is_planned_inside_it() {
    // b = a[16..528] (a view), c = f(a), d = f(b): b sits 16 bytes into a
    // and no op copies it; c may not be written over a while b is read.
    let mut g = chain([1024, 512, 1024, 512]);
    let slice = OpKind::Slice(crate::ops::Slice {
        begin: vec![16],
        step: vec![1],
        dropped: 0,
    });
    g.nodes = vec![
        node(slice, &[0], &[1]),
        node(OpKind::Logistic(crate::ops::Logistic), &[0], &[2]),
        node(OpKind::Logistic(crate::ops::Logistic), &[1], &[3]),
    ];
    g.outputs = vec![2, 3];
    let view = Some(Candidate::View { offset: 16 });
    let c = Some(Candidate::Elementwise { elements: 1024 });
    let p = plan_in_place(&g, &[view, c, None]);
    assert!(p.copies_nothing[0]);
    assert_eq!(p.offset(1), p.offset(0).map(|a| a + 16));
    assert!(p.in_place[1].is_none(), "c written over a while b is read");
    simulate(&g, &p, &[1; 3]);
    // Once b is read before c runs, c may write over a.
    g.nodes.swap(1, 2);
    let p = plan_in_place(&g, &[view, None, c]);
    assert!(p.copies_nothing[0] && p.in_place[2].is_some(), "{p:?}");
    simulate(&g, &p, &[1; 3]);
}
