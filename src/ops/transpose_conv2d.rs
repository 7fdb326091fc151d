//! TRANSPOSE_CONV (ONNX ConvTranspose), int8, int16 and float32, on the
//! convolution descriptors of `ops::conv2d`: the geometry is that of the
//! equivalent forward convolution read backwards (see `kernels::conv2d`).
//!
//! Layer: ops; uses `kernels::conv2d` and `kernels::transpose_conv2d`.

use super::conv2d::{Conv2dF32, Conv2dS16, Conv2dS8};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::conv2d::ConvGeometry;
use crate::kernels::transpose_conv2d::{
    transpose_conv2d_f32, transpose_conv2d_s16, transpose_conv2d_s8,
};
use crate::wire::wire_struct;

/// A transposed convolution's coordinates stay far from overflow on 32-bit
/// targets (the gather checks every tap against the input's extent).
fn check_reach(c: &Checker, g: &ConvGeometry) -> Result<(), Error> {
    let reach = |out: u32, pad: u32, f: u32, d: u32| {
        u64::from(out) + u64::from(pad) + u64::from(f) * u64::from(d) < 1 << 30
    };
    c.ensure(
        reach(
            g.output.height,
            g.padding_top,
            g.filter_height,
            g.dilation_height,
        ) && reach(
            g.output.width,
            g.padding_left,
            g.filter_width,
            g.dilation_width,
        ),
        "transposed convolution too large",
    )
}

wire_struct! {
    /// int8 TRANSPOSE_CONV.
    pub struct TransposeConv2dOp {
        pub conv: Conv2dS8,
    }
}

impl OpDescriptor for TransposeConv2dOp {
    const NAME: &'static str = "TRANSPOSE_CONV";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_transpose_conv2d";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_reach(c, &self.conv.params.geometry)?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let rows = self.conv.all_rows();
        // A transposed convolution scatters rows: it runs whole.
        self.conv
            .run_rows(arena, weights, rows, |p, _, i, f, b, m, s, o| {
                transpose_conv2d_s8(p, i, f, b, m, s, o)
            });
    }
}

wire_struct! {
    /// int16 (16x8) TRANSPOSE_CONV: int64 sums, an int64 bias or none.
    pub struct TransposeConv2dS16Op {
        pub conv: Conv2dS16,
    }
}

impl OpDescriptor for TransposeConv2dS16Op {
    const NAME: &'static str = "TRANSPOSE_CONV (int16)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_transpose_conv2d_s16";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.params.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_reach(c, &self.conv.params.geometry)?;
        // TFLM's int16 kernel sums in int64 whatever the bias.
        c.ensure(
            self.conv.int64_accumulator,
            "int16 TRANSPOSE_CONV sums in int64",
        )?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, transpose_conv2d_s16);
    }
}

wire_struct! {
    /// float32 TRANSPOSE_CONV.
    pub struct TransposeConv2dF32Op {
        pub conv: Conv2dF32,
    }
}

impl OpDescriptor for TransposeConv2dF32Op {
    const NAME: &'static str = "TRANSPOSE_CONV (float32)";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_transpose_conv2d_f32";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.conv.geometry.output.elements()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_reach(c, &self.conv.geometry)?;
        self.conv.check_operands(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        self.conv.run_with(arena, weights, transpose_conv2d_f32);
    }
}
