//! SignalOverlapAdd, of TFLM's signal library: overlapping int16 or
//! float32 frames summed back into a stream, each row's tail kept in a
//! state tensor of the arena's state region (zero at reset).
//!
//! Layer: ops; uses `kernels::signal_overlap_add`.

use super::arena::{disjoint, out_f32, out_i16};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_overlap_add::{overlap_add, OverlapShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (`dtype`: int16 or float32; rows of `frames` frames of
    /// `frame` samples) into `output` (rows of `frames * step` samples);
    /// `state` holds each row's `frame` owed samples.
    pub struct SignalOverlapAddOp {
        pub dtype: DType,
        pub frame: u32,
        pub step: u32,
        pub frames: u32,
        pub input: Span,
        pub state: Span,
        pub output: Span,
    }
}

impl SignalOverlapAddOp {
    fn shape(&self) -> OverlapShape {
        OverlapShape {
            frame: self.frame as usize,
            step: self.step as usize,
            frames: self.frames as usize,
        }
    }
}

impl OpDescriptor for SignalOverlapAddOp {
    const NAME: &'static str = "SignalOverlapAdd";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_overlap_add";

    /// One thread per row: its frames add in order.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.state.len) / self.dtype.size() as u64 / u64::from(self.frame.max(1))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(
            matches!(self.dtype, DType::I16 | DType::F32),
            "overlap-add of other than int16 or float32",
        )?;
        c.positive(&[self.frame, self.step, self.frames])?;
        c.ensure(
            self.step <= self.frame,
            "overlap-add step longer than its frame",
        )?;
        let size = self.dtype.size() as u64;
        let per_row = u64::from(self.frames) * u64::from(self.frame);
        let n = u64::from(self.input.len) / size;
        c.ensure(
            n.is_multiple_of(per_row),
            "input not a whole number of rows",
        )?;
        let rows = n / per_row;
        c.arena(self.input, n, self.dtype)?;
        // The state is written: it shares no byte with the input or output.
        c.output(
            self.state,
            rows * u64::from(self.frame),
            self.dtype,
            &[self.input],
        )?;
        let out = rows * u64::from(self.frames) * u64::from(self.step);
        c.output(self.output, out, self.dtype, &[self.input, self.state])
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let [input, state, out] = disjoint(arena, [self.input, self.state, self.output]);
        match self.dtype {
            DType::F32 => overlap_add(self.shape(), out_f32(input), out_f32(state), out_f32(out)),
            _ => overlap_add(self.shape(), out_i16(input), out_i16(state), out_i16(out)),
        }
    }
}
