//! CIRCULAR_BUFFER, TFLite Micro's custom op for strided streaming models:
//! each call appends one slot of int8 values to a buffer of the last
//! `slots` slots (the oldest drops out), and only every `period`-th call
//! lets the rest of the graph run; the others end the run early (TFLM's
//! `kTfLiteAbort`), which [`crate::exec::Ran::EndedEarly`] reports. The
//! buffer is the op's output, and it and the count of calls live in the
//! arena's state region (at reset the slots hold the output's zero point
//! and the count is zero), so they carry from one run to
//! the next.
//!
//! Layer: ops; uses `tensor` and `wire`.

use super::arena::{disjoint, out_i32};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (one slot of `slot` bytes) shifted into `output` (`slots`
    /// slots, the newest last; state); `calls` (one int32, state) counts
    /// the calls since the graph last ran on: at `period` it runs on, and
    /// the count starts again at zero.
    pub struct CircularBufferOp {
        pub slot: u32,
        pub slots: u32,
        pub period: u32,
        pub input: Span,
        pub calls: Span,
        pub output: Span,
    }
}

impl OpDescriptor for CircularBufferOp {
    const NAME: &'static str = "CIRCULAR_BUFFER";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_circular_buffer";

    /// One thread per sample: the buffer moves in order.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.slot, self.slots, self.period])?;
        c.ensure(self.period <= i32::MAX as u32, "period too long")?;
        let slot = u64::from(self.slot);
        let buffered = slot * u64::from(self.slots);
        c.arena(self.input, slot, DType::I8)?;
        // The state is written: it shares no byte with the input, nor the
        // count with the slots.
        c.output(self.calls, 1, DType::I32, &[self.input])?;
        c.output(self.output, buffered, DType::I8, &[self.input, self.calls])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let [input, calls, slots] = disjoint(arena, [self.input, self.calls, self.output]);
        if let Some(kept) = slots.len().checked_sub(input.len()) {
            slots.copy_within(input.len().., 0);
            if let Some(newest) = slots.get_mut(kept..) {
                newest.copy_from_slice(input);
            }
        }
        if let Some(count) = out_i32(calls).first_mut() {
            // A negative count (a user wrote over the state) counts as zero.
            let next = i64::from((*count).max(0)) + 1;
            *count = if next >= i64::from(self.period) {
                0
            } else {
                next as i32
            };
        }
    }

    /// The run goes on only when the count came back to zero.
    fn ends_run(&self, arena: &[u8]) -> bool {
        let count = arena
            .get(self.calls.range())
            .and_then(|b| b.first_chunk::<4>())
            .map_or(0, |b| i32::from_ne_bytes(*b));
        count != 0
    }

    fn can_end_run(&self) -> bool {
        self.period > 1
    }
}
