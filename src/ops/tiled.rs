//! Tiled execution of two layers: a convolution (plain or depthwise) and a
//! second convolution of its output run a band of the second one's output
//! rows at a time, so that the first one's output is never stored whole.
//! Its rows live in a window for as long as the second reads them, and
//! each band of output rows is written where it belongs, over input rows
//! that no later band reads when the output takes the input's place. The
//! pair then needs its input, a window of a few rows and its output,
//! instead of its input, the first output and its output; in a
//! MobileNet's early layers, where a pointwise layer widens the rows
//! before a strided depthwise layer narrows them, the widest tensor never
//! exists.
//!
//! A halo (the rows a band shares with the next) is kept in the window
//! rather than computed again: tiles are bands of whole rows, so no value
//! is computed twice, and the bytes are the layers' own.
//!
//! The window walk here ([`RowWindow`], [`window_rows`]) serves the
//! residual block (`ops::ResidualBlockOp`) as well.
//!
//! Layer: ops; uses `ops::conv2d`, `ops::depthwise_conv2d` and the
//! convolution geometry of `kernels::conv2d`.

use core::ops::Range;

use super::arena::{slide, split};
use super::conv2d::Conv2dS8;
use super::{Checker, Conv2dOp, DepthwiseConv2dOp, OpDescriptor};
use crate::arch::KernelChoice;
use crate::error::Error;
use crate::kernels::conv2d::ConvGeometry;
use crate::tensor::Span;
use crate::wire::wire_struct;

/// A convolution that computes a range of its output rows on its own
/// descriptor: what a window walk runs.
pub(crate) trait RowLayer: Copy {
    fn conv(&self) -> &Conv2dS8;
    fn conv_mut(&mut self) -> &mut Conv2dS8;
    /// Computes output rows `rows.0` into `rows.1` (see
    /// `Conv2dS8::run_rows`).
    fn run_rows(&self, arena: &mut [u8], weights: &[u8], rows: (Range<usize>, Span));
}

impl RowLayer for Conv2dOp {
    fn conv(&self) -> &Conv2dS8 {
        &self.conv
    }
    fn conv_mut(&mut self) -> &mut Conv2dS8 {
        &mut self.conv
    }
    fn run_rows(&self, arena: &mut [u8], weights: &[u8], rows: (Range<usize>, Span)) {
        Conv2dOp::run_rows(self, arena, weights, rows)
    }
}

wire_struct! {
    /// One layer of a tiled pair: an int8 CONV_2D, or an int8
    /// DEPTHWISE_CONV_2D when `depthwise` (whose kernel takes no scratch,
    /// so `op.scratch` is empty).
    pub struct TiledLayer {
        pub depthwise: bool,
        pub op: Conv2dOp,
    }
}

impl TiledLayer {
    fn depthwise_op(&self) -> DepthwiseConv2dOp {
        DepthwiseConv2dOp {
            conv: self.op.conv,
            kernel: self.op.kernel,
        }
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        if self.depthwise {
            c.ensure(
                self.op.scratch == Span::default(),
                "a depthwise layer takes no scratch",
            )?;
            self.depthwise_op().check(c)
        } else {
            self.op.check(c)
        }
    }
}

impl RowLayer for TiledLayer {
    fn conv(&self) -> &Conv2dS8 {
        &self.op.conv
    }
    fn conv_mut(&mut self) -> &mut Conv2dS8 {
        &mut self.op.conv
    }
    fn run_rows(&self, arena: &mut [u8], weights: &[u8], rows: (Range<usize>, Span)) {
        if self.depthwise {
            self.depthwise_op().run_rows(arena, weights, rows)
        } else {
            self.op.run_rows(arena, weights, rows)
        }
    }
}

wire_struct! {
    /// How a tiled pair walks its output: bands of `rows` rows of the
    /// second layer's output; the rows of the first layer's output that
    /// the second still reads are kept in `window`.
    pub struct Tiles {
        pub window: Span,
        pub rows: u32,
    }
}

wire_struct! {
    /// Two int8 convolutions, the second over the first one's output, run
    /// in bands (`walk`); the first one's output is never stored. The
    /// second's output may take the first one's input's place (the same
    /// offset), band by band, where the walk never overwrites input a
    /// later band reads.
    pub struct TiledPairOp {
        pub first: TiledLayer,
        pub second: TiledLayer,
        pub walk: Tiles,
    }
}

/// Band `k` of a layer of geometry `g` walked in bands of `rows` output
/// rows: its output rows and the input rows they read (`None` past the
/// last band, or where a band reads no input, which the checks refuse).
pub(crate) fn band(g: &ConvGeometry, rows: u32, k: u32) -> Option<(Range<u32>, Range<u32>)> {
    let first = k.checked_mul(rows)?;
    if first >= g.output.height {
        return None;
    }
    let out = first..first.saturating_add(rows).min(g.output.height);
    let reads = g.input_rows(out.clone())?;
    Some((out, reads))
}

/// Bytes of one row of a layer's input and of its output.
pub(crate) fn row_bytes(g: &ConvGeometry) -> (u32, u32) {
    (
        g.input.width.saturating_mul(g.input.channels),
        g.output.width.saturating_mul(g.output.channels),
    )
}

/// Rows of a first layer's output held in a window (`span`, rows of
/// `row_bytes` from its start) while a second layer reads them.
pub(crate) struct RowWindow {
    span: Span,
    row_bytes: u32,
    held: Range<u32>,
}

impl RowWindow {
    pub(crate) fn new(span: Span, row_bytes: u32) -> Self {
        RowWindow {
            span,
            row_bytes,
            held: 0..0,
        }
    }

    /// Makes the window hold rows `reads` of `first`'s output: slides the
    /// rows it still needs to its start, and computes the rows past those
    /// it holds. Rows never move backward (the walk's check refuses a
    /// band that reads rows before the last one's). Returns the span of
    /// the rows held.
    pub(crate) fn cover(
        &mut self,
        arena: &mut [u8],
        weights: &[u8],
        first: &impl RowLayer,
        reads: Range<u32>,
    ) -> Span {
        let row = self.row_bytes;
        let s = step(self.held.clone(), reads);
        if s.slid > 0 {
            let (shift, kept) = (s.slid.saturating_mul(row), s.kept.saturating_mul(row));
            slide(split(arena, self.span).1, shift as usize, kept as usize);
        }
        if !s.computed.is_empty() {
            let at = (s.computed.start - s.held.start).saturating_mul(row);
            let n = (s.computed.end - s.computed.start).saturating_mul(row);
            let slot = Span::new(self.span.offset.saturating_add(at), n);
            let rows = s.computed.start as usize..s.computed.end as usize;
            first.run_rows(arena, weights, (rows, slot));
        }
        self.held = s.held;
        Span::new(
            self.span.offset,
            (self.held.end - self.held.start).saturating_mul(row),
        )
    }
}

/// One move of a window from holding rows `held` to holding `reads`.
struct Step {
    /// Rows slid out of its start, and rows kept (slid to the start).
    slid: u32,
    kept: u32,
    /// Rows computed, past those kept.
    computed: Range<u32>,
    /// Rows held after.
    held: Range<u32>,
}

/// The window's move to hold `reads` (rows only move forward: a row is
/// computed once, when a band first reads it).
fn step(held: Range<u32>, reads: Range<u32>) -> Step {
    let (mut slid, mut kept, mut now) = (0, held.end - held.start, held.clone());
    if reads.start > held.start {
        let keep = reads.start.min(held.end);
        (slid, kept) = (keep - held.start, held.end - keep);
        now = reads.start..held.end.max(reads.start);
    }
    let computed = now.end..reads.end.max(now.end);
    now.end = computed.end;
    Step {
        slid,
        kept,
        computed,
        held: now,
    }
}

/// How many rows of the first layer's output a tiled pair computes when
/// the second (geometry `second`) walks its output in bands of `rows`
/// rows: the window's own moves, summed. Never more than the first layer's output height: tiles keep
/// their halo rows, so the pair computes no MAC twice; `kiln inspect`
/// reports the difference as the extra MACs tiling costs.
pub fn first_rows_computed(second: &ConvGeometry, rows: u32) -> u32 {
    let (mut held, mut total) = (0..0, 0u32);
    let mut k = 0;
    while let Some((_, reads)) = band(second, rows, k) {
        let s = step(held, reads);
        total = total.saturating_add(s.computed.end - s.computed.start);
        held = s.held;
        k += 1;
    }
    total
}

/// Runs `second` for its output rows `rows` into `output`, over `window`,
/// which holds the input rows those read, from the first: as the
/// convolution of just those rows (`ConvGeometry::rows_geometry`), so
/// that every value is the one the whole layer computes.
pub(crate) fn run_over_window(
    second: &impl RowLayer,
    arena: &mut [u8],
    weights: &[u8],
    (window, rows, output): (Span, Range<u32>, Span),
) {
    let Some(geometry) = second.conv().params.geometry.rows_geometry(rows.clone()) else {
        return;
    };
    let mut layer = *second;
    layer.conv_mut().params.geometry = geometry;
    layer.conv_mut().input = window;
    let count = (rows.end - rows.start) as usize;
    layer.run_rows(arena, weights, (0..count, output));
}

/// The most rows of the first layer's output a window holds at once,
/// walking the second's output in bands of `rows` rows (`first` and
/// `second` the two layers' geometries); `None` when a band reads no
/// input, reads rows before the last band's, or, when the output takes
/// the first layer's input's place (`over_input`, the same offset), when
/// a band's output would land on input the first layer reads for a later
/// band. The planner sizes the window with it, and the ops' checks refuse
/// what it refuses.
pub fn window_rows(
    first: &ConvGeometry,
    second: &ConvGeometry,
    rows: u32,
    over_input: bool,
) -> Option<u32> {
    let (input_row, _) = row_bytes(first);
    let (_, output_row) = row_bytes(second);
    let mut held = 0..0u32;
    let mut most = 0;
    let mut k = 0;
    while let Some((out, reads)) = band(second, rows.max(1), k) {
        if reads.start < held.start {
            return None;
        }
        held = reads.start..held.end.max(reads.start);
        if reads.end > held.end {
            // The bands before this one have written their output.
            let read = first.input_rows(held.end..reads.end)?;
            let written = u64::from(out.start) * u64::from(output_row);
            if over_input && u64::from(read.start) * u64::from(input_row) < written {
                return None;
            }
            held.end = reads.end;
        }
        most = most.max(held.end - held.start);
        k += 1;
    }
    // A band that reads no input stops the walk early: refused.
    let covered = k.saturating_mul(rows.max(1)) >= second.output.height;
    covered.then_some(most)
}

impl OpDescriptor for TiledPairOp {
    const NAME: &'static str = "tiled pair (convolution into convolution)";

    // No kernel of its own: on a GPU it runs as its two layers.
    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.second.op.conv.params.geometry.output.elements()
    }

    #[cfg(feature = "host")]
    fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
        let (mut first, mut second) = (self.first, self.second);
        let hidden = Span::new(spill, first.op.conv.output.len);
        let output = second.op.conv.output;
        let staged = Span::new(hidden.end() as u32, output.len);
        first.op.conv.output = hidden;
        second.op.conv.input = hidden;
        second.op.conv.output = staged;
        let step = |layer: TiledLayer| match layer.depthwise {
            true => super::Op::DepthwiseConv2d(layer.depthwise_op()),
            false => super::Op::Conv2d(layer.op),
        };
        // The output may take the input's place: it is staged, then copied.
        let copy = super::SliceOp::copy(staged, output);
        Some(super::GpuSteps {
            ops: [step(first), step(second), super::Op::Slice(copy)]
                .into_iter()
                .collect(),
            spilled_bytes: (staged.end() - u64::from(spill)) as u32,
        })
    }

    fn kernel(&self) -> KernelChoice {
        self.second.op.kernel
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let (first, second) = (&self.first.op.conv, &self.second.op.conv);
        let (input, hidden, output) = (first.input, first.output, second.output);
        c.ensure(
            second.input == hidden && hidden != input && hidden != output,
            "a tiled pair's layers are not wired as one",
        )?;
        let over_input = output.overlaps(&input);
        c.ensure(
            !over_input || output.offset == input.offset,
            "a tiled pair's output overlaps its input elsewhere than at its start",
        )?;
        let streamed = c.streamed(hidden);
        self.first.check(&streamed)?;
        self.second.check(&streamed)?;
        let (g1, g2) = (&first.params.geometry, &second.params.geometry);
        c.ensure(
            g1.output == g2.input && g1.input.batches == 1 && g2.input.batches == 1,
            "a tiled pair's first output is not its second input",
        )?;
        let w = &self.walk;
        c.ensure(w.rows > 0, "bands of no rows")?;
        let most = window_rows(g1, g2, w.rows, over_input).ok_or_else(|| {
            c.fail("a tiled band reads no input, or overwrites input a later band reads")
        })?;
        let window_bytes = u64::from(most) * u64::from(row_bytes(g2).0);
        c.scratch(w.window, window_bytes as usize, &[input, output])?;
        for layer in [&self.first, &self.second] {
            for buffer in [w.window, input, output] {
                c.ensure(
                    !layer.op.scratch.overlaps(&buffer),
                    "scratch overlaps a tiled pair's input, output or window",
                )?;
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let g2 = self.second.op.conv.params.geometry;
        let (window_row, row) = row_bytes(&g2);
        let output = self.second.op.conv.output;
        let mut window = RowWindow::new(self.walk.window, window_row);
        let mut k = 0;
        while let Some((rows, reads)) = band(&g2, self.walk.rows, k) {
            let held = window.cover(arena, weights, &self.first, reads);
            let at = output.offset.saturating_add(rows.start.saturating_mul(row));
            let bytes = (rows.end - rows.start).saturating_mul(row);
            run_over_window(
                &self.second,
                arena,
                weights,
                (held, rows, Span::new(at, bytes)),
            );
            k += 1;
        }
    }
}
