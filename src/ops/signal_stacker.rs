//! SignalStacker, of TFLM's signal library: frames of int16 channels
//! stacked into windows of context, the frames held kept in a state tensor
//! of the arena's state region (zero at reset), and a bool saying whether
//! a window came out.
//!
//! Layer: ops; uses `kernels::signal_stacker`.

use super::arena::{disjoint, out_i16};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_stacker::{stacker, StackerShape};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16, a frame of channels) into `output` (`window`
    /// frames); `state` holds a count and the last `window - 1` frames;
    /// `valid` (a bool) whether a window came out. The first frame also
    /// stands for the `left` before it; `step` frames drop after each
    /// window.
    pub struct SignalStackerOp {
        pub left: u32,
        pub window: u32,
        pub step: u32,
        pub input: Span,
        pub state: Span,
        pub output: Span,
        pub valid: Span,
    }
}

impl OpDescriptor for SignalStackerOp {
    const NAME: &'static str = "SignalStacker";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_stacker";

    /// One thread per sample.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.positive(&[self.window, self.step])?;
        c.ensure(
            self.left < self.window && self.step <= self.window && self.window < 32767,
            "stacker context or step outside its window",
        )?;
        let channels = u64::from(self.input.len / 2);
        c.arena(self.input, channels, DType::I16)?;
        let window = u64::from(self.window);
        let state = 1 + (window - 1) * channels;
        c.output(self.state, state, DType::I16, &[self.input])?;
        let out = window * channels;
        c.output(self.output, out, DType::I16, &[self.input, self.state])?;
        let written = [self.input, self.state, self.output];
        c.output(self.valid, 1, DType::I8, &written)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let spans = [self.input, self.state, self.output, self.valid];
        let [input, state, output, valid] = disjoint(arena, spans);
        let shape = StackerShape {
            channels: self.input.len as usize / 2,
            left: self.left as usize,
            window: self.window as usize,
            step: self.step as usize,
        };
        let whole = stacker(shape, out_i16(input), out_i16(state), out_i16(output));
        if let Some(v) = valid.first_mut() {
            *v = u8::from(whole);
        }
    }
}
