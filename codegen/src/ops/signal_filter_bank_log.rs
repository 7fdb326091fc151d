//! SignalFilterBankLog, the log of TFLM's signal library (a custom
//! operator): uint32 filter-bank channels, shifted left by a correction, to
//! their natural logs times an output scale, saturated to int16. Audio front
//! ends take it last, after the filter bank and its noise reduction.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::ops::SignalFilterBankLogOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalFilterBankLog. Input: uint32 channels, rank 1; output: int16.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalFilterBankLog {
    /// ln(x) is scaled by this in the output (TFLM reads an int32 and
    /// computes in uint32).
    pub output_scale: u32,
    pub correction_bits: u32,
}

impl SignalFilterBankLog {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFilterBankLog", |op| {
            let scale = op.custom_int("output_scale")?;
            let bits = op.custom_int("input_correction_bits")?;
            let correction_bits = match u32::try_from(bits) {
                Ok(b) if b < 32 => b,
                _ => {
                    op.unsupported(format!(
                        "an input correction of {bits} bits (TFLM shifts a uint32 by 0 to 31)"
                    ));
                    0
                }
            };
            Ok(OpKind::SignalFilterBankLog(SignalFilterBankLog {
                // TFLM's int32 option, used as a uint32.
                output_scale: scale as i32 as u32,
                correction_bits,
            }))
        })],
        onnx: &[],
        dtypes: Dtypes {
            int16: false,
            other: true,
            note: "uint32 channels to int16 logs",
            ..Dtypes::INT16
        },
    };
}

impl IrOp for SignalFilterBankLog {
    fn name(&self) -> &'static str {
        "SignalFilterBankLog"
    }

    fn attributes(&self) -> String {
        format!(
            "output_scale {} correction_bits {}",
            self.output_scale, self.correction_bits
        )
    }

    /// Plain uint32 channels, in an integer front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_filter_bank_log fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        if cx.shape(x).len() != 1 || cx.shape(out) != cx.shape(x) {
            return unsupported(format!(
                "channels of shape {:?} to logs of shape {:?} (TFLM: rank 1, one log per channel)",
                cx.shape(x),
                cx.shape(out)
            ));
        }
        Ok(Some(Op::SignalFilterBankLog(SignalFilterBankLogOp {
            output_scale: self.output_scale,
            correction_bits: self.correction_bits,
            input: cx.activation(x, DataType::U32)?,
            output: cx.activation(out, DataType::I16)?,
        })))
    }
}
