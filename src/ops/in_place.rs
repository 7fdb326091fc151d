//! Ops that write over their own input. A convolution's output is computed
//! a band of rows at a time into a small buffer, and each band is copied to
//! its rows of the output once no later band reads the input bytes those
//! rows cover; an elementwise op (int8 ADD, SUB, MUL of one shape, and the
//! int8 activations and rescalings of one input: REQUANTIZE, LOGISTIC,
//! TANH, HARD_SWISH, LEAKY_RELU) is computed a chunk of elements at a time
//! over the operand its output replaces. The planner puts the output over the input, so the layer
//! needs the larger of the two plus the buffer instead of their sum: in a
//! chain of depthwise and pointwise layers, the peak of the arena.
//!
//! A band runs the op's own kernel for its output rows (the kernels take a
//! row range), on the op's own descriptor, so the bytes are the kernel's
//! and the op's check covers the band's reads; the walk's check adds that
//! no band is copied over input a later band reads.
//!
//! Layer: ops; uses `ops::conv2d`, `ops::depthwise_conv2d`, the
//! elementwise and activation ops and their kernels, and the convolution
//! geometry of `kernels::conv2d`.

use core::ops::Range;

use super::arena::{move_bytes, operands, out_i8, split, Inputs};
use super::conv2d::Conv2dS8;
use super::elementwise::{AddOp, MulOp, SubOp};
use super::{
    Checker, ConstantOperand, Conv2dOp, DepthwiseConv2dOp, HardSwishOp, LeakyReluOp, LogisticOp,
    OpDescriptor, RequantizeOp, TanhOp,
};
use crate::arch::KernelChoice;
use crate::error::Error;
use crate::kernels::activation::{
    hard_swish_s8, leaky_relu_s8, logistic_s8, requantize_s8, tanh_s8,
};
use crate::kernels::part;
use crate::tensor::Span;
use crate::wire::wire_struct;

wire_struct! {
    /// How an in-place convolution walks its output: bands of `rows`
    /// output rows, each computed into one of `lag + 1` slots of `buffer`;
    /// band `k` is copied to the output once band `k + lag` is computed (a
    /// lag keeps input rows that the next bands still read).
    pub struct Bands {
        pub buffer: Span,
        pub rows: u32,
        pub lag: u32,
    }
}

/// One band: its output rows, the slot it is computed into, and the output
/// bytes it is copied to.
struct Band {
    rows: Range<usize>,
    slot: Span,
    output: Span,
}

impl Bands {
    /// How many bands cover the output.
    fn count(&self, conv: &Conv2dS8) -> u32 {
        conv.params
            .geometry
            .output
            .height
            .div_ceil(self.rows.max(1))
    }

    /// Band `k` (`None` past `u32` offsets, which the checks refuse).
    fn band(&self, conv: &Conv2dS8, k: u32) -> Option<Band> {
        let g = &conv.params.geometry;
        let first = k.checked_mul(self.rows)?;
        let last = first.saturating_add(self.rows).min(g.output.height);
        let row_bytes = g.output.width.checked_mul(g.output.channels)?;
        let bytes = last.saturating_sub(first).checked_mul(row_bytes)?;
        let slot =
            (k % self.lag.saturating_add(1)).checked_mul(self.rows.checked_mul(row_bytes)?)?;
        Some(Band {
            rows: first as usize..last as usize,
            slot: Span::new(self.buffer.offset.checked_add(slot)?, bytes),
            output: Span::new(
                conv.output
                    .offset
                    .checked_add(first.checked_mul(row_bytes)?)?,
                bytes,
            ),
        })
    }

    /// The input bytes that bands `k` onward read (none past the last).
    fn still_read(&self, conv: &Conv2dS8, k: u32) -> Span {
        let g = &conv.params.geometry;
        let row_bytes = u64::from(g.input.width) * u64::from(g.input.channels);
        let rows = k.saturating_mul(self.rows)..g.output.height;
        match g.input_rows(rows) {
            Some(read) => {
                let start = u64::from(conv.input.offset) + u64::from(read.start) * row_bytes;
                Span::new(start as u32, conv.input.end().saturating_sub(start) as u32)
            }
            None => Span::default(),
        }
    }

    /// Checks the walk once: `check_op`, the op's own check with an output
    /// that may overlap its input, passes; the buffer holds every slot
    /// apart from the input, the output and `others` (the op's scratch);
    /// and no band is copied over input a band computed after it reads.
    fn check(
        &self,
        c: &Checker,
        conv: &Conv2dS8,
        others: &[Span],
        check_op: impl FnOnce(&Checker) -> Result<(), Error>,
    ) -> Result<(), Error> {
        check_op(&c.banded())?;
        let g = &conv.params.geometry;
        c.ensure(
            g.input.batches == 1 && g.output.batches == 1,
            "an in-place convolution takes one batch",
        )?;
        c.ensure(self.rows > 0, "bands of no rows")?;
        let count = self.count(conv);
        c.ensure(self.lag < count.max(1), "band lag past the last band")?;
        let row_bytes = u64::from(g.output.width) * u64::from(g.output.channels);
        let slots = u64::from(self.lag) + 1;
        let buffer = (slots * u64::from(self.rows) * row_bytes).min(u64::from(u32::MAX));
        c.scratch(self.buffer, buffer as usize, &[conv.output, conv.input])?;
        for o in others {
            c.ensure(
                !o.overlaps(&self.buffer),
                "scratch overlaps an in-place band buffer",
            )?;
        }
        for j in 0..count {
            let band = self
                .band(conv, j)
                .ok_or_else(|| c.fail("band outside the arena"))?;
            c.ensure(
                band.slot.end() <= self.buffer.end(),
                "band outside its buffer",
            )?;
            // Copied after band `j + lag` is computed.
            let later = self.still_read(conv, j.saturating_add(self.lag).saturating_add(1));
            c.ensure(
                !band.output.overlaps(&later),
                "an in-place band overwrites input a later band reads",
            )?;
        }
        Ok(())
    }

    /// Runs the walk, `run_band` computing each band's rows into its slot.
    #[inline(always)]
    fn run(
        &self,
        conv: &Conv2dS8,
        arena: &mut [u8],
        mut run_band: impl FnMut(&mut [u8], (Range<usize>, Span)),
    ) {
        let count = self.count(conv);
        for k in 0..count.saturating_add(self.lag) {
            if k < count {
                if let Some(band) = self.band(conv, k) {
                    run_band(arena, (band.rows, band.slot));
                }
            }
            if let Some(band) = k.checked_sub(self.lag).and_then(|j| self.band(conv, j)) {
                move_bytes(arena, band.slot, band.output.offset);
            }
        }
    }
}

/// A convolution op's scratch, which its bands share and which must lie
/// apart from the band buffer.
pub(super) trait Scratch {
    fn scratch(&self) -> &[Span];
}

impl Scratch for DepthwiseConv2dOp {
    fn scratch(&self) -> &[Span] {
        &[]
    }
}

impl Scratch for Conv2dOp {
    fn scratch(&self) -> &[Span] {
        core::slice::from_ref(&self.scratch)
    }
}

/// The in-place form of an int8 convolution op.
macro_rules! convolution_in_place {
    ($($(#[$doc:meta])* $name:ident($op:ident) $variant:ident;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $name {
                pub op: $op,
                pub bands: Bands,
            }
        }

        impl OpDescriptor for $name {
            const NAME: &'static str = <$op as OpDescriptor>::NAME;

            // No kernel of its own: on a GPU it runs out of place (`gpu_steps`).
            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = "";

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.op.cuda_items()
            }

            #[cfg(feature = "host")]
            fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
                Some(spilled(self.op, |op| &mut op.conv.output, spill, super::Op::$variant))
            }

            fn kernel(&self) -> KernelChoice {
                self.op.kernel
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                self.bands
                    .check(c, &self.op.conv, self.op.scratch(), |c| self.op.check(c))
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                self.bands.run(&self.op.conv, arena, |arena, rows| {
                    self.op.run_rows(arena, weights, rows)
                });
            }
        }
    )*};
}

convolution_in_place! {
    /// int8 DEPTHWISE_CONV_2D whose output may overlap its input, computed
    /// in `bands`.
    DepthwiseConv2dInPlaceOp(DepthwiseConv2dOp) DepthwiseConv2d;
    /// int8 CONV_2D whose output may overlap its input, computed in
    /// `bands` (each band with the op's own scratch).
    Conv2dInPlaceOp(Conv2dOp) Conv2d;
}

/// How a GPU runs an op that writes over its own input: `op` (its
/// out-of-place form), with `output` pointed at `spill` (past the arena),
/// then a SLICE that copies it back to where it was. A GPU computes every
/// output at once, so it cannot overwrite an input it is still reading.
#[cfg(feature = "host")]
pub(super) fn spilled<T>(
    mut op: T,
    output: fn(&mut T) -> &mut Span,
    spill: u32,
    variant: impl FnOnce(T) -> super::Op,
) -> super::GpuSteps {
    let out = output(&mut op);
    let back = *out;
    *out = Span::new(spill, back.len);
    let copy = super::SliceOp::copy(*out, back);
    super::GpuSteps {
        ops: [variant(op), super::Op::Slice(copy)].into_iter().collect(),
        spilled_bytes: back.len,
    }
}

wire_struct! {
    /// How an in-place elementwise op walks its elements: runs of
    /// `elements` computed into `buffer`, each then copied over the output,
    /// which is one of the operands or apart from both.
    pub struct Chunks {
        pub buffer: Span,
        pub elements: u32,
    }
}

/// An int8 elementwise op of one shape, whose kernel can run on any run of
/// its elements: ADD, SUB and MUL, and the ops of one input (the
/// activations and rescalings), whose output element `i` depends on input
/// element `i` alone.
pub(super) trait Elementwise: Copy + OpDescriptor {
    /// Whether every operand has the output's shape.
    fn one_shape(&mut self) -> bool;
    /// The operands in the arena (one of one-input ops, named twice).
    fn arena_operands(&self) -> [Span; 2];
    fn output(&mut self) -> &mut Span;
    /// The op's kernel on elements `from..from + output.len()` of its
    /// operands, into `output`.
    fn run_chunk(&self, io: &Inputs, weights: &[u8], from: usize, output: &mut [i8]);
}

impl Chunks {
    /// Checks the walk once: the op's own check, with an output that may
    /// overlap an operand, passes; its operands have the output's shape;
    /// each operand in the arena is the output's bytes exactly or apart
    /// from them; and the buffer holds a chunk apart from all of them.
    fn check<E: Elementwise>(&self, c: &Checker, op: &E) -> Result<(), Error> {
        op.check(&c.banded())?;
        let mut op = *op;
        c.ensure(op.one_shape(), "an in-place elementwise op takes one shape")?;
        c.ensure(self.elements > 0, "chunks of no elements")?;
        let output = *op.output();
        let [input1, input2] = op.arena_operands();
        for s in [input1, input2] {
            c.ensure(
                s == output || !s.overlaps(&output),
                "an in-place operand partly overlaps the output",
            )?;
        }
        c.scratch(
            self.buffer,
            self.elements as usize,
            &[input1, input2, output],
        )
    }

    /// Runs the op's kernel a chunk at a time into the buffer, each chunk
    /// then copied to its place in the output (over operand elements no
    /// later chunk reads).
    #[inline(always)]
    fn run<E: Elementwise>(&self, op: &E, arena: &mut [u8], weights: &[u8]) {
        let output = *{ *op }.output();
        let step = self.elements.max(1);
        let mut first = 0;
        while first < output.len {
            let count = step.min(output.len - first);
            let chunk = Span::new(self.buffer.offset, count);
            let (io, buffer) = split(arena, chunk);
            op.run_chunk(&io, weights, first as usize, out_i8(buffer));
            move_bytes(arena, chunk, output.offset.saturating_add(first));
            first += count;
        }
    }
}

/// Elements `from..from + n` of both operands of a binary op.
#[inline(always)]
fn operand_chunks<'a>(
    io: &'a Inputs,
    weights: &'a [u8],
    (input1, input2): (Span, Span),
    constant: ConstantOperand,
    (from, n): (usize, usize),
) -> (&'a [i8], &'a [i8]) {
    let (a, b) = operands::<i8>(io, weights, (input1, input2), constant);
    (part(a, from, n), part(b, from, n))
}

/// The `Elementwise` of int8 ADD and SUB (one descriptor, `AddSub`,
/// and their kernels).
macro_rules! add_or_sub {
    ($($op:ident => $kernel:path;)*) => {$(
        impl Elementwise for $op {
            fn one_shape(&mut self) -> bool {
                self.add.params.broadcast.same_shape
            }
            fn arena_operands(&self) -> [Span; 2] {
                let a = &self.add;
                a.constant.arena_operands(a.input1, a.input2)
            }
            fn output(&mut self) -> &mut Span {
                &mut self.add.output
            }
            fn run_chunk(&self, io: &Inputs, weights: &[u8], from: usize, output: &mut [i8]) {
                let a = &self.add;
                let run = (from, output.len());
                let (x, y) = operand_chunks(io, weights, (a.input1, a.input2), a.constant, run);
                $kernel(&a.params, x, y, output);
            }
        }
    )*};
}

add_or_sub! {
    AddOp => crate::arch::add_s8;
    SubOp => crate::arch::sub_s8;
}

impl Elementwise for MulOp {
    fn one_shape(&mut self) -> bool {
        self.params.broadcast.same_shape
    }
    fn arena_operands(&self) -> [Span; 2] {
        self.constant.arena_operands(self.input1, self.input2)
    }
    fn output(&mut self) -> &mut Span {
        &mut self.output
    }
    fn run_chunk(&self, io: &Inputs, weights: &[u8], from: usize, output: &mut [i8]) {
        let (x, y) = operand_chunks(
            io,
            weights,
            (self.input1, self.input2),
            self.constant,
            (from, output.len()),
        );
        crate::kernels::elementwise::mul_s8(&self.params, x, y, output);
    }
}

/// The `Elementwise` of an int8 op of one input: the field holding its
/// input and output spans (if not the op itself), and its kernel on a run
/// of input elements.
macro_rules! one_input {
    ($($op:ident { $($path:ident .)? } => |$me:ident, $input:ident, $output:ident| $kernel:expr;)*) => {$(
        impl Elementwise for $op {
            fn one_shape(&mut self) -> bool {
                true
            }
            fn arena_operands(&self) -> [Span; 2] {
                let input = self.$($path.)?input;
                [input, input]
            }
            fn output(&mut self) -> &mut Span {
                &mut self.$($path.)?output
            }
            fn run_chunk(&self, io: &Inputs, _weights: &[u8], from: usize, $output: &mut [i8]) {
                let $me = self;
                let $input = part(io.i8($me.$($path.)?input), from, $output.len());
                $kernel
            }
        }
    )*};
}

one_input! {
    RequantizeOp {} => |op, input, output| requantize_s8(&op.params, input, output);
    LogisticOp { sigmoid. } => |op, input, output| logistic_s8(&op.sigmoid.params, input, output);
    TanhOp { sigmoid. } => |op, input, output| tanh_s8(&op.sigmoid.params, input, output);
    HardSwishOp {} => |op, input, output| hard_swish_s8(&op.params, input, output);
    LeakyReluOp {} => |op, input, output| {
        leaky_relu_s8(&op.positive, &op.negative, input, output)
    };
}

/// The in-place form of an int8 elementwise op.
macro_rules! elementwise_in_place {
    ($($(#[$doc:meta])* $name:ident($op:ident) $variant:ident => $in_place:ident;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $name {
                pub op: $op,
                pub chunks: Chunks,
            }
        }

        impl OpDescriptor for $name {
            const NAME: &'static str = <$op as OpDescriptor>::NAME;

            // No kernel of its own: on a GPU it runs out of place.
            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = "";

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                self.op.cuda_items()
            }

            #[cfg(feature = "host")]
            fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
                Some(spilled(self.op, $op::output, spill, super::Op::$variant))
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                self.chunks.check(c, &self.op)
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], weights: &[u8]) {
                self.chunks.run(&self.op, arena, weights);
            }
        }
    )*

        /// The int8 elementwise ops that may run in place in chunks: for
        /// `op` (in either form) of one shape, its element count, which
        /// the planner sizes the walk with.
        pub fn chunked_elements(op: &super::Op) -> Option<u32> {
            match *op {
                $(
                    super::Op::$variant(mut o) | super::Op::$in_place($name { op: mut o, .. }) => {
                        o.one_shape().then_some(o.output().len)
                    }
                )*
                _ => None,
            }
        }

        /// `op` run over an operand that dies with it, in `chunks`; `None`
        /// for an op with no such form.
        pub fn in_chunks(op: super::Op, chunks: Chunks) -> Option<super::Op> {
            match op {
                $( super::Op::$variant(op) => Some(super::Op::$in_place($name { op, chunks })), )*
                _ => None,
            }
        }
    };
}

elementwise_in_place! {
    /// int8 ADD whose output may be one of its operands, computed in `chunks`.
    AddInPlaceOp(AddOp) Add => AddInPlace;
    /// int8 SUB whose output may be one of its operands, computed in `chunks`.
    SubInPlaceOp(SubOp) Sub => SubInPlace;
    /// int8 MUL whose output may be one of its operands, computed in `chunks`.
    MulInPlaceOp(MulOp) Mul => MulInPlace;
    /// int8 REQUANTIZE (QUANTIZE between int8 scales, a standalone RELU)
    /// whose output may be its input, computed in `chunks`.
    RequantizeInPlaceOp(RequantizeOp) Requantize => RequantizeInPlace;
    /// int8 LOGISTIC whose output may be its input, computed in `chunks`.
    LogisticInPlaceOp(LogisticOp) Logistic => LogisticInPlace;
    /// int8 TANH whose output may be its input, computed in `chunks`.
    TanhInPlaceOp(TanhOp) Tanh => TanhInPlace;
    /// int8 HARD_SWISH whose output may be its input, computed in `chunks`.
    HardSwishInPlaceOp(HardSwishOp) HardSwish => HardSwishInPlace;
    /// int8 LEAKY_RELU whose output may be its input, computed in `chunks`.
    LeakyReluInPlaceOp(LeakyReluOp) LeakyRelu => LeakyReluInPlace;
}
