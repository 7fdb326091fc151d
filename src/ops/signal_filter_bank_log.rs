//! SignalFilterBankLog, of TFLM's signal library: uint32 filter-bank
//! channels to scaled natural logs in int16.
//!
//! Layer: ops; uses `kernels::signal_filter_bank_log`.

use super::arena::{out_i16, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_filter_bank_log::filter_bank_log;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (uint32 channels), each shifted left by `correction_bits`,
    /// to `output` (int16): ln of it times `output_scale`, saturated.
    pub struct SignalFilterBankLogOp {
        pub output_scale: u32,
        pub correction_bits: u32,
        pub input: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalFilterBankLogOp {
    const NAME: &'static str = "SignalFilterBankLog";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_filter_bank_log";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            self.correction_bits < 32,
            "log input correction of 32 bits or more",
        )?;
        let channels = u64::from(self.output.len / 2);
        c.arena(self.input, channels, DType::U32)?;
        c.output(self.output, channels, DType::I16, &[self.input])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let (scale, bits) = (self.output_scale, self.correction_bits);
        filter_bank_log(scale, bits, io.u32(self.input), out_i16(out));
    }
}
