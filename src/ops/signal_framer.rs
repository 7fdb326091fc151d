//! SignalFramer, of TFLM's signal library: int16 samples cut into
//! overlapping frames, each row's owed samples kept in a state tensor of
//! the arena's state region (zero at reset), and a bool saying whether
//! every frame was whole.
//!
//! Layer: ops; uses `kernels::signal_framer`.

use super::arena::{disjoint, out_i16};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_framer::{framer, FramerShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16, rows of `frames * step` samples) into `output`
    /// (rows of `frames` frames of `size`); `state` holds each row's count
    /// and tail (`FramerShape::tail` + 1 values); `valid` (a bool) whether
    /// every frame was whole.
    pub struct SignalFramerOp {
        pub size: u32,
        pub step: u32,
        pub frames: u32,
        pub prefill: bool,
        pub input: Span,
        pub state: Span,
        pub output: Span,
        pub valid: Span,
    }
}

impl SignalFramerOp {
    fn shape(&self) -> FramerShape {
        FramerShape {
            size: self.size as usize,
            step: self.step as usize,
            frames: self.frames as usize,
            prefill: self.prefill,
        }
    }
}

impl OpDescriptor for SignalFramerOp {
    const NAME: &'static str = "SignalFramer";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_framer";

    /// One thread per sample: its rows share the valid flag.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.size, self.step, self.frames])?;
        c.ensure(
            !self.prefill || self.step <= self.size,
            "prefilled framer stepping past its frames",
        )?;
        let tail = u64::from(self.size.div_ceil(self.step.max(1)) * self.step - self.step);
        c.ensure(tail < 32768, "framer tail longer than an int16 count")?;
        let per_row = u64::from(self.frames) * u64::from(self.step);
        let samples = u64::from(self.input.len / 2);
        c.ensure(
            samples.is_multiple_of(per_row),
            "input not a whole number of rows",
        )?;
        let rows = samples.checked_div(per_row).unwrap_or(0);
        c.arena(self.input, samples, DType::I16)?;
        c.output(self.state, rows * (tail + 1), DType::I16, &[self.input])?;
        let out = rows * u64::from(self.frames) * u64::from(self.size);
        c.output(self.output, out, DType::I16, &[self.input, self.state])?;
        let written = [self.input, self.state, self.output];
        c.output(self.valid, 1, DType::I8, &written)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let spans = [self.input, self.state, self.output, self.valid];
        let [input, state, output, valid] = disjoint(arena, spans);
        let whole = framer(
            self.shape(),
            out_i16(input),
            out_i16(state),
            out_i16(output),
        );
        if let Some(v) = valid.first_mut() {
            *v = u8::from(whole);
        }
    }
}
