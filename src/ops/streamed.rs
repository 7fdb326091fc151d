//! A convolution streamed into the fully connected layer that reads its
//! output: the convolution computes a band of output rows at a time into a
//! small buffer, and the fully connected layer adds that band's products
//! to one running sum per output before the next band is computed. The
//! convolution's output is never stored whole, so the layer pair needs the
//! convolution's input, one band and the sums instead of the input and the
//! whole output (micro_speech: 1,960 + 160 + 16 bytes instead of
//! 1,960 + 4,000).
//!
//! Each band runs the convolution's own kernel on its own descriptor, and
//! the sums of the bands are the fully connected layer's own accumulators
//! split by columns (exact in i32: the checks keep the depth small enough
//! that no sum overflows), so the bytes are those of the two ops run one
//! after the other.
//!
//! Layer: ops; uses `ops::conv2d`, `ops::depthwise_conv2d`,
//! `ops::fully_connected` and `kernels::fully_connected`.

use core::ops::Range;

use super::arena::{constant, out_i32, out_i8, split};
use super::in_place::Scratch;
use super::{Checker, Conv2dOp, DepthwiseConv2dOp, FullyConnectedOp, OpDescriptor};
use crate::arch::{fully_connected_s8_gemm_accumulate, KernelChoice};
use crate::error::Error;
use crate::kernels::fully_connected::{fully_connected_s8_accumulate, fully_connected_s8_finish};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// How a stream walks the convolution's output: bands of `rows` output
    /// rows, each computed into `buffer` and then added into `sums` (one
    /// i32 per output of the fully connected layer).
    pub struct Stream {
        pub buffer: Span,
        pub rows: u32,
        pub sums: Span,
    }
}

impl Stream {
    /// Checks the pair once: the convolution's output is the fully
    /// connected layer's input and is never stored (`Checker::streamed`),
    /// the layer takes it as one row, the buffer holds a band, and the
    /// buffer, the sums, the convolution's input and scratch and the
    /// layer's output share no byte.
    fn check(
        &self,
        c: &Checker,
        conv: &crate::ops::Conv2dS8,
        scratch: &[Span],
        fc: &FullyConnectedOp,
        check_conv: impl FnOnce(&Checker) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let unstored = conv.output;
        c.ensure(
            fc.input == unstored,
            "a stream's fully connected layer reads another tensor",
        )?;
        c.ensure(
            unstored != conv.input && unstored != fc.output,
            "a stream's tensor is also stored",
        )?;
        let streamed = c.streamed(unstored);
        check_conv(&streamed)?;
        fc.check(&streamed)?;
        let g = &conv.params.geometry;
        c.ensure(
            g.input.batches == 1 && g.output.batches == 1 && fc.params.shape.batches == 1,
            "a stream takes one batch",
        )?;
        c.ensure(self.rows > 0, "bands of no rows")?;
        let row_bytes = u64::from(g.output.width) * u64::from(g.output.channels);
        let band = (u64::from(self.rows.min(g.output.height)) * row_bytes).min(u64::from(u32::MAX));
        let outputs = u64::from(fc.params.shape.output_depth);
        c.arena(self.sums, outputs, DType::I32)?;
        c.scratch(
            self.buffer,
            band as usize,
            &[conv.input, fc.output, self.sums],
        )?;
        for s in scratch.iter().chain([&conv.input, &fc.output]) {
            c.ensure(
                !s.overlaps(&self.sums),
                "a stream's sums overlap an operand",
            )?;
        }
        for s in scratch {
            c.ensure(
                !s.overlaps(&self.buffer),
                "scratch overlaps a stream's band buffer",
            )?;
        }
        Ok(())
    }

    /// Runs the pair: each band computed by `run_band` into the buffer,
    /// its products added to the sums, then the layer's output from them.
    #[inline(always)]
    fn run(
        &self,
        conv: &crate::ops::Conv2dS8,
        fc: &FullyConnectedOp,
        arena: &mut [u8],
        weights: &[u8],
        mut run_band: impl FnMut(&mut [u8], (Range<usize>, Span)),
    ) {
        let g = &conv.params.geometry;
        let (height, rows) = (g.output.height, self.rows.max(1));
        let row_bytes = g.output.width.saturating_mul(g.output.channels);
        let filter = constant(weights, fc.filter);
        out_i32(split(arena, self.sums).1).fill(0);
        let mut first = 0;
        while first < height {
            let last = first.saturating_add(rows).min(height);
            let band = Span::new(self.buffer.offset, (last - first).saturating_mul(row_bytes));
            run_band(arena, (first as usize..last as usize, band));
            let (io, sums) = split(arena, self.sums);
            let (x, sums) = (io.i8(band), out_i32(sums));
            let column = first.saturating_mul(row_bytes) as usize;
            match fc.kernel {
                KernelChoice::Gemm => {
                    fully_connected_s8_gemm_accumulate(&fc.params, x, column, filter, sums)
                }
                KernelChoice::Reference | KernelChoice::DepthwiseBlocked => {
                    fully_connected_s8_accumulate(&fc.params, x, column, filter, sums)
                }
            }
            first = last;
        }
        let bias = match fc.kernel {
            KernelChoice::Gemm => fc.folded_bias,
            KernelChoice::Reference | KernelChoice::DepthwiseBlocked => fc.bias,
        };
        let (io, out) = split(arena, fc.output);
        fully_connected_s8_finish(
            &fc.params,
            io.i32(self.sums),
            constant(weights, bias),
            constant(weights, fc.multiplier),
            constant(weights, fc.shift),
            out_i8(out),
        );
    }
}

/// A convolution op streamed into a fully connected layer.
macro_rules! streamed_into_fully_connected {
    ($($(#[$doc:meta])* $name:ident($op:ident) $variant:ident;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $name {
                pub conv: $op,
                pub fc: FullyConnectedOp,
                pub stream: Stream,
            }
        }

        impl OpDescriptor for $name {
            const NAME: &'static str = "streamed convolution and FULLY_CONNECTED";

            // No kernel of its own: on a GPU it runs as its two ops.
            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = "";

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.conv.cuda_items()
            }

            #[cfg(feature = "host")]
            fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
                let (mut conv, mut fc) = (self.conv, self.fc);
                conv.conv.output = Span::new(spill, conv.conv.output.len);
                fc.input = conv.conv.output;
                Some(super::GpuSteps {
                    ops: [super::Op::$variant(conv), super::Op::FullyConnected(fc)]
                        .into_iter()
                        .collect(),
                    spilled_bytes: fc.input.len,
                })
            }

            fn kernel(&self) -> KernelChoice {
                self.conv.kernel
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                let scratch = self.conv.scratch();
                self.stream
                    .check(c, &self.conv.conv, scratch, &self.fc, |c| self.conv.check(c))
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                self.stream.run(&self.conv.conv, &self.fc, arena, weights, |arena, rows| {
                    self.conv.run_rows(arena, weights, rows)
                });
            }
        }
    )*};
}

streamed_into_fully_connected! {
    /// int8 CONV_2D whose output an int8 FULLY_CONNECTED consumes in
    /// bands (`stream`); the output is never stored.
    Conv2dIntoFullyConnectedOp(Conv2dOp) Conv2d;
    /// int8 DEPTHWISE_CONV_2D whose output an int8 FULLY_CONNECTED consumes
    /// in bands (`stream`); the output is never stored.
    DepthwiseConv2dIntoFullyConnectedOp(DepthwiseConv2dOp) DepthwiseConv2d;
}
