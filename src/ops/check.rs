//! The one-time checks an op runs on its descriptor before a graph may run:
//! every span inside the arena or the weights and sized for its shape, no
//! output overlapping an input, every shift and zero point in range. Each
//! op's `check` is written with these; after it passes, the op's kernel can
//! neither index out of bounds nor overflow an accumulator, whatever the
//! arena holds.
//!
//! Layer: ops; uses `tensor`, `kernels` (param types) and `error`.

use crate::error::Error;
use crate::kernels::conv2d::ConvGeometry;
use crate::kernels::elementwise::Broadcast;
use crate::tensor::{DType, Span, MAX_RANK};

use super::arena::ConstantOperand;

/// The checks of one op (index `op` in its graph) against the arena size
/// and the weights.
pub struct Checker<'w> {
    op: usize,
    arena_bytes: u64,
    weights: &'w [u8],
    /// The op writes its output through a band buffer (`ops::Bands`), so
    /// the output may overlap its input; the band walk is checked apart.
    banded: bool,
    /// Tensors that are never stored whole (`ops::Stream`,
    /// `ops::ResidualBlockOp`): a layer's output that the next consumes
    /// band by band. They need no room in the arena and overlap nothing.
    unstored: [Option<Span>; 2],
}

impl<'w> Checker<'w> {
    pub(crate) fn new(op: usize, arena_bytes: u64, weights: &'w [u8]) -> Self {
        Checker {
            op,
            arena_bytes,
            weights,
            banded: false,
            unstored: [None; 2],
        }
    }

    /// The same checks for an op whose output reaches the arena through a
    /// band buffer: an output may overlap an input (`ops::Bands::check`
    /// checks that the walk never overwrites input it still reads).
    pub(crate) fn banded(&self) -> Checker<'w> {
        Checker {
            banded: true,
            ..*self
        }
    }

    /// The same checks for the ops of a stream, whose tensor `unstored`
    /// (one of two at most) passes through a band buffer and is never
    /// stored (the stream's walk checks the buffer).
    pub(crate) fn streamed(&self, unstored: Span) -> Checker<'w> {
        let mut spans = self.unstored;
        let [first, second] = &mut spans;
        match first {
            None => *first = Some(unstored),
            Some(_) => *second = Some(unstored),
        }
        Checker {
            unstored: spans,
            ..*self
        }
    }

    fn is_unstored(&self, s: &Span) -> bool {
        self.unstored.contains(&Some(*s))
    }

    pub(crate) fn fail(&self, reason: &'static str) -> Error {
        Error::InvalidGraph {
            op: self.op,
            reason,
        }
    }

    pub(crate) fn ensure(&self, ok: bool, reason: &'static str) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// An arena tensor of `elements` values of `dtype`.
    pub(crate) fn arena(&self, s: Span, elements: u64, dtype: DType) -> Result<(), Error> {
        // An empty tensor reaches no byte, so every span check would pass
        // while its shape's other dimensions drive loops of any length (a
        // resize of empty pixels ran for hours under the fuzzer).
        self.ensure(elements > 0, "empty tensor")?;
        self.ensure(
            s.end() <= self.arena_bytes || self.is_unstored(&s),
            "tensor outside the arena",
        )?;
        self.ensure(
            u64::from(s.len) == elements.saturating_mul(dtype.size() as u64),
            "tensor size does not match its shape",
        )?;
        self.ensure(
            (s.offset as usize).is_multiple_of(dtype.size()),
            "tensor misaligned for its type",
        )
    }

    /// An output that must not share bytes with the op's inputs.
    pub(crate) fn output(
        &self,
        out: Span,
        elements: u64,
        dtype: DType,
        inputs: &[Span],
    ) -> Result<(), Error> {
        self.arena(out, elements, dtype)?;
        let stored = |s: &&Span| !self.is_unstored(s);
        for i in inputs.iter().filter(stored).filter(|_| !self.banded) {
            self.ensure(
                self.is_unstored(&out) || !out.overlaps(i),
                "output overlaps an input",
            )?;
        }
        Ok(())
    }

    /// A same-size elementwise op: `input` in the arena, `output` as many
    /// values of `output_type` as `input` holds of `input_type`.
    pub(crate) fn elementwise(
        &self,
        input: Span,
        input_type: DType,
        output: Span,
        output_type: DType,
    ) -> Result<(), Error> {
        let n = u64::from(input.len) / input_type.size() as u64;
        self.arena(input, n, input_type)?;
        self.output(output, n, output_type, &[input])
    }

    /// A constant of `count` values of `dtype` in the weights; `optional`
    /// allows an empty span (an absent bias).
    pub(crate) fn constant(
        &self,
        s: Span,
        count: u64,
        dtype: DType,
        optional: bool,
    ) -> Result<(), Error> {
        self.constant_of_size(s, count, dtype.size(), optional)
    }

    /// [`Checker::constant`] of int64 values (the 16x8 layers' bias, which
    /// no activation holds, so `DType` has no int64).
    pub(crate) fn constant_i64(&self, s: Span, count: u64, optional: bool) -> Result<(), Error> {
        self.constant_of_size(s, count, 8, optional)
    }

    fn constant_of_size(
        &self,
        s: Span,
        count: u64,
        size: usize,
        optional: bool,
    ) -> Result<(), Error> {
        // An absent constant is empty, but still sliced and cast at run
        // time: it too must lie in the weights, aligned.
        self.ensure(
            s.end() <= self.weights.len() as u64,
            "constant outside the weights",
        )?;
        self.ensure(
            (optional && s.is_empty()) || u64::from(s.len) == count.saturating_mul(size as u64),
            "constant size does not match its shape",
        )?;
        let address = self.weights.as_ptr() as usize + s.offset as usize;
        self.ensure(
            address.is_multiple_of(size),
            "constant misaligned for its type",
        )
    }

    /// Scratch of at least `bytes` bytes in the arena, word-aligned (the
    /// DSP micro-kernels load words from it), sharing no byte with the
    /// op's inputs and output.
    pub(crate) fn scratch(&self, s: Span, bytes: usize, operands: &[Span]) -> Result<(), Error> {
        self.ensure(s.end() <= self.arena_bytes, "scratch outside the arena")?;
        self.ensure(
            u64::from(s.len) >= bytes as u64
                && s.len.is_multiple_of(4)
                && s.offset.is_multiple_of(4),
            "scratch too small or misaligned",
        )?;
        for o in operands.iter().filter(|o| !self.is_unstored(o)) {
            self.ensure(!s.overlaps(o), "scratch overlaps an operand")?;
        }
        Ok(())
    }

    /// The weights hold `bytes` bytes from the start of `s` (a fast kernel
    /// reads a little past a filter's end: `arch::filter_reach`).
    pub(crate) fn reach(&self, s: Span, bytes: usize) -> Result<(), Error> {
        self.ensure(
            u64::from(s.offset) + bytes as u64 <= self.weights.len() as u64,
            "weights end too soon after a filter",
        )
    }

    /// The constants at `s` (checked by [`Checker::constant`] first), for
    /// checks of the values themselves.
    pub(crate) fn constants<T: bytemuck::Pod>(&self, s: Span) -> &'w [T] {
        super::arena::constant::<T>(self.weights, s)
    }

    /// Every requantization multiplier at `s` is non-negative, as
    /// `quantize_multiplier` writes them (the fast paths rely on it).
    pub(crate) fn multipliers(&self, s: Span) -> Result<(), Error> {
        self.ensure(
            self.constants::<i32>(s).iter().all(|&m| m >= 0),
            "negative requantization multiplier",
        )
    }

    pub(crate) fn range(&self, min: i32, max: i32) -> Result<(), Error> {
        self.ensure(
            -128 <= min && min <= max && max <= 127,
            "activation range outside int8",
        )
    }

    /// A clamp within int16 (the int16 kernels' fused activations).
    pub(crate) fn range_i16(&self, min: i32, max: i32) -> Result<(), Error> {
        self.ensure(
            i32::from(i16::MIN) <= min && min <= max && max <= i32::from(i16::MAX),
            "activation range outside int16",
        )
    }

    /// A 16x8 layer's optional bias of `count` values: int64 ones where it
    /// accumulates in int64, else int32 ones.
    pub(crate) fn bias_16x8(&self, s: Span, count: u64, int64: bool) -> Result<(), Error> {
        if int64 {
            self.constant_i64(s, count, true)
        } else {
            self.constant(s, count, DType::I32, true)
        }
    }

    pub(crate) fn shift(&self, shift: i32) -> Result<(), Error> {
        self.ensure(
            (-31..=30).contains(&shift),
            "requantization shift out of range",
        )
    }

    /// Every per-channel shift stored in the weights at `s`.
    pub(crate) fn shifts(&self, s: Span) -> Result<(), Error> {
        for &v in self.constants::<i32>(s) {
            self.shift(v)?;
        }
        Ok(())
    }

    /// A zero point, or its negation used as an offset: within int8 range
    /// (plus one for the negated -128), which keeps every accumulator in i32.
    pub(crate) fn offsets(&self, values: &[i32]) -> Result<(), Error> {
        self.ensure(
            values.iter().all(|v| (-128..=128).contains(v)),
            "zero point outside int8",
        )
    }

    /// A reduction over `taps` products of two offset int8 values (each at
    /// most 2^15 in magnitude) stays in i32.
    pub(crate) fn taps(&self, taps: u64) -> Result<(), Error> {
        self.ensure(
            taps < 1 << 16,
            "too many products per output for an i32 accumulator",
        )
    }

    pub(crate) fn positive(&self, values: &[u32]) -> Result<(), Error> {
        self.ensure(
            values.iter().all(|&v| v > 0),
            "zero stride, dilation or size",
        )
    }

    /// A windowed op's geometry along one axis: every output position's
    /// window origin must be reachable with the given padding, and the output
    /// no larger than the input allows.
    pub(crate) fn window(&self, axis: Window) -> Result<(), Error> {
        let Window {
            output,
            stride,
            dilation,
            filter,
            input,
            padding,
        } = axis;
        self.ensure(
            filter > 0 && input > 0 && output > 0,
            "empty window dimension",
        )?;
        let last_origin = u64::from(output - 1) * u64::from(stride);
        let effective = u64::from(filter - 1) * u64::from(dilation) + 1;
        self.ensure(
            last_origin < 1 << 31 && effective < 1 << 31 && u64::from(padding) < 1 << 31,
            "window geometry out of range",
        )?;
        self.ensure(
            last_origin < u64::from(input) + 2 * u64::from(padding) + effective,
            "output larger than the input allows",
        )
    }

    /// The shape rules of any convolution (plain, grouped, depthwise or
    /// transposed): strides, dilations, groups and batches.
    pub(crate) fn conv_shape(&self, g: &ConvGeometry) -> Result<(), Error> {
        self.positive(&[
            g.stride_height,
            g.stride_width,
            g.dilation_height,
            g.dilation_width,
            g.filter_channels,
        ])?;
        self.ensure(
            g.input.channels >= g.filter_channels
                && g.input.channels.is_multiple_of(g.filter_channels),
            "input channels not a multiple of filter channels",
        )?;
        self.ensure(
            g.output
                .channels
                .is_multiple_of(g.input.channels / g.filter_channels),
            "output channels not a multiple of groups",
        )?;
        self.ensure(g.input.batches == g.output.batches, "batch mismatch")
    }

    /// A forward convolution's output extents follow from its input's,
    /// window by window.
    pub(crate) fn conv_windows(&self, g: &ConvGeometry) -> Result<(), Error> {
        self.window(Window {
            output: g.output.height,
            stride: g.stride_height,
            dilation: g.dilation_height,
            filter: g.filter_height,
            input: g.input.height,
            padding: g.padding_top,
        })?;
        self.window(Window {
            output: g.output.width,
            stride: g.stride_width,
            dilation: g.dilation_width,
            filter: g.filter_width,
            input: g.input.width,
            padding: g.padding_left,
        })
    }

    /// A binary op's operands, one of which may be a constant, against its
    /// broadcast: each operand holds every element its strides reach.
    pub(crate) fn broadcast(
        &self,
        b: &Broadcast,
        spans: (Span, Span),
        dtype: DType,
        constant: ConstantOperand,
    ) -> Result<(), Error> {
        self.broadcast_typed(b, spans, (dtype, dtype), constant)
    }

    /// [`Checker::broadcast`] of operands of two types (int16 PRELU's
    /// int8 slopes).
    pub(crate) fn broadcast_typed(
        &self,
        b: &Broadcast,
        (first, second): (Span, Span),
        (first_type, second_type): (DType, DType),
        constant: ConstantOperand,
    ) -> Result<(), Error> {
        let reach = |strides: &[u32; MAX_RANK]| -> u64 {
            b.output_dims
                .iter()
                .zip(strides)
                .fold(1u64, |sum, (&d, &s)| {
                    sum.saturating_add(u64::from(d.saturating_sub(1)) * u64::from(s))
                })
        };
        let elements = |span: Span, dtype: DType| u64::from(span.len) / dtype.size() as u64;
        let (n1, n2) = (elements(first, first_type), elements(second, second_type));
        let operand = |span: Span, elements: u64, dtype: DType, is_constant: bool| {
            if is_constant {
                self.constant(span, elements, dtype, false)
            } else {
                self.arena(span, elements, dtype)
            }
        };
        operand(first, n1, first_type, constant == ConstantOperand::First)?;
        operand(second, n2, second_type, constant == ConstantOperand::Second)?;
        if b.same_shape {
            self.ensure(
                n1 == b.elements() && n2 == b.elements(),
                "inputs do not match the output shape",
            )
        } else {
            self.ensure(b.elements() > 0, "empty output")?;
            self.ensure(
                reach(&b.input1_strides) <= n1,
                "first input smaller than its strides reach",
            )?;
            self.ensure(
                reach(&b.input2_strides) <= n2,
                "second input smaller than its strides reach",
            )
        }
    }
}

/// One axis of a windowed op (convolution or pool).
pub(crate) struct Window {
    pub output: u32,
    pub stride: u32,
    pub dilation: u32,
    pub filter: u32,
    pub input: u32,
    pub padding: u32,
}
