//! DEPTHWISE_CONV_2D, int8, int16 (16x8) and float32: a convolution with one input
//! channel per filter (`filter_channels` 1) and any depth multiplier.
//!
//! Layer: ops; uses `kernels::depthwise_conv2d` and the convolution
//! descriptors of `ops::conv2d`.

use super::conv2d::{Conv2dF32, Conv2dS16, Conv2dS8};
use super::{Checker, OpDescriptor};
use crate::arch::{self, KernelChoice};
use crate::error::Error;
use crate::kernels::conv2d::ConvGeometry;
use core::ops::Range;

use crate::kernels::depthwise_conv2d::{
    depthwise_conv2d_f32, depthwise_conv2d_s16, depthwise_conv2d_s8_rows,
};
use crate::tensor::Span;
use crate::wire::wire_struct;

/// The depthwise rules on top of a convolution's: one input channel per
/// filter, and the forward windows.
fn check_depthwise(c: &Checker, g: &ConvGeometry) -> Result<(), Error> {
    c.ensure(
        g.filter_channels == 1,
        "a depthwise filter reads one input channel",
    )?;
    c.conv_windows(g)
}

wire_struct! {
    /// int8 DEPTHWISE_CONV_2D; the filter is `[1, KH, KW, output channels]`.
    /// `kernel` is the implementation the codegen chose: the reference
    /// kernel, or four channels at a time (`KernelChoice::DepthwiseBlocked`,
    /// depth multiplier 1).
    pub struct DepthwiseConv2dOp {
        pub conv: Conv2dS8,
        pub kernel: KernelChoice,
    }
}

impl OpDescriptor for DepthwiseConv2dOp {
    const NAME: &'static str = "DEPTHWISE_CONV_2D";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_depthwise_conv2d";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn kernel(&self) -> KernelChoice {
        self.kernel
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let g = &self.conv.params.geometry;
        check_depthwise(c, g)?;
        self.conv.check_operands(c)?;
        match self.kernel {
            KernelChoice::Reference => Ok(()),
            KernelChoice::DepthwiseBlocked => {
                c.ensure(
                    g.output.channels == g.input.channels,
                    "the blocked depthwise kernel takes depth multiplier 1",
                )?;
                c.multipliers(self.conv.multiplier)
            }
            KernelChoice::Gemm => Err(c.fail("kernel not available for this op")),
        }
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.run_rows(arena, weights, self.conv.all_rows());
    }
}

impl DepthwiseConv2dOp {
    /// Computes output rows `rows.0` into `rows.1` (see
    /// `Conv2dS8::run_rows`).
    #[inline(always)]
    pub(crate) fn run_rows(&self, arena: &mut [u8], weights: &[u8], rows: (Range<usize>, Span)) {
        match self.kernel {
            // `check` refuses the kernels this op does not have.
            KernelChoice::Reference | KernelChoice::Gemm => {
                self.conv
                    .run_rows(arena, weights, rows, depthwise_conv2d_s8_rows)
            }
            KernelChoice::DepthwiseBlocked => {
                self.conv
                    .run_rows(arena, weights, rows, arch::depthwise_conv2d_s8_rows)
            }
        }
    }
}

wire_struct! {
    /// float32 DEPTHWISE_CONV_2D.
    pub struct DepthwiseConv2dF32Op {
        pub conv: Conv2dF32,
    }
}

impl OpDescriptor for DepthwiseConv2dF32Op {
    const NAME: &'static str = "DEPTHWISE_CONV_2D (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_depthwise_conv2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_depthwise(c, &self.conv.geometry)?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, depthwise_conv2d_f32);
    }
}

wire_struct! {
    /// int16 (16x8) DEPTHWISE_CONV_2D, TFLM's reference kernel.
    pub struct DepthwiseConv2dS16Op {
        pub conv: Conv2dS16,
    }
}

impl OpDescriptor for DepthwiseConv2dS16Op {
    const NAME: &'static str = "DEPTHWISE_CONV_2D (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_depthwise_conv2d_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_depthwise(c, &self.conv.params.geometry)?;
        // TFLM's int16 depthwise takes an int64 bias only (the codegen's
        // rule); no int32-accumulating one exists to match.
        c.ensure(
            self.conv.int64_accumulator,
            "an int16 depthwise convolution accumulates in int64",
        )?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, depthwise_conv2d_s16);
    }
}
