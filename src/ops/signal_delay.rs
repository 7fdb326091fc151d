//! SignalDelay, of TFLM's signal library: a delay line over the last axis
//! of int16 samples, its owed samples kept in a state tensor of the arena's
//! state region (zero at reset, as TFLM primes its buffer with zeros).
//!
//! Layer: ops; uses `kernels::signal_delay`.

use super::arena::{disjoint, out_i16};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_delay::delay_s16;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16, rows of `frame` samples) into `output`, `delay`
    /// samples late; `state` holds each row's last `delay` samples.
    pub struct SignalDelayOp {
        pub frame: u32,
        pub delay: u32,
        pub input: Span,
        pub state: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalDelayOp {
    const NAME: &'static str = "SignalDelay";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_delay";

    /// One thread per row: its state moves in order.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2) / u64::from(self.frame.max(1))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.frame, self.delay])?;
        let n = u64::from(self.input.len / 2);
        c.ensure(
            n.is_multiple_of(u64::from(self.frame)),
            "input not a whole number of frames",
        )?;
        let rows = n / u64::from(self.frame);
        c.arena(self.input, n, DType::I16)?;
        // The state is written: it shares no byte with the input or output.
        c.output(
            self.state,
            rows * u64::from(self.delay),
            DType::I16,
            &[self.input],
        )?;
        c.output(self.output, n, DType::I16, &[self.input, self.state])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let [input, state, out] = disjoint(arena, [self.input, self.state, self.output]);
        delay_s16(
            self.frame as usize,
            out_i16(input),
            out_i16(state),
            out_i16(out),
        );
    }
}
