//! SignalIrfft, of TFLM's signal library: frames of int16, int32 or
//! float32 complex spectra back to samples, kissfft's inverse twiddles in
//! the weights and the half-length FFT's input in scratch.
//!
//! Layer: ops; uses `kernels::signal_irfft`.

use super::arena::{constant, out_f32, out_i16, out_i32, split_two};
use super::signal_rfft::check_fft;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_irfft::irfft;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (`dtype`, `fft_length + 2` values per frame: its bins' real
    /// and imaginary parts) to `output` (`dtype`, `fft_length` samples per
    /// frame); `twiddles` (`dtype`, complex, in the weights) are kissfft's
    /// inverse ones: `fft_length / 2`, then `fft_length / 4`; `scratch`
    /// holds `fft_length` values.
    pub struct SignalIrfftOp {
        pub dtype: DType,
        pub fft_length: u32,
        pub input: Span,
        pub twiddles: Span,
        pub scratch: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalIrfftOp {
    const NAME: &'static str = "SignalIrfft";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_irfft";

    /// One thread per frame: the frames of one sample share its scratch,
    /// so they run in order.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_fft(c, self.dtype, self.fft_length, self.twiddles)?;
        let size = self.dtype.size() as u64;
        let samples = u64::from(self.output.len) / size;
        let length = u64::from(self.fft_length);
        c.ensure(
            samples.is_multiple_of(length),
            "output not a whole number of frames",
        )?;
        let frames = samples.checked_div(length).unwrap_or(0);
        c.arena(self.input, frames * (length + 2), self.dtype)?;
        let scratch = usize::try_from(length * size).unwrap_or(usize::MAX);
        c.scratch(self.scratch, scratch, &[self.input, self.output])?;
        c.output(self.output, samples, self.dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out, scratch) = split_two(arena, self.output, self.scratch);
        let (length, tw) = (self.fft_length as usize, self.twiddles);
        match self.dtype {
            DType::I32 => irfft(
                length,
                constant(weights, tw),
                io.i32(self.input),
                out_i32(scratch),
                out_i32(out),
            ),
            DType::F32 => irfft(
                length,
                constant(weights, tw),
                io.f32(self.input),
                out_f32(scratch),
                out_f32(out),
            ),
            _ => irfft(
                length,
                constant(weights, tw),
                io.i16(self.input),
                out_i16(scratch),
                out_i16(out),
            ),
        }
    }
}
