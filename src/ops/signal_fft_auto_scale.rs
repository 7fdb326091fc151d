//! SignalFftAutoScale, of TFLM's signal library: an int16 frame scaled up
//! to fill 16 bits, and the shift it took. TFLite's op has both as outputs;
//! kiln runs one op per output (`scale_bits` says which), each computing
//! the shift.
//!
//! Layer: ops; uses `kernels::signal_fft_auto_scale`.

use super::arena::{out_i16, out_i32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_fft_auto_scale::{scale, scale_bits};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16) scaled, into `output` (int16, as long); or, with
    /// `scale_bits`, the shift into `output` (one int32).
    pub struct SignalFftAutoScaleOp {
        pub scale_bits: bool,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalFftAutoScaleOp {
    const NAME: &'static str = "SignalFftAutoScale";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_fft_auto_scale";

    /// One thread per frame: the shift needs every sample.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let n = u64::from(self.input.len / 2);
        c.arena(self.input, n, DType::I16)?;
        match self.scale_bits {
            true => c.output(self.output, 1, DType::I32, &[self.input]),
            false => c.output(self.output, n, DType::I16, &[self.input]),
        }
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let input = io.i16(self.input);
        let bits = scale_bits(input);
        match self.scale_bits {
            true => out_i32(out).iter_mut().for_each(|b| *b = bits as i32),
            false => scale(input, bits, out_i16(out)),
        }
    }
}
