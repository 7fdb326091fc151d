//! FULLY_CONNECTED, int8 (per-tensor or per-channel requantization), int16
//! (16x8) and float32.
//!
//! Layer: ops; uses `kernels::fully_connected`.

use super::arena::{bias_16x8, constant, from_constant, out_f32, out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::arch::{fully_connected_s8_gemm, KernelChoice};
use crate::error::Error;
use crate::kernels::fully_connected::{
    fully_connected_f32, fully_connected_s16, fully_connected_s8,
};
pub use crate::kernels::fully_connected::{
    FullyConnectedParams, FullyConnectedS16Params, FullyConnectedShape,
};
use crate::tensor::{DType, FloatRange, Span};
use crate::wire::wire_struct;

/// The spans every fully connected layer shares: input rows, filter
/// `[output_depth, input_depth]`, optional bias, output rows.
fn check_matrix(
    c: &Checker,
    shape: &FullyConnectedShape,
    [input, filter, bias, output]: [Span; 4],
    values: DType,
    bias_type: DType,
) -> Result<(), Error> {
    let (b, d, o) = (
        u64::from(shape.batches),
        u64::from(shape.input_depth),
        u64::from(shape.output_depth),
    );
    c.arena(input, b * d, values)?;
    c.constant(filter, o * d, values, false)?;
    c.constant(bias, o, bias_type, true)?;
    c.output(output, b * o, values, &[input])
}

wire_struct! {
    /// int8 FULLY_CONNECTED: `multiplier` and `shift` hold one i32
    /// (per-tensor) or one per output channel. `kernel` is the
    /// implementation the codegen chose: the reference kernel, or a matrix
    /// product over the input as stored (`KernelChoice::Gemm`, symmetric
    /// weights only), which takes `folded_bias` (one i32 per output
    /// channel in the weights: `kiln::arch::folded_bias`) instead of
    /// `bias`.
    pub struct FullyConnectedOp {
        pub params: FullyConnectedParams,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub multiplier: Span,
        pub shift: Span,
        pub output: Span,
        pub kernel: KernelChoice,
        pub folded_bias: Span,
    }
}

impl OpDescriptor for FullyConnectedOp {
    const NAME: &'static str = "FULLY_CONNECTED";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_fully_connected";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches) * u64::from(self.params.shape.output_depth)
    }

    fn kernel(&self) -> KernelChoice {
        self.kernel
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.offsets(&[p.input_offset, p.filter_offset, p.output_offset])?;
        c.ensure(
            p.shape.input_depth < 1 << 15,
            "input depth too large for an i32 accumulator",
        )?;
        let o = u64::from(p.shape.output_depth);
        let per_channel = self.multiplier.len as u64 == 4 * o && o > 1;
        let n = if per_channel { o } else { 1 };
        c.constant(self.multiplier, n, DType::I32, false)?;
        c.constant(self.shift, n, DType::I32, false)?;
        c.shifts(self.shift)?;
        c.range(p.activation_min, p.activation_max)?;
        let spans = [self.input, self.filter, self.bias, self.output];
        check_matrix(c, &p.shape, spans, DType::I8, DType::I32)?;
        match self.kernel {
            KernelChoice::Reference => Ok(()),
            KernelChoice::DepthwiseBlocked => Err(c.fail("kernel not available for this op")),
            KernelChoice::Gemm => {
                c.ensure(
                    p.filter_offset == 0,
                    "the gemm kernel takes symmetric weights",
                )?;
                c.multipliers(self.multiplier)?;
                c.constant(self.folded_bias, o, DType::I32, false)
            }
        }
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (w, b) = (constant(weights, self.filter), constant(weights, self.bias));
        let (m, s) = (
            constant(weights, self.multiplier),
            constant(weights, self.shift),
        );
        match self.kernel {
            // `check` refuses the kernels this op does not have.
            KernelChoice::Reference | KernelChoice::DepthwiseBlocked => {
                let (io, out) = split(arena, self.output);
                let x = io.i8(self.input);
                fully_connected_s8(&self.params, x, w, b, m, s, out_i8(out));
            }
            KernelChoice::Gemm => {
                let (io, out) = split(arena, self.output);
                let (x, w) = (io.i8(self.input), from_constant(weights, self.filter));
                let folded = constant(weights, self.folded_bias);
                fully_connected_s8_gemm(&self.params, x, w, folded, m, s, out_i8(out));
            }
        }
    }
}

wire_struct! {
    /// int16 FULLY_CONNECTED (TFLite's 16x8 scheme): int16 input and
    /// output, int8 weights, and an optional bias. TFLM accumulates in
    /// int64 (`int64_accumulator`: the bias holds int64 values, or there is
    /// none) or in int32 (an int32 bias). `multiplier` and `shift` hold one
    /// i32 (per-tensor) or one per output channel.
    pub struct FullyConnectedS16Op {
        pub params: FullyConnectedS16Params,
        pub int64_accumulator: bool,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub multiplier: Span,
        pub shift: Span,
        pub output: Span,
    }
}

impl OpDescriptor for FullyConnectedS16Op {
    const NAME: &'static str = "FULLY_CONNECTED (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_fully_connected_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.params.shape.batches) * u64::from(self.params.shape.output_depth)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let o = u64::from(p.shape.output_depth);
        let (b, d) = (u64::from(p.shape.batches), u64::from(p.shape.input_depth));
        // Products of int16 and int8 values: 2^22 each, exact in i64.
        c.ensure(d < 1 << 24, "input depth too large")?;
        let per_channel = self.multiplier.len as u64 == 4 * o && o > 1;
        let n = if per_channel { o } else { 1 };
        c.constant(self.multiplier, n, DType::I32, false)?;
        c.constant(self.shift, n, DType::I32, false)?;
        c.shifts(self.shift)?;
        c.multipliers(self.multiplier)?;
        c.range_i16(p.activation_min, p.activation_max)?;
        c.arena(self.input, b * d, DType::I16)?;
        c.constant(self.filter, o * d, DType::I8, false)?;
        c.bias_16x8(self.bias, o, self.int64_accumulator)?;
        c.output(self.output, b * o, DType::I16, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let bias = bias_16x8(weights, self.bias, self.int64_accumulator);
        let (io, out) = split(arena, self.output);
        fully_connected_s16(
            &self.params,
            io.i16(self.input),
            constant(weights, self.filter),
            bias,
            constant(weights, self.multiplier),
            constant(weights, self.shift),
            out_i16(out),
        );
    }
}

wire_struct! {
    /// float32 FULLY_CONNECTED.
    pub struct FullyConnectedF32Op {
        pub shape: FullyConnectedShape,
        pub activation: FloatRange,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub output: Span,
    }
}

impl OpDescriptor for FullyConnectedF32Op {
    const NAME: &'static str = "FULLY_CONNECTED (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_fully_connected_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.shape.batches) * u64::from(self.shape.output_depth)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let spans = [self.input, self.filter, self.bias, self.output];
        check_matrix(c, &self.shape, spans, DType::F32, DType::F32)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        fully_connected_f32(
            &self.shape,
            self.activation,
            io.f32(self.input),
            constant(weights, self.filter),
            constant(weights, self.bias),
            out_f32(out),
        );
    }
}
