//! SignalIrfft, the inverse real FFT of TFLM's signal library (a custom
//! operator): frames of `fft_length / 2 + 1` complex bins along the last
//! axis (real and imaginary parts interleaved) back to `fft_length`
//! samples, in int16, int32 or float32, as kissfft computes them. Audio
//! pipelines that filter in the frequency domain take it before the
//! overlap-add. kissfft's inverse twiddles are computed here and kept in
//! flash; the half-length FFT's input, which TFLM keeps in the kernel's
//! state, is scratch in the arena.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::ops::SignalIrfftOp;

use super::signal_rfft::{fft_build, twiddles};
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalIrfft of `fft_length` points. Input: spectra `[..., fft_length +
/// 2]`; output: `[..., fft_length]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalIrfft {
    pub fft_length: i64,
}

impl SignalIrfft {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalIrfft", |op| {
            // TFLM's FlexbufferWrapper reads it as int32.
            Ok(OpKind::SignalIrfft(SignalIrfft {
                fft_length: i64::from(op.custom_int("fft_length")? as i32),
            }))
        })],
        onnx: &[],
        dtypes: Dtypes {
            other: true,
            note: "other: int32 (kissfft's three builds)",
            ..Dtypes::INT16_FLOAT32
        },
    };
}

impl IrOp for SignalIrfft {
    fn name(&self) -> &'static str {
        "SignalIrfft"
    }

    fn attributes(&self) -> String {
        format!("{} points", self.fft_length)
    }

    /// A float32 kernel besides the fixed-point ones: an int8 model keeps
    /// it in float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// The half-length FFT's input: `fft_length` values.
    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        let size = node
            .inputs
            .first()
            .copied()
            .flatten()
            .map_or(4, |x| g.tensors[x].dtype.size());
        usize::try_from(self.fft_length)
            .unwrap_or(0)
            .saturating_mul(size)
    }

    /// Its frame, painted on each core on the signal_irfft fixtures (the
    /// larger of int16's and int32's).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(756, 524, 524, 552)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        let (dtype, element, length) = fft_build(cx, x, out, self.fft_length, "an inverse FFT")?;
        let (shape, out_shape) = (cx.shape(x).to_vec(), cx.shape(out).to_vec());
        let (Some((&bins, outer)), Some((&samples, out_outer))) =
            (shape.split_last(), out_shape.split_last())
        else {
            return unsupported("an inverse FFT of a scalar");
        };
        if outer != out_outer || bins != length + 2 || samples != length {
            return invalid(format!(
                "an inverse FFT of {length} points from spectra of shape {shape:?} to {out_shape:?} (TFLM: {} values, {} bins, to {length} samples each)",
                length + 2,
                length / 2 + 1
            ));
        }
        let twiddles = cx.constant(&twiddles(length, dtype, true))?;
        Ok(Some(Op::SignalIrfft(SignalIrfftOp {
            dtype,
            fft_length: to_u32(length)?,
            input: cx.activation(x, element)?,
            twiddles,
            scratch: cx.scratch()?,
            output: cx.activation(out, element)?,
        })))
    }
}
