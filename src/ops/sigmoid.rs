//! LOGISTIC and TANH in int8 (TFLM's gemmlowp fixed point, fixed output
//! quantization) and int16 (TFLite's interpolated sigmoid table); their
//! float32 forms are unary functions (`unary`).
//!
//! Layer: ops; uses `kernels::activation` and `kernels::sigmoid_table`.

use super::arena::{out_i16, out_i8, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::activation::SigmoidParams;
use crate::kernels::activation::{logistic_s8, tanh_s8};
pub use crate::kernels::sigmoid_table::TableScale;
use crate::kernels::sigmoid_table::{logistic_s16, tanh_s16};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// An int8 LOGISTIC or TANH: the input's scaling into Q4.27.
    pub struct SigmoidS8 {
        pub params: SigmoidParams,
        pub input: Span,
        pub output: Span,
    }
}

impl SigmoidS8 {
    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.offsets(&[self.params.input_zero_point])?;
        c.shift(self.params.input_left_shift)?;
        c.elementwise(self.input, DType::I8, self.output, DType::I8)
    }
}

wire_struct! {
    /// int8 LOGISTIC (output scale 1/256, zero point -128).
    pub struct LogisticOp {
        pub sigmoid: SigmoidS8,
    }
}

impl OpDescriptor for LogisticOp {
    const NAME: &'static str = "LOGISTIC";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_logistic";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.sigmoid.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.sigmoid.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let s = &self.sigmoid;
        let (io, out) = split(arena, s.output);
        logistic_s8(&s.params, io.i8(s.input), out_i8(out));
    }
}

wire_struct! {
    /// int8 TANH (output scale 1/128, zero point 0).
    pub struct TanhOp {
        pub sigmoid: SigmoidS8,
    }
}

impl OpDescriptor for TanhOp {
    const NAME: &'static str = "TANH";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_tanh";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.sigmoid.input.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.sigmoid.check(c)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let s = &self.sigmoid;
        let (io, out) = split(arena, s.output);
        tanh_s8(&s.params, io.i8(s.input), out_i8(out));
    }
}

wire_struct! {
    /// An int16 LOGISTIC or TANH (zero points 0, output scale 2^-15): the
    /// input's rescale to the table's scale.
    pub struct SigmoidS16 {
        pub scale: TableScale,
        pub input: Span,
        pub output: Span,
    }
}

impl SigmoidS16 {
    /// The rescale cannot overflow: `x * multiplier` plus the rounding
    /// stays within i32 for a multiplier up to 2^15 - 1 (TFLM's bound).
    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.scale;
        c.ensure(
            (0..=32767).contains(&p.multiplier) && (0..=31).contains(&p.shift),
            "int16 sigmoid rescale out of range",
        )?;
        c.elementwise(self.input, DType::I16, self.output, DType::I16)
    }
}

/// The int16 table ops: a descriptor holding a [`SigmoidS16`], its name,
/// its kernel and its CUDA kernel.
macro_rules! sigmoid_s16 {
    ($($(#[$doc:meta])* $op:ident $name:literal => $kernel:path, $cuda:literal;)*) => {$(
        wire_struct! {
            $(#[$doc])*
            pub struct $op {
                pub sigmoid: SigmoidS16,
            }
        }

        impl OpDescriptor for $op {
            const NAME: &'static str = $name;

            #[cfg(feature = "host")]
            const CUDA_KERNEL: &'static str = $cuda;

            #[cfg(feature = "host")]
            fn cuda_items(&self) -> u64 {
                u64::from(self.sigmoid.input.len / 2)
            }

            fn check(&self, c: &Checker) -> Result<(), Error> {
                self.sigmoid.check(c)
            }

            #[inline(never)]
            fn run(&self, arena: &mut [u8], _weights: &[u8]) {
                let s = &self.sigmoid;
                let (io, out) = split(arena, s.output);
                $kernel(&s.scale, io.i16(s.input), out_i16(out));
            }
        }
    )*};
}

sigmoid_s16! {
    /// int16 LOGISTIC.
    LogisticS16Op "LOGISTIC (int16)" => logistic_s16, "kiln_logistic_s16";
    /// int16 TANH.
    TanhS16Op "TANH (int16)" => tanh_s16, "kiln_tanh_s16";
}
