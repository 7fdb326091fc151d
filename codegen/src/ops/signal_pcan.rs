//! SignalPCAN, the per-channel amplitude normalization of TFLM's signal
//! library (a custom operator): each uint32 filter-bank channel times a
//! gain that falls with the channel's noise estimate (from a constant int16
//! lookup of piecewise quadratics), then compressed. Audio front ends take
//! it after spectral subtraction, which gives the noise estimates.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::kernels::signal_pcan::GAIN_LUT_LEN;
use kiln::ops::SignalPcanOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalPCAN. Inputs: channels (uint32, rank 1), noise estimates (uint32,
/// one per channel), the gain lookup (a constant of int16 coefficients).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalPcan {
    pub snr_shift: u32,
}

impl SignalPcan {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalPCAN", |op| {
            let shift = op.custom_int("snr_shift")?;
            Ok(OpKind::SignalPcan(SignalPcan {
                snr_shift: match u32::try_from(shift) {
                    Ok(s) if s < 64 => s,
                    _ => {
                        op.unsupported(format!(
                            "an SNR shift of {shift} (TFLM shifts a uint64 by 0 to 63)"
                        ));
                        0
                    }
                },
            }))
        })],
        onnx: &[],
        dtypes: Dtypes {
            int16: false,
            other: true,
            note: "uint32 channels and noise estimates",
            ..Dtypes::INT16
        },
    };
}

impl IrOp for SignalPcan {
    fn name(&self) -> &'static str {
        "SignalPCAN"
    }

    fn attributes(&self) -> String {
        format!("snr_shift {}", self.snr_shift)
    }

    /// Plain uint32 channels, in an integer front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_pcan fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, noise, lut) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.input(node, 2)?);
        let out = cx.output(node)?;
        let shape = cx.shape(x);
        if shape.len() != 1 || cx.shape(noise) != shape || cx.shape(out) != shape {
            return unsupported(format!(
                "channels {shape:?}, noise estimates {:?} and output {:?} (TFLM: rank 1, one of each per channel)",
                cx.shape(noise),
                cx.shape(out)
            ));
        }
        if cx.shape(lut) != [GAIN_LUT_LEN] {
            return unsupported(format!(
                "a gain lookup of shape {:?} (TFLM: {GAIN_LUT_LEN} coefficients, for noise estimates of up to 32 bits)",
                cx.shape(lut)
            ));
        }
        Ok(Some(Op::SignalPcan(SignalPcanOp {
            snr_shift: self.snr_shift,
            input: cx.activation(x, DataType::U32)?,
            noise: cx.activation(noise, DataType::U32)?,
            gain_lut: cx.copied_constant(lut, DataType::I16)?,
            output: cx.activation(out, DataType::U32)?,
        })))
    }
}
