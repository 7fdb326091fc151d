//! SignalFilterBankSquareRoot, of TFLM's signal library: uint64
//! filter-bank channels to their square roots in uint32, scaled down by a
//! constant number of bits or by one computed in the graph (an audio front
//! end's SignalFftAutoScale shift).
//!
//! Layer: ops; uses `kernels::signal_filter_bank_square_root`.

use super::arena::{out_u32, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_filter_bank_square_root::filter_bank_square_root;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (uint64 channels) to `output` (uint32): each one's rounded
    /// square root, shifted right by `scale_down_bits`, or where `bits` is
    /// not empty by the int32 it holds in the arena. Only its low 5 bits
    /// count: kiln's choice, since C leaves a uint32 shifted by 32 or more
    /// undefined (valid front ends shift by 0 to 15).
    pub struct SignalFilterBankSquareRootOp {
        pub scale_down_bits: u32,
        pub input: Span,
        pub bits: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalFilterBankSquareRootOp {
    const NAME: &'static str = "SignalFilterBankSquareRoot";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_filter_bank_square_root";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len / 4)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            self.scale_down_bits < 32,
            "square root scaled down by 32 bits or more",
        )?;
        let channels = u64::from(self.output.len / 4);
        c.arena(self.input, channels, DType::U64)?;
        if !self.bits.is_empty() {
            c.arena(self.bits, 1, DType::I32)?;
        }
        c.output(self.output, channels, DType::U32, &[self.input, self.bits])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let bits = match io.i32(self.bits).first() {
            Some(&computed) => computed as u32,
            None => self.scale_down_bits,
        };
        filter_bank_square_root(bits, io.u64(self.input), out_u32(out));
    }
}
