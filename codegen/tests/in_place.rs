//! In-place convolutions (`kiln::ops::Bands`) compute the bytes their
//! out-of-place op computes, on random geometries and with every kernel the
//! op has, with the output where the planner's walk (`plan::band_walk`)
//! puts it over the input; and the one-time check refuses a walk that
//! would overwrite input a later band reads. In-place int8 ADD, SUB and
//! MUL (`kiln::ops::Chunks`) compute their out-of-place bytes over either
//! operand, and so do REQUANTIZE, LOGISTIC, TANH, HARD_SWISH and
//! LEAKY_RELU over their input; a partly overlapping output is refused. A convolution
//! streamed into a fully connected layer (`kiln::ops::Stream`) computes the
//! bytes of the two ops, and a misplaced stream is refused; a residual
//! block streamed in bands (`kiln::ops::ResidualBlockOp`) computes the
//! bytes of its three ops; and so does a tiled chain of convolutions
//! (`kiln::ops::TiledChainOp`) the bytes of its two or three, computing
//! each row of every layer's output once.

use kiln::arch::{conv2d_scratch_bytes, filter_reach, KernelChoice};
use kiln::kernels::conv2d::{Conv2dParams, ConvGeometry};
use kiln::ops::{
    AddInPlaceOp, AddOp, AddParams, AddSub, Bands, Broadcast, Chunks, ConstantOperand,
    Conv2dInPlaceOp, Conv2dIntoFullyConnectedOp, Conv2dOp, Conv2dS8, DepthwiseConv2dInPlaceOp,
    DepthwiseConv2dIntoFullyConnectedOp, DepthwiseConv2dOp, FullyConnectedOp, FullyConnectedParams,
    FullyConnectedShape, HardSwishInPlaceOp, HardSwishOp, HardSwishParams, LeakyReluInPlaceOp,
    LeakyReluOp, LogisticInPlaceOp, LogisticOp, MulInPlaceOp, MulOp, MulParams,
    RequantizeInPlaceOp, RequantizeOp, RequantizeParams, Residual, ResidualBlockOp, SigmoidParams,
    SigmoidS8, Stream, SubInPlaceOp, SubOp, TanhInPlaceOp, TanhOp, TiledChainOp, TiledLayer, Tiles,
    MAX_TILED_LAYERS,
};
use kiln::tensor::{Nhwc, Span};
use kiln::{Graph, Op};
use kiln_codegen::plan::{band_walk, residual_walk, stream_walk, tiled_walk, InPlace, Walk};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
}

/// A random convolution (depthwise with multiplier 1, or plain), with
/// TFLite's SAME or VALID padding, one batch.
fn geometry(rng: &mut Rng, depthwise: bool) -> Option<ConvGeometry> {
    let (h, w) = (1 + rng.below(12), 1 + rng.below(10));
    let c = 1 + rng.below(9);
    geometry_over(rng, Nhwc::new(1, h, w, c), depthwise)
}

/// A random convolution of `input` (as [`geometry`]).
fn geometry_over(rng: &mut Rng, input: Nhwc, depthwise: bool) -> Option<ConvGeometry> {
    let (h, w, c) = (input.height, input.width, input.channels);
    let oc = if depthwise { c } else { 1 + rng.below(9) };
    let (kh, kw) = (
        [1, 2, 3, 5][rng.below(4) as usize],
        [1, 3][rng.below(2) as usize],
    );
    let (sh, sw) = (1 + rng.below(3), 1 + rng.below(2));
    let (dh, dw) = (1 + rng.below(2), 1);
    let (eh, ew) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
    let same = rng.below(2) == 0;
    let axis = |n: u32, e: u32, s: u32| -> Option<(u32, u32)> {
        if same {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + e).saturating_sub(n);
            Some((out, total / 2))
        } else {
            (n >= e).then(|| ((n - e) / s + 1, 0))
        }
    };
    let (oh, top) = axis(h, eh, sh)?;
    let (ow, left) = axis(w, ew, sw)?;
    Some(ConvGeometry {
        input: Nhwc::new(1, h, w, c),
        output: Nhwc::new(1, oh, ow, oc),
        filter_height: kh,
        filter_width: kw,
        filter_channels: if depthwise { 1 } else { c },
        stride_height: sh,
        stride_width: sw,
        dilation_height: dh,
        dilation_width: dw,
        padding_top: top,
        padding_left: left,
    })
}

fn align(x: usize) -> usize {
    x.div_ceil(16) * 16
}

/// Random constants for a convolution, 16-byte aligned: the filter (plus
/// what a fast kernel may read past it), bias, multipliers and shifts.
fn constants(rng: &mut Rng, g: &ConvGeometry) -> (Vec<u128>, [Span; 4]) {
    let oc = g.output.channels as usize;
    let k = (g.filter_height * g.filter_width * g.filter_channels) as usize;
    let filter = oc * k;
    let mut bytes = vec![0u8; align(filter + filter_reach(oc, k))];
    for b in &mut bytes[..filter] {
        *b = rng.range(-128, 127) as u8;
    }
    let mut spans = [Span::new(0, filter as u32); 4];
    let words = [(-5000, 5000), (1 << 29, i32::MAX), (-9, 1)];
    for (i, (lo, hi)) in words.into_iter().enumerate() {
        let start = align(bytes.len());
        bytes.resize(start, 0);
        for _ in 0..oc {
            bytes.extend(rng.range(lo, hi).to_le_bytes());
        }
        spans[i + 1] = Span::new(start as u32, (4 * oc) as u32);
    }
    bytes.resize(align(bytes.len()), 0);
    let mut words = vec![0u128; bytes.len() / 16];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words).copy_from_slice(&bytes);
    (words, spans)
}

/// The op, out of place or (with `bands`) in place, for `conv`.
fn op(
    depthwise: bool,
    conv: Conv2dS8,
    kernel: KernelChoice,
    scratch: Span,
    bands: Option<Bands>,
) -> Op {
    match (depthwise, bands) {
        (true, None) => Op::DepthwiseConv2d(DepthwiseConv2dOp { conv, kernel }),
        (true, Some(bands)) => Op::DepthwiseConv2dInPlace(DepthwiseConv2dInPlaceOp {
            op: DepthwiseConv2dOp { conv, kernel },
            bands,
        }),
        (false, None) => Op::Conv2d(Conv2dOp {
            conv,
            kernel,
            scratch,
        }),
        (false, Some(bands)) => Op::Conv2dInPlace(Conv2dInPlaceOp {
            op: Conv2dOp {
                conv,
                kernel,
                scratch,
            },
            bands,
        }),
    }
}

/// Validates and runs one op on `arena`, or says why it was refused.
fn run(op: Op, arena: &mut [u8], weights: &[u128]) -> Result<(), kiln::Error> {
    let ops = [op];
    let graph = Graph {
        ops: &ops,
        inputs: &[],
        outputs: &[],
        state: &[],
        arena_bytes: arena.len() as u32,
        weights: bytemuck::cast_slice(weights),
    };
    kiln::exec::validate(&graph)?;
    ops[0].run(arena, graph.weights);
    Ok(())
}

/// The arena of an in-place run: the input at `base`, the output `delta`
/// bytes on, then the band buffer and the scratch.
struct Layout {
    input: Span,
    output: Span,
    bands: Bands,
    scratch: Span,
    arena_bytes: usize,
}

fn layout(g: &ConvGeometry, walk: &InPlace, scratch_bytes: usize) -> Layout {
    let (in_bytes, out_bytes) = (g.input.elements() as usize, g.output.elements() as usize);
    let Walk::Bands { rows, lag } = walk.walk else {
        panic!("a convolution walks in bands: {walk:?}");
    };
    let base = (-walk.delta).max(0) as usize;
    let output_at = (base as isize + walk.delta) as usize;
    let end = align((base + in_bytes).max(output_at + out_bytes));
    let scratch_at = align(end + walk.buffer_bytes);
    Layout {
        input: Span::new(base as u32, in_bytes as u32),
        output: Span::new(output_at as u32, out_bytes as u32),
        bands: Bands {
            buffer: Span::new(end as u32, walk.buffer_bytes as u32),
            rows,
            lag,
        },
        scratch: Span::new(scratch_at as u32, align(scratch_bytes) as u32),
        arena_bytes: scratch_at + align(scratch_bytes),
    }
}

#[test]
fn in_place_convolutions_compute_the_out_of_place_bytes() {
    let mut rng = Rng(0x1a2b_3c4d);
    let (mut cases, mut refusals, mut overlapping) = (0, 0, 0);
    while cases < 600 {
        let depthwise = rng.below(2) == 0;
        let Some(g) = geometry(&mut rng, depthwise) else {
            continue;
        };
        let kernels: &[KernelChoice] = if depthwise {
            &[KernelChoice::Reference, KernelChoice::DepthwiseBlocked]
        } else {
            &[KernelChoice::Reference, KernelChoice::Gemm]
        };
        let kernel = kernels[rng.below(2) as usize];
        let walk = band_walk(&g).expect("TFLite paddings give a walk");
        let (weights, [filter, bias, multiplier, shift]) = constants(&mut rng, &g);
        let scratch_bytes = if kernel == KernelChoice::Gemm {
            conv2d_scratch_bytes(&g)
        } else {
            0
        };
        let l = layout(&g, &walk, scratch_bytes);
        let params = Conv2dParams {
            geometry: g,
            input_offset: rng.range(-127, 128),
            output_offset: rng.range(-128, 127),
            activation_min: -128,
            activation_max: 127,
        };
        let input: Vec<u8> = (0..l.input.len).map(|_| rng.next() as u8).collect();

        // Out of place: input, output and scratch apart.
        let apart = |l: &Layout| {
            let output = Span::new(align(l.input.end() as usize) as u32, l.output.len);
            let scratch = Span::new(align(output.end() as usize) as u32, l.scratch.len);
            (output, scratch)
        };
        let (out_apart, scratch_apart) = apart(&l);
        let conv = |output: Span| Conv2dS8 {
            params,
            input: l.input,
            filter,
            bias,
            multiplier,
            shift,
            output,
        };
        let mut arena = vec![0u8; scratch_apart.end() as usize];
        arena[l.input.range()].copy_from_slice(&input);
        run(
            op(depthwise, conv(out_apart), kernel, scratch_apart, None),
            &mut arena,
            &weights,
        )
        .unwrap_or_else(|e| panic!("{g:?}: {e}"));
        let expected = arena[out_apart.range()].to_vec();

        // In place.
        let mut arena = vec![0u8; l.arena_bytes];
        arena[l.input.range()].copy_from_slice(&input);
        let in_place = op(depthwise, conv(l.output), kernel, l.scratch, Some(l.bands));
        run(in_place, &mut arena, &weights).unwrap_or_else(|e| panic!("{g:?} {walk:?}: {e}"));
        assert_eq!(
            arena[l.output.range()],
            expected[..],
            "{g:?} {kernel:?} {walk:?}"
        );
        if l.output.overlaps(&l.input) {
            overlapping += 1;
        }

        // A walk that needed its output below the input's start is refused
        // with the output at the start.
        if walk.delta < 0 {
            let mut arena = vec![0u8; l.arena_bytes];
            let at_start = Span::new(l.input.offset, l.output.len);
            let wrong = op(depthwise, conv(at_start), kernel, l.scratch, Some(l.bands));
            let refused = run(wrong, &mut arena, &weights);
            assert!(
                refused.is_err(),
                "{g:?} {walk:?}: output at the input's start accepted"
            );
            refusals += 1;
        }
        cases += 1;
    }
    assert!(
        overlapping > 400,
        "only {overlapping} cases wrote over their input"
    );
    assert!(refusals > 30, "only {refusals} misplaced walks tried");
}

#[test]
fn a_walk_without_its_lag_is_refused() {
    // 3x3, stride 1, SAME: band k reads input row k - 1, so writing band k
    // over input row k needs a lag of one band.
    let mut rng = Rng(7);
    let g = ConvGeometry {
        input: Nhwc::new(1, 6, 4, 4),
        output: Nhwc::new(1, 6, 4, 4),
        filter_height: 3,
        filter_width: 3,
        filter_channels: 1,
        stride_height: 1,
        stride_width: 1,
        dilation_height: 1,
        dilation_width: 1,
        padding_top: 1,
        padding_left: 1,
    };
    // The planner's walk: bands of two rows (eight pixels), the output a
    // row early.
    let planned = band_walk(&g).unwrap();
    assert_eq!(
        (planned.walk, planned.delta),
        (Walk::Bands { rows: 2, lag: 0 }, -16),
        "{planned:?}"
    );
    // Bands of one row, the output at the input's start, a lag of one.
    let walk = InPlace {
        walk: Walk::Bands { rows: 1, lag: 1 },
        delta: 0,
        buffer_bytes: 32,
    };
    let (weights, [filter, bias, multiplier, shift]) = constants(&mut rng, &g);
    let l = layout(&g, &walk, 0);
    let conv = Conv2dS8 {
        params: Conv2dParams {
            geometry: g,
            activation_min: -128,
            activation_max: 127,
            ..Conv2dParams::default()
        },
        input: l.input,
        filter,
        bias,
        multiplier,
        shift,
        output: l.output,
    };
    let mut arena = vec![0u8; l.arena_bytes];
    let kernel = KernelChoice::DepthwiseBlocked;
    let good = op(true, conv, kernel, Span::EMPTY, Some(l.bands));
    assert!(run(good, &mut arena, &weights).is_ok());
    let no_lag = Bands { lag: 0, ..l.bands };
    let bad = op(true, conv, kernel, Span::EMPTY, Some(no_lag));
    let error = run(bad, &mut arena, &weights).unwrap_err().to_string();
    assert!(
        error.contains("overwrites input a later band reads"),
        "{error}"
    );
}

/// A same-shape broadcast of `n` elements.
fn flat(n: u32) -> Broadcast {
    let mut b = Broadcast {
        same_shape: true,
        ..Broadcast::default()
    };
    b.output_dims = [1, 1, 1, 1, 1, n];
    b.input1_strides = [0, 0, 0, 0, 0, 1];
    b.input2_strides = b.input1_strides;
    b
}

/// Kinds of [`elementwise`] op: ADD, SUB, MUL, then the ops of one input.
const KINDS: u32 = 8;
const ONE_INPUT: u32 = 3;

/// A random int8 op of `n` elements: ADD, SUB or MUL between `input1`,
/// `input2` and `output` (kinds 0 to 2), or REQUANTIZE, LOGISTIC, TANH,
/// HARD_SWISH or LEAKY_RELU from `input1` to `output` (kinds 3 to 7); in
/// place in `chunks` when given.
fn elementwise(rng: &mut Rng, kind: u32, n: u32, spans: [Span; 3], chunks: Option<Chunks>) -> Op {
    if kind >= ONE_INPUT {
        return one_input(rng, kind, spans, chunks);
    }
    let [input1, input2, output] = spans;
    let mut add = AddSub {
        params: AddParams {
            broadcast: flat(n),
            input1_offset: rng.range(-127, 128),
            input2_offset: rng.range(-127, 128),
            left_shift: 20,
            input1_multiplier: rng.range(1 << 30, i32::MAX),
            input1_shift: rng.range(-3, 0),
            input2_multiplier: rng.range(1 << 30, i32::MAX),
            input2_shift: rng.range(-3, 0),
            output_multiplier: rng.range(1 << 30, i32::MAX),
            output_shift: rng.range(-20, -17),
            output_offset: rng.range(-128, 127),
            activation_min: -128,
            activation_max: 127,
        },
        constant: ConstantOperand::Neither,
        input1,
        input2,
        output,
    };
    add.params.activation_min = rng.range(-128, -100);
    let mul = MulOp {
        params: MulParams {
            broadcast: flat(n),
            input1_offset: add.params.input1_offset,
            input2_offset: add.params.input2_offset,
            output_multiplier: rng.range(1 << 30, i32::MAX),
            output_shift: rng.range(-9, -6),
            output_offset: add.params.output_offset,
            activation_min: -128,
            activation_max: 127,
        },
        constant: ConstantOperand::Neither,
        input1,
        input2,
        output,
    };
    match (kind, chunks) {
        (0, None) => Op::Add(AddOp { add }),
        (0, Some(chunks)) => Op::AddInPlace(AddInPlaceOp {
            op: AddOp { add },
            chunks,
        }),
        (1, None) => Op::Sub(SubOp { add }),
        (1, Some(chunks)) => Op::SubInPlace(SubInPlaceOp {
            op: SubOp { add },
            chunks,
        }),
        (_, None) => Op::Mul(mul),
        (_, Some(chunks)) => Op::MulInPlace(MulInPlaceOp { op: mul, chunks }),
    }
}

/// A random int8 op of one input (kinds 3 to 7 of [`elementwise`]) from
/// `spans[0]` to `spans[2]`.
fn one_input(rng: &mut Rng, kind: u32, spans: [Span; 3], chunks: Option<Chunks>) -> Op {
    let [input, _, output] = spans;
    let mut rescale = || RequantizeParams {
        input_zero_point: rng.range(-128, 127),
        output_zero_point: rng.range(-128, 127),
        multiplier: rng.range(1 << 30, i32::MAX),
        shift: rng.range(-4, 1),
        activation_min: rng.range(-128, -100),
        activation_max: rng.range(100, 127),
    };
    let requantize = RequantizeOp {
        params: rescale(),
        input,
        output,
    };
    let positive = rescale();
    let leaky_relu = LeakyReluOp {
        positive,
        negative: RequantizeParams {
            input_zero_point: positive.input_zero_point,
            ..rescale()
        },
        input,
        output,
    };
    let sigmoid = SigmoidS8 {
        params: SigmoidParams {
            input_zero_point: rng.range(-128, 127),
            input_range_radius: rng.range(20, 255),
            input_multiplier: rng.range(1 << 30, i32::MAX),
            input_left_shift: rng.range(0, 6),
        },
        input,
        output,
    };
    let hard_swish = HardSwishOp {
        params: HardSwishParams {
            input_zero_point: rng.range(-128, 127),
            output_zero_point: rng.range(-128, 127),
            reluish_multiplier: rng.range(0, 32767),
            reluish_exponent: rng.range(-15, 15),
            output_multiplier: rng.range(0, 32767),
            output_exponent: rng.range(-15, 0),
        },
        input,
        output,
    };
    match (kind, chunks) {
        (3, None) => Op::Requantize(requantize),
        (3, Some(chunks)) => Op::RequantizeInPlace(RequantizeInPlaceOp {
            op: requantize,
            chunks,
        }),
        (4, None) => Op::Logistic(LogisticOp { sigmoid }),
        (4, Some(chunks)) => Op::LogisticInPlace(LogisticInPlaceOp {
            op: LogisticOp { sigmoid },
            chunks,
        }),
        (5, None) => Op::Tanh(TanhOp { sigmoid }),
        (5, Some(chunks)) => Op::TanhInPlace(TanhInPlaceOp {
            op: TanhOp { sigmoid },
            chunks,
        }),
        (6, None) => Op::HardSwish(hard_swish),
        (6, Some(chunks)) => Op::HardSwishInPlace(HardSwishInPlaceOp {
            op: hard_swish,
            chunks,
        }),
        (_, None) => Op::LeakyRelu(leaky_relu),
        (_, Some(chunks)) => Op::LeakyReluInPlace(LeakyReluInPlaceOp {
            op: leaky_relu,
            chunks,
        }),
    }
}

#[test]
fn in_place_elementwise_ops_compute_the_out_of_place_bytes() {
    let mut rng = Rng(0x5eed);
    let weights = vec![0u128; 1];
    for case in 0..400 {
        let kind = rng.below(KINDS);
        let n = 1 + rng.below(700);
        let elements = 1 + rng.below(300);
        let len = align(n as usize) as u32;
        let (a, b, apart, buffer) = (0, len, 2 * len, 3 * len);
        let arena_bytes = (buffer + align(elements as usize) as u32) as usize;
        let fill: Vec<u8> = (0..2 * len).map(|_| rng.next() as u8).collect();
        let seed = rng.0;
        let spans = |out: u32| [Span::new(a, n), Span::new(b, n), Span::new(out, n)];

        let mut arena = vec![0u8; arena_bytes];
        arena[..2 * len as usize].copy_from_slice(&fill);
        rng.0 = seed;
        let op = elementwise(&mut rng, kind, n, spans(apart), None);
        run(op, &mut arena, &weights).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let expected = arena[apart as usize..][..n as usize].to_vec();

        // Over either operand (the first, of an op of one input).
        let over = if kind < ONE_INPUT && rng.below(2) == 0 {
            b
        } else {
            a
        };
        let chunks = Chunks {
            buffer: Span::new(buffer, align(elements as usize) as u32),
            elements,
        };
        let mut arena = vec![0u8; arena_bytes];
        arena[..2 * len as usize].copy_from_slice(&fill);
        rng.0 = seed;
        let op = elementwise(&mut rng, kind, n, spans(over), Some(chunks));
        run(op, &mut arena, &weights).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(
            arena[over as usize..][..n as usize],
            expected[..],
            "case {case}: kind {kind}, {n} elements in {elements}"
        );

        // Starting one byte into an operand: refused.
        rng.0 = seed;
        let op = elementwise(&mut rng, kind, n, spans(over + 1), Some(chunks));
        let error = run(op, &mut arena, &weights).unwrap_err().to_string();
        assert!(error.contains("partly overlaps"), "{error}");
    }
}

/// A fully connected layer's constants appended to `weights` (16-byte
/// aligned each): filter `[outputs, depth]`, bias, folded bias (for the
/// matrix-product kernel), multipliers and shifts (one, or one per output).
fn fc_constants(
    rng: &mut Rng,
    weights: &mut Vec<u128>,
    depth: usize,
    outputs: usize,
    input_offset: i32,
    per_channel: bool,
) -> [Span; 5] {
    let mut bytes: Vec<u8> = bytemuck::cast_slice(weights).to_vec();
    let push = |bytes: &mut Vec<u8>, data: &[u8]| {
        let start = align(bytes.len());
        bytes.resize(start, 0);
        bytes.extend_from_slice(data);
        Span::new(start as u32, data.len() as u32)
    };
    let filter: Vec<i8> = (0..outputs * depth)
        .map(|_| rng.range(-127, 127) as i8)
        .collect();
    let bias: Vec<i32> = (0..outputs).map(|_| rng.range(-5000, 5000)).collect();
    let mut folded = vec![0i32; outputs];
    kiln::arch::folded_bias(&filter, &bias, depth, input_offset, &mut folded);
    let quantized = if per_channel { outputs } else { 1 };
    let multiplier: Vec<i32> = (0..quantized)
        .map(|_| rng.range(1 << 29, i32::MAX))
        .collect();
    let shift: Vec<i32> = (0..quantized).map(|_| rng.range(-12, 1)).collect();
    let spans = [
        push(&mut bytes, bytemuck::cast_slice(&filter)),
        push(&mut bytes, bytemuck::cast_slice(&bias)),
        push(&mut bytes, bytemuck::cast_slice(&folded)),
        push(&mut bytes, bytemuck::cast_slice(&multiplier)),
        push(&mut bytes, bytemuck::cast_slice(&shift)),
    ];
    bytes.resize(align(bytes.len()), 0);
    *weights = vec![0u128; bytes.len() / 16];
    bytemuck::cast_slice_mut::<u128, u8>(weights).copy_from_slice(&bytes);
    spans
}

/// A convolution streamed into a fully connected layer (`kiln::ops::Stream`)
/// computes the bytes of the two ops run one after the other, with every
/// kernel of each, in the planner's bands (`plan::stream_walk`) and in
/// others; its check refuses sums over the input, a buffer too small for a
/// band, and a layer reading another tensor.
#[test]
fn streamed_convolutions_compute_the_bytes_of_their_two_ops() {
    let mut rng = Rng(0x5eed_f00d);
    let (mut cases, mut refusals) = (0, 0);
    while cases < 300 {
        let depthwise = rng.below(2) == 0;
        let Some(g) = geometry(&mut rng, depthwise) else {
            continue;
        };
        let kernel = match (depthwise, rng.below(2)) {
            (true, 0) => KernelChoice::Reference,
            (true, _) => KernelChoice::DepthwiseBlocked,
            (false, 0) => KernelChoice::Reference,
            (false, _) => KernelChoice::Gemm,
        };
        let fc_kernel = [KernelChoice::Reference, KernelChoice::Gemm][rng.below(2) as usize];
        let (mut weights, [filter, bias, multiplier, shift]) = constants(&mut rng, &g);
        let depth = g.output.elements() as usize;
        let outputs = 1 + rng.below(9) as usize;
        let fc_input_offset = rng.range(-127, 128);
        let per_channel = rng.below(2) == 0;
        let [fc_filter, fc_bias, folded, fc_multiplier, fc_shift] = fc_constants(
            &mut rng,
            &mut weights,
            depth,
            outputs,
            fc_input_offset,
            per_channel && outputs > 1,
        );
        let scratch_bytes = if kernel == KernelChoice::Gemm {
            align(conv2d_scratch_bytes(&g))
        } else {
            0
        };
        let in_bytes = g.input.elements() as usize;
        let params = Conv2dParams {
            geometry: g,
            input_offset: rng.range(-127, 128),
            output_offset: rng.range(-128, 127),
            activation_min: rng.range(-128, -100),
            activation_max: 127,
        };
        let conv = |output: Span, scratch: Span| {
            let conv = Conv2dS8 {
                params,
                input: Span::new(0, in_bytes as u32),
                filter,
                bias,
                multiplier,
                shift,
                output,
            };
            (conv, kernel, scratch)
        };
        let fc = |input: Span, output: Span| FullyConnectedOp {
            params: FullyConnectedParams {
                shape: FullyConnectedShape {
                    batches: 1,
                    input_depth: depth as u32,
                    output_depth: outputs as u32,
                },
                input_offset: fc_input_offset,
                filter_offset: 0,
                output_offset: rng_offset(outputs),
                activation_min: -128,
                activation_max: 127,
            },
            input,
            filter: fc_filter,
            bias: fc_bias,
            multiplier: fc_multiplier,
            shift: fc_shift,
            output,
            kernel: fc_kernel,
            folded_bias: if fc_kernel == KernelChoice::Gemm {
                folded
            } else {
                Span::EMPTY
            },
        };
        let input: Vec<u8> = (0..in_bytes).map(|_| rng.next() as u8).collect();

        // The two ops: input, the convolution's output, scratch, the
        // layer's output.
        let hidden = Span::new(align(in_bytes) as u32, depth as u32);
        let scratch = Span::new(align(hidden.end() as usize) as u32, scratch_bytes as u32);
        let out = Span::new(align(scratch.end() as usize) as u32, outputs as u32);
        let mut arena = vec![0u8; out.end() as usize];
        arena[..in_bytes].copy_from_slice(&input);
        let (c, k, s) = conv(hidden, scratch);
        run(op(depthwise, c, k, s, None), &mut arena, &weights)
            .unwrap_or_else(|e| panic!("{g:?}: {e}"));
        run(Op::FullyConnected(fc(hidden, out)), &mut arena, &weights)
            .unwrap_or_else(|e| panic!("{g:?}: {e}"));
        let expected = arena[out.range()].to_vec();

        // Streamed: input, scratch, band buffer, sums, output; the
        // convolution's output is never stored (its span lies past the
        // arena's end).
        let walk = stream_walk(&g, outputs as u32);
        let Walk::Stream { rows: planned, .. } = walk.walk else {
            panic!("{walk:?}");
        };
        let rows = if rng.below(2) == 0 {
            planned
        } else {
            1 + rng.below(g.output.height)
        };
        let band = align((rows.min(g.output.height) * g.output.width * g.output.channels) as usize);
        let scratch = Span::new(align(in_bytes) as u32, scratch_bytes as u32);
        let buffer = Span::new(scratch.end() as u32, band as u32);
        let sums = Span::new(buffer.end() as u32, 4 * outputs as u32);
        let out = Span::new(sums.end() as u32, outputs as u32);
        let arena_bytes = align(out.end() as usize);
        let unstored = Span::new(arena_bytes as u32, depth as u32);
        let streamed = |buffer: Span, sums: Span, read: Span| {
            let stream = Stream { buffer, rows, sums };
            let (c, k, s) = conv(unstored, scratch);
            let fc = fc(read, out);
            match op(depthwise, c, k, s, None) {
                Op::Conv2d(conv) => {
                    Op::Conv2dIntoFullyConnected(Conv2dIntoFullyConnectedOp { conv, fc, stream })
                }
                Op::DepthwiseConv2d(conv) => {
                    Op::DepthwiseConv2dIntoFullyConnected(DepthwiseConv2dIntoFullyConnectedOp {
                        conv,
                        fc,
                        stream,
                    })
                }
                other => panic!("{other:?}"),
            }
        };
        let mut arena = vec![0xa5u8; arena_bytes];
        arena[..in_bytes].copy_from_slice(&input);
        run(streamed(buffer, sums, unstored), &mut arena, &weights)
            .unwrap_or_else(|e| panic!("{g:?} rows {rows}: {e}"));
        assert_eq!(
            arena[out.range()],
            expected[..],
            "{g:?} {kernel:?} {fc_kernel:?} rows {rows}"
        );

        // Refused: sums over the input, a buffer a band does not fit, a
        // layer that reads another tensor.
        let mut arena = vec![0u8; arena_bytes];
        let over_input = Span::new(0, sums.len);
        let short = Span::new(buffer.offset, (band as u32).saturating_sub(16).max(4) & !3);
        let elsewhere = Span::new(unstored.offset + 16, unstored.len);
        for (what, bad) in [
            ("sums", streamed(buffer, over_input, unstored)),
            ("buffer", streamed(short, sums, unstored)),
            ("input", streamed(buffer, sums, elsewhere)),
        ] {
            if what == "buffer" && short.len as usize >= band_bytes(&g, rows) {
                continue;
            }
            assert!(
                run(bad, &mut arena, &weights).is_err(),
                "{g:?} rows {rows}: a stream with a wrong {what} accepted"
            );
            refusals += 1;
        }
        cases += 1;
    }
    assert!(refusals > 800, "only {refusals} bad streams tried");
}

/// Bytes of one band of `rows` rows of the convolution's output.
fn band_bytes(g: &ConvGeometry, rows: u32) -> usize {
    (rows.min(g.output.height) * g.output.width * g.output.channels) as usize
}

/// A fixed output zero point per layer width (any value in range works).
fn rng_offset(outputs: usize) -> i32 {
    (outputs as i32 * 37) % 256 - 128
}

/// A random convolution of one batch that keeps its input's height and
/// width (stride 1, TFLite's SAME padding): `channels` in, `out` out.
fn same_size(rng: &mut Rng, h: u32, w: u32, channels: u32, out: u32) -> ConvGeometry {
    let (kh, kw) = (
        [1, 3, 5][rng.below(3) as usize],
        [1, 3][rng.below(2) as usize],
    );
    let dh = 1 + rng.below(2);
    let (eh, ew) = ((kh - 1) * dh + 1, kw);
    ConvGeometry {
        input: Nhwc::new(1, h, w, channels),
        output: Nhwc::new(1, h, w, out),
        filter_height: kh,
        filter_width: kw,
        filter_channels: channels,
        stride_height: 1,
        stride_width: 1,
        dilation_height: dh,
        dilation_width: 1,
        padding_top: (eh - 1) / 2,
        padding_left: (ew - 1) / 2,
    }
}

/// An int8 convolution of `params` with constants at `constants` (filter,
/// bias, multiplier, shift) reading `io[0]` into `io[1]` with scratch
/// `io[2]`.
fn conv_op(
    params: Conv2dParams,
    [filter, bias, multiplier, shift]: [Span; 4],
    kernel: KernelChoice,
    io: [Span; 3],
) -> Conv2dOp {
    Conv2dOp {
        conv: Conv2dS8 {
            params,
            input: io[0],
            filter,
            bias,
            multiplier,
            shift,
            output: io[1],
        },
        kernel,
        scratch: io[2],
    }
}

/// Appends `more` (16-byte words) to `weights`, returning `spans` moved to
/// where they now lie.
fn append(weights: &mut Vec<u128>, more: Vec<u128>, spans: [Span; 4]) -> [Span; 4] {
    let base = (weights.len() * 16) as u32;
    weights.extend(more);
    spans.map(|s| Span::new(s.offset + base, s.len))
}

/// A residual block streamed in bands (`kiln::ops::ResidualBlockOp`)
/// computes the bytes of its three ops run one after the other, over the
/// block's input, with every kernel of its convolutions, in the planner's
/// bands (`plan::residual_walk`) and in others; its check refuses a
/// window a row short and bands whose sum would overwrite input a later
/// band reads. `ConvGeometry::rows_geometry` is what makes a band's
/// second convolution the whole one's rows.
#[test]
fn streamed_residual_blocks_compute_the_bytes_of_their_three_ops() {
    let mut rng = Rng(0x7e51_d0a1);
    let (mut cases, mut refusals) = (0, 0);
    while cases < 300 {
        let (h, w, c) = (1 + rng.below(12), 1 + rng.below(9), 1 + rng.below(8));
        let hidden_channels = 1 + rng.below(8);
        let g1 = same_size(&mut rng, h, w, c, hidden_channels);
        let g2 = same_size(&mut rng, h, w, hidden_channels, c);
        let kernel =
            |rng: &mut Rng| [KernelChoice::Reference, KernelChoice::Gemm][rng.below(2) as usize];
        let (k1, k2) = (kernel(&mut rng), kernel(&mut rng));
        let mut weights = Vec::new();
        let (more, spans) = constants(&mut rng, &g1);
        let [f1, b1, m1, s1] = append(&mut weights, more, spans);
        let (more, spans) = constants(&mut rng, &g2);
        let [f2, b2, m2, s2] = append(&mut weights, more, spans);
        let scratch_bytes = |g: &ConvGeometry, k| match k {
            KernelChoice::Gemm => align(conv2d_scratch_bytes(g)) as u32,
            _ => 0,
        };
        let (n, hidden_bytes) = (g1.input.elements() as u32, g1.output.elements() as u32);
        let params = |rng: &mut Rng, g: ConvGeometry| Conv2dParams {
            geometry: g,
            input_offset: rng.range(-127, 128),
            output_offset: rng.range(-128, 127),
            activation_min: rng.range(-128, -100),
            activation_max: 127,
        };
        let (p1, p2) = (params(&mut rng, g1), params(&mut rng, g2));
        let conv = conv_op;
        let input_first = rng.below(2) == 0;
        let seed = rng.0;
        let add = |rng: &mut Rng, input: Span, branch: Span, output: Span| {
            rng.0 = seed;
            let spans = if input_first {
                [input, branch, output]
            } else {
                [branch, input, output]
            };
            match elementwise(rng, 0, n, spans, None) {
                Op::Add(add) => add,
                other => panic!("{other:?}"),
            }
        };
        let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();

        // The three ops: input, hidden, branch, sum and scratch apart.
        let mut at = 0u32;
        let mut next = |bytes: u32| {
            let s = Span::new(at, bytes);
            at = align((at + bytes) as usize) as u32;
            s
        };
        let (input, hidden, branch, sum) = (next(n), next(hidden_bytes), next(n), next(n));
        let (sc1, sc2) = (next(scratch_bytes(&g1, k1)), next(scratch_bytes(&g2, k2)));
        let mut arena = vec![0u8; at as usize];
        arena[input.range()].copy_from_slice(&fill);
        let first = conv(p1, [f1, b1, m1, s1], k1, [input, hidden, sc1]);
        let second = conv(p2, [f2, b2, m2, s2], k2, [hidden, branch, sc2]);
        for op in [
            Op::Conv2d(first),
            Op::Conv2d(second),
            Op::Add(add(&mut rng, input, branch, sum)),
        ] {
            run(op, &mut arena, &weights).unwrap_or_else(|e| panic!("{g1:?} {g2:?}: {e}"));
        }
        let expected = arena[sum.range()].to_vec();

        // Streamed: the input, scratch, window, band and sum; the two
        // convolutions' outputs are never stored.
        let rows = match (rng.below(2), residual_walk(&g1, &g2)) {
            (0, Some(walk)) => match walk.walk {
                Walk::Residual { rows, .. } => rows,
                other => panic!("{other:?}"),
            },
            _ => 1 + rng.below(h),
        };
        let window_rows = kiln::ops::window_rows(&g1, &g2, rows, true);
        let row = |channels: u32| w * channels;
        let band_bytes = rows.min(h) * row(c);
        let mut at = 0u32;
        let mut next = |bytes: u32| {
            let s = Span::new(at, bytes);
            at = align((at + bytes) as usize) as u32;
            s
        };
        let input = next(n);
        let (sc1, sc2) = (next(scratch_bytes(&g1, k1)), next(scratch_bytes(&g2, k2)));
        // Buffers are word-aligned and whole words (as the planner's are).
        let words = |bytes: u32| bytes.div_ceil(4) * 4;
        let window = next(words(window_rows.unwrap_or(h) * row(hidden_channels)));
        let (band, sum) = (next(words(band_bytes)), next(words(band_bytes)));
        let arena_bytes = at as usize;
        // Never stored: named past the arena's end.
        let (hidden, branch) = (
            Span::new(arena_bytes as u32, hidden_bytes),
            Span::new(align(arena_bytes + hidden_bytes as usize) as u32, n),
        );
        let block = |window: Span| {
            Op::ResidualBlock(ResidualBlockOp {
                first: conv(p1, [f1, b1, m1, s1], k1, [input, hidden, sc1]),
                second: conv(p2, [f2, b2, m2, s2], k2, [hidden, branch, sc2]),
                add: add(&mut Rng(0), input, branch, input),
                walk: Residual {
                    window,
                    band,
                    sum,
                    rows,
                },
            })
        };
        let mut arena = vec![0x5au8; arena_bytes];
        arena[input.range()].copy_from_slice(&fill);
        let result = run(block(window), &mut arena, &weights);
        let Some(window_rows) = window_rows else {
            // Bands whose sum lands on input a later band reads.
            assert!(result.is_err(), "{g1:?} {g2:?} rows {rows}: accepted");
            refusals += 1;
            continue;
        };
        result.unwrap_or_else(|e| panic!("{g1:?} {g2:?} rows {rows}: {e}"));
        assert_eq!(
            arena[input.range()],
            expected[..],
            "{g1:?} {g2:?} {k1:?} {k2:?} rows {rows}"
        );
        // A window a row short is refused.
        let short = Span::new(
            window.offset,
            ((window_rows - 1) * row(hidden_channels)) / 4 * 4,
        );
        if short.len > 0 {
            let mut arena = vec![0u8; arena_bytes];
            assert!(
                run(block(short), &mut arena, &weights).is_err(),
                "{g1:?} {g2:?} rows {rows}: a short window accepted"
            );
        }
        cases += 1;
    }
    assert!(refusals > 10, "only {refusals} overwriting walks tried");
}

/// A tiled chain (`kiln::ops::TiledChainOp`: two or three convolutions or
/// depthwise convolutions, each over the one before's output, run in
/// bands) computes the bytes of its ops run one after the other, on
/// random geometries and with every kernel each layer has: with its
/// output over the first layer's input where the walk allows
/// (`chain_walk`), and apart from it, in the planner's bands
/// (`plan::tiled_walk`) and in others. Its check refuses an output over
/// the input where a band would overwrite input a later band reads, and
/// any window a row short.
#[test]
fn tiled_chains_compute_the_bytes_of_their_ops() {
    let mut rng = Rng(0x711e_d0a1);
    let (mut cases, mut over, mut refusals) = (0, 0, 0);
    let mut by_length = [0; MAX_TILED_LAYERS + 1];
    while cases < 500 {
        let count = 2 + rng.below(MAX_TILED_LAYERS as u32 - 1) as usize;
        let depthwise: Vec<bool> = (0..count).map(|_| rng.below(2) == 0).collect();
        let mut g: Vec<ConvGeometry> = Vec::new();
        for &d in &depthwise {
            let next = match g.last() {
                None => geometry(&mut rng, d),
                Some(before) => geometry_over(&mut rng, before.output, d),
            };
            match next {
                Some(next) => g.push(next),
                None => break,
            }
        }
        if g.len() < count {
            continue;
        }
        let kernel = |rng: &mut Rng, depthwise: bool| match (depthwise, rng.below(2)) {
            (true, 0) => KernelChoice::Reference,
            (true, _) => KernelChoice::DepthwiseBlocked,
            (false, 0) => KernelChoice::Reference,
            (false, _) => KernelChoice::Gemm,
        };
        let kernels: Vec<KernelChoice> = depthwise.iter().map(|&d| kernel(&mut rng, d)).collect();
        let mut weights = Vec::new();
        let constants: Vec<[Span; 4]> = g
            .iter()
            .map(|g| {
                let (more, spans) = constants(&mut rng, g);
                append(&mut weights, more, spans)
            })
            .collect();
        let scratch_bytes = |g: &ConvGeometry, k| match k {
            KernelChoice::Gemm => align(conv2d_scratch_bytes(g)) as u32,
            _ => 0,
        };
        let n = g[0].input.elements() as u32;
        let out_bytes = g[count - 1].output.elements() as u32;
        let params: Vec<Conv2dParams> = g
            .iter()
            .map(|&g| Conv2dParams {
                geometry: g,
                input_offset: rng.range(-127, 128),
                output_offset: rng.range(-128, 127),
                activation_min: rng.range(-128, -100),
                activation_max: 127,
            })
            .collect();
        // Layer `j` reading `io[0]` into `io[1]`, with scratch `io[2]`.
        let layer = |j: usize, [input, output, scratch]: [Span; 3]| {
            // A depthwise layer's scratch is empty (its kernel takes none).
            let scratch = if depthwise[j] {
                Span::default()
            } else {
                scratch
            };
            let io = [input, output, scratch];
            TiledLayer {
                depthwise: depthwise[j],
                op: conv_op(params[j], constants[j], kernels[j], io),
            }
        };
        let alone = |l: TiledLayer| match l.depthwise {
            true => Op::DepthwiseConv2d(DepthwiseConv2dOp {
                conv: l.op.conv,
                kernel: l.op.kernel,
            }),
            false => Op::Conv2d(l.op),
        };
        let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();

        // The ops one after the other: every tensor and scratch apart.
        let mut at = 0u32;
        let mut next = |bytes: u32| {
            let s = Span::new(at, bytes);
            at = align((at + bytes) as usize) as u32;
            s
        };
        let tensors: Vec<Span> = std::iter::once(n)
            .chain(g.iter().map(|g| g.output.elements() as u32))
            .map(&mut next)
            .collect();
        let scratch: Vec<Span> = (0..count)
            .map(|j| next(scratch_bytes(&g[j], kernels[j])))
            .collect();
        let mut arena = vec![0u8; at as usize];
        arena[tensors[0].range()].copy_from_slice(&fill);
        for j in 0..count {
            let op = alone(layer(j, [tensors[j], tensors[j + 1], scratch[j]]));
            run(op, &mut arena, &weights).unwrap_or_else(|e| panic!("{g:?}: {e}"));
        }
        let expected = arena[tensors[count].range()].to_vec();

        // Tiled: the input (the output over it, or apart), scratch and
        // windows; no output but the last is ever stored.
        let over_input = rng.below(3) != 0;
        let rows = match (rng.below(2), tiled_walk(&g, over_input)) {
            (0, Some(walk)) => match walk.walk {
                Walk::Tiled { rows, .. } => rows,
                other => panic!("{other:?}"),
            },
            _ => 1 + rng.below(g[count - 1].output.height),
        };
        let walk = kiln::ops::chain_walk(&g, rows, over_input);
        let row = |j: usize| g[j].output.width * g[j].output.channels;
        let mut at = 0u32;
        let mut next = |bytes: u32| {
            let s = Span::new(at, bytes);
            at = align((at + bytes) as usize) as u32;
            s
        };
        let input = next(if over_input { n.max(out_bytes) } else { n });
        let input = Span::new(input.offset, n);
        let output = match over_input {
            true => Span::new(input.offset, out_bytes),
            false => next(out_bytes),
        };
        let scratch: Vec<Span> = (0..count)
            .map(|j| next(scratch_bytes(&g[j], kernels[j])))
            .collect();
        let words = |bytes: u32| bytes.div_ceil(4) * 4;
        let mut windows = [Span::default(); MAX_TILED_LAYERS - 1];
        for (j, window) in windows.iter_mut().enumerate().take(count - 1) {
            let most = walk.map_or(g[j].output.height, |w| w.window_rows[j]);
            *window = next(words(most * row(j)));
        }
        let arena_bytes = at as usize;
        // Never stored: named past the arena's end, each its own.
        let mut hidden = Vec::new();
        let mut past = arena_bytes as u32;
        for gj in &g[..count - 1] {
            let bytes = gj.output.elements() as u32;
            hidden.push(Span::new(past, bytes));
            past = align((past + bytes) as usize) as u32;
        }
        let chain = |windows: [Span; MAX_TILED_LAYERS - 1]| {
            let mut layers = [TiledLayer::default(); MAX_TILED_LAYERS];
            for (j, l) in layers.iter_mut().enumerate().take(count) {
                let from = if j == 0 { input } else { hidden[j - 1] };
                let to = if j + 1 == count { output } else { hidden[j] };
                *l = layer(j, [from, to, scratch[j]]);
            }
            Op::TiledChain(TiledChainOp {
                layers,
                count: count as u32,
                walk: Tiles { windows, rows },
            })
        };
        let mut arena = vec![0x5au8; arena_bytes];
        arena[input.range()].copy_from_slice(&fill);
        let result = run(chain(windows), &mut arena, &weights);
        let Some(walk) = walk else {
            assert!(result.is_err(), "{g:?} rows {rows}: accepted");
            refusals += 1;
            continue;
        };
        result.unwrap_or_else(|e| panic!("{g:?} rows {rows}: {e}"));
        assert_eq!(
            arena[output.range()],
            expected[..],
            "{g:?} {kernels:?} rows {rows} over input {over_input}"
        );
        if over_input {
            over += 1;
        }
        by_length[count] += 1;
        // No row is computed twice (no MAC recomputed): no layer computes
        // more rows than it has, and the last window computes just the
        // rows the bands read.
        for j in 0..count {
            assert!(
                walk.rows_computed[j] <= g[j].output.height,
                "{g:?} rows {rows}"
            );
        }
        let last = &g[count - 1];
        let read: std::collections::BTreeSet<u32> = (0..last.output.height.div_ceil(rows))
            .filter_map(|k| last.input_rows(k * rows..((k + 1) * rows).min(last.output.height)))
            .flatten()
            .collect();
        assert_eq!(walk.rows_computed[count - 2], read.len() as u32, "{g:?}");
        // Any window a row short is refused.
        let j = rng.below(count as u32 - 1) as usize;
        let mut short = windows;
        short[j] = Span::new(
            windows[j].offset,
            ((walk.window_rows[j] - 1) * row(j)) / 4 * 4,
        );
        if short[j].len > 0 {
            let mut arena = vec![0u8; arena_bytes];
            assert!(
                run(chain(short), &mut arena, &weights).is_err(),
                "{g:?} rows {rows}: window {j} short accepted"
            );
        }
        cases += 1;
    }
    assert!(over > 200, "only {over} chains wrote over their input");
    assert!(refusals > 2, "only {refusals} overwriting walks tried");
    assert!(by_length[2..].iter().all(|&n| n > 100), "{by_length:?}");
}
