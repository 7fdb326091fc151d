//! How a graph runs on the CUDA kernels: each op becomes one launch of a
//! kernel in `kernels.cu` with its parameters packed into int32 words, in
//! the layout that kernel reads. Pure data, no CUDA: the GPU backend uploads
//! it, and tests run `kernels.cu` on the CPU from the same plan.
//!
//! Layer: host (std); uses `graph`.

use std::vec;
use std::vec::Vec;

use crate::graph::{Graph, Op};
use crate::kernels::activation::RequantizeParams;
use crate::kernels::conv2d::ConvGeometry;
use crate::kernels::pooling::PoolGeometry;
use crate::ops::ConstantOperand;
use crate::tensor::{FloatRange, Span, MAX_RANK};

/// One kernel launch: every sample's `items` outputs (elements, or rows for
/// SOFTMAX) computed by `kernel` from `params[params.start..params.end]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: &'static str,
    pub params: core::ops::Range<usize>,
    pub items: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CudaPlan {
    pub params: Vec<i32>,
    pub launches: Vec<Launch>,
}

/// Every kernel `kernels.cu` defines.
pub const KERNEL_NAMES: &[&str] = &[
    "kiln_conv2d",
    "kiln_depthwise_conv2d",
    "kiln_fully_connected",
    "kiln_average_pool2d",
    "kiln_max_pool2d",
    "kiln_add",
    "kiln_mul",
    "kiln_softmax",
    "kiln_logistic",
    "kiln_tanh",
    "kiln_requantize",
    "kiln_leaky_relu",
    "kiln_hard_swish",
    "kiln_prelu",
    "kiln_transpose_conv2d",
    "kiln_concatenation",
    "kiln_pad",
    "kiln_mean",
    "kiln_quantize",
    "kiln_dequantize",
    "kiln_conv2d_f32",
    "kiln_transpose_conv2d_f32",
    "kiln_slice",
    "kiln_depthwise_conv2d_f32",
    "kiln_fully_connected_f32",
    "kiln_average_pool2d_f32",
    "kiln_max_pool2d_f32",
    "kiln_binary_f32",
    "kiln_softmax_f32",
    "kiln_unary_f32",
    "kiln_transpose",
];

/// The pooling kernels' words: geometry, the clamp (int8 values or float
/// bits), input and output.
fn pool_words(p: &PoolGeometry, range: [i32; 2], input: Span, output: Span) -> [i32; 16] {
    [
        u(p.input.batches),
        u(p.input.height),
        u(p.input.width),
        u(p.input.channels),
        u(p.output.height),
        u(p.output.width),
        u(p.filter_height),
        u(p.filter_width),
        u(p.stride_height),
        u(p.stride_width),
        u(p.padding_top),
        u(p.padding_left),
        range[0],
        range[1],
        at(input),
        at(output),
    ]
}

/// `kiln_requantize`'s words, which `kiln_leaky_relu` starts with.
fn requantize_words(p: &RequantizeParams, input: Span, output: Span) -> [i32; 9] {
    [
        u(input.len),
        p.input_zero_point,
        p.output_zero_point,
        p.multiplier,
        p.shift,
        p.activation_min,
        p.activation_max,
        at(input),
        at(output),
    ]
}

/// Which operand of a binary op the kernel reads from the weights: 0 neither,
/// 1 the first, 2 the second.
fn constant_word(c: ConstantOperand) -> i32 {
    match c {
        ConstantOperand::Neither => 0,
        ConstantOperand::First => 1,
        ConstantOperand::Second => 2,
    }
}

fn bits(v: f32) -> i32 {
    v.to_bits() as i32
}

fn at(s: Span) -> i32 {
    s.offset as i32
}

fn opt_at(s: Span) -> i32 {
    if s.is_empty() {
        -1
    } else {
        s.offset as i32
    }
}

fn u(v: u32) -> i32 {
    v as i32
}

/// Contiguous element strides of a 6-D shape, or zero where broadcast.
fn contiguous(dims: &[u32; MAX_RANK]) -> [u32; MAX_RANK] {
    let mut s = [0u32; MAX_RANK];
    let mut stride = 1u32;
    for d in (0..MAX_RANK).rev() {
        s[d] = if dims[d] == 1 { 0 } else { stride };
        stride = stride.saturating_mul(dims[d]);
    }
    s
}

impl CudaPlan {
    fn push(&mut self, kernel: &'static str, items: u64, words: &[i32]) {
        let start = self.params.len();
        self.params.extend_from_slice(words);
        self.launches.push(Launch {
            kernel,
            params: start..self.params.len(),
            items,
        });
    }

    /// `value` is the int8 pad value or the float's bits; `size` the
    /// element size in bytes.
    fn pad(
        &mut self,
        p: &crate::kernels::pad::PadParams,
        value: i32,
        size: u32,
        input: Span,
        output: Span,
    ) {
        let elements = output.len / size;
        let mut words: Vec<i32> = p
            .input_dims
            .iter()
            .chain(&p.before)
            .chain(&p.after)
            .map(|&v| u(v))
            .collect();
        words.extend([value, at(input), at(output), u(elements), u(size)]);
        self.push("kiln_pad", u64::from(elements), &words);
    }

    fn broadcast(
        &mut self,
        kernel: &'static str,
        b: &crate::kernels::elementwise::Broadcast,
        spans: [Span; 3],
        tail: &[i32],
    ) {
        let (s1, s2) = if b.same_shape {
            (contiguous(&b.output_dims), contiguous(&b.output_dims))
        } else {
            (b.input1_strides, b.input2_strides)
        };
        let mut words: Vec<i32> = b
            .output_dims
            .iter()
            .chain(&s1)
            .chain(&s2)
            .map(|&v| u(v))
            .collect();
        words.extend([at(spans[0]), at(spans[1]), at(spans[2])]);
        words.extend_from_slice(tail);
        self.push(kernel, b.elements(), &words);
    }
}

/// The 26 words every convolution kernel reads: 16 of geometry, 4 of
/// arithmetic (the int8 offsets and range, or 0, 0 and the float range's
/// bits), then the spans of input, filter, bias, multiplier, shift and
/// output (the bias -1 when absent; float kernels have no multiplier or
/// shift, and read 0 there).
fn conv_words(geometry: [u32; 16], arithmetic: [i32; 4], spans: [Span; 6]) -> [i32; 26] {
    let [input, filter, bias, multiplier, shift, output] = spans;
    let mut words = [0i32; 26];
    for (w, &g) in words.iter_mut().zip(&geometry) {
        *w = u(g);
    }
    words[16..20].copy_from_slice(&arithmetic);
    words[20..].copy_from_slice(&[
        at(input),
        at(filter),
        opt_at(bias),
        at(multiplier),
        at(shift),
        at(output),
    ]);
    words
}

/// Input and output NHWC, filter height and width, filter channels,
/// strides, dilations, padding (top, left).
fn conv_geometry(p: &ConvGeometry) -> [u32; 16] {
    [
        p.input.batches,
        p.input.height,
        p.input.width,
        p.input.channels,
        p.output.height,
        p.output.width,
        p.output.channels,
        p.filter_height,
        p.filter_width,
        p.filter_channels,
        p.stride_height,
        p.stride_width,
        p.dilation_height,
        p.dilation_width,
        p.padding_top,
        p.padding_left,
    ]
}

/// As [`conv_geometry`], with the depth multiplier in the filter-channels word.
fn depthwise_geometry(p: &ConvGeometry) -> [u32; 16] {
    let mut words = conv_geometry(p);
    words[9] = p.output.channels / p.input.channels.max(1);
    words
}

impl CudaPlan {
    fn conv_s8(
        &mut self,
        kernel: &'static str,
        o: &crate::ops::Conv2dS8,
        geometry: fn(&ConvGeometry) -> [u32; 16],
    ) {
        let p = &o.params;
        let words = conv_words(
            geometry(&p.geometry),
            [
                p.input_offset,
                p.output_offset,
                p.activation_min,
                p.activation_max,
            ],
            [o.input, o.filter, o.bias, o.multiplier, o.shift, o.output],
        );
        self.push(kernel, p.geometry.output.elements(), &words);
    }

    fn conv_f32(
        &mut self,
        kernel: &'static str,
        o: &crate::ops::Conv2dF32,
        geometry: fn(&ConvGeometry) -> [u32; 16],
    ) {
        let words = conv_words(
            geometry(&o.geometry),
            [0, 0, bits(o.activation.min), bits(o.activation.max)],
            [
                o.input,
                o.filter,
                o.bias,
                Span::EMPTY,
                Span::EMPTY,
                o.output,
            ],
        );
        self.push(kernel, o.geometry.output.elements(), &words);
    }

    fn pool_s8(&mut self, kernel: &'static str, o: &crate::ops::Pool2dS8) {
        let p = &o.params;
        let words = pool_words(
            &p.geometry,
            [p.activation_min, p.activation_max],
            o.input,
            o.output,
        );
        self.push(kernel, p.geometry.output.elements(), &words);
    }

    fn pool_f32(&mut self, kernel: &'static str, o: &crate::ops::Pool2dF32) {
        let range = [bits(o.activation.min), bits(o.activation.max)];
        let words = pool_words(&o.geometry, range, o.input, o.output);
        self.push(kernel, o.geometry.output.elements(), &words);
    }

    fn add_s8(&mut self, o: &crate::ops::AddSubS8, sub: bool) {
        let p = &o.params;
        let tail = [
            p.input1_offset,
            p.input2_offset,
            p.left_shift,
            p.input1_multiplier,
            p.input1_shift,
            p.input2_multiplier,
            p.input2_shift,
            p.output_multiplier,
            p.output_shift,
            p.output_offset,
            p.activation_min,
            p.activation_max,
            constant_word(o.constant),
            i32::from(sub),
        ];
        self.broadcast(
            "kiln_add",
            &p.broadcast,
            [o.input1, o.input2, o.output],
            &tail,
        );
    }

    fn binary_f32(&mut self, o: &crate::ops::BinaryF32, kind: i32) {
        let tail = [
            kind,
            bits(o.activation.min),
            bits(o.activation.max),
            constant_word(o.constant),
        ];
        self.broadcast(
            "kiln_binary_f32",
            &o.broadcast,
            [o.input1, o.input2, o.output],
            &tail,
        );
    }

    fn sigmoid(&mut self, kernel: &'static str, o: &crate::ops::SigmoidS8) {
        let p = &o.params;
        let words = [
            u(o.input.len),
            p.input_zero_point,
            p.input_range_radius,
            p.input_multiplier,
            p.input_left_shift,
            at(o.input),
            at(o.output),
        ];
        self.push(kernel, u64::from(o.input.len), &words);
    }

    fn affine(
        &mut self,
        kernel: &'static str,
        p: &crate::kernels::quantize::AffineParams,
        (input, output): (Span, Span),
        n: u32,
    ) {
        let words = [
            u(n),
            p.scale.to_bits() as i32,
            p.zero_point,
            at(input),
            at(output),
        ];
        self.push(kernel, u64::from(n), &words);
    }

    fn mean(
        &mut self,
        r: &crate::kernels::mean::Reduction,
        arithmetic: [i32; 4],
        (input, output): (Span, Span),
        size: u32,
    ) {
        let mut words: Vec<i32> = r.input_dims.iter().map(|&v| u(v)).collect();
        words.extend(r.reduce.iter().map(|&r| i32::from(r)));
        words.extend(arithmetic);
        words.extend([at(input), at(output), u(output.len / size), u(size)]);
        self.push("kiln_mean", u64::from(output.len / size), &words);
    }

    /// `kiln_unary_f32`: `kind` picks the function, `range` a clamp.
    fn unary_f32(
        &mut self,
        kind: i32,
        range: FloatRange,
        [alpha, beta]: [f32; 2],
        (input, output): (Span, Span),
    ) {
        let n = input.len / 4;
        let words = [
            u(n),
            kind,
            bits(range.min),
            bits(range.max),
            at(input),
            at(output),
            bits(alpha),
            bits(beta),
        ];
        self.push("kiln_unary_f32", u64::from(n), &words);
    }
}

/// The launches of a validated graph, in execution order; or the first op
/// the CUDA backend has no kernel for.
pub fn plan(graph: &Graph) -> Result<CudaPlan, &'static str> {
    let mut plan = CudaPlan::default();
    for op in graph.ops {
        match op {
            Op::Conv2d(o) => plan.conv_s8("kiln_conv2d", &o.conv, conv_geometry),
            Op::TransposeConv2d(o) => plan.conv_s8("kiln_transpose_conv2d", &o.conv, conv_geometry),
            Op::DepthwiseConv2d(o) => {
                plan.conv_s8("kiln_depthwise_conv2d", &o.conv, depthwise_geometry)
            }
            Op::Conv2dF32(o) => plan.conv_f32("kiln_conv2d_f32", &o.conv, conv_geometry),
            Op::TransposeConv2dF32(o) => {
                plan.conv_f32("kiln_transpose_conv2d_f32", &o.conv, conv_geometry)
            }
            Op::DepthwiseConv2dF32(o) => {
                plan.conv_f32("kiln_depthwise_conv2d_f32", &o.conv, depthwise_geometry)
            }
            Op::FullyConnected(o) => {
                let p = &o.params;
                let per_channel = i32::from(o.multiplier.len > 4);
                let words = [
                    u(p.shape.batches),
                    u(p.shape.input_depth),
                    u(p.shape.output_depth),
                    p.input_offset,
                    p.filter_offset,
                    p.output_offset,
                    p.activation_min,
                    p.activation_max,
                    at(o.input),
                    at(o.filter),
                    opt_at(o.bias),
                    at(o.multiplier),
                    at(o.shift),
                    per_channel,
                    at(o.output),
                ];
                plan.push(
                    "kiln_fully_connected",
                    u64::from(p.shape.batches) * u64::from(p.shape.output_depth),
                    &words,
                );
            }
            Op::FullyConnectedF32(o) => {
                let p = &o.shape;
                let words = [
                    u(p.batches),
                    u(p.input_depth),
                    u(p.output_depth),
                    0,
                    0,
                    0,
                    bits(o.activation.min),
                    bits(o.activation.max),
                    at(o.input),
                    at(o.filter),
                    opt_at(o.bias),
                    0,
                    0,
                    0,
                    at(o.output),
                ];
                plan.push(
                    "kiln_fully_connected_f32",
                    u64::from(p.batches) * u64::from(p.output_depth),
                    &words,
                );
            }
            Op::AveragePool2d(o) => plan.pool_s8("kiln_average_pool2d", &o.pool),
            Op::MaxPool2d(o) => plan.pool_s8("kiln_max_pool2d", &o.pool),
            Op::AveragePool2dF32(o) => plan.pool_f32("kiln_average_pool2d_f32", &o.pool),
            Op::MaxPool2dF32(o) => plan.pool_f32("kiln_max_pool2d_f32", &o.pool),
            Op::Add(o) => plan.add_s8(&o.add, false),
            Op::Sub(o) => plan.add_s8(&o.add, true),
            Op::PRelu(o) => {
                let p = &o.params;
                let tail = [
                    p.input_offset,
                    p.alpha_offset,
                    p.identity_multiplier,
                    p.identity_shift,
                    p.alpha_multiplier,
                    p.alpha_shift,
                    p.output_offset,
                    constant_word(o.constant),
                ];
                plan.broadcast(
                    "kiln_prelu",
                    &p.broadcast,
                    [o.input, o.alpha, o.output],
                    &tail,
                );
            }
            Op::Mul(o) => {
                let p = &o.params;
                let tail = [
                    p.input1_offset,
                    p.input2_offset,
                    p.output_multiplier,
                    p.output_shift,
                    p.output_offset,
                    p.activation_min,
                    p.activation_max,
                    constant_word(o.constant),
                ];
                plan.broadcast(
                    "kiln_mul",
                    &p.broadcast,
                    [o.input1, o.input2, o.output],
                    &tail,
                );
            }
            Op::Softmax(o) => {
                let p = &o.params;
                let words = [
                    u(p.outer),
                    u(p.depth),
                    p.input_multiplier,
                    p.input_left_shift,
                    p.diff_min,
                    at(o.input),
                    at(o.output),
                ];
                plan.push("kiln_softmax", u64::from(p.outer), &words);
            }
            Op::Logistic(o) => plan.sigmoid("kiln_logistic", &o.sigmoid),
            Op::Tanh(o) => plan.sigmoid("kiln_tanh", &o.sigmoid),
            Op::Requantize(o) => {
                let words = requantize_words(&o.params, o.input, o.output);
                plan.push("kiln_requantize", u64::from(o.input.len), &words);
            }
            Op::LeakyRelu(o) => {
                let mut words = requantize_words(&o.positive, o.input, o.output).to_vec();
                words.extend([o.negative.multiplier, o.negative.shift]);
                plan.push("kiln_leaky_relu", u64::from(o.input.len), &words);
            }
            Op::HardSwish(o) => {
                let p = &o.params;
                let words = [
                    u(o.input.len),
                    p.input_zero_point,
                    p.output_zero_point,
                    p.reluish_multiplier,
                    p.reluish_exponent,
                    p.output_multiplier,
                    p.output_exponent,
                    at(o.input),
                    at(o.output),
                ];
                plan.push("kiln_hard_swish", u64::from(o.input.len), &words);
            }
            Op::Concatenation(o) => {
                let mut words = vec![u(o.outer), u(o.count), at(o.output), u(o.output.len)];
                for s in o.inputs() {
                    words.extend([at(*s), u(s.len)]);
                }
                plan.push("kiln_concatenation", u64::from(o.output.len), &words);
            }
            Op::Pad(o) => plan.pad(&o.params, i32::from(o.value), 1, o.input, o.output),
            Op::PadF32(o) => plan.pad(&o.params, bits(o.value), 4, o.input, o.output),
            Op::Mean(o) => {
                let p = &o.params;
                let arithmetic = [
                    p.input_zero_point,
                    p.output_zero_point,
                    p.multiplier,
                    p.shift,
                ];
                plan.mean(&p.reduction, arithmetic, (o.input, o.output), 1);
            }
            Op::MeanF32(o) => plan.mean(&o.reduction, [0; 4], (o.input, o.output), 4),
            Op::Quantize(o) => plan.affine(
                "kiln_quantize",
                &o.params,
                (o.input, o.output),
                o.output.len,
            ),
            Op::Dequantize(o) => plan.affine(
                "kiln_dequantize",
                &o.params,
                (o.input, o.output),
                o.input.len,
            ),
            Op::AddF32(o) => plan.binary_f32(&o.binary, 0),
            Op::MulF32(o) => plan.binary_f32(&o.binary, 1),
            Op::SubF32(o) => plan.binary_f32(&o.binary, 2),
            Op::DivF32(o) => plan.binary_f32(&o.binary, 3),
            Op::PReluF32(o) => {
                let tail = [4, bits(f32::MIN), bits(f32::MAX), constant_word(o.constant)];
                plan.broadcast(
                    "kiln_binary_f32",
                    &o.broadcast,
                    [o.input, o.alpha, o.output],
                    &tail,
                );
            }
            Op::SoftmaxF32(o) => {
                let words = [
                    u(o.outer),
                    u(o.depth),
                    bits(o.beta),
                    at(o.input),
                    at(o.output),
                ];
                plan.push("kiln_softmax_f32", u64::from(o.outer), &words);
            }
            Op::Transpose(o) => {
                let p = &o.params;
                let elements: u64 = p.input_dims.iter().map(|&d| u64::from(d)).product();
                let mut words: Vec<i32> = p.input_dims.iter().map(|&d| u(d)).collect();
                words.extend(p.perm.iter().map(|&d| i32::from(d)));
                words.extend([
                    u(p.element_size),
                    at(o.input),
                    at(o.output),
                    elements as i32,
                ]);
                plan.push("kiln_transpose", elements, &words);
            }
            Op::Slice(o) => {
                let p = &o.params;
                let elements: u64 = p.output_dims.iter().map(|&d| u64::from(d)).product();
                let words: Vec<i32> = [p.input_dims, p.output_dims, p.begin, p.step]
                    .iter()
                    .flatten()
                    .map(|&v| u(v))
                    .chain([
                        u(p.element_size),
                        at(o.input),
                        at(o.output),
                        elements as i32,
                    ])
                    .collect();
                plan.push("kiln_slice", elements, &words);
            }
            Op::LogisticF32(o) => {
                plan.unary_f32(0, FloatRange::NONE, [0.0; 2], (o.input, o.output))
            }
            Op::TanhF32(o) => plan.unary_f32(1, FloatRange::NONE, [0.0; 2], (o.input, o.output)),
            Op::ClampF32(o) => plan.unary_f32(2, o.range, [0.0; 2], (o.input, o.output)),
            Op::LeakyReluF32(o) => {
                plan.unary_f32(3, FloatRange::NONE, [o.alpha, 0.0], (o.input, o.output))
            }
            Op::HardSigmoidF32(o) => {
                plan.unary_f32(4, FloatRange::NONE, [o.alpha, o.beta], (o.input, o.output))
            }
            Op::HardSwishF32(o) => {
                plan.unary_f32(5, FloatRange::NONE, [1.0 / 6.0, 0.5], (o.input, o.output))
            }
        }
    }
    Ok(plan)
}
