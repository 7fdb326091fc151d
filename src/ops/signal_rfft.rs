//! SignalRfft, of TFLM's signal library: frames of int16, int32 or
//! float32 samples to their complex spectra, kissfft's twiddles in the
//! weights.
//!
//! Layer: ops; uses `kernels::signal_rfft`.

use super::arena::{constant, out_f32, out_i16, out_i32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::kiss_fft::Factors;
use crate::kernels::signal_rfft::{rfft, RfftShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (`dtype`) in frames of `input_length` samples, zero-padded
    /// to `fft_length`, to `output` (`dtype`, `fft_length + 2` values per
    /// frame: its bins' real and imaginary parts); `twiddles` (`dtype`,
    /// complex, in the weights) are kissfft's: `fft_length / 2`, then
    /// `fft_length / 4`.
    pub struct SignalRfftOp {
        pub dtype: DType,
        pub fft_length: u32,
        pub input_length: u32,
        pub input: Span,
        pub twiddles: Span,
        pub output: Span,
    }
}

impl SignalRfftOp {
    fn shape(&self) -> RfftShape {
        RfftShape {
            fft_length: self.fft_length as usize,
            input_length: self.input_length as usize,
        }
    }
}

impl OpDescriptor for SignalRfftOp {
    const NAME: &'static str = "SignalRfft";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_rfft";

    /// One thread per frame.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        let size = self.dtype.size() as u64;
        (u64::from(self.input.len) / size)
            .checked_div(u64::from(self.input_length))
            .unwrap_or(0)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        check_fft(c, self.dtype, self.fft_length, self.twiddles)?;
        c.ensure(
            (1..=self.fft_length).contains(&self.input_length),
            "real FFT frames longer than the FFT",
        )?;
        let size = self.dtype.size() as u64;
        let samples = u64::from(self.input.len) / size;
        c.ensure(
            samples.is_multiple_of(u64::from(self.input_length)),
            "input not a whole number of frames",
        )?;
        let frames = samples / u64::from(self.input_length);
        c.arena(self.input, samples, self.dtype)?;
        let out = frames * (u64::from(self.fft_length) + 2);
        c.output(self.output, out, self.dtype, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (shape, tw) = (self.shape(), self.twiddles);
        match self.dtype {
            DType::I32 => rfft(
                shape,
                constant(weights, tw),
                io.i32(self.input),
                out_i32(out),
            ),
            DType::F32 => rfft(
                shape,
                constant(weights, tw),
                io.f32(self.input),
                out_f32(out),
            ),
            _ => rfft(
                shape,
                constant(weights, tw),
                io.i16(self.input),
                out_i16(out),
            ),
        }
    }
}

/// The checks both directions of the real FFT share: kissfft's element
/// types, an even length whose half factors into radices 2 to 5, and the
/// twiddles for it (`n` of the half-length FFT, `n / 2` of the split).
pub(super) fn check_fft(
    c: &Checker,
    dtype: DType,
    fft_length: u32,
    twiddles: Span,
) -> Result<(), Error> {
    c.ensure(
        matches!(dtype, DType::I16 | DType::I32 | DType::F32),
        "FFT of other than int16, int32 or float32",
    )?;
    let n = fft_length / 2;
    c.ensure(
        n > 0 && fft_length.is_multiple_of(2),
        "FFT of an odd length",
    )?;
    c.ensure(
        Factors::of(n).supported(),
        "FFT whose half length has a prime factor above 5",
    )?;
    c.constant(twiddles, 2 * u64::from(n + n / 2), dtype, false)
}
