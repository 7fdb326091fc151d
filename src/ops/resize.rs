//! RESIZE_NEAREST_NEIGHBOR of int8, int16 or float32 values, and
//! RESIZE_BILINEAR of int8 or float32 values.
//!
//! Layer: ops; uses `kernels::resize`.

use super::arena::{out_f32, out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::resize::ResizeParams;
use crate::kernels::resize::{resize_bilinear_f32, resize_bilinear_i8, resize_nearest};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// RESIZE_NEAREST_NEIGHBOR of `dtype` values (int32 ones move as
    /// float32's bytes do).
    pub struct ResizeNearestOp {
        pub params: ResizeParams,
        pub dtype: DType,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ResizeNearestOp {
    const NAME: &'static str = "RESIZE_NEAREST_NEIGHBOR";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_resize_nearest";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        let p = &self.params;
        crate::tensor::element_count([
            u64::from(p.batches),
            u64::from(p.output_height),
            u64::from(p.output_width),
        ])
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_resize(c, &self.params, self.dtype, self.input, self.output)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let p = &self.params;
        match self.dtype {
            DType::I8 => resize_nearest(p, io.i8(self.input), out_i8(out)),
            DType::I16 => resize_nearest(p, io.i16(self.input), out_i16(out)),
            // Four-byte values move as their bits.
            DType::I32 | DType::U32 | DType::F32 => {
                resize_nearest(p, io.f32(self.input), out_f32(out))
            }
            // Refused by the check.
            DType::U64 | DType::Bool => {}
        }
    }
}

wire_struct! {
    /// RESIZE_BILINEAR of `dtype` values (int8 or float32).
    pub struct ResizeBilinearOp {
        pub params: ResizeParams,
        pub dtype: DType,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for ResizeBilinearOp {
    const NAME: &'static str = "RESIZE_BILINEAR";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_resize_bilinear";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.params.output_values()
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        // Positions are 1/1024ths of a pixel in an int32, as TFLM's.
        let sides = [
            p.input_height,
            p.input_width,
            p.output_height,
            p.output_width,
        ];
        c.ensure(
            sides.iter().all(|&side| side < 1 << 20),
            "a side of a million pixels or more",
        )?;
        c.ensure(
            matches!(self.dtype, DType::I8 | DType::F32),
            "RESIZE_BILINEAR of a type other than int8 or float32",
        )?;
        check_resize(c, p, self.dtype, self.input, self.output)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let p = &self.params;
        match self.dtype {
            DType::I8 => resize_bilinear_i8(p, io.i8(self.input), out_i8(out)),
            _ => resize_bilinear_f32(p, io.f32(self.input), out_f32(out)),
        }
    }
}

/// What both resizes require: an input to resize, at most one of TFLite's
/// options, and spans of the sizes the geometry gives.
fn check_resize(
    c: &Checker,
    p: &ResizeParams,
    dtype: DType,
    input: Span,
    output: Span,
) -> Result<(), Error> {
    // Empty pixels (depth 0) are refused by `Checker::arena`, as every
    // empty tensor is.
    c.positive(&[p.input_height, p.input_width])?;
    c.ensure(
        !matches!(dtype, DType::U64 | DType::Bool),
        "RESIZE of uint64 values or bools",
    )?;
    c.ensure(
        !(p.align_corners && p.half_pixel_centers),
        "align_corners and half_pixel_centers both set",
    )?;
    c.arena(input, p.input_values(), dtype)?;
    c.output(output, p.output_values(), dtype, &[input])
}
