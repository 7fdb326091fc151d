//! SignalFilterBankSpectralSubtraction, the noise suppression of TFLM's
//! signal library (a custom operator): each uint32 filter-bank channel
//! less a running low-pass estimate of its noise, kept from one call to
//! the next; a second output copies the estimates out. Audio front ends
//! take it between the filter bank's square root and PCAN. TFLM keeps the
//! estimates in the kernel; kiln gives the node a variable tensor for them
//! (its last input, added by the importer), zero at reset.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::ops::SignalSpectralSubtractionOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalFilterBankSpectralSubtraction. Inputs: channels `[channels]`,
/// the estimates' state; outputs: the channels less their noise, the
/// estimates. The constants are TFLM's options, read as int32 and kept as
/// uint32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalSpectralSubtraction {
    pub channels: i64,
    pub smoothing: u32,
    pub one_minus_smoothing: u32,
    pub alternate_smoothing: u32,
    pub alternate_one_minus_smoothing: u32,
    pub min_signal_remaining: u32,
    pub smoothing_bits: i64,
    pub subtraction_bits: i64,
    pub clamping: bool,
}

impl SignalSpectralSubtraction {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFilterBankSpectralSubtraction", |op| {
            // TFLM's FlexbufferWrapper reads each as int32.
            let int32 = |key| op.custom_int(key).map(|v| v as i32);
            let channels = i64::from(int32("num_channels")?);
            let kind = SignalSpectralSubtraction {
                channels,
                smoothing: int32("smoothing")? as u32,
                one_minus_smoothing: int32("one_minus_smoothing")? as u32,
                alternate_smoothing: int32("alternate_smoothing")? as u32,
                alternate_one_minus_smoothing: int32("alternate_one_minus_smoothing")? as u32,
                min_signal_remaining: int32("min_signal_remaining")? as u32,
                smoothing_bits: i64::from(int32("smoothing_bits")?),
                subtraction_bits: i64::from(int32("spectral_subtraction_bits")?),
                clamping: op.custom_int("clamping")? != 0,
            };
            let channels = usize::try_from(channels).unwrap_or(0);
            op.state("noise estimates", vec![channels], DataType::U32);
            Ok(OpKind::SignalSpectralSubtraction(kind))
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

impl IrOp for SignalSpectralSubtraction {
    fn name(&self) -> &'static str {
        "SignalFilterBankSpectralSubtraction"
    }

    fn attributes(&self) -> String {
        format!(
            "{} channels, smoothing {}/{} (odd channels {}/{}), floor {}, {} and {} bits{}",
            self.channels,
            self.smoothing,
            self.one_minus_smoothing,
            self.alternate_smoothing,
            self.alternate_one_minus_smoothing,
            self.min_signal_remaining,
            self.smoothing_bits,
            self.subtraction_bits,
            if self.clamping { ", clamping" } else { "" }
        )
    }

    /// Plain uint32 channels, in an audio front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_spectral_subtraction
    /// fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(236, 144, 144, 92)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, state) = (cx.input(node, 0)?, cx.state(node, 1)?);
        let [Some(&out), Some(&noise)] = [node.outputs.first(), node.outputs.get(1)] else {
            return invalid("spectral subtraction without its two outputs");
        };
        if !(0..32).contains(&self.smoothing_bits) || !(0..64).contains(&self.subtraction_bits) {
            return unsupported(format!(
                "smoothing bits {} and spectral subtraction bits {} (TFLM shifts a uint32 by the first, a uint64 by the second)",
                self.smoothing_bits, self.subtraction_bits
            ));
        }
        for t in [x, state, out, noise] {
            if cx.dtype(t) != DataType::U32 {
                return unsupported(format!(
                    "a spectral subtraction of {} (TFLM: uint32)",
                    cx.dtype(t).name()
                ));
            }
            if cx.shape(t) != [self.channels.max(0) as usize] {
                return invalid(format!(
                    "a spectral subtraction of {} channels on a tensor of shape {:?}",
                    self.channels,
                    cx.shape(t)
                ));
            }
        }
        Ok(Some(Op::SignalSpectralSubtraction(
            SignalSpectralSubtractionOp {
                smoothing: self.smoothing,
                one_minus_smoothing: self.one_minus_smoothing,
                alternate_smoothing: self.alternate_smoothing,
                alternate_one_minus_smoothing: self.alternate_one_minus_smoothing,
                min_signal_remaining: self.min_signal_remaining,
                smoothing_bits: self.smoothing_bits as u32,
                subtraction_bits: self.subtraction_bits as u32,
                clamping: self.clamping,
                input: cx.activation(x, DataType::U32)?,
                state: cx.activation(state, DataType::U32)?,
                output: cx.activation(out, DataType::U32)?,
                noise_output: cx.activation(noise, DataType::U32)?,
            },
        )))
    }
}
