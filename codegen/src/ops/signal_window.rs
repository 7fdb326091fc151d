//! SignalWindow, the window of TFLM's signal library (a custom operator):
//! int16 frames times a constant int16 window, shifted right by the
//! `shift` option and saturated. Audio front ends window each frame of
//! microphone samples with it before the FFT.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::ops::SignalWindowOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalWindow. Inputs: samples, window (a rank-1 constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalWindow {
    pub shift: u32,
}

impl SignalWindow {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalWindow", |op| {
            let shift = op.custom_int("shift")?;
            Ok(OpKind::SignalWindow(SignalWindow {
                shift: match u32::try_from(shift) {
                    Ok(s) if s < 32 => s,
                    _ => {
                        op.unsupported(format!(
                            "a shift of {shift} (TFLM shifts an int32 by 0 to 31)"
                        ));
                        0
                    }
                },
            }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT16,
    };
}

impl IrOp for SignalWindow {
    fn name(&self) -> &'static str {
        "SignalWindow"
    }

    fn attributes(&self) -> String {
        format!("shift {}", self.shift)
    }

    /// Plain int16 samples, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_window fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, w, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        if cx.shape(w).len() != 1 {
            return unsupported("a window that is not rank 1");
        }
        let frame = cx.tensor(w).elements();
        if frame == 0 || !cx.tensor(x).elements().is_multiple_of(frame) {
            return invalid(format!(
                "{} samples are not a whole number of {frame}-sample windows",
                cx.tensor(x).elements()
            ));
        }
        cx.same_elements(x, out)?;
        let window = cx.copied_constant(w, DataType::I16)?;
        Ok(Some(Op::SignalWindow(SignalWindowOp {
            shift: self.shift,
            input: cx.activation(x, DataType::I16)?,
            window,
            output: cx.activation(out, DataType::I16)?,
        })))
    }
}
