//! The graph a model compiles to: plain, const-constructible data that the
//! firmware keeps in flash and the host builds at run time. Each op (see
//! `ops`) names the arena spans it reads and writes, the weight spans of its
//! constants, and the params of its kernel; nothing is resolved at run time.
//!
//! Layer: graph; uses `ops` (the op descriptors), `tensor` and `wire`.

pub use crate::ops::Op;
use crate::tensor::{DType, Quantization, Span, MAX_RANK};
use crate::wire::wire_struct;

wire_struct! {
    /// A model input or output: where it lives in the arena and how to read it.
    pub struct TensorIo {
        pub span: Span,
        pub dtype: DType,
        /// The first `rank` entries are the shape.
        pub dims: [u32; MAX_RANK],
        pub rank: u32,
        pub quantization: Quantization,
    }
}

impl TensorIo {
    pub fn shape(&self) -> &[u32] {
        &self.dims[..(self.rank as usize).min(MAX_RANK)]
    }

    pub fn elements(&self) -> usize {
        self.span.len as usize / self.dtype.size()
    }
}

wire_struct! {
    /// A variable tensor: state an op keeps from one inference to the next
    /// (SVDF's memory of past frames, an LSTM's cell, a resource variable).
    /// Its bytes belong to it alone for the whole life of the arena (the
    /// planner gives them no other tensor). A reset writes its initial
    /// value: the weight bytes `initial` when it has one (a resource
    /// variable that the model's `CALL_ONCE` subgraph assigns a constant),
    /// otherwise the byte `fill` everywhere, as TFLite Micro's
    /// `ResetVariableTensors` does: an int8 tensor's zero point, 0 for
    /// every other type.
    #[derive(Eq)]
    pub struct StateTensor {
        pub span: Span,
        pub fill: i8,
        /// Empty, or exactly `span.len` bytes of the weights.
        pub initial: Span,
    }
}

/// A compiled model: ops in execution order over one arena of `arena_bytes`
/// bytes, and the constant bytes they reference (`weights`, in flash on a
/// microcontroller, 16-byte aligned). A stateful model (SVDF, LSTM,
/// resource variables) also names its variable tensors (`state`), which
/// survive from one run to the next until [`reset_state`] resets them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Graph<'a> {
    pub ops: &'a [Op],
    pub inputs: &'a [TensorIo],
    pub outputs: &'a [TensorIo],
    pub state: &'a [StateTensor],
    pub arena_bytes: u32,
    pub weights: &'a [u8],
}

/// Writes every variable tensor of `state` with its initial value (its
/// `initial` bytes of `weights`, or its `fill` byte): what a fresh TFLite
/// Micro interpreter starts from. Spans outside `arena` or `weights` are
/// skipped (`exec::validate` refuses them).
pub fn reset_state(state: &[StateTensor], weights: &[u8], arena: &mut [u8]) {
    let range = |s: Span| {
        let start = s.offset as usize;
        Some(start..start.checked_add(s.len as usize)?)
    };
    for t in state {
        let Some(bytes) = range(t.span).and_then(|r| arena.get_mut(r)) else {
            continue;
        };
        if t.initial.is_empty() {
            bytes.fill(t.fill as u8);
        } else if let Some(initial) = range(t.initial).and_then(|r| weights.get(r)) {
            if initial.len() == bytes.len() {
                bytes.copy_from_slice(initial);
            }
        }
    }
}

/// 16-byte aligned storage, for the weights of a generated model
/// (`static W: &Aligned<[u8]> = &Aligned(*include_bytes!(..))`) and for arenas.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);

/// The alignment the planner gives every arena tensor and constant.
pub const ALIGNMENT: usize = 16;
