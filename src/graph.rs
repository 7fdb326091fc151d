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

/// A compiled model: ops in execution order over one arena of `arena_bytes`
/// bytes, and the constant bytes they reference (`weights`, in flash on a
/// microcontroller, 16-byte aligned).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Graph<'a> {
    pub ops: &'a [Op],
    pub inputs: &'a [TensorIo],
    pub outputs: &'a [TensorIo],
    pub arena_bytes: u32,
    pub weights: &'a [u8],
}

/// 16-byte aligned storage, for the weights of a generated model
/// (`static W: &Aligned<[u8]> = &Aligned(*include_bytes!(..))`) and for arenas.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);

/// The alignment the planner gives every arena tensor and constant.
pub const ALIGNMENT: usize = 16;
