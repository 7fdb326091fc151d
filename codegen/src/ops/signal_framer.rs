//! SignalFramer, the framer of TFLM's signal library (a custom operator):
//! int16 samples along the last axis, `frame_step` new ones per frame, cut
//! into overlapping frames of `frame_size` (`[..., n] -> [..., n / step,
//! size]`), plus a bool output saying whether every frame was whole. With
//! `prefill` the stream starts after `size - step` zeros. Audio front ends
//! take it first, from microphone samples to the frames the window and the
//! FFT see. TFLM keeps each row's owed samples in a circular buffer of the
//! kernel's own; kiln gives the node a variable tensor for them (its last
//! input, added by the importer), zero at reset.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::kernels::signal_framer::FramerShape;
use kiln::ops::SignalFramerOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalFramer. Inputs: samples, the rows' state `[rows, tail + 1]`;
/// outputs: the frames, whether all were whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalFramer {
    pub size: i64,
    pub step: i64,
    pub prefill: bool,
}

impl SignalFramer {
    /// The frames' geometry, when kiln runs it: positive sizes, a
    /// prefilled framer stepping no further than its frames (TFLM would
    /// write a negative count of zeros), and a tail an int16 can count.
    fn shape(&self, frames: usize) -> Option<FramerShape> {
        let (size, step) = (
            usize::try_from(self.size).ok()?,
            usize::try_from(self.step).ok()?,
        );
        let shape = FramerShape {
            size,
            step,
            frames,
            prefill: self.prefill,
        };
        let ok = size > 0 && step > 0 && (!self.prefill || step <= size);
        (ok && shape.tail() < 32768).then_some(shape)
    }

    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalFramer", |op| {
            let framer = SignalFramer {
                size: i64::from(op.custom_int("frame_size")? as i32),
                step: i64::from(op.custom_int("frame_step")? as i32),
                prefill: op.custom_int("prefill")? != 0,
            };
            let shape = op
                .input_tensor(0)
                .map(|t| t.shape.clone())
                .unwrap_or_default();
            let rows = shape
                .iter()
                .product::<usize>()
                .checked_div(shape.last().copied().unwrap_or(1))
                .unwrap_or(0);
            let tail = framer.shape(0).map_or(0, |s| s.tail());
            op.state("framer tail", vec![rows, tail + 1], DataType::I16);
            Ok(OpKind::SignalFramer(framer))
        })],
        onnx: &[],
        dtypes: Dtypes::INT16,
    };
}

impl IrOp for SignalFramer {
    fn name(&self) -> &'static str {
        "SignalFramer"
    }

    fn attributes(&self) -> String {
        format!(
            "frames of {} by {}{}",
            self.size,
            self.step,
            if self.prefill { ", prefilled" } else { "" }
        )
    }

    /// Plain int16 samples, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_framer fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(184, 140, 140, 100)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, state) = (cx.input(node, 0)?, cx.state(node, 1)?);
        let [Some(&out), Some(&valid)] = [node.outputs.first(), node.outputs.get(1)] else {
            return invalid("a framer without its two outputs");
        };
        let shape = cx.shape(x).to_vec();
        let Some((&n, outer)) = shape.split_last() else {
            return unsupported("a framer of a scalar");
        };
        let step = usize::try_from(self.step).unwrap_or(0);
        let frames = n.checked_div(step).unwrap_or(0);
        let Some(geometry) = self.shape(frames) else {
            return unsupported(format!(
                "frames of {} samples by steps of {}{} (kiln: positive, a prefilled framer stepping at most a frame, at most 32767 samples held)",
                self.size,
                self.step,
                if self.prefill { ", prefilled" } else { "" }
            ));
        };
        let mut want = outer.to_vec();
        want.extend([frames, geometry.size]);
        if frames == 0 || n % step != 0 || cx.shape(out) != want {
            return invalid(format!(
                "frames of {} by {} from samples of shape {shape:?} to {:?} (TFLM: a whole number of steps in, {want:?} out)",
                self.size,
                self.step,
                cx.shape(out)
            ));
        }
        let rows = outer.iter().product::<usize>();
        if cx.tensor(state).elements() != rows * (geometry.tail() + 1)
            || cx.dtype(x) != DataType::I16
            || cx.dtype(out) != DataType::I16
            || cx.dtype(valid) != DataType::Bool
            || cx.tensor(valid).elements() != 1
        {
            return unsupported("a framer of other than int16 samples to int16 frames and a bool");
        }
        Ok(Some(Op::SignalFramer(SignalFramerOp {
            size: to_u32(geometry.size)?,
            step: to_u32(step)?,
            frames: to_u32(frames)?,
            prefill: self.prefill,
            input: cx.activation(x, DataType::I16)?,
            state: cx.activation(state, DataType::I16)?,
            output: cx.activation(out, DataType::I16)?,
            valid: cx.activation(valid, DataType::Bool)?,
        })))
    }
}
