//! CIRCULAR_BUFFER, TFLite Micro's custom op for strided streaming models
//! (int8): each call appends its input, one slot `[1, 1, width, depth]`,
//! to the last `slots` slots `[1, slots, width, depth]`, and only every
//! `cycles_max`-th call lets the rest of the graph run (the others end the
//! run early). TFLM keeps the count in the kernel and the slots in the
//! output tensor, which streaming models mark as a variable tensor; kiln
//! keeps the slots there too (the importer makes the output a variable
//! tensor if the file did not) and gives the node a variable tensor for
//! the count (its input 1, added by the importer); at reset the slots
//! hold the output's zero point and the count is zero.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::ops::CircularBufferOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::invalid as invalid_file;
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// CIRCULAR_BUFFER. Inputs: the slot, the count of calls (state); its
/// output, the slots, is state too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircularBuffer {
    /// TFLM's `cycles_max`: the graph runs on every `period`-th call.
    pub period: u32,
}

impl CircularBuffer {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("CIRCULAR_BUFFER", |op| {
            // Without the option TFLM guesses the period from the output's
            // shape and from how many buffers it prepared before, in any
            // model of the process: kiln asks for it instead.
            let period = match op.custom_options_given() {
                true => op.custom_int_or("cycles_max", 0)?,
                false => 0,
            };
            let period = match u32::try_from(period) {
                Ok(p) if p > 0 && p <= i32::MAX as u32 => p,
                _ => {
                    let given = match period {
                        0 => "no cycles_max option".into(),
                        p => format!("a cycles_max of {p}"),
                    };
                    op.unsupported(format!(
                        "{given} (TFLM then guesses the period from the output's shape; \
                         kiln needs it as the custom option cycles_max, at least 1)"
                    ));
                    1
                }
            };
            if op.outputs.len() != 1 {
                op.unsupported(format!(
                    "{} outputs (kiln: the buffer only, not the valid flag)",
                    op.outputs.len()
                ));
            }
            if op.outputs.is_empty() {
                return invalid_file("CIRCULAR_BUFFER without its output");
            }
            op.output_is_state();
            op.state("circular buffer calls", vec![1], DataType::I32);
            Ok(OpKind::CircularBuffer(CircularBuffer { period }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT8,
    };
}

impl IrOp for CircularBuffer {
    fn name(&self) -> &'static str {
        "CIRCULAR_BUFFER"
    }

    fn attributes(&self) -> String {
        format!("cycles_max {}", self.period)
    }

    /// Bytes of int8 models only, as TFLM's kernel.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame as `opprof` paints it from the circular_buffer fixture's
    /// blob (176 bytes on the M4 and M33, 144 on the RV32), plus the 16
    /// bytes by which FULLY_CONNECTED's generated-code figure exceeds its
    /// own there; the M0 (whose opprof build overflows its flash) as the
    /// M4 plus FULLY_CONNECTED's 16 bytes between those two cores.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(208, 192, 192, 160)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, calls, out) = (
            cx.input(node, 0)?,
            cx.state(node, 1)?,
            cx.output_state(node)?,
        );
        // TFLM's shapes: a slot [1, 1, width, depth] into [1, slots, width,
        // depth]. Its kernel moves the whole buffer as one batch.
        let (xs, os) = (cx.shape(x), cx.shape(out));
        if xs.len() != 4 || os.len() != 4 || xs[0] != 1 || os[0] != 1 || xs[1] != 1 {
            return unsupported(format!(
                "a slot of shape {xs:?} into {os:?} (kiln, as TFLM: [1, 1, width, depth] into \
                 [1, slots, width, depth])"
            ));
        }
        if xs[2] != os[2] || xs[3] != os[3] {
            return unsupported(format!("a slot of shape {xs:?} into {os:?}"));
        }
        let (slot, slots) = (xs[2] * xs[3], os[1]);
        if cx.tensor(calls).elements() != 1 {
            return unsupported("a count of calls of more than one value");
        }
        Ok(Some(Op::CircularBuffer(CircularBufferOp {
            slot: to_u32(slot)?,
            slots: to_u32(slots)?,
            period: self.period,
            input: cx.activation(x, DataType::I8)?,
            calls: cx.activation(calls, DataType::I32)?,
            output: cx.activation(out, DataType::I8)?,
        })))
    }
}
