//! SignalFilterBankSpectralSubtraction, of TFLM's signal library: uint32
//! channels less their running noise estimates, which are state (a
//! variable tensor of the arena's state region, zero at reset) and a
//! second output.
//!
//! Layer: ops; uses `kernels::signal_spectral_subtraction`.

use super::arena::{disjoint, out_u32};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::copy;
use crate::kernels::signal_spectral_subtraction::{spectral_subtraction, SpectralSubtraction};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (uint32 channels) less the estimates in `state` (uint32,
    /// updated) into `output`; the updated estimates are copied to
    /// `noise_output`. The constants are TFLM's options (see
    /// `SpectralSubtraction`).
    pub struct SignalSpectralSubtractionOp {
        pub smoothing: u32,
        pub one_minus_smoothing: u32,
        pub alternate_smoothing: u32,
        pub alternate_one_minus_smoothing: u32,
        pub min_signal_remaining: u32,
        pub smoothing_bits: u32,
        pub subtraction_bits: u32,
        pub clamping: bool,
        pub input: Span,
        pub state: Span,
        pub output: Span,
        pub noise_output: Span,
    }
}

impl SignalSpectralSubtractionOp {
    fn params(&self) -> SpectralSubtraction {
        SpectralSubtraction {
            smoothing: self.smoothing,
            one_minus_smoothing: self.one_minus_smoothing,
            alternate_smoothing: self.alternate_smoothing,
            alternate_one_minus_smoothing: self.alternate_one_minus_smoothing,
            min_signal_remaining: self.min_signal_remaining,
            smoothing_bits: self.smoothing_bits,
            subtraction_bits: self.subtraction_bits,
            clamping: self.clamping,
        }
    }
}

impl OpDescriptor for SignalSpectralSubtractionOp {
    const NAME: &'static str = "SignalFilterBankSpectralSubtraction";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_spectral_subtraction";

    /// One thread per channel.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            self.smoothing_bits < 32 && self.subtraction_bits < 64,
            "spectral subtraction shifted by more bits than its values have",
        )?;
        let channels = u64::from(self.input.len / 4);
        c.arena(self.input, channels, DType::U32)?;
        c.output(self.state, channels, DType::U32, &[self.input])?;
        c.output(self.output, channels, DType::U32, &[self.input, self.state])?;
        let written = [self.input, self.state, self.output];
        c.output(self.noise_output, channels, DType::U32, &written)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let spans = [self.input, self.state, self.output, self.noise_output];
        let [input, state, output, noise] = disjoint(arena, spans);
        let state = out_u32(state);
        spectral_subtraction(&self.params(), out_u32(input), state, out_u32(output));
        copy(out_u32(noise), state);
    }
}
