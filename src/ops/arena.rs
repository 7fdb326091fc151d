//! How an op sees memory while it runs: its output as the one mutable span
//! of the arena, every other arena byte read-only, and its constants in the
//! weights. `exec::validate` has checked every span an op names, so the
//! slicing here never fails on a validated graph; still, every accessor is
//! total (a span outside its buffer, or misaligned for its type, reads as
//! empty) so that no panic path is linked into firmware, and the kernels
//! do nothing on slices shorter than their shapes need.
//!
//! Layer: ops; uses `tensor` and `wire`.

use crate::kernels::fully_connected::Bias16x8;
use crate::kernels::{move_within, part_mut};
use crate::tensor::Span;
use crate::wire::wire_enum;

/// The arena around one op's output (and scratch): the bytes before,
/// between and after them, which hold the op's inputs.
pub(crate) struct Inputs<'a> {
    /// Each read-only piece and the arena offset it starts at.
    pieces: [(&'a [u8], usize); 3],
}

impl Inputs<'_> {
    pub(crate) fn bytes(&self, s: Span) -> &[u8] {
        let offset = s.offset as usize;
        let [first, ..] = &self.pieces;
        let (piece, start) = self
            .pieces
            .iter()
            .rev()
            .find(|(_, start)| *start <= offset)
            .unwrap_or(first);
        offset
            .checked_sub(*start)
            .and_then(|at| piece.get(at..))
            .and_then(|rest| rest.get(..s.len as usize))
            .unwrap_or(&[])
    }

    pub(crate) fn i8(&self, s: Span) -> &[i8] {
        bytemuck::cast_slice(self.bytes(s))
    }

    pub(crate) fn i16(&self, s: Span) -> &[i16] {
        typed(self.bytes(s))
    }

    pub(crate) fn f32(&self, s: Span) -> &[f32] {
        typed(self.bytes(s))
    }

    pub(crate) fn i32(&self, s: Span) -> &[i32] {
        typed(self.bytes(s))
    }

    pub(crate) fn u32(&self, s: Span) -> &[u32] {
        typed(self.bytes(s))
    }

    pub(crate) fn u64(&self, s: Span) -> &[u64] {
        typed(self.bytes(s))
    }
}

/// `bytes` as `T`s, or empty if they are misaligned or not a whole number
/// of `T`s (which the checks exclude).
fn typed<T: bytemuck::Pod>(bytes: &[u8]) -> &[T] {
    bytemuck::try_cast_slice(bytes).unwrap_or(&[])
}

/// [`typed`], mutable.
fn typed_mut<T: bytemuck::Pod>(bytes: &mut [u8]) -> &mut [T] {
    bytemuck::try_cast_slice_mut(bytes).unwrap_or(&mut [])
}

/// `slice` split at `at`, or all of it and nothing if `at` is past its end.
fn split_at(slice: &mut [u8], at: usize) -> (&mut [u8], &mut [u8]) {
    if at <= slice.len() {
        slice.split_at_mut(at)
    } else {
        (slice, &mut [])
    }
}

/// Splits the arena into an op's output and the (read-only) rest.
pub(crate) fn split(arena: &mut [u8], output: Span) -> (Inputs<'_>, &mut [u8]) {
    let (before, rest) = split_at(arena, output.offset as usize);
    let (out, after) = split_at(rest, output.len as usize);
    let after_start = output.end() as usize;
    let inputs = Inputs {
        pieces: [(before, 0), (&[], after_start), (after, after_start)],
    };
    (inputs, out)
}

/// Splits the arena into an op's output, one more span it writes (its
/// scratch) and the read-only rest. The two spans do not overlap
/// (checked), in either order.
pub(crate) fn split_two(
    arena: &mut [u8],
    output: Span,
    other: Span,
) -> (Inputs<'_>, &mut [u8], &mut [u8]) {
    let (first, second) = if output.offset <= other.offset {
        (output, other)
    } else {
        (other, output)
    };
    let (before, rest) = split_at(arena, first.offset as usize);
    let (a, rest) = split_at(rest, first.len as usize);
    let gap = u64::from(second.offset).saturating_sub(first.end());
    let (between, rest) = split_at(rest, gap as usize);
    let (b, after) = split_at(rest, second.len as usize);
    let inputs = Inputs {
        pieces: [
            (before, 0),
            (between, first.end() as usize),
            (after, second.end() as usize),
        ],
    };
    if output.offset <= other.offset {
        (inputs, a, b)
    } else {
        (inputs, b, a)
    }
}

/// [`split_two`] with the second span as scratch of i16 (which
/// `Checker::scratch` has aligned).
pub(crate) fn split_with_scratch(
    arena: &mut [u8],
    output: Span,
    scratch: Span,
) -> (Inputs<'_>, &mut [u8], &mut [i16]) {
    let (inputs, out, scratch) = split_two(arena, output, scratch);
    (inputs, out, typed_mut(scratch))
}

/// Mutable views of `N` arena spans that share no byte (checked), in the
/// order given: for an op that writes several tensors (an LSTM's output,
/// its two states and its scratch). A span outside the arena, or one that
/// overlaps another, comes back empty.
pub(crate) fn disjoint<const N: usize>(arena: &mut [u8], spans: [Span; N]) -> [&mut [u8]; N] {
    let mut views: [Option<&mut [u8]>; N] = [const { None }; N];
    let mut taken = [false; N];
    let (mut rest, mut base) = (arena, 0u64);
    for _ in 0..N {
        // The lowest span not yet taken (N is a handful; no indexing, so
        // no panic path).
        let next = spans
            .iter()
            .zip(&taken)
            .enumerate()
            .filter(|(_, (_, &done))| !done)
            .min_by_key(|(_, (s, _))| s.offset)
            .map(|(i, (s, _))| (i, *s));
        let Some((i, s)) = next else {
            break;
        };
        if let Some(done) = taken.get_mut(i) {
            *done = true;
        }
        let Some(skip) = u64::from(s.offset).checked_sub(base) else {
            continue;
        };
        let (_, tail) = split_at(core::mem::take(&mut rest), skip as usize);
        let (view, tail) = split_at(tail, s.len as usize);
        if view.len() == s.len as usize {
            if let Some(slot) = views.get_mut(i) {
                *slot = Some(view);
            }
            base = s.end();
        }
        rest = tail;
    }
    views.map(|v| v.unwrap_or_default())
}

/// Copies the bytes of `from` to `to` in the arena (the two spans apart,
/// which the checks ensure; overlapping ones copy nothing).
pub(crate) fn move_bytes(arena: &mut [u8], from: Span, to: u32) {
    let to = Span::new(to, from.len);
    let (first, second) = if from.offset <= to.offset {
        (from, to)
    } else {
        (to, from)
    };
    let (head, tail) = split_at(arena, second.offset as usize);
    let first_bytes = part_mut(head, first.offset as usize, first.len as usize);
    let second_bytes = part_mut(tail, 0, second.len as usize);
    // `memcpy` (word copies), once the lengths are seen equal.
    if first_bytes.len() == second_bytes.len() {
        if from.offset <= to.offset {
            second_bytes.copy_from_slice(first_bytes);
        } else {
            first_bytes.copy_from_slice(second_bytes);
        }
    }
}

/// A recurrent layer's state at the start of a run that carries none
/// over: the bytes of `initial` where the model gives one, zeros where it
/// does not (`initial` empty).
pub(crate) fn start_state(arena: &mut [u8], initial: Span, state: Span) {
    match initial.len {
        0 => part_mut(arena, state.offset as usize, state.len as usize).fill(0),
        _ => move_bytes(arena, initial, state.offset),
    }
}

/// Moves the `kept` bytes of `window` that start `shift` bytes in to its
/// start (the two ranges may overlap). Out-of-range lengths copy nothing
/// (the checks exclude them).
pub(crate) fn slide(window: &mut [u8], shift: usize, kept: usize) {
    move_within(window, shift, 0, kept);
}

/// A typed view of a constant in the weights.
pub(crate) fn constant<T: bytemuck::Pod>(weights: &[u8], s: Span) -> &[T] {
    typed(weights.get(s.range()).unwrap_or(&[]))
}

/// The weights from the start of `s` to their end, as int8: a filter for
/// the fast kernels, which may read a few bytes past its span (checked).
pub(crate) fn from_constant(weights: &[u8], s: Span) -> &[i8] {
    bytemuck::cast_slice(weights.get(s.offset as usize..).unwrap_or(&[]))
}

/// A 16x8 layer's bias (`Checker::bias_16x8`), typed as it accumulates.
pub(crate) fn bias_16x8(weights: &[u8], s: Span, int64: bool) -> Bias16x8<'_> {
    if int64 {
        Bias16x8::Wide(constant(weights, s))
    } else {
        Bias16x8::Narrow(constant(weights, s))
    }
}

pub(crate) fn out_i8(out: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(out)
}

pub(crate) fn out_i16(out: &mut [u8]) -> &mut [i16] {
    typed_mut(out)
}

pub(crate) fn out_f32(out: &mut [u8]) -> &mut [f32] {
    typed_mut(out)
}

pub(crate) fn out_i32(out: &mut [u8]) -> &mut [i32] {
    typed_mut(out)
}

pub(crate) fn out_u32(out: &mut [u8]) -> &mut [u32] {
    typed_mut(out)
}

pub(crate) fn out_u64(out: &mut [u8]) -> &mut [u64] {
    typed_mut(out)
}

wire_enum! {
    /// Which operand of a binary op is a constant in the weights rather than
    /// a value in the arena. PyTorch exports `(x - mean) / std` that way,
    /// Keras' Rescaling and Normalization layers too, and a constant stays in
    /// flash instead of being copied into RAM.
    pub enum ConstantOperand {
        /// Both operands are arena values.
        #[default]
        Neither = 0,
        /// The first operand is a span of the weights.
        First = 1,
        /// The second operand is a span of the weights.
        Second = 2,
    }
}

impl ConstantOperand {
    /// The operands that live in the arena (the only ones that can overlap
    /// the output), the other repeated when one is a constant.
    pub(crate) fn arena_operands(self, first: Span, second: Span) -> [Span; 2] {
        match self {
            ConstantOperand::Neither => [first, second],
            ConstantOperand::First => [second, second],
            ConstantOperand::Second => [first, first],
        }
    }
}

/// The two operands of a binary op, one of them possibly in the weights.
#[inline(always)]
pub(crate) fn operands<'a, T: bytemuck::Pod>(
    inputs: &'a Inputs<'_>,
    weights: &'a [u8],
    spans: (Span, Span),
    constant: ConstantOperand,
) -> (&'a [T], &'a [T]) {
    typed_operands(inputs, weights, spans, constant)
}

/// [`operands`] of two types (int16 PRELU's int8 slopes).
#[inline(always)]
pub(crate) fn typed_operands<'a, A: bytemuck::Pod, B: bytemuck::Pod>(
    inputs: &'a Inputs<'_>,
    weights: &'a [u8],
    (first, second): (Span, Span),
    constant: ConstantOperand,
) -> (&'a [A], &'a [B]) {
    let first = if constant == ConstantOperand::First {
        self::constant(weights, first)
    } else {
        typed(inputs.bytes(first))
    };
    let second = if constant == ConstantOperand::Second {
        self::constant(weights, second)
    } else {
        typed(inputs.bytes(second))
    };
    (first, second)
}
