//! SignalDelay, the delay line of TFLM's signal library (a custom
//! operator): int16 samples along the last axis come out `delay_length`
//! samples late. TFLM keeps the owed samples in a buffer of the kernel's
//! own; kiln gives the node a variable tensor for them (its last input,
//! added by the importer), zero at reset.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::ops::SignalDelayOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::invalid as invalid_file;
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalDelay. Inputs: samples, the delay line's state `[rows, delay]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalDelay {
    pub delay: u32,
}

impl SignalDelay {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalDelay", |op| {
            let delay = op.custom_int("delay_length")?;
            let Some(shape) = op.input_tensor(0).map(|t| t.shape.clone()) else {
                return invalid_file("SignalDelay without its input");
            };
            let frame = shape.last().copied().unwrap_or(1);
            let rows = shape
                .iter()
                .product::<usize>()
                .checked_div(frame)
                .unwrap_or(0);
            let delay = match u32::try_from(delay) {
                Ok(d) if d > 0 => d,
                _ => {
                    op.unsupported(format!("a delay of {delay} samples (kiln: at least 1)"));
                    1
                }
            };
            op.state("delay line", vec![rows, delay as usize], DataType::I16);
            Ok(OpKind::SignalDelay(SignalDelay { delay }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT16,
    };
}

impl IrOp for SignalDelay {
    fn name(&self) -> &'static str {
        "SignalDelay"
    }

    fn attributes(&self) -> String {
        format!("delay {}", self.delay)
    }

    /// Plain int16 samples, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_delay fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(192, 140, 140, 108)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, state, out) = (cx.input(node, 0)?, cx.state(node, 1)?, cx.output(node)?);
        let frame = cx.shape(x).last().copied().unwrap_or(1);
        let rows = cx.tensor(x).elements().checked_div(frame).unwrap_or(0);
        if cx.shape(out) != cx.shape(x) || cx.tensor(state).elements() != rows * self.delay as usize
        {
            return unsupported("outputs or state of another shape than the input's");
        }
        Ok(Some(Op::SignalDelay(SignalDelayOp {
            frame: to_u32(frame)?,
            delay: self.delay,
            input: cx.activation(x, DataType::I16)?,
            state: cx.activation(state, DataType::I16)?,
            output: cx.activation(out, DataType::I16)?,
        })))
    }
}
