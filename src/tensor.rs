//! Where tensors live and how they are described: byte spans in the arena or
//! in flash, element types, NHWC shapes and quantization parameters.
//!
//! Layer: bottom of the runtime; plain data, uses `core` and `wire`.

use crate::wire::{wire_enum, wire_struct};

wire_struct! {
    /// A byte range: in the arena for activations, in the weights for constants.
    #[derive(Eq)]
    pub struct Span {
        pub offset: u32,
        pub len: u32,
    }
}

impl Span {
    pub const EMPTY: Span = Span { offset: 0, len: 0 };

    pub const fn new(offset: u32, len: u32) -> Span {
        Span { offset, len }
    }

    /// One past the last byte, computed without overflow.
    pub const fn end(&self) -> u64 {
        self.offset as u64 + self.len as u64
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset as usize..self.offset as usize + self.len as usize
    }

    /// Whether two non-empty spans share a byte.
    pub const fn overlaps(&self, other: &Span) -> bool {
        !self.is_empty()
            && !other.is_empty()
            && (self.offset as u64) < other.end()
            && (other.offset as u64) < self.end()
    }
}

/// The product of `dims`, saturating at `u64::MAX`: a blob's dimensions
/// (six of up to 2^32 each) must not wrap or panic before the checks compare
/// the count with a span, which no saturated count fits.
pub fn element_count(dims: impl IntoIterator<Item = u64>) -> u64 {
    dims.into_iter().fold(1u64, |n, d| n.saturating_mul(d))
}

wire_enum! {
    /// Element type of a tensor at run time.
    pub enum DType {
        #[default]
        I8 = 0,
        I16 = 1,
        I32 = 2,
        F32 = 3,
        /// Plain unsigned values (TFLM's signal library).
        U32 = 4,
        /// Plain unsigned values (the signal library's filter-bank sums).
        U64 = 5,
        /// Bools, one byte each, 0 or 1 (a model output: the comparisons'
        /// and logical ops' results, which ops read and write as int8).
        Bool = 6,
    }
}

impl DType {
    pub const fn size(self) -> usize {
        match self {
            DType::I8 | DType::Bool => 1,
            DType::I16 => 2,
            DType::I32 | DType::F32 | DType::U32 => 4,
            DType::U64 => 8,
        }
    }
}

wire_struct! {
    /// A 4-D activation shape in TFLite's NHWC layout.
    #[derive(Eq)]
    pub struct Nhwc {
        pub batches: u32,
        pub height: u32,
        pub width: u32,
        pub channels: u32,
    }
}

impl Nhwc {
    pub const fn new(batches: u32, height: u32, width: u32, channels: u32) -> Nhwc {
        Nhwc {
            batches,
            height,
            width,
            channels,
        }
    }

    /// Number of elements, widened so that it cannot overflow.
    pub const fn elements(&self) -> u64 {
        self.batches as u64 * self.height as u64 * self.width as u64 * self.channels as u64
    }

    /// Flat index of element `[b, y, x, c]`.
    #[inline(always)]
    pub fn index(&self, b: usize, y: usize, x: usize, c: usize) -> usize {
        ((b * self.height as usize + y) * self.width as usize + x) * self.channels as usize + c
    }
}

wire_struct! {
    /// Per-tensor affine quantization: `real = scale * (q - zero_point)`.
    pub struct Quantization {
        pub scale: f32,
        pub zero_point: i32,
    }
}

wire_struct! {
    /// The clamp of a float32 op's fused activation (`min > max` never occurs).
    pub struct FloatRange {
        pub min: f32,
        pub max: f32,
    }
}

impl FloatRange {
    /// No clamp.
    pub const NONE: FloatRange = FloatRange {
        min: f32::MIN,
        max: f32::MAX,
    };

    /// `min(max(v, min), max)`, as TFLM's `ActivationFunctionWithMinMax`
    /// and ONNX's Clip compute it (so `max` wins if `min > max`).
    #[inline(always)]
    pub fn apply(&self, v: f32) -> f32 {
        let v = if v < self.min { self.min } else { v };
        if v > self.max {
            self.max
        } else {
            v
        }
    }
}

/// The most dimensions a broadcasting or padding kernel handles.
pub const MAX_RANK: usize = 6;
