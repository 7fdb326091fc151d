//! SignalFilterBank, of TFLM's signal library: uint32 spectral energies
//! summed into uint64 mel channels by weight tables in the weights.
//!
//! Layer: ops; uses `kernels::signal_filter_bank`.

use super::arena::{constant, out_u64, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_filter_bank::{filter_bank, FilterBankTables};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (uint32 energies) to `output` (one uint64 sum per channel)
    /// through the int16 tables in the weights: `weights` and `unweights`
    /// per bin, and per band (channels + 1) its first bin, first weight and
    /// width.
    pub struct SignalFilterBankOp {
        pub input: Span,
        pub weights: Span,
        pub unweights: Span,
        pub frequency_starts: Span,
        pub weight_starts: Span,
        pub widths: Span,
        pub output: Span,
    }
}

impl SignalFilterBankOp {
    fn tables<'w>(&self, weights: &'w [u8]) -> FilterBankTables<'w> {
        FilterBankTables {
            weights: constant(weights, self.weights),
            unweights: constant(weights, self.unweights),
            frequency_starts: constant(weights, self.frequency_starts),
            weight_starts: constant(weights, self.weight_starts),
            widths: constant(weights, self.widths),
        }
    }
}

impl OpDescriptor for SignalFilterBankOp {
    const NAME: &'static str = "SignalFilterBank";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_filter_bank";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let channels = u64::from(self.output.len / 8);
        let bins = u64::from(self.input.len / 4);
        let taps = u64::from(self.weights.len / 2);
        c.constant(self.weights, taps, DType::I16, false)?;
        c.constant(self.unweights, taps, DType::I16, false)?;
        for band_table in [self.frequency_starts, self.weight_starts, self.widths] {
            c.constant(band_table, channels.saturating_add(1), DType::I16, false)?;
        }
        let t = FilterBankTables {
            weights: c.constants(self.weights),
            unweights: c.constants(self.unweights),
            frequency_starts: c.constants(self.frequency_starts),
            weight_starts: c.constants(self.weight_starts),
            widths: c.constants(self.widths),
        };
        c.ensure(
            t.fits(bins as usize, channels as usize),
            "filter bank bands outside the energies or the weights",
        )?;
        c.arena(self.input, bins, DType::U32)?;
        c.output(self.output, channels, DType::U64, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let tables = self.tables(weights);
        filter_bank(&tables, io.u32(self.input), out_u64(out));
    }
}
