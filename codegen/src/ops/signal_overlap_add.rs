//! SignalOverlapAdd, the overlap-add of TFLM's signal library (a custom
//! operator): frames along the last axis that overlap by all but
//! `frame_step` samples, summed back into one stream (the output drops the
//! frames axis), int16 saturating or float32. TFLM keeps each row's owed
//! tail in a buffer of the kernel's own; kiln gives the node a variable
//! tensor for it (its last input, added by the importer), zero at reset.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::ops::SignalOverlapAddOp;
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::invalid as invalid_file;
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalOverlapAdd. Inputs: frames `[..., frames, frame]`, the state
/// `[rows, frame]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalOverlapAdd {
    pub step: u32,
}

impl SignalOverlapAdd {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalOverlapAdd", |op| {
            let step = op.custom_int("frame_step")?;
            let Some(input) = op.input_tensor(0) else {
                return invalid_file("SignalOverlapAdd without its input");
            };
            let (shape, dtype) = (input.shape.clone(), input.dtype);
            let frame = shape.last().copied().unwrap_or(0);
            let rows = match shape.len() {
                0 | 1 => 0,
                n => shape[..n - 2].iter().product(),
            };
            let step = match u32::try_from(step) {
                Ok(s) if s > 0 && s as usize <= frame => s,
                _ => {
                    op.unsupported(format!(
                        "a frame step of {step} for frames of {frame} samples (kiln: 1 to the frame)"
                    ));
                    1
                }
            };
            op.state("overlap tail", vec![rows, frame], dtype);
            Ok(OpKind::SignalOverlapAdd(SignalOverlapAdd { step }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT16_FLOAT32,
    };
}

impl IrOp for SignalOverlapAdd {
    fn name(&self) -> &'static str {
        "SignalOverlapAdd"
    }

    fn attributes(&self) -> String {
        format!("step {}", self.step)
    }

    /// A float32 kernel besides the int16 one: an int8 model keeps it in
    /// float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Its frame, painted on each core on the signal_overlap_add fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 148, 148, 112)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, state, out) = (cx.input(node, 0)?, cx.state(node, 1)?, cx.output(node)?);
        let (dtype, element) = match cx.dtype(x) {
            DataType::I16 => (DType::I16, DataType::I16),
            DataType::F32 => (DType::F32, DataType::F32),
            other => {
                return unsupported(format!("{} frames (TFLM: int16 or float32)", other.name()))
            }
        };
        let shape = cx.shape(x);
        let [outer @ .., frames, frame] = shape else {
            return unsupported("frames of rank below 2");
        };
        let (frames, frame) = (*frames, *frame);
        let mut want = outer.to_vec();
        want.push(frames * self.step as usize);
        if cx.shape(out) != want
            || cx.tensor(state).elements() != outer.iter().product::<usize>() * frame
        {
            return unsupported(format!(
                "an output of shape {:?} (TFLM: {want:?}, the frames overlapped by their step)",
                cx.shape(out)
            ));
        }
        Ok(Some(Op::SignalOverlapAdd(SignalOverlapAddOp {
            dtype,
            frame: to_u32(frame)?,
            step: self.step,
            frames: to_u32(frames)?,
            input: cx.activation(x, element)?,
            state: cx.activation(state, element)?,
            output: cx.activation(out, element)?,
        })))
    }
}
