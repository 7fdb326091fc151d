//! SignalEnergy, of TFLM's signal library: the uint32 energy of each
//! complex int16 bin of a spectrum.
//!
//! Layer: ops; uses `kernels::signal_energy`.

use super::arena::{out_u32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_energy::energy_s16;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16 pairs: one complex bin each) to `output` (uint32, one
    /// energy per bin), computed for the bins `start..end` (0 elsewhere).
    pub struct SignalEnergyOp {
        pub start: u32,
        pub end: u32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalEnergyOp {
    const NAME: &'static str = "SignalEnergy";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_energy";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let bins = u64::from(self.output.len / 4);
        c.ensure(
            self.start <= self.end && u64::from(self.end) <= bins,
            "energy bins outside the spectrum",
        )?;
        c.arena(self.input, bins.saturating_mul(2), DType::I16)?;
        c.output(self.output, bins, DType::U32, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (start, end) = (self.start as usize, self.end as usize);
        energy_s16(start, end, io.i16(self.input), out_u32(out));
    }
}
