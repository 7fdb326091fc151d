//! Binding a graph to an arena, and running it.
//!
//! Layer: exec, the top of the runtime; uses `graph`, `kernels`, `tensor`.
//! `Executor::new` checks every span, shape and alignment once ("check once,
//! then run"); after that `run` does no fallible work. Each op's `run` is
//! also what generated code calls directly, one line per op, so that firmware
//! links only the kernels its model uses and does no dispatch. The op `run`
//! functions are never inlined: one call per op costs nothing measurable,
//! and it keeps each kernel's stack frame the same in every model, which is
//! what lets `kiln inspect` predict the stack an inference needs.

use crate::error::Error;
use crate::graph::*;
use crate::kernels::{
    activation, concatenation, conv2d, depthwise_conv2d, elementwise, fully_connected, mean, pad,
    pooling, quantize, slice, softmax, transpose, transpose_conv2d,
};
use crate::tensor::{DType, FloatRange, Span};

/// Both axes of a windowed op's geometry (`check_window`): convolutions,
/// depthwise convolutions and pools name their fields alike; `dilation` is
/// `[height, width]`.
macro_rules! check_windows {
    ($c:expr, $p:expr, [$dh:expr, $dw:expr]) => {
        check_window(
            $c,
            $p.output.height,
            $p.stride_height,
            $dh,
            $p.filter_height,
            $p.input.height,
            $p.padding_top,
        )
        .and_then(|()| {
            check_window(
                $c,
                $p.output.width,
                $p.stride_width,
                $dw,
                $p.filter_width,
                $p.input.width,
                $p.padding_left,
            )
        })
    };
}

/// The arena around one op's output: the bytes before and after it, which
/// hold the op's inputs.
struct Around<'a> {
    before: &'a [u8],
    after: &'a [u8],
    after_start: usize,
}

impl Around<'_> {
    fn bytes(&self, s: Span) -> &[u8] {
        if (s.offset as usize) < self.after_start {
            &self.before[s.range()]
        } else {
            &self.after[s.offset as usize - self.after_start..][..s.len as usize]
        }
    }
    fn i8(&self, s: Span) -> &[i8] {
        bytemuck::cast_slice(self.bytes(s))
    }
}

/// Splits the arena into an op's output and the (read-only) rest.
fn split(arena: &mut [u8], output: Span) -> (Around<'_>, &mut [u8]) {
    let (before, rest) = arena.split_at_mut(output.offset as usize);
    let (out, after) = rest.split_at_mut(output.len as usize);
    let after_start = output.end() as usize;
    (
        Around {
            before,
            after,
            after_start,
        },
        out,
    )
}

fn weights_i8(w: &[u8], s: Span) -> &[i8] {
    bytemuck::cast_slice(&w[s.range()])
}

fn weights_i32(w: &[u8], s: Span) -> &[i32] {
    bytemuck::cast_slice(&w[s.range()])
}

macro_rules! out_i8 {
    ($o:expr) => {
        bytemuck::cast_slice_mut::<u8, i8>($o)
    };
}

impl Conv2dOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        conv2d::conv2d_s8(
            &self.params,
            io.i8(self.input),
            weights_i8(weights, self.filter),
            weights_i32(weights, self.bias),
            weights_i32(weights, self.multiplier),
            weights_i32(weights, self.shift),
            out_i8!(out),
        );
    }
    #[inline(never)]
    pub fn run_transposed(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        transpose_conv2d::transpose_conv2d_s8(
            &self.params,
            io.i8(self.input),
            weights_i8(weights, self.filter),
            weights_i32(weights, self.bias),
            weights_i32(weights, self.multiplier),
            weights_i32(weights, self.shift),
            out_i8!(out),
        );
    }
}

impl DepthwiseConv2dOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        depthwise_conv2d::depthwise_conv2d_s8(
            &self.params,
            io.i8(self.input),
            weights_i8(weights, self.filter),
            weights_i32(weights, self.bias),
            weights_i32(weights, self.multiplier),
            weights_i32(weights, self.shift),
            out_i8!(out),
        );
    }
}

impl FullyConnectedOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        fully_connected::fully_connected_s8(
            &self.params,
            io.i8(self.input),
            weights_i8(weights, self.filter),
            weights_i32(weights, self.bias),
            weights_i32(weights, self.multiplier),
            weights_i32(weights, self.shift),
            out_i8!(out),
        );
    }
}

impl PoolOp {
    #[inline(never)]
    pub fn run_average(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pooling::average_pool_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
    #[inline(never)]
    pub fn run_max(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pooling::max_pool_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

/// The two operands of a binary op, one of them possibly in the weights.
#[inline(always)]
fn operands<'a, T: bytemuck::Pod>(
    io: &'a Around<'_>,
    weights: &'a [u8],
    (input1, input2): (Span, Span),
    constant: ConstantOperand,
) -> (&'a [T], &'a [T]) {
    let pick = |s: Span, in_weights: bool| -> &'a [T] {
        bytemuck::cast_slice(if in_weights {
            &weights[s.range()]
        } else {
            io.bytes(s)
        })
    };
    (
        pick(input1, constant == ConstantOperand::First),
        pick(input2, constant == ConstantOperand::Second),
    )
}

impl AddOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.run_kernel(elementwise::add_s8, arena, weights);
    }
    #[inline(never)]
    pub fn run_sub(&self, arena: &mut [u8], weights: &[u8]) {
        self.run_kernel(elementwise::sub_s8, arena, weights);
    }

    #[inline(always)]
    fn run_kernel(
        &self,
        kernel: impl Fn(&elementwise::AddParams, &[i8], &[i8], &mut [i8]),
        arena: &mut [u8],
        weights: &[u8],
    ) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        kernel(&self.params, a, b, out_i8!(out));
    }
}

impl PReluOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (x, alpha) = operands(&io, weights, (self.input, self.alpha), self.constant);
        elementwise::prelu_s8(&self.params, x, alpha, out_i8!(out));
    }
}

impl MulOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        elementwise::mul_s8(&self.params, a, b, out_i8!(out));
    }
}

impl SoftmaxOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        softmax::softmax_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl SigmoidOp {
    #[inline(never)]
    pub fn run_logistic(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::logistic_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
    #[inline(never)]
    pub fn run_tanh(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::tanh_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl RequantizeOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::requantize_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl LeakyReluOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::leaky_relu_s8(
            &self.positive,
            &self.negative,
            io.i8(self.input),
            out_i8!(out),
        );
    }
}

impl HardSwishOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::hard_swish_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl ConcatenationOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        let mut column = 0;
        for &input in self.inputs() {
            let bytes = io.bytes(input);
            concatenation::concatenate_into(self.outer as usize, bytes, out, column);
            column += bytes.len() / (self.outer.max(1) as usize);
        }
    }
}

impl PadOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pad::pad_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl SliceOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        slice::slice(&self.params, io.bytes(self.input), out);
    }
}

impl PadF32Op {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pad::pad_f32(
            &self.params,
            self.value,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl MeanOp {
    #[inline(never)]
    pub fn run_f32(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        mean::mean_f32(
            &self.params,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        mean::mean_s8(&self.params, io.i8(self.input), out_i8!(out));
    }
}

impl AffineOp {
    #[inline(never)]
    pub fn run_quantize(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        quantize::quantize_f32_to_s8(
            &self.params,
            bytemuck::cast_slice(io.bytes(self.input)),
            out_i8!(out),
        );
    }
    #[inline(never)]
    pub fn run_dequantize(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        quantize::dequantize_s8_to_f32(
            &self.params,
            io.i8(self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
}

fn f32s<'a>(io: &'a Around<'_>, s: Span) -> &'a [f32] {
    bytemuck::cast_slice(io.bytes(s))
}

fn weights_f32(w: &[u8], s: Span) -> &[f32] {
    bytemuck::cast_slice(&w[s.range()])
}

impl Conv2dF32Op {
    #[inline(never)]
    pub fn run_transposed(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        transpose_conv2d::transpose_conv2d_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            weights_f32(weights, self.filter),
            weights_f32(weights, self.bias),
            bytemuck::cast_slice_mut(out),
        );
    }
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        conv2d::conv2d_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            weights_f32(weights, self.filter),
            weights_f32(weights, self.bias),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl DepthwiseConv2dF32Op {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        depthwise_conv2d::depthwise_conv2d_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            weights_f32(weights, self.filter),
            weights_f32(weights, self.bias),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl FullyConnectedF32Op {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        fully_connected::fully_connected_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            weights_f32(weights, self.filter),
            weights_f32(weights, self.bias),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl PoolF32Op {
    #[inline(never)]
    pub fn run_average(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pooling::average_pool_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
    #[inline(never)]
    pub fn run_max(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        pooling::max_pool_f32(
            &self.params,
            self.activation,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
}

/// The shape every float32 binary kernel shares.
type BinaryF32Kernel = fn(&elementwise::Broadcast, FloatRange, &[f32], &[f32], &mut [f32]);

impl BinaryF32Op {
    #[inline(never)]
    pub fn run_add(&self, arena: &mut [u8], weights: &[u8]) {
        self.run(elementwise::add_f32, arena, weights);
    }
    #[inline(never)]
    pub fn run_mul(&self, arena: &mut [u8], weights: &[u8]) {
        self.run(elementwise::mul_f32, arena, weights);
    }
    #[inline(never)]
    pub fn run_sub(&self, arena: &mut [u8], weights: &[u8]) {
        self.run(elementwise::sub_f32, arena, weights);
    }
    #[inline(never)]
    pub fn run_div(&self, arena: &mut [u8], weights: &[u8]) {
        self.run(elementwise::div_f32, arena, weights);
    }
    #[inline(never)]
    pub fn run_prelu(&self, arena: &mut [u8], weights: &[u8]) {
        self.run(elementwise::prelu_f32, arena, weights);
    }

    fn run(&self, kernel: BinaryF32Kernel, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (a, b) = operands(&io, weights, (self.input1, self.input2), self.constant);
        kernel(
            &self.broadcast,
            self.activation,
            a,
            b,
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl SoftmaxF32Op {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        softmax::softmax_f32(
            self.outer as usize,
            self.depth as usize,
            self.beta,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl UnaryF32Op {
    #[inline(never)]
    pub fn run_logistic(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::logistic_f32(f32s(&io, self.input), bytemuck::cast_slice_mut(out));
    }
    #[inline(never)]
    pub fn run_tanh(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::tanh_f32(f32s(&io, self.input), bytemuck::cast_slice_mut(out));
    }
    #[inline(never)]
    pub fn run_leaky_relu(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::leaky_relu_f32(
            self.alpha,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
    #[inline(never)]
    pub fn run_hard_sigmoid(&self, arena: &mut [u8], times_input: bool) {
        let (io, out) = split(arena, self.output);
        activation::hard_sigmoid_f32(
            self.alpha,
            self.beta,
            times_input,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
    #[inline(never)]
    pub fn run_clamp(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        activation::clamp_f32(
            self.activation,
            f32s(&io, self.input),
            bytemuck::cast_slice_mut(out),
        );
    }
}

impl TransposeOp {
    #[inline(never)]
    pub fn run(&self, arena: &mut [u8]) {
        let (io, out) = split(arena, self.output);
        transpose::transpose(&self.params, io.bytes(self.input), out);
    }
}

impl Op {
    /// Runs this op on an arena and weights that `validate` accepted.
    pub fn run(&self, arena: &mut [u8], weights: &[u8]) {
        match self {
            Op::Conv2d(op) => op.run(arena, weights),
            Op::TransposeConv2d(op) => op.run_transposed(arena, weights),
            Op::DepthwiseConv2d(op) => op.run(arena, weights),
            Op::FullyConnected(op) => op.run(arena, weights),
            Op::AveragePool2d(op) => op.run_average(arena),
            Op::MaxPool2d(op) => op.run_max(arena),
            Op::Add(op) => op.run(arena, weights),
            Op::Sub(op) => op.run_sub(arena, weights),
            Op::PRelu(op) => op.run(arena, weights),
            Op::Mul(op) => op.run(arena, weights),
            Op::Softmax(op) => op.run(arena),
            Op::Logistic(op) => op.run_logistic(arena),
            Op::Tanh(op) => op.run_tanh(arena),
            Op::Requantize(op) => op.run(arena),
            Op::LeakyRelu(op) => op.run(arena),
            Op::HardSwish(op) => op.run(arena),
            Op::Concatenation(op) => op.run(arena),
            Op::Pad(op) => op.run(arena),
            Op::Mean(op) => op.run(arena),
            Op::Quantize(op) => op.run_quantize(arena),
            Op::Dequantize(op) => op.run_dequantize(arena),
            Op::Conv2dF32(op) => op.run(arena, weights),
            Op::DepthwiseConv2dF32(op) => op.run(arena, weights),
            Op::FullyConnectedF32(op) => op.run(arena, weights),
            Op::AveragePool2dF32(op) => op.run_average(arena),
            Op::MaxPool2dF32(op) => op.run_max(arena),
            Op::AddF32(op) => op.run_add(arena, weights),
            Op::MulF32(op) => op.run_mul(arena, weights),
            Op::SoftmaxF32(op) => op.run(arena),
            Op::LogisticF32(op) => op.run_logistic(arena),
            Op::TanhF32(op) => op.run_tanh(arena),
            Op::ClampF32(op) => op.run_clamp(arena),
            Op::Transpose(op) => op.run(arena),
            Op::SubF32(op) => op.run_sub(arena, weights),
            Op::PReluF32(op) => op.run_prelu(arena, weights),
            Op::PadF32(op) => op.run(arena),
            Op::MeanF32(op) => op.run_f32(arena),
            Op::TransposeConv2dF32(op) => op.run_transposed(arena, weights),
            Op::Slice(op) => op.run(arena),
            Op::DivF32(op) => op.run_div(arena, weights),
            Op::LeakyReluF32(op) => op.run_leaky_relu(arena),
            Op::HardSigmoidF32(op) => op.run_hard_sigmoid(arena, false),
            Op::HardSwishF32(op) => op.run_hard_sigmoid(arena, true),
        }
    }
}

/// The checks of one op against the arena size and the weights.
struct Checker<'w> {
    op: usize,
    arena_bytes: u64,
    weights: &'w [u8],
}

impl Checker<'_> {
    fn fail(&self, reason: &'static str) -> Error {
        Error::InvalidGraph {
            op: self.op,
            reason,
        }
    }

    fn ensure(&self, ok: bool, reason: &'static str) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// An arena tensor of `elements` values of `dtype`.
    fn arena(&self, s: Span, elements: u64, dtype: DType) -> Result<(), Error> {
        self.ensure(s.end() <= self.arena_bytes, "tensor outside the arena")?;
        self.ensure(
            u64::from(s.len) == elements * dtype.size() as u64,
            "tensor size does not match its shape",
        )?;
        self.ensure(
            s.offset as usize % dtype.size() == 0,
            "tensor misaligned for its type",
        )
    }

    /// An output that must not share bytes with the op's inputs.
    fn output(&self, out: Span, elements: u64, dtype: DType, inputs: &[Span]) -> Result<(), Error> {
        self.arena(out, elements, dtype)?;
        for i in inputs {
            self.ensure(!out.overlaps(i), "output overlaps an input")?;
        }
        Ok(())
    }

    /// A constant of `count` values of `dtype` in the weights; `optional`
    /// allows an empty span (an absent bias).
    fn constant(&self, s: Span, count: u64, dtype: DType, optional: bool) -> Result<(), Error> {
        if optional && s.is_empty() {
            return Ok(());
        }
        self.ensure(
            s.end() <= self.weights.len() as u64,
            "constant outside the weights",
        )?;
        self.ensure(
            u64::from(s.len) == count * dtype.size() as u64,
            "constant size does not match its shape",
        )?;
        let address = self.weights.as_ptr() as usize + s.offset as usize;
        self.ensure(
            address % dtype.size() == 0,
            "constant misaligned for its type",
        )
    }

    fn range(&self, min: i32, max: i32) -> Result<(), Error> {
        self.ensure(
            -128 <= min && min <= max && max <= 127,
            "activation range outside int8",
        )
    }

    fn shift(&self, shift: i32) -> Result<(), Error> {
        self.ensure(
            (-31..=30).contains(&shift),
            "requantization shift out of range",
        )
    }

    /// Zero points, shift and clamp of one int8 rescaling.
    fn requantize(&self, p: &activation::RequantizeParams) -> Result<(), Error> {
        self.offsets(&[p.input_zero_point, p.output_zero_point])?;
        self.shift(p.shift)?;
        self.range(p.activation_min, p.activation_max)
    }

    fn shifts(&self, s: Span) -> Result<(), Error> {
        for &v in weights_i32(self.weights, s) {
            self.shift(v)?;
        }
        Ok(())
    }

    /// A zero point, or its negation used as an offset: within int8 range
    /// (plus one for the negated -128), which keeps every accumulator in i32.
    fn offsets(&self, values: &[i32]) -> Result<(), Error> {
        self.ensure(
            values.iter().all(|v| (-128..=128).contains(v)),
            "zero point outside int8",
        )
    }

    /// A reduction over `taps` products of two offset int8 values (each at
    /// most 2^15 in magnitude) stays in i32.
    fn taps(&self, taps: u64) -> Result<(), Error> {
        self.ensure(
            taps < 1 << 16,
            "too many products per output for an i32 accumulator",
        )
    }

    fn positive(&self, values: &[u32]) -> Result<(), Error> {
        self.ensure(
            values.iter().all(|&v| v > 0),
            "zero stride, dilation or size",
        )
    }
}

impl Op {
    /// Checks that running this op can neither index out of bounds nor
    /// overflow a shift, whatever the arena holds.
    fn validate(&self, c: &Checker) -> Result<(), Error> {
        use DType::{F32, I32, I8};
        match self {
            Op::Conv2d(op) => {
                check_conv_windows(c, &op.params)?;
                check_conv_s8(c, op)
            }
            Op::TransposeConv2d(op) => {
                check_transposed_reach(c, &op.params)?;
                check_conv_s8(c, op)
            }
            Op::DepthwiseConv2d(op) => {
                let p = &op.params;
                c.offsets(&[p.input_offset, p.output_offset])?;
                c.taps(u64::from(p.filter_height) * u64::from(p.filter_width))?;
                c.positive(&[
                    p.stride_height,
                    p.stride_width,
                    p.dilation_height,
                    p.dilation_width,
                    p.depth_multiplier,
                ])?;
                c.ensure(
                    p.output.channels == p.input.channels * p.depth_multiplier,
                    "output channels != input channels * depth multiplier",
                )?;
                c.ensure(p.input.batches == p.output.batches, "batch mismatch")?;
                check_windows!(c, p, [p.dilation_height, p.dilation_width])?;
                let oc = u64::from(p.output.channels);
                c.arena(op.input, p.input.elements(), I8)?;
                c.constant(
                    op.filter,
                    oc * u64::from(p.filter_height * p.filter_width),
                    I8,
                    false,
                )?;
                c.constant(op.bias, oc, I32, true)?;
                c.constant(op.multiplier, oc, I32, false)?;
                c.constant(op.shift, oc, I32, false)?;
                c.shifts(op.shift)?;
                c.range(p.activation_min, p.activation_max)?;
                c.output(op.output, p.output.elements(), I8, &[op.input])
            }
            Op::FullyConnected(op) => {
                let p = &op.params;
                c.offsets(&[p.input_offset, p.filter_offset, p.output_offset])?;
                c.ensure(
                    p.input_depth < 1 << 15,
                    "input depth too large for an i32 accumulator",
                )?;
                let (b, d, o) = (
                    u64::from(p.batches),
                    u64::from(p.input_depth),
                    u64::from(p.output_depth),
                );
                c.arena(op.input, b * d, I8)?;
                c.constant(op.filter, o * d, I8, false)?;
                c.constant(op.bias, o, I32, true)?;
                let per_channel = op.multiplier.len as u64 == 4 * o && o > 1;
                let n = if per_channel { o } else { 1 };
                c.constant(op.multiplier, n, I32, false)?;
                c.constant(op.shift, n, I32, false)?;
                c.shifts(op.shift)?;
                c.range(p.activation_min, p.activation_max)?;
                c.output(op.output, b * o, I8, &[op.input])
            }
            Op::AveragePool2d(op) | Op::MaxPool2d(op) => {
                let p = &op.params;
                c.ensure(
                    u64::from(p.filter_height) * u64::from(p.filter_width) <= 1 << 20,
                    "pooling window too large",
                )?;
                c.positive(&[
                    p.stride_height,
                    p.stride_width,
                    p.filter_height,
                    p.filter_width,
                ])?;
                c.ensure(
                    p.input.batches == p.output.batches && p.input.channels == p.output.channels,
                    "pool changes batches or channels",
                )?;
                check_windows!(c, p, [1, 1])?;
                c.range(p.activation_min, p.activation_max)?;
                c.arena(op.input, p.input.elements(), I8)?;
                c.output(op.output, p.output.elements(), I8, &[op.input])
            }
            Op::Add(op) | Op::Sub(op) => {
                let p = &op.params;
                c.offsets(&[p.input1_offset, p.input2_offset, p.output_offset])?;
                check_broadcast(c, &p.broadcast, op.input1, op.input2, I8, op.constant)?;
                c.ensure((0..=22).contains(&p.left_shift), "left shift out of range")?;
                for s in [p.input1_shift, p.input2_shift, p.output_shift] {
                    c.shift(s)?;
                }
                c.range(p.activation_min, p.activation_max)?;
                let arena = arena_operands(op.input1, op.input2, op.constant);
                c.output(op.output, p.broadcast.elements(), I8, &arena)
            }
            Op::PRelu(op) => {
                let p = &op.params;
                c.offsets(&[p.input_offset, p.alpha_offset, p.output_offset])?;
                c.ensure(
                    op.constant != ConstantOperand::First,
                    "PRELU's input is a constant",
                )?;
                check_broadcast(c, &p.broadcast, op.input, op.alpha, I8, op.constant)?;
                c.shift(p.identity_shift)?;
                c.shift(p.alpha_shift)?;
                let arena = arena_operands(op.input, op.alpha, op.constant);
                c.output(op.output, p.broadcast.elements(), I8, &arena)
            }
            Op::Mul(op) => {
                let p = &op.params;
                c.offsets(&[p.input1_offset, p.input2_offset, p.output_offset])?;
                check_broadcast(c, &p.broadcast, op.input1, op.input2, I8, op.constant)?;
                c.shift(p.output_shift)?;
                c.range(p.activation_min, p.activation_max)?;
                let arena = arena_operands(op.input1, op.input2, op.constant);
                c.output(op.output, p.broadcast.elements(), I8, &arena)
            }
            Op::Softmax(op) => {
                let p = &op.params;
                // A row's sum of exponentials (each at most 2^19 in Q12.19) stays in i32.
                c.ensure(p.depth < 1 << 12 && p.diff_min <= 0, "softmax row too long")?;
                let n = u64::from(p.outer) * u64::from(p.depth);
                c.ensure(
                    (0..=31).contains(&p.input_left_shift),
                    "softmax shift out of range",
                )?;
                c.arena(op.input, n, I8)?;
                c.output(op.output, n, I8, &[op.input])
            }
            Op::Logistic(op) | Op::Tanh(op) => {
                c.offsets(&[op.params.input_zero_point])?;
                c.shift(op.params.input_left_shift)?;
                c.arena(op.input, u64::from(op.input.len), I8)?;
                c.output(op.output, u64::from(op.input.len), I8, &[op.input])
            }
            Op::Requantize(op) => {
                c.requantize(&op.params)?;
                c.arena(op.input, u64::from(op.input.len), I8)?;
                c.output(op.output, u64::from(op.input.len), I8, &[op.input])
            }
            Op::HardSwish(op) => {
                let p = &op.params;
                c.offsets(&[p.input_zero_point, p.output_zero_point])?;
                c.ensure(
                    (0..=i32::from(i16::MAX)).contains(&p.reluish_multiplier)
                        && (0..=i32::from(i16::MAX)).contains(&p.output_multiplier),
                    "HARD_SWISH multiplier outside Q15",
                )?;
                c.ensure(
                    (-15..=15).contains(&p.reluish_exponent)
                        && (-15..=0).contains(&p.output_exponent),
                    "HARD_SWISH exponent out of range",
                )?;
                c.arena(op.input, u64::from(op.input.len), I8)?;
                c.output(op.output, u64::from(op.input.len), I8, &[op.input])
            }
            Op::LeakyRelu(op) => {
                c.requantize(&op.positive)?;
                c.requantize(&op.negative)?;
                c.ensure(
                    op.positive.input_zero_point == op.negative.input_zero_point,
                    "the two rescalings read different zero points",
                )?;
                c.arena(op.input, u64::from(op.input.len), I8)?;
                c.output(op.output, u64::from(op.input.len), I8, &[op.input])
            }
            Op::Concatenation(op) => {
                c.ensure(op.outer > 0, "zero rows")?;
                c.ensure(op.count as usize <= MAX_CONCAT_INPUTS, "too many inputs")?;
                let mut total = 0u64;
                for &input in op.inputs() {
                    c.ensure(input.len % op.outer == 0, "input does not split into rows")?;
                    c.arena(input, u64::from(input.len), I8)?;
                    total += u64::from(input.len);
                }
                c.output(op.output, total, I8, op.inputs())
            }
            Op::Pad(op) => check_pad(c, &op.params, op.input, op.output, I8),
            Op::PadF32(op) => check_pad(c, &op.params, op.input, op.output, F32),
            Op::Mean(op) => {
                let p = &op.params;
                c.offsets(&[p.input_zero_point, p.output_zero_point])?;
                let input: u64 = p.input_dims.iter().map(|&d| u64::from(d)).product();
                let reduced = p.reduced_elements();
                c.ensure(
                    reduced > 0 && reduced < 1 << 22,
                    "reduction size out of range",
                )?;
                c.shift(p.shift)?;
                c.arena(op.input, input, I8)?;
                c.output(op.output, input / reduced, I8, &[op.input])
            }
            Op::MeanF32(op) => {
                let p = &op.params;
                let input: u64 = p.input_dims.iter().map(|&d| u64::from(d)).product();
                let reduced = p.reduced_elements();
                c.ensure(reduced > 0, "empty reduction")?;
                c.arena(op.input, input, F32)?;
                c.output(op.output, input / reduced, F32, &[op.input])
            }
            Op::Quantize(op) => {
                let n = u64::from(op.output.len);
                c.arena(op.input, n, F32)?;
                c.output(op.output, n, I8, &[op.input])
            }
            Op::Dequantize(op) => {
                let n = u64::from(op.input.len);
                c.arena(op.input, n, I8)?;
                c.output(op.output, n, F32, &[op.input])
            }
            Op::TransposeConv2dF32(op) => {
                check_transposed_reach(c, &op.params)?;
                check_conv_f32(c, op)
            }
            Op::Conv2dF32(op) => {
                check_conv_windows(c, &op.params)?;
                check_conv_f32(c, op)
            }
            Op::DepthwiseConv2dF32(op) => {
                let p = &op.params;
                c.positive(&[
                    p.stride_height,
                    p.stride_width,
                    p.dilation_height,
                    p.dilation_width,
                    p.depth_multiplier,
                ])?;
                c.ensure(
                    p.output.channels == p.input.channels * p.depth_multiplier,
                    "output channels != input channels * depth multiplier",
                )?;
                c.ensure(p.input.batches == p.output.batches, "batch mismatch")?;
                check_windows!(c, p, [p.dilation_height, p.dilation_width])?;
                let oc = u64::from(p.output.channels);
                c.arena(op.input, p.input.elements(), F32)?;
                c.constant(
                    op.filter,
                    oc * u64::from(p.filter_height) * u64::from(p.filter_width),
                    F32,
                    false,
                )?;
                c.constant(op.bias, oc, F32, true)?;
                c.output(op.output, p.output.elements(), F32, &[op.input])
            }
            Op::FullyConnectedF32(op) => {
                let p = &op.params;
                let (b, d, o) = (
                    u64::from(p.batches),
                    u64::from(p.input_depth),
                    u64::from(p.output_depth),
                );
                c.arena(op.input, b * d, F32)?;
                c.constant(op.filter, o * d, F32, false)?;
                c.constant(op.bias, o, F32, true)?;
                c.output(op.output, b * o, F32, &[op.input])
            }
            Op::AveragePool2dF32(op) | Op::MaxPool2dF32(op) => {
                let p = &op.params;
                c.positive(&[
                    p.stride_height,
                    p.stride_width,
                    p.filter_height,
                    p.filter_width,
                ])?;
                c.ensure(
                    p.input.batches == p.output.batches && p.input.channels == p.output.channels,
                    "pool changes batches or channels",
                )?;
                check_windows!(c, p, [1, 1])?;
                c.arena(op.input, p.input.elements(), F32)?;
                c.output(op.output, p.output.elements(), F32, &[op.input])
            }
            Op::AddF32(op)
            | Op::MulF32(op)
            | Op::SubF32(op)
            | Op::DivF32(op)
            | Op::PReluF32(op) => {
                check_broadcast(c, &op.broadcast, op.input1, op.input2, F32, op.constant)?;
                let arena = arena_operands(op.input1, op.input2, op.constant);
                c.output(op.output, op.broadcast.elements(), F32, &arena)
            }
            Op::SoftmaxF32(op) => {
                let n = u64::from(op.outer) * u64::from(op.depth);
                c.arena(op.input, n, F32)?;
                c.output(op.output, n, F32, &[op.input])
            }
            Op::LogisticF32(op)
            | Op::TanhF32(op)
            | Op::ClampF32(op)
            | Op::LeakyReluF32(op)
            | Op::HardSigmoidF32(op)
            | Op::HardSwishF32(op) => {
                let n = u64::from(op.input.len) / 4;
                c.arena(op.input, n, F32)?;
                c.output(op.output, n, F32, &[op.input])
            }
            Op::Transpose(op) => {
                let p = &op.params;
                c.ensure(
                    p.element_size == 1 || p.element_size == 4,
                    "element size must be 1 or 4",
                )?;
                let mut seen = [false; crate::tensor::MAX_RANK];
                for &d in &p.perm {
                    c.ensure(
                        usize::from(d) < crate::tensor::MAX_RANK && !seen[usize::from(d)],
                        "not a permutation",
                    )?;
                    seen[usize::from(d)] = true;
                }
                let elements: u64 = p.input_dims.iter().map(|&d| u64::from(d)).product();
                let dtype = if p.element_size == 4 { F32 } else { I8 };
                c.arena(op.input, elements, dtype)?;
                c.output(op.output, elements, dtype, &[op.input])
            }
            Op::Slice(op) => {
                let p = &op.params;
                c.ensure(
                    p.element_size == 1 || p.element_size == 4,
                    "element size must be 1 or 4",
                )?;
                for d in 0..crate::tensor::MAX_RANK {
                    c.ensure(p.step[d] > 0, "slice step must be positive")?;
                    c.ensure(
                        p.last_read(d)
                            .is_none_or(|last| last < u64::from(p.input_dims[d])),
                        "slice reads past the input",
                    )?;
                }
                let dtype = if p.element_size == 4 { F32 } else { I8 };
                let count = |dims: &[u32]| dims.iter().map(|&d| u64::from(d)).product::<u64>();
                c.arena(op.input, count(&p.input_dims), dtype)?;
                c.output(op.output, count(&p.output_dims), dtype, &[op.input])
            }
        }
    }
}

/// Every output position's window origin must be reachable with the given
/// padding, and the output no larger than the input allows.
fn check_window(
    c: &Checker,
    out: u32,
    stride: u32,
    dilation: u32,
    filter: u32,
    input: u32,
    pad: u32,
) -> Result<(), Error> {
    c.ensure(filter > 0 && input > 0 && out > 0, "empty window dimension")?;
    let last_origin = u64::from(out - 1) * u64::from(stride);
    let effective = u64::from(filter - 1) * u64::from(dilation) + 1;
    c.ensure(
        last_origin < 1 << 31 && effective < 1 << 31 && u64::from(pad) < 1 << 31,
        "window geometry out of range",
    )?;
    c.ensure(
        last_origin < u64::from(input) + 2 * u64::from(pad) + effective,
        "output larger than the input allows",
    )
}

/// A convolution's output extents follow from its input's, window by window.
fn check_conv_windows(c: &Checker, p: &conv2d::Conv2dParams) -> Result<(), Error> {
    check_windows!(c, p, [p.dilation_height, p.dilation_width])
}

/// A transposed convolution's coordinates stay far from overflow on 32-bit
/// targets (the gather checks every tap against the input's extent).
fn check_transposed_reach(c: &Checker, p: &conv2d::Conv2dParams) -> Result<(), Error> {
    let reach = |out: u32, pad: u32, f: u32, d: u32| {
        u64::from(out) + u64::from(pad) + u64::from(f) * u64::from(d) < 1 << 30
    };
    c.ensure(
        reach(
            p.output.height,
            p.padding_top,
            p.filter_height,
            p.dilation_height,
        ) && reach(
            p.output.width,
            p.padding_left,
            p.filter_width,
            p.dilation_width,
        ),
        "transposed convolution too large",
    )
}

/// Strides, dilations, groups and batches of any convolution.
fn check_conv_shape(c: &Checker, p: &conv2d::Conv2dParams) -> Result<(), Error> {
    c.positive(&[
        p.stride_height,
        p.stride_width,
        p.dilation_height,
        p.dilation_width,
        p.filter_channels,
    ])?;
    c.ensure(
        p.input.channels >= p.filter_channels && p.input.channels % p.filter_channels == 0,
        "input channels not a multiple of filter channels",
    )?;
    c.ensure(
        p.output.channels % (p.input.channels / p.filter_channels) == 0,
        "output channels not a multiple of groups",
    )?;
    c.ensure(p.input.batches == p.output.batches, "batch mismatch")
}

/// An int8 convolution's (plain or transposed) operands and requantization.
fn check_conv_s8(c: &Checker, op: &Conv2dOp) -> Result<(), Error> {
    let p = &op.params;
    check_conv_shape(c, p)?;
    c.offsets(&[p.input_offset, p.output_offset])?;
    c.taps(u64::from(p.filter_height) * u64::from(p.filter_width) * u64::from(p.filter_channels))?;
    let oc = u64::from(p.output.channels);
    c.arena(op.input, p.input.elements(), DType::I8)?;
    c.constant(
        op.filter,
        oc * u64::from(p.filter_height) * u64::from(p.filter_width) * u64::from(p.filter_channels),
        DType::I8,
        false,
    )?;
    c.constant(op.bias, oc, DType::I32, true)?;
    c.constant(op.multiplier, oc, DType::I32, false)?;
    c.constant(op.shift, oc, DType::I32, false)?;
    c.shifts(op.shift)?;
    c.range(p.activation_min, p.activation_max)?;
    c.output(op.output, p.output.elements(), DType::I8, &[op.input])
}

/// A float32 convolution's (plain or transposed) operands.
fn check_conv_f32(c: &Checker, op: &Conv2dF32Op) -> Result<(), Error> {
    let p = &op.params;
    check_conv_shape(c, p)?;
    let oc = u64::from(p.output.channels);
    c.arena(op.input, p.input.elements(), DType::F32)?;
    c.constant(
        op.filter,
        oc * u64::from(p.filter_height) * u64::from(p.filter_width) * u64::from(p.filter_channels),
        DType::F32,
        false,
    )?;
    c.constant(op.bias, oc, DType::F32, true)?;
    c.output(op.output, p.output.elements(), DType::F32, &[op.input])
}

fn check_pad(
    c: &Checker,
    p: &pad::PadParams,
    input: Span,
    output: Span,
    dtype: DType,
) -> Result<(), Error> {
    let elements: u64 = p.input_dims.iter().map(|&d| u64::from(d)).product();
    let padded: u64 = p
        .input_dims
        .iter()
        .zip(p.before)
        .zip(p.after)
        .map(|((&d, b), a)| u64::from(d) + u64::from(b) + u64::from(a))
        .product();
    c.arena(input, elements, dtype)?;
    c.output(output, padded, dtype, &[input])
}

/// The operands of a binary op that live in the arena (the only ones that
/// can overlap its output), the other repeated when one is a constant.
fn arena_operands(input1: Span, input2: Span, constant: ConstantOperand) -> [Span; 2] {
    match constant {
        ConstantOperand::Neither => [input1, input2],
        ConstantOperand::First => [input2, input2],
        ConstantOperand::Second => [input1, input1],
    }
}

fn check_broadcast(
    c: &Checker,
    b: &elementwise::Broadcast,
    input1: Span,
    input2: Span,
    dtype: DType,
    constant: ConstantOperand,
) -> Result<(), Error> {
    let reach = |strides: &[u32; crate::tensor::MAX_RANK]| -> u64 {
        b.output_dims
            .iter()
            .zip(strides)
            .map(|(&d, &s)| u64::from(d.saturating_sub(1)) * u64::from(s))
            .sum::<u64>()
            + 1
    };
    let size = dtype.size() as u64;
    let (n1, n2) = (u64::from(input1.len) / size, u64::from(input2.len) / size);
    let operand = |span: Span, elements: u64, is_constant: bool| {
        if is_constant {
            c.constant(span, elements, dtype, false)
        } else {
            c.arena(span, elements, dtype)
        }
    };
    operand(input1, n1, constant == ConstantOperand::First)?;
    operand(input2, n2, constant == ConstantOperand::Second)?;
    if b.same_shape {
        c.ensure(
            n1 == b.elements() && n2 == b.elements(),
            "inputs do not match the output shape",
        )
    } else {
        c.ensure(b.elements() > 0, "empty output")?;
        c.ensure(
            reach(&b.input1_strides) <= n1,
            "first input smaller than its strides reach",
        )?;
        c.ensure(
            reach(&b.input2_strides) <= n2,
            "second input smaller than its strides reach",
        )
    }
}

/// Checks a whole graph: every op, every input and output span, and the
/// alignment of the weights. The codegen runs this before it emits a model.
pub fn validate(graph: &Graph) -> Result<(), Error> {
    if graph.weights.as_ptr() as usize % ALIGNMENT != 0 && !graph.weights.is_empty() {
        return Err(Error::WeightsMisaligned);
    }
    let arena_bytes = u64::from(graph.arena_bytes);
    for (i, op) in graph.ops.iter().enumerate() {
        op.validate(&Checker {
            op: i,
            arena_bytes,
            weights: graph.weights,
        })?;
    }
    let c = Checker {
        op: graph.ops.len(),
        arena_bytes,
        weights: graph.weights,
    };
    for t in graph.inputs.iter().chain(graph.outputs) {
        c.ensure(
            t.rank as usize <= crate::tensor::MAX_RANK,
            "input or output rank too large",
        )?;
        let elements: u64 = t.shape().iter().map(|&d| u64::from(d)).product();
        c.arena(t.span, elements, t.dtype)?;
    }
    Ok(())
}

/// A graph bound to an arena: checked once, then run any number of times.
pub struct Executor<'g, 'a> {
    graph: &'g Graph<'g>,
    arena: &'a mut [u8],
}

impl<'g, 'a> Executor<'g, 'a> {
    /// Checks the arena's size and alignment and the whole graph.
    pub fn new(graph: &'g Graph<'g>, arena: &'a mut [u8]) -> Result<Self, Error> {
        if arena.len() < graph.arena_bytes as usize {
            return Err(Error::ArenaTooSmall {
                needed: graph.arena_bytes,
                got: arena.len(),
            });
        }
        if arena.as_ptr() as usize % ALIGNMENT != 0 {
            return Err(Error::ArenaMisaligned);
        }
        validate(graph)?;
        Ok(Executor { graph, arena })
    }

    pub fn graph(&self) -> &Graph<'g> {
        self.graph
    }

    fn io(list: &[TensorIo], index: usize) -> Result<TensorIo, Error> {
        list.get(index)
            .copied()
            .ok_or(Error::NoSuchTensor { index })
    }

    /// Copies raw bytes (little-endian for multi-byte types) into input `index`.
    pub fn set_input(&mut self, index: usize, bytes: &[u8]) -> Result<(), Error> {
        let t = Self::io(self.graph.inputs, index)?;
        if bytes.len() != t.span.len as usize {
            return Err(Error::InputLength {
                index,
                expected: t.span.len as usize,
                got: bytes.len(),
            });
        }
        self.arena[t.span.range()].copy_from_slice(bytes);
        Ok(())
    }

    pub fn set_input_i8(&mut self, index: usize, values: &[i8]) -> Result<(), Error> {
        let t = Self::io(self.graph.inputs, index)?;
        if t.dtype != DType::I8 {
            return Err(Error::InputType { index });
        }
        self.set_input(index, bytemuck::cast_slice(values))
    }

    /// Runs every op in order. Infallible: everything was checked in `new`.
    pub fn run(&mut self) {
        for op in self.graph.ops {
            op.run(self.arena, self.graph.weights);
        }
    }

    /// The raw bytes of output `index` after `run`.
    pub fn output(&self, index: usize) -> Result<&[u8], Error> {
        let t = Self::io(self.graph.outputs, index)?;
        Ok(&self.arena[t.span.range()])
    }
}

/// Copies `values` into the arena at byte `offset`: how generated code feeds
/// a model its input.
pub fn write_input<T: bytemuck::Pod>(arena: &mut [u8], offset: usize, values: &[T]) {
    let bytes: &[u8] = bytemuck::cast_slice(values);
    arena[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// A typed view of `N` values at byte `offset` of `bytes` (an arena, or
/// aligned constant data): how generated code returns a model's output.
/// Generated code asserts at compile time that the span lies inside the
/// arena, so the failure branch is never taken.
pub fn array_at<T: bytemuck::Pod, const N: usize>(bytes: &[u8], offset: usize) -> &[T; N] {
    let bytes = &bytes[offset..offset + N * core::mem::size_of::<T>()];
    let values: &[T] = bytemuck::cast_slice(bytes);
    match values.first_chunk::<N>() {
        Some(array) => array,
        None => panic!("array outside the buffer"),
    }
}
