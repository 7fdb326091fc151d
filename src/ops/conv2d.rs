//! CONV_2D, int8, int16 (16x8) and float32 (grouped convolutions
//! included), and the descriptors every convolution shares: an int8
//! convolution's params and operands ([`Conv2dS8`]), an int16 one's
//! ([`Conv2dS16`]) and a float32 one's ([`Conv2dF32`]).
//!
//! Layer: ops; uses `kernels::conv2d`.

use super::arena::{
    bias_16x8, constant, from_constant, out_f32, out_i16, out_i8, split, split_with_scratch,
};
use super::{Checker, OpDescriptor};
use core::ops::Range;

use crate::arch::{conv2d_s8_gemm_rows, conv2d_scratch_bytes, filter_reach, KernelChoice};
use crate::error::Error;
use crate::kernels::conv2d::{conv2d_f32, conv2d_s16, conv2d_s8_rows};
pub use crate::kernels::conv2d::{Conv2dParams, ConvGeometry};
use crate::kernels::fully_connected::Bias16x8;
use crate::tensor::{DType, FloatRange, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// An int8 convolution (plain, depthwise or transposed): activations in
    /// the arena; filter, bias and per-channel requantization (`multiplier`,
    /// `shift`: i32 arrays) in the weights. `bias` may be empty.
    pub struct Conv2dS8 {
        pub params: Conv2dParams,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub multiplier: Span,
        pub shift: Span,
        pub output: Span,
    }
}

wire_struct! {
    /// A float32 convolution (plain, depthwise or transposed): its geometry,
    /// its fused activation's clamp, and its operands. `bias` may be empty.
    pub struct Conv2dF32 {
        pub geometry: ConvGeometry,
        pub activation: FloatRange,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub output: Span,
    }
}

wire_struct! {
    /// An int16 convolution (plain or depthwise; TFLite's 16x8 scheme):
    /// int16 activations with zero point 0 (`params`' offsets are 0), an
    /// int8 filter, per-channel requantization, and an optional bias of
    /// int64 values (`int64_accumulator`: TFLM sums in int64, as it does
    /// without a bias) or int32 ones (TFLM sums in int32).
    pub struct Conv2dS16 {
        pub params: Conv2dParams,
        pub int64_accumulator: bool,
        pub input: Span,
        pub filter: Span,
        pub bias: Span,
        pub multiplier: Span,
        pub shift: Span,
        pub output: Span,
    }
}

impl Conv2dS16 {
    /// Operands and requantization of any int16 convolution, as
    /// [`Conv2dS8::check_operands`].
    pub(crate) fn check_operands(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let g = &p.geometry;
        c.conv_shape(g)?;
        c.ensure(
            p.input_offset == 0 && p.output_offset == 0,
            "int16 convolutions have no zero points",
        )?;
        let taps = u64::from(g.filter_height) * u64::from(g.filter_width);
        let products = taps.saturating_mul(u64::from(g.filter_channels));
        // Products of int16 and int8 values (2^22 each) summed exactly.
        c.ensure(products < 1 << 40, "too many products per output")?;
        let oc = u64::from(g.output.channels);
        c.arena(self.input, g.input.elements(), DType::I16)?;
        c.constant(self.filter, oc.saturating_mul(products), DType::I8, false)?;
        c.bias_16x8(self.bias, oc, self.int64_accumulator)?;
        c.constant(self.multiplier, oc, DType::I32, false)?;
        c.constant(self.shift, oc, DType::I32, false)?;
        c.shifts(self.shift)?;
        c.multipliers(self.multiplier)?;
        c.range_i16(p.activation_min, p.activation_max)?;
        c.output(self.output, g.output.elements(), DType::I16, &[self.input])
    }

    /// Runs `kernel`, one of the int16 convolution kernels, on this
    /// descriptor's operands.
    #[inline(always)]
    pub(crate) fn run_with(
        &self,
        arena: &mut [u8],
        weights: &[u8],
        kernel: impl FnOnce(&Conv2dParams, &[i16], &[i8], Bias16x8, &[i32], &[i32], &mut [i16]),
    ) {
        let bias = bias_16x8(weights, self.bias, self.int64_accumulator);
        let (io, out) = split(arena, self.output);
        kernel(
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

impl Conv2dS8 {
    /// Every output row, into the descriptor's output.
    pub(crate) fn all_rows(&self) -> (Range<usize>, Span) {
        (self.params.geometry.all_rows(), self.output)
    }

    /// Offsets, operands and requantization of any int8 convolution whose
    /// filter holds `filter_channels` values per tap and output channel.
    pub(crate) fn check_operands(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        let g = &p.geometry;
        c.conv_shape(g)?;
        c.offsets(&[p.input_offset, p.output_offset])?;
        let taps = u64::from(g.filter_height) * u64::from(g.filter_width);
        c.taps(taps * u64::from(g.filter_channels))?;
        let oc = u64::from(g.output.channels);
        c.arena(self.input, g.input.elements(), DType::I8)?;
        c.constant(
            self.filter,
            oc * taps * u64::from(g.filter_channels),
            DType::I8,
            false,
        )?;
        c.constant(self.bias, oc, DType::I32, true)?;
        c.constant(self.multiplier, oc, DType::I32, false)?;
        c.constant(self.shift, oc, DType::I32, false)?;
        c.shifts(self.shift)?;
        c.range(p.activation_min, p.activation_max)?;
        c.output(self.output, g.output.elements(), DType::I8, &[self.input])
    }

    /// Runs `kernel`, one of the int8 convolution kernels, for output rows
    /// `rows` into `output` (this descriptor's output for every row, or an
    /// in-place op's band); inlined, so that each op keeps a direct call.
    #[inline(always)]
    pub(crate) fn run_rows(
        &self,
        arena: &mut [u8],
        weights: &[u8],
        (rows, output): (Range<usize>, Span),
        kernel: impl FnOnce(
            &Conv2dParams,
            Range<usize>,
            &[i8],
            &[i8],
            &[i32],
            &[i32],
            &[i32],
            &mut [i8],
        ),
    ) {
        let (io, out) = split(arena, output);
        kernel(
            &self.params,
            rows,
            io.i8(self.input),
            constant(weights, self.filter),
            constant(weights, self.bias),
            constant(weights, self.multiplier),
            constant(weights, self.shift),
            out_i8(out),
        );
    }
}

impl Conv2dF32 {
    /// Operands of any float32 convolution, as [`Conv2dS8::check_operands`].
    pub(crate) fn check_operands(&self, c: &Checker) -> Result<(), Error> {
        let g = &self.geometry;
        c.conv_shape(g)?;
        let oc = u64::from(g.output.channels);
        let taps = u64::from(g.filter_height) * u64::from(g.filter_width);
        c.arena(self.input, g.input.elements(), DType::F32)?;
        c.constant(
            self.filter,
            oc * taps * u64::from(g.filter_channels),
            DType::F32,
            false,
        )?;
        c.constant(self.bias, oc, DType::F32, true)?;
        c.output(self.output, g.output.elements(), DType::F32, &[self.input])
    }

    /// Runs `kernel`, one of the float32 convolution kernels, on this
    /// descriptor's operands, as [`Conv2dS8::run_with`].
    #[inline(always)]
    pub(crate) fn run_with(
        &self,
        arena: &mut [u8],
        weights: &[u8],
        kernel: impl FnOnce(&ConvGeometry, FloatRange, &[f32], &[f32], &[f32], &mut [f32]),
    ) {
        let (io, out) = split(arena, self.output);
        kernel(
            &self.geometry,
            self.activation,
            io.f32(self.input),
            constant(weights, self.filter),
            constant(weights, self.bias),
            out_f32(out),
        );
    }
}

wire_struct! {
    /// int8 CONV_2D, with the implementation the codegen chose: the
    /// reference kernel, or a matrix product over widened columns
    /// (`KernelChoice::Gemm`, one group only) in `scratch`.
    pub struct Conv2dOp {
        pub conv: Conv2dS8,
        pub kernel: KernelChoice,
        pub scratch: Span,
    }
}

impl OpDescriptor for Conv2dOp {
    const NAME: &'static str = "CONV_2D";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_conv2d";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn kernel(&self) -> KernelChoice {
        self.kernel
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let g = &self.conv.params.geometry;
        c.conv_windows(g)?;
        self.conv.check_operands(c)?;
        match self.kernel {
            KernelChoice::Reference => Ok(()),
            KernelChoice::DepthwiseBlocked => Err(c.fail("kernel not available for this op")),
            KernelChoice::Gemm => {
                c.ensure(
                    g.filter_channels == g.input.channels,
                    "the gemm kernel takes one group",
                )?;
                c.multipliers(self.conv.multiplier)?;
                let k = (g.filter_height * g.filter_width * g.filter_channels) as usize;
                c.reach(
                    self.conv.filter,
                    filter_reach(g.output.channels as usize, k),
                )?;
                let operands = [self.conv.input, self.conv.output];
                c.scratch(self.scratch, conv2d_scratch_bytes(g), &operands)
            }
        }
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.run_rows(arena, weights, self.conv.all_rows());
    }
}

impl Conv2dOp {
    /// Computes output rows `rows.0` into `rows.1` (see
    /// [`Conv2dS8::run_rows`]).
    #[inline(always)]
    pub(crate) fn run_rows(&self, arena: &mut [u8], weights: &[u8], rows: (Range<usize>, Span)) {
        let o = &self.conv;
        match self.kernel {
            // `check` refuses the kernels this op does not have.
            KernelChoice::Reference | KernelChoice::DepthwiseBlocked => {
                o.run_rows(arena, weights, rows, conv2d_s8_rows)
            }
            KernelChoice::Gemm => {
                let (io, out, scratch) = split_with_scratch(arena, rows.1, self.scratch);
                conv2d_s8_gemm_rows(
                    &o.params,
                    rows.0,
                    io.i8(o.input),
                    from_constant(weights, o.filter),
                    constant(weights, o.bias),
                    constant(weights, o.multiplier),
                    constant(weights, o.shift),
                    scratch,
                    out_i8(out),
                );
            }
        }
    }
}

wire_struct! {
    /// float32 CONV_2D.
    pub struct Conv2dF32Op {
        pub conv: Conv2dF32,
    }
}

impl OpDescriptor for Conv2dF32Op {
    const NAME: &'static str = "CONV_2D (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_conv2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.conv_windows(&self.conv.geometry)?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, conv2d_f32);
    }
}

wire_struct! {
    /// int16 (16x8) CONV_2D, TFLM's reference kernel.
    pub struct Conv2dS16Op {
        pub conv: Conv2dS16,
    }
}

impl OpDescriptor for Conv2dS16Op {
    const NAME: &'static str = "CONV_2D (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_conv2d_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.conv_windows(&self.conv.params.geometry)?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, conv2d_s16);
    }
}
