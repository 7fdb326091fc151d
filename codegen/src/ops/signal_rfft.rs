//! SignalRfft, the real FFT of TFLM's signal library (a custom operator):
//! frames of real samples along the last axis, zero-padded to
//! `fft_length`, to their `fft_length / 2 + 1` complex bins (real and
//! imaginary parts interleaved), in int16, int32 or float32, as kissfft
//! computes them. Audio front ends take it between the window and the
//! energy. kissfft's twiddles, which TFLM computes into its arena at
//! start-up, are computed here and kept in flash.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use std::f64::consts::PI;

use kiln::graph::Op;
use kiln::kernels::kiss_fft::Factors;
use kiln::ops::SignalRfftOp;
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// SignalRfft of `fft_length` points. Input: frames `[..., samples]`;
/// output: `[..., fft_length + 2]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalRfft {
    pub fft_length: i64,
}

impl SignalRfft {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SignalRfft", |op| {
            // TFLM's FlexbufferWrapper reads it as int32.
            Ok(OpKind::SignalRfft(SignalRfft {
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

impl IrOp for SignalRfft {
    fn name(&self) -> &'static str {
        "SignalRfft"
    }

    fn attributes(&self) -> String {
        format!("{} points", self.fft_length)
    }

    /// A float32 kernel besides the fixed-point ones: an int8 model keeps
    /// it in float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Its frame, painted on each core on the signal_rfft fixtures: the
    /// int16 build's, or the larger of int32's and float32's (int32
    /// butterflies keep 64-bit products: deeper on the M0 and RV32).
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::I16) => Stack::new(632, 608, 604, 532),
            _ => Stack::new(772, 608, 604, 616),
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (x, out) = cx.input_output(node)?;
        let (dtype, element, length) = fft_build(cx, x, out, self.fft_length, "a real FFT")?;
        let (shape, out_shape) = (cx.shape(x).to_vec(), cx.shape(out).to_vec());
        let (Some((&frame, outer)), Some((&bins, out_outer))) =
            (shape.split_last(), out_shape.split_last())
        else {
            return unsupported("a real FFT of a scalar");
        };
        if outer != out_outer || bins != length + 2 || frame == 0 || frame > length {
            return invalid(format!(
                "a real FFT of {length} points from frames of shape {shape:?} to {out_shape:?} (TFLM: frames of 1 to {length} samples, each to {} values)",
                length + 2
            ));
        }
        let twiddles = cx.constant(&twiddles(length, dtype, false))?;
        Ok(Some(Op::SignalRfft(SignalRfftOp {
            dtype,
            fft_length: to_u32(length)?,
            input_length: to_u32(frame)?,
            input: cx.activation(x, element)?,
            twiddles,
            output: cx.activation(out, element)?,
        })))
    }
}

/// What both directions of the real FFT check before their shapes: one
/// element type on both sides (int16, int32 or float32: kissfft's builds),
/// and an even length whose half kissfft factors into radices 2 to 5.
/// `what` names the op in errors. Returns the runtime type, the IR type
/// and the length.
pub(crate) fn fft_build(
    cx: &Lowering,
    x: TensorId,
    out: TensorId,
    length: i64,
    what: &str,
) -> Lowered<(DType, DataType, usize)> {
    let (dtype, element) = match (cx.dtype(x), cx.dtype(out)) {
        (DataType::I16, DataType::I16) => (DType::I16, DataType::I16),
        (DataType::I32, DataType::I32) => (DType::I32, DataType::I32),
        (DataType::F32, DataType::F32) => (DType::F32, DataType::F32),
        (a, b) => {
            return unsupported(format!(
                "{what} of {} values to {} values (TFLM: both int16, int32 or float32)",
                a.name(),
                b.name()
            ))
        }
    };
    let half = u32::try_from(length / 2).unwrap_or(0);
    if length < 2 || length % 2 != 0 || half == 0 {
        return invalid(format!(
            "{what} of {length} points (kissfft: an even length)"
        ));
    }
    if !Factors::of(half).supported() {
        return unsupported(format!(
            "{what} of {length} points: kiln runs lengths whose half factors into 2, 3 and 5 (kissfft's generic butterfly for larger primes allocates)"
        ));
    }
    Ok((dtype, element, length as usize))
}

/// kissfft's twiddles for a real FFT of `fft_length` points, forward or
/// `inverse`, as `kiss_fftr_alloc` computes them (in double, the phase
/// negated for the inverse, then rounded to the build's scalar:
/// `floor(0.5 + max * cos)` in fixed point): the half-length complex FFT's
/// `e^(∓2πik/n)`, then the `n / 2` that split its result (or fold the
/// inverse's input), `e^(∓πi((k+1)/n + 1/2))`; little-endian bytes.
pub(crate) fn twiddles(fft_length: usize, dtype: DType, inverse: bool) -> Vec<u8> {
    let n = fft_length / 2;
    let inner = (0..n).map(|i| -2.0 * PI * i as f64 / n as f64);
    let split = (0..n / 2).map(|i| -PI * ((i + 1) as f64 / n as f64 + 0.5));
    let direction = if inverse { -1.0 } else { 1.0 };
    let mut bytes = Vec::new();
    for phase in inner.chain(split).map(|phase| phase * direction) {
        for v in [phase.cos(), phase.sin()] {
            match dtype {
                DType::I16 => bytes.extend(((0.5 + 32767.0 * v).floor() as i16).to_le_bytes()),
                DType::I32 => bytes.extend(((0.5 + 2147483647.0 * v).floor() as i32).to_le_bytes()),
                _ => bytes.extend((v as f32).to_le_bytes()),
            }
        }
    }
    bytes
}
