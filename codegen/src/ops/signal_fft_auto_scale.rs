//! SignalFftAutoScale, of TFLM's signal library (a custom operator): a
//! rank-1 int16 frame shifted left to fill 16 bits before a fixed-point
//! FFT (output 0), and the shift as an int32 scalar (output 1). kiln runs
//! one node per output, each of which finds the shift.
//!
//! Layer: ops; uses `lower` and the TFLite importer's per-output nodes.

use kiln::graph::Op;
use kiln::ops::SignalFftAutoScaleOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// One output of SignalFftAutoScale: the scaled frame, or (`scale_bits`)
/// the shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalFftAutoScale {
    pub scale_bits: bool,
}

impl SignalFftAutoScale {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFftAutoScale", |op| {
            op.one_node_per_output(
                [false, true]
                    .map(|scale_bits| OpKind::SignalFftAutoScale(SignalFftAutoScale { scale_bits }))
                    .to_vec(),
            )
        })],
        onnx: &[],
        dtypes: Dtypes::INT16,
    };
}

impl IrOp for SignalFftAutoScale {
    fn name(&self) -> &'static str {
        "SignalFftAutoScale"
    }

    fn attributes(&self) -> String {
        match self.scale_bits {
            true => "the shift".into(),
            false => "the scaled frame".into(),
        }
    }

    /// Plain int16 samples, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_fft_auto_scale fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 88, 88, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        if cx.shape(x).len() != 1 {
            return unsupported("a frame that is not rank 1 (TFLM's kernel takes one frame)");
        }
        let output = match self.scale_bits {
            true if cx.tensor(out).elements() == 1 => cx.activation(out, DataType::I32)?,
            false if cx.shape(out) == cx.shape(x) => cx.activation(out, DataType::I16)?,
            _ => return unsupported("outputs other than the frame's shape and a scalar shift"),
        };
        Ok(Some(Op::SignalFftAutoScale(SignalFftAutoScaleOp {
            scale_bits: self.scale_bits,
            input: cx.activation(x, DataType::I16)?,
            output,
        })))
    }
}
