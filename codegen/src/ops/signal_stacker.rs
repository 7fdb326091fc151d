//! SignalStacker, the stacker of TFLM's signal library (a custom
//! operator): each call's frame of int16 channels (rank 1) joins the
//! frames before it; once `left + 1 + right` are held their concatenation
//! comes out (`[channels * (left + 1 + right)]`) and `step` of them drop,
//! and a bool output says whether one came out. The first frame also
//! stands for the `left` before it. Audio front ends take it last, giving
//! a keyword model its window of feature frames. TFLM keeps the frames in
//! a circular buffer of the kernel's own; kiln gives the node a variable
//! tensor for them (its last input, added by the importer), zero at reset.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options and
//! op state.

use kiln::graph::Op;
use kiln::ops::SignalStackerOp;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalStacker. Inputs: a frame `[channels]`, the state `[1 + (window -
/// 1) * channels]`; outputs: the window of frames, whether it came out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalStacker {
    pub channels: i64,
    pub left: i64,
    pub right: i64,
    pub step: i64,
}

impl SignalStacker {
    /// The frames per window, when kiln runs it: no negative context, a
    /// step of 1 to the window (TFLM's buffer asserts it), and a count an
    /// int16 holds.
    fn window(&self) -> Option<usize> {
        let (left, right) = (
            usize::try_from(self.left).ok()?,
            usize::try_from(self.right).ok()?,
        );
        let window = left.checked_add(right)?.checked_add(1)?;
        let step = usize::try_from(self.step).ok()?;
        (step >= 1 && step <= window && window < 32767).then_some(window)
    }

    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalStacker", |op| {
            let int32 = |key| op.custom_int(key).map(|v| i64::from(v as i32));
            let stacker = SignalStacker {
                channels: int32("num_channels")?,
                left: int32("stacker_left_context")?,
                right: int32("stacker_right_context")?,
                step: int32("stacker_step")?,
            };
            let channels = usize::try_from(stacker.channels).unwrap_or(0);
            let kept = stacker.window().map_or(0, |w| (w - 1) * channels);
            op.state("stacked frames", vec![1 + kept], DataType::I16);
            Ok(OpKind::SignalStacker(stacker))
        })],
        onnx: &[],
        dtypes: Dtypes::INT16,
    };
}

impl IrOp for SignalStacker {
    fn name(&self) -> &'static str {
        "SignalStacker"
    }

    fn attributes(&self) -> String {
        format!(
            "{} channels, context {} left and {} right, step {}",
            self.channels, self.left, self.right, self.step
        )
    }

    /// Plain int16 features, in an int16 front end only.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    /// Its frame, painted on each core on the signal_stacker fixture.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(280, 152, 152, 112)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, state) = (cx.input(node, 0)?, cx.state(node, 1)?);
        let [Some(&out), Some(&valid)] = [node.outputs.first(), node.outputs.get(1)] else {
            return invalid("a stacker without its two outputs");
        };
        let Some(window) = self.window() else {
            return unsupported(format!(
                "a stacker of context {} left and {} right by steps of {} (kiln: no negative context, a step of 1 to the window, windows of fewer than 32767 frames)",
                self.left, self.right, self.step
            ));
        };
        let channels = usize::try_from(self.channels).unwrap_or(0);
        if channels == 0
            || cx.shape(x) != [channels]
            || cx.shape(out) != [channels * window]
            || cx.tensor(state).elements() != 1 + (window - 1) * channels
        {
            return invalid(format!(
                "a stacker of {} channels from a frame of shape {:?} to {:?} (TFLM: [{}] to [{}])",
                self.channels,
                cx.shape(x),
                cx.shape(out),
                self.channels,
                self.channels.max(0) as usize * window
            ));
        }
        if cx.dtype(x) != DataType::I16
            || cx.dtype(out) != DataType::I16
            || cx.dtype(valid) != DataType::Bool
            || cx.tensor(valid).elements() != 1
        {
            return unsupported("a stacker of other than int16 frames and a bool");
        }
        Ok(Some(Op::SignalStacker(SignalStackerOp {
            left: to_u32(self.left as usize)?,
            window: to_u32(window)?,
            step: to_u32(self.step as usize)?,
            input: cx.activation(x, DataType::I16)?,
            state: cx.activation(state, DataType::I16)?,
            output: cx.activation(out, DataType::I16)?,
            valid: cx.activation(valid, DataType::Bool)?,
        })))
    }
}
