//! Tiled execution of a chain of two or three layers: convolutions (plain
//! or depthwise), each over the one before's output, run a band of the
//! last one's output rows at a time, so that no output but the last is
//! ever stored whole. Each earlier layer's rows live in a window for as
//! long as the next layer reads them, and each band of output rows is
//! written where it belongs, over input rows that no later band reads
//! when the output takes the input's place. The chain then needs its
//! input, a window of a few rows per inner layer and its output. In a
//! MobileNet's early layers, where a pointwise layer widens the rows
//! before a strided depthwise layer narrows them, the widest tensor never
//! exists; in a MobileNetV2 inverted bottleneck (widen, depthwise,
//! narrow), a chain of three stores neither wide tensor, where a pair
//! stores one.
//!
//! A band pulls its rows back through the chain: the last window computes
//! the rows it lacks, which read rows of the window before, which
//! computes those it lacks, and so on to the stored input
//! ([`band_steps`]). A halo (the rows a band shares with the next) is
//! kept in its window rather than computed again: tiles are bands of
//! whole rows, so no value is computed twice, and the bytes are the
//! layers' own.
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
    /// One layer of a tiled chain: an int8 CONV_2D, or an int8
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

/// The most layers a tiled chain runs. Three is a MobileNetV2 inverted
/// bottleneck (widen, depthwise, narrow), and keeps the descriptor no
/// larger than a residual block's, the largest op: a blob's op table
/// holds every op at that size (a fourth layer would make each a third
/// larger).
pub const MAX_TILED_LAYERS: usize = 3;

wire_struct! {
    /// How a tiled chain walks its output: bands of `rows` rows of the
    /// last layer's output. `windows[j]` keeps the rows of layer `j`'s
    /// output that layer `j + 1` still reads (the first `count - 1` are
    /// used).
    pub struct Tiles {
        pub windows: [Span; MAX_TILED_LAYERS - 1],
        pub rows: u32,
    }
}

wire_struct! {
    /// Two or three int8 convolutions (`layers[..count]`), each over the
    /// one before's output, run in bands (`walk`): no output but the
    /// last one is ever stored. The last output may take the first
    /// layer's input's place (the same offset), band by band, where the
    /// walk never overwrites input a later band reads. Unused layers are
    /// left at their defaults.
    pub struct TiledChainOp {
        pub layers: [TiledLayer; MAX_TILED_LAYERS],
        pub count: u32,
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

/// Rows of a layer's output held in a window (`span`, rows of `row_bytes`
/// from its start) while the next layer reads them.
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

    /// The span of the rows held.
    fn held(&self) -> Span {
        let rows = self.held.end - self.held.start;
        Span::new(self.span.offset, rows.saturating_mul(self.row_bytes))
    }

    /// Takes step `s`: slides the rows it keeps to the window's start and
    /// returns where the rows it computes go, for the caller to compute.
    fn take(&mut self, arena: &mut [u8], s: &Step) -> Span {
        let row = self.row_bytes;
        if s.slid > 0 {
            let (shift, kept) = (s.slid.saturating_mul(row), s.kept.saturating_mul(row));
            slide(split(arena, self.span).1, shift as usize, kept as usize);
        }
        let at = (s.computed.start - s.held.start).saturating_mul(row);
        let n = (s.computed.end - s.computed.start).saturating_mul(row);
        self.held = s.held.clone();
        Span::new(self.span.offset.saturating_add(at), n)
    }

    /// Makes the window hold rows `reads` of `first`'s output, computing
    /// the rows past those it holds over `first`'s stored input. Rows
    /// never move backward (the walk's check refuses a band that reads
    /// rows before the last one's). Returns the span of the rows held.
    pub(crate) fn cover(
        &mut self,
        arena: &mut [u8],
        weights: &[u8],
        first: &impl RowLayer,
        reads: Range<u32>,
    ) -> Span {
        let s = step(self.held.clone(), reads);
        let slot = self.take(arena, &s);
        if !s.computed.is_empty() {
            let rows = s.computed.start as usize..s.computed.end as usize;
            first.run_rows(arena, weights, (rows, slot));
        }
        self.held()
    }
}

/// One move of a window from holding rows `held` to holding `reads`.
#[derive(Clone, Default)]
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

/// The windows' moves for one band of a chain of layers of geometries
/// `layers` whose last layer reads rows `reads` of the last window
/// (`held`: the rows each window holds). Worked from the last window
/// back: a window computes the rows it lacks, which read rows of the
/// window before (or, for the first, of the stored input); a window that
/// computes nothing leaves those before it as they are (`None`). `None`
/// overall where a window would move backward or a layer reads no input.
fn band_steps<'g>(
    layers: impl DoubleEndedIterator<Item = &'g ConvGeometry> + ExactSizeIterator,
    held: &[Range<u32>],
    reads: Range<u32>,
) -> Option<[Option<Step>; MAX_TILED_LAYERS - 1]> {
    let mut steps: [Option<Step>; MAX_TILED_LAYERS - 1] = Default::default();
    let mut need = Some(reads);
    let windows = layers.len().saturating_sub(1);
    // Window `j` holds layer `j`'s output: the last layer has none.
    for (j, layer) in layers.enumerate().take(windows).rev() {
        let Some(reads) = need.take() else { break };
        let now = held.get(j)?.clone();
        if reads.start < now.start {
            return None;
        }
        let s = step(now, reads);
        if !s.computed.is_empty() {
            need = Some(layer.input_rows(s.computed.clone())?);
        }
        *steps.get_mut(j)? = Some(s);
    }
    Some(steps)
}

/// What walking a chain of layers costs: the most rows each window holds
/// at once, and the rows each layer computes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChainWalk {
    pub window_rows: [u32; MAX_TILED_LAYERS - 1],
    pub rows_computed: [u32; MAX_TILED_LAYERS],
}

/// The walk of a chain of two or three layers of geometries `layers`, the
/// last one's output in bands of `rows` rows. A window computes a row
/// once, when a band first reads it, and keeps the halo rows the next
/// band shares, so no layer computes more rows than its output has (`kiln
/// inspect` reports any difference as the extra MACs tiling costs).
/// `None` when a band reads no input, reads rows before the last band's,
/// or, when the last output takes the first layer's input's place
/// (`over_input`, the same offset), when a band's output would land on
/// input the first layer reads for a later band. The planner sizes the
/// windows with it, and the ops' checks refuse what it refuses.
pub fn chain_walk(layers: &[ConvGeometry], rows: u32, over_input: bool) -> Option<ChainWalk> {
    let (first, last) = (layers.first()?, layers.last()?);
    if !(2..=MAX_TILED_LAYERS).contains(&layers.len()) {
        return None;
    }
    let rows = rows.max(1);
    let (input_row, _) = row_bytes(first);
    let (_, output_row) = row_bytes(last);
    let mut held: [Range<u32>; MAX_TILED_LAYERS - 1] = Default::default();
    let mut walk = ChainWalk::default();
    let mut k = 0;
    while let Some((out, reads)) = band(last, rows, k) {
        let steps = band_steps(layers.iter(), &held, reads)?;
        let windows = steps.iter().zip(&mut held).zip(&mut walk.window_rows);
        for (j, ((s, held), most)) in windows.enumerate() {
            let Some(s) = s else { continue };
            if j == 0 && !s.computed.is_empty() {
                // The bands before this one have written their output.
                let read = first.input_rows(s.computed.clone())?;
                let written = u64::from(out.start) * u64::from(output_row);
                if over_input && u64::from(read.start) * u64::from(input_row) < written {
                    return None;
                }
            }
            *held = s.held.clone();
            *most = (*most).max(s.held.end - s.held.start);
            if let Some(computed) = walk.rows_computed.get_mut(j) {
                *computed += s.computed.end - s.computed.start;
            }
        }
        if let Some(computed) = walk.rows_computed.get_mut(layers.len() - 1) {
            *computed += out.end - out.start;
        }
        k += 1;
    }
    // A band that reads no input stops the walk early: refused.
    let covered = k.saturating_mul(rows) >= last.output.height;
    covered.then_some(walk)
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

/// The most rows of the first layer's output a window holds at once when
/// a second layer reads it in bands of `rows` of its output rows (a
/// chain of two: [`chain_walk`]).
pub fn window_rows(
    first: &ConvGeometry,
    second: &ConvGeometry,
    rows: u32,
    over_input: bool,
) -> Option<u32> {
    chain_walk(&[*first, *second], rows, over_input).map(|w| w.window_rows[0])
}

impl TiledChainOp {
    /// The layers in use.
    pub fn layers(&self) -> &[TiledLayer] {
        let count = (self.count as usize).min(MAX_TILED_LAYERS);
        &self.layers[..count]
    }

    /// The layers' geometries (the first `count`).
    pub fn geometries(&self) -> ([ConvGeometry; MAX_TILED_LAYERS], usize) {
        let layers = self.layers();
        let mut g = [ConvGeometry::default(); MAX_TILED_LAYERS];
        for (g, layer) in g.iter_mut().zip(layers) {
            *g = layer.op.conv.params.geometry;
        }
        (g, layers.len())
    }
}

impl OpDescriptor for TiledChainOp {
    const NAME: &'static str = "tiled chain (convolutions in bands)";

    // No kernel of its own: on a GPU it runs as its layers.
    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.layers()
            .last()
            .map_or(0, |l| l.op.conv.params.geometry.output.elements())
    }

    #[cfg(feature = "host")]
    fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
        let step = |layer: TiledLayer| match layer.depthwise {
            true => super::Op::DepthwiseConv2d(layer.depthwise_op()),
            false => super::Op::Conv2d(layer.op),
        };
        // Every output but the last is stored in the spill; the last is
        // staged there too, then copied, as it may take the input's place.
        let mut ops = heapless::Vec::new();
        let (mut at, mut input) = (spill, None);
        let mut output = Span::default();
        for layer in self.layers() {
            let mut layer = *layer;
            if let Some(input) = input {
                layer.op.conv.input = input;
            }
            output = layer.op.conv.output;
            let stored = Span::new(at, output.len);
            layer.op.conv.output = stored;
            at = stored.end() as u32;
            input = Some(stored);
            ops.push(step(layer)).ok()?;
        }
        let staged = input?;
        ops.push(super::Op::Slice(super::SliceOp::copy(staged, output)))
            .ok()?;
        Some(super::GpuSteps {
            ops,
            spilled_bytes: at - spill,
        })
    }

    fn kernel(&self) -> KernelChoice {
        self.layers()
            .last()
            .map(|l| l.op.kernel)
            .unwrap_or_default()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            (2..=MAX_TILED_LAYERS as u32).contains(&self.count),
            "a tiled chain of other than two or three layers",
        )?;
        let layers = self.layers();
        let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
            return Err(c.fail("a tiled chain of no layers"));
        };
        let (input, output) = (first.op.conv.input, last.op.conv.output);
        let over_input = output.overlaps(&input);
        c.ensure(
            !over_input || output.offset == input.offset,
            "a tiled chain's output overlaps its input elsewhere than at its start",
        )?;
        let mut hidden = [Span::default(); MAX_TILED_LAYERS - 1];
        for (j, pair) in layers.windows(2).enumerate() {
            let (a, b) = (&pair[0].op.conv, &pair[1].op.conv);
            let h = a.output;
            c.ensure(
                b.input == h
                    && h != input
                    && h != output
                    && !hidden.iter().take(j).any(|&seen| seen == h)
                    && a.params.geometry.output == b.params.geometry.input
                    && a.params.geometry.input.batches == 1,
                "a tiled chain's layers are not wired as one",
            )?;
            if let Some(slot) = hidden.get_mut(j) {
                *slot = h;
            }
        }
        for (j, layer) in layers.iter().enumerate() {
            // A layer reads the output before it and writes its own,
            // neither of them stored (but the chain's input and output).
            let before = j.checked_sub(1).and_then(|i| hidden.get(i)).copied();
            let after = (j + 1 < layers.len())
                .then(|| hidden.get(j))
                .flatten()
                .copied();
            let streamed = match (before, after) {
                (Some(b), Some(a)) => c.streamed(b).streamed(a),
                (Some(h), None) | (None, Some(h)) => c.streamed(h),
                (None, None) => return Err(c.fail("a tiled chain of one layer")),
            };
            layer.check(&streamed)?;
        }
        let w = &self.walk;
        c.ensure(w.rows > 0, "bands of no rows")?;
        let (geometries, count) = self.geometries();
        let walk = chain_walk(
            geometries.get(..count).unwrap_or_default(),
            w.rows,
            over_input,
        )
        .ok_or_else(|| {
            c.fail("a tiled band reads no input, or overwrites input a later band reads")
        })?;
        let windows = w.windows.get(..count - 1).unwrap_or_default();
        for (j, &window) in windows.iter().enumerate() {
            let rows = walk.window_rows.get(j).copied().unwrap_or_default();
            let row = geometries.get(j).map_or(0, |g| row_bytes(g).1);
            // Apart from the chain's input and output and every other window.
            let mut apart = [input, output, Span::default(), Span::default()];
            for (slot, other) in apart[2..].iter_mut().zip(windows.iter().take(j)) {
                *slot = *other;
            }
            c.scratch(window, (u64::from(rows) * u64::from(row)) as usize, &apart)?;
        }
        for layer in layers {
            for buffer in windows.iter().chain([&input, &output]) {
                c.ensure(
                    !layer.op.scratch.overlaps(buffer),
                    "scratch overlaps a tiled chain's input, output or window",
                )?;
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let layers = self.layers();
        let Some(last) = layers.last() else {
            return;
        };
        let g = &last.op.conv.params.geometry;
        let row = row_bytes(g).1;
        let output = last.op.conv.output;
        let mut windows: [RowWindow; MAX_TILED_LAYERS - 1] = core::array::from_fn(|j| {
            let row = layers
                .get(j)
                .map_or(0, |l| row_bytes(&l.op.conv.params.geometry).1);
            RowWindow::new(self.walk.windows[j], row)
        });
        let mut k = 0;
        while let Some((rows, reads)) = band(g, self.walk.rows, k) {
            k += 1;
            let held: [Range<u32>; MAX_TILED_LAYERS - 1] =
                core::array::from_fn(|j| windows[j].held.clone());
            let geometries = layers.iter().map(|l| &l.op.conv.params.geometry);
            let Some(steps) = band_steps(geometries, &held, reads) else {
                return;
            };
            // First to last: each window's new rows read the window before
            // (the first's, the stored input).
            let mut before: Option<Span> = None;
            for ((s, window), layer) in steps.iter().zip(&mut windows).zip(layers) {
                if let Some(s) = s {
                    let slot = window.take(arena, s);
                    if !s.computed.is_empty() {
                        compute_rows(layer, arena, weights, (before, s.computed.clone(), slot));
                    }
                }
                before = Some(window.held());
            }
            let Some(window) = layers.len().checked_sub(2).and_then(|i| windows.get(i)) else {
                return;
            };
            let at = output.offset.saturating_add(rows.start.saturating_mul(row));
            let bytes = (rows.end - rows.start).saturating_mul(row);
            let band = Span::new(at, bytes);
            compute_rows(last, arena, weights, (Some(window.held()), rows, band));
        }
    }
}

/// Computes rows `rows` of `layer`'s output into `output`: over the
/// window before it (`window`, holding the rows those read), or, without
/// one, over the layer's stored input. Kept out of the chain's `run`, so
/// that the layers' frames stack on a small one.
#[inline(never)]
fn compute_rows(
    layer: &TiledLayer,
    arena: &mut [u8],
    weights: &[u8],
    (window, rows, output): (Option<Span>, Range<u32>, Span),
) {
    match window {
        Some(window) => run_over_window(layer, arena, weights, (window, rows, output)),
        None => {
            let rows = rows.start as usize..rows.end as usize;
            layer.run_rows(arena, weights, (rows, output));
        }
    }
}
