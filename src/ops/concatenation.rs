//! CONCATENATION of int8 or float32 values: a strided copy of bytes (TFLM
//! requires every int8 input to share the output's quantization), out of
//! place or over its first or last input.
//!
//! Layer: ops; uses `kernels::concatenation`.

use super::arena::split;
use super::{Checker, OpDescriptor};
use crate::error::Error;
use crate::kernels::concatenation::{concatenate_into, spread_rows};
use crate::kernels::part_mut;
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

/// The most inputs one CONCATENATION takes, TFLM's `kMaxInputNum`; the
/// codegen rejects more.
pub const MAX_CONCAT_INPUTS: usize = 10;

wire_struct! {
    /// The first `count` of `inputs` are copied, in order, into `outer` rows
    /// of the output. A fixed array keeps ops free of borrowed data.
    pub struct ConcatenationOp {
        pub outer: u32,
        pub count: u32,
        pub inputs: [Span; MAX_CONCAT_INPUTS],
        pub output: Span,
    }
}

impl ConcatenationOp {
    pub fn inputs(&self) -> &[Span] {
        &self.inputs[..(self.count as usize).min(MAX_CONCAT_INPUTS)]
    }

    /// Checks the inputs' rows and reach, and the output's size, apart
    /// from every input but `over` (`None`: apart from all).
    fn check_apart_from(&self, c: &Checker, over: Option<usize>) -> Result<(), Error> {
        c.ensure(self.outer > 0, "zero rows")?;
        c.ensure(self.count as usize <= MAX_CONCAT_INPUTS, "too many inputs")?;
        let mut total = 0u64;
        let mut apart = [Span::default(); MAX_CONCAT_INPUTS];
        let mut count = 0;
        for (k, &input) in self.inputs().iter().enumerate() {
            c.ensure(
                input.len % self.outer == 0,
                "input does not split into rows",
            )?;
            c.arena(input, u64::from(input.len), DType::I8)?;
            total += u64::from(input.len);
            if let (true, Some(slot)) = (Some(k) != over, apart.get_mut(count)) {
                *slot = input;
                count += 1;
            }
        }
        c.output(
            self.output,
            total,
            DType::I8,
            apart.get(..count).unwrap_or(&[]),
        )
    }

    /// Copies each input but `skip` into its rows of the output.
    fn copy_inputs(&self, arena: &mut [u8], skip: Option<usize>) {
        let (io, out) = split(arena, self.output);
        let outer = self.outer.max(1) as usize;
        let mut column = 0;
        for (k, &input) in self.inputs().iter().enumerate() {
            if Some(k) != skip {
                concatenate_into(outer, io.bytes(input), out, column);
            }
            column += input.len as usize / outer;
        }
    }
}

impl OpDescriptor for ConcatenationOp {
    const NAME: &'static str = "CONCATENATION";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_concatenation";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        u64::from(self.output.len)
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        self.check_apart_from(c, None)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        self.copy_inputs(arena, None);
    }
}

wire_struct! {
    /// CONCATENATION whose output lies over input `over`, the first (at
    /// the output's start) or the last (at its end): the planner puts it
    /// there when that input dies with the concatenation, so the layer
    /// needs the output's bytes without that input's beside them. Its rows
    /// are spread to their places first
    /// ([`spread_rows`](crate::kernels::concatenation::spread_rows)),
    /// then the other inputs are copied between them.
    pub struct ConcatenationInPlaceOp {
        pub op: ConcatenationOp,
        pub over: u32,
    }
}

impl ConcatenationInPlaceOp {
    /// Whether the output lies over the last input (else the first).
    fn at_end(&self) -> bool {
        self.over > 0
    }
}

impl OpDescriptor for ConcatenationInPlaceOp {
    const NAME: &'static str = ConcatenationOp::NAME;

    // No kernel of its own: on a GPU it runs out of place (`gpu_steps`).
    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "";

    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        self.op.cuda_items()
    }

    #[cfg(feature = "host")]
    fn gpu_steps(&self, spill: u32) -> Option<super::GpuSteps> {
        let output: fn(&mut ConcatenationOp) -> &mut Span = |op| &mut op.output;
        let concatenation = super::Op::Concatenation;
        Some(super::in_place::spilled(
            self.op,
            output,
            spill,
            concatenation,
        ))
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let over = self.over as usize;
        let inputs = self.op.inputs();
        c.ensure(
            over == 0 || over + 1 == inputs.len(),
            "an in-place concatenation lies over its first or last input",
        )?;
        let under = inputs
            .get(over)
            .ok_or_else(|| c.fail("an in-place concatenation without inputs"))?;
        let output = self.op.output;
        c.ensure(
            match self.at_end() {
                false => under.offset == output.offset,
                true => under.end() == output.end(),
            },
            "an in-place concatenation's input not at its end of the output",
        )?;
        // Every other input apart from the output; `under` lies inside it
        // (it starts or ends with it and is no larger).
        self.op.check_apart_from(c, Some(over))
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], _weights: &[u8]) {
        let (op, over) = (&self.op, self.over as usize);
        if let Some(under) = op.inputs().get(over) {
            let outer = op.outer.max(1) as usize;
            let output = part_mut(arena, op.output.offset as usize, op.output.len as usize);
            spread_rows(outer, under.len as usize / outer, output, self.at_end());
        }
        op.copy_inputs(arena, Some(over));
    }
}
