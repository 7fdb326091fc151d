//! SignalWindow, of TFLM's signal library: int16 frames times an int16
//! window from the weights, shifted and saturated.
//!
//! Layer: ops; uses `kernels::signal_window`.

use super::arena::{constant, out_i16, split};
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::signal_window::window_s16;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `input` (int16) in frames of the window's length, each times
    /// `window` (int16, in the weights), shifted right by `shift`.
    pub struct SignalWindowOp {
        pub shift: u32,
        pub input: Span,
        pub window: Span,
        pub output: Span,
    }
}

impl OpDescriptor for SignalWindowOp {
    const NAME: &'static str = "SignalWindow";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_signal_window";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.input.len / 2)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        c.ensure(self.shift < 32, "window shift of 32 bits or more")?;
        let window = u64::from(self.window.len / 2);
        c.ensure(window > 0, "empty window")?;
        c.constant(self.window, window, DType::I16, false)?;
        c.elementwise(self.input, DType::I16, self.output, DType::I16)?;
        c.ensure(
            u64::from(self.input.len / 2).is_multiple_of(window),
            "input not a whole number of windows",
        )
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let (io, out) = split(arena, self.output);
        let window = constant(weights, self.window);
        window_s16(self.shift, io.i16(self.input), window, out_i16(out));
    }
}
