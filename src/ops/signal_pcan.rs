//! SignalPCAN, of TFLM's signal library: per-channel amplitude
//! normalization of uint32 filter-bank channels by their noise estimates.
//!
//! Layer: ops; uses `kernels::signal_pcan`.

use super::arena::{constant, out_u32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_pcan::{pcan, GAIN_LUT_LEN};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (uint32 channels) times the gain of each channel's `noise`
    /// estimate (uint32) from `gain_lut` (int16, in the weights), shifted
    /// right by `snr_shift` and shrunk, to `output` (uint32).
    pub struct SignalPcanOp {
        pub snr_shift: u32,
        pub input: Span,
        pub noise: Span,
        pub gain_lut: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalPcanOp {
    const NAME: &'static str = "SignalPCAN";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_pcan";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(self.snr_shift < 64, "PCAN shift of 64 bits or more")?;
        c.constant(self.gain_lut, GAIN_LUT_LEN as u64, DType::I16, false)?;
        let channels = u64::from(self.output.len / 4);
        c.arena(self.input, channels, DType::U32)?;
        c.arena(self.noise, channels, DType::U32)?;
        c.output(self.output, channels, DType::U32, &[self.input, self.noise])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let lut = constant(weights, self.gain_lut);
        let (x, noise) = (io.u32(self.input), io.u32(self.noise));
        pcan(self.snr_shift, lut, x, noise, out_u32(out));
    }
}
