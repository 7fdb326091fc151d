//! A residual block (a convolution, a second convolution of its output,
//! and an ADD of the result with the block's input) run a band of output
//! rows at a time, so that neither convolution's output is ever stored
//! whole: the first one's rows live in a small window for as long as the
//! second reads them, the second one's band is summed with the block's
//! input rows, and the sum is written over those input rows, which no
//! later band reads. The block then needs its input plus a few rows
//! instead of its input and two outputs of the same size (ResNet's first
//! block: 16 KB plus about 3 KB instead of 32 KB).
//!
//! Each step runs the layers' own kernels: the first convolution for the
//! rows it newly owes (a row range, as in place), the second over the
//! window as the convolution of just those rows
//! (`ConvGeometry::rows_geometry`), the ADD on matching runs. No value is
//! computed twice, and the bytes are the three ops'.
//!
//! Layer: ops; uses `ops::conv2d`, `ops::elementwise`, the elementwise
//! walk of `ops::in_place` and the window walk of `ops::tiled`.

use super::arena::{move_bytes, operands, out_i8, split};
use super::tiled::{band, row_bytes, run_over_window, window_rows, RowWindow};
use super::{AddOp, Checker, ConstantOperand, Conv2dOp, OpDescriptor};
use crate::arch::KernelChoice;
use crate::error::Error;
use crate::kernels::part;
use crate::tensor::Span;
use crate::wire::wire_struct;

wire_struct! {
    /// How a residual block walks its output: bands of `rows` rows. The
    /// rows of the first convolution's output that the second still reads
    /// are kept in `window`; the second convolution computes a band into
    /// `band`, the ADD sums it with the block's input rows into `sum`, and
    /// `sum` is copied over those input rows.
    pub struct Residual {
        pub window: Span,
        pub band: Span,
        pub sum: Span,
        pub rows: u32,
    }
}

wire_struct! {
    /// int8 CONV_2D (`first`, over the block's input), CONV_2D (`second`,
    /// over the first one's output) and ADD (the second one's output and
    /// the block's input, written over the input) of a residual block, run
    /// in bands (`walk`); neither convolution's output is stored.
    pub struct ResidualBlockOp {
        pub first: Conv2dOp,
        pub second: Conv2dOp,
        pub add: AddOp,
        pub walk: Residual,
    }
}

impl ResidualBlockOp {
    /// The ADD's operands in the order it takes them: which one is the
    /// block's input (its output's bytes), and the other, the second
    /// convolution's output.
    fn add_operands(&self) -> (Span, Span, bool) {
        let a = &self.add.add;
        if a.input1 == a.output {
            (a.input1, a.input2, true)
        } else {
            (a.input2, a.input1, false)
        }
    }
}

impl OpDescriptor for ResidualBlockOp {
    const NAME: &'static str = "streamed residual block (CONV_2D, CONV_2D, ADD)";

    // No kernel of its own: on a GPU it runs as its three ops.
    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.second.cuda_items()
    }

    #[cfg(feature = "host")]
    fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
        let (mut first, mut second, mut add) = (self.first, self.second, self.add);
        let (input, _, input_first) = self.add_operands();
        let hidden = Span::new(spill, first.conv.output.len);
        let branch = Span::new(hidden.end() as u32, second.conv.output.len);
        let sum = Span::new(branch.end() as u32, input.len);
        first.conv.output = hidden;
        second.conv.input = hidden;
        second.conv.output = branch;
        let a = &mut add.add;
        (a.input1, a.input2) = if input_first {
            (input, branch)
        } else {
            (branch, input)
        };
        a.output = sum;
        let copy = super::SliceOp::copy(sum, input);
        Some(super::GpuSteps {
            ops: [
                super::Op::Conv2d(first),
                super::Op::Conv2d(second),
                super::Op::Add(add),
                super::Op::Slice(copy),
            ]
            .into_iter()
            .collect(),
            spilled_bytes: (sum.end() - u64::from(spill)) as u32,
        })
    }

    fn kernel(&self) -> KernelChoice {
        self.second.kernel
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let (first, second) = (&self.first.conv, &self.second.conv);
        let (input, branch, _) = self.add_operands();
        let (hidden, a) = (first.output, &self.add.add);
        c.ensure(
            a.output == input
                && first.input == input
                && second.input == hidden
                && branch == second.output
                && branch != input
                && a.constant == ConstantOperand::Neither,
            "a residual block's ops are not wired as one",
        )?;
        let streamed = c.streamed(hidden).streamed(branch);
        self.first.check(&streamed)?;
        self.second.check(&streamed)?;
        self.add.check(&streamed.banded())?;
        let (g1, g2) = (&first.params.geometry, &second.params.geometry);
        c.ensure(
            g1.input == g2.output && g1.input.batches == 1 && g2.input.batches == 1,
            "a residual block's input and output differ",
        )?;
        c.ensure(
            a.params.broadcast.same_shape && a.params.broadcast.elements() == g2.output.elements(),
            "a residual block's ADD takes one shape",
        )?;
        c.ensure(self.walk.rows > 0, "bands of no rows")?;
        let (window_row, row) = row_bytes(g2);
        let band = u64::from(self.walk.rows.min(g2.output.height)) * u64::from(row);
        let w = &self.walk;
        let scratch = [self.first.scratch, self.second.scratch];
        c.scratch(w.band, band as usize, &[input, w.window, w.sum])?;
        c.scratch(w.sum, band as usize, &[input, w.window])?;
        for s in scratch {
            for buffer in [w.window, w.band, w.sum] {
                c.ensure(
                    !s.overlaps(&buffer),
                    "scratch overlaps a residual block's buffer",
                )?;
            }
        }
        let most = window_rows(g1, g2, w.rows, true).ok_or_else(|| {
            c.fail("a residual band reads no input, or overwrites input a later band reads")
        })?;
        let window_bytes = u64::from(most) * u64::from(window_row);
        c.scratch(w.window, window_bytes as usize, &[input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (input, _, input_first) = self.add_operands();
        let g2 = self.second.conv.params.geometry;
        let (window_row, row) = row_bytes(&g2);
        let w = &self.walk;
        let mut window = RowWindow::new(w.window, window_row);
        let mut k = 0;
        while let Some((rows, reads)) = band(&g2, w.rows, k) {
            k += 1;
            let held = window.cover(arena, weights, &self.first, reads);
            let bytes = (rows.end - rows.start).saturating_mul(row);
            let band = Span::new(w.band.offset, bytes);
            // The sum, over the input rows no later band reads.
            let at = Span::new(
                input.offset.saturating_add(rows.start.saturating_mul(row)),
                bytes,
            );
            run_over_window(&self.second, arena, weights, (held, rows, band));
            let sum = Span::new(w.sum.offset, bytes);
            let (io, out) = split(arena, sum);
            let pair = if input_first { (at, band) } else { (band, at) };
            let (x, y) = operands::<i8>(&io, weights, pair, ConstantOperand::Neither);
            let n = bytes as usize;
            crate::arch::add_s8(
                &self.add.add.params,
                part(x, 0, n),
                part(y, 0, n),
                out_i8(out),
            );
            move_bytes(arena, sum, at.offset);
        }
    }
}
