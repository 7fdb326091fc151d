//! Pre-quantized ONNX in the QDQ form onnxruntime's quantizer writes: float
//! ops with a QuantizeLinear → DequantizeLinear pair on each activation and
//! DequantizeLinear on each integer weight.
//!
//! The import keeps the float graph and records the model's quantization on
//! it (see `ir::Tensor::quantization`): a pair becomes the parameters of the
//! activation it quantizes and disappears; a dequantized constant becomes a
//! float constant that remembers its scales. Post-training quantization then
//! uses the model's parameters instead of calibrated ones, so no calibration
//! data is needed.
//!
//! onnxruntime drops a Relu before a QuantizeLinear whose range starts at 0
//! (the int8 clamp does its work); the import puts it back as the producer's
//! fused activation, so the float graph computes what the QDQ model means.
//!
//! Layer: import (part of the ONNX importer); uses `ir`.

use super::context::{Importer, Step};
use super::proto::{data_type, OnnxNode, OnnxTensor};
use crate::ir::{Activation, OpKind, Quantization, TensorId};

const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;

/// Contents of an int8, uint8 or int32 constant.
fn integers(t: &OnnxTensor) -> Option<Vec<i64>> {
    let v: Vec<i64> = match t.data_type {
        INT8 if !t.raw.is_empty() => t.raw.iter().map(|&b| i64::from(b as i8)).collect(),
        UINT8 if !t.raw.is_empty() => t.raw.iter().map(|&b| i64::from(b)).collect(),
        INT8 | UINT8 => t.ints.clone(),
        INT32 => return t.i64s(),
        _ => return None,
    };
    (v.len() == t.elements()).then_some(v)
}

/// The scale and zero-point inputs of a QuantizeLinear or DequantizeLinear,
/// zero points as int8 values: a uint8 zero point `z` is the int8 `z - 128`
/// (the same reals, every integer shifted by 128).
struct Params {
    scale: Vec<f32>,
    zero_point: Vec<i64>,
}

impl Importer<'_> {
    /// `int_type`: the integer side's element type when there is no zero
    /// point input to tell it.
    fn qdq_params(&self, n: &OnnxNode, int_type: i32) -> Step<Params> {
        if n.int("block_size", 0) != 0 {
            return Err("blocked quantization (block_size) is not supported".into());
        }
        let scale = self
            .constant(&n.inputs[1])?
            .f32s()
            .ok_or("the scale must be a float32 constant")?;
        if scale.is_empty() || scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!(
                "scales {scale:?}: kiln needs positive, finite scales"
            ));
        }
        let (zero_point, int_type) = match n.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(z) => {
                let t = self.constant(z)?;
                let values = integers(t).ok_or_else(|| quantized_type(t.data_type))?;
                (values, t.data_type)
            }
            None => (vec![0; scale.len()], int_type),
        };
        let shift = match int_type {
            INT8 => 0,
            UINT8 => 128,
            INT32 => 0,
            other => return Err(quantized_type(other)),
        };
        if zero_point.len() != scale.len() {
            return Err(format!(
                "{} scales but {} zero points",
                scale.len(),
                zero_point.len()
            ));
        }
        Ok(Params {
            scale,
            zero_point: zero_point.iter().map(|z| z - shift).collect(),
        })
    }

    /// QuantizeLinear on an activation: its parameters become the
    /// activation's, and the output names the activation itself (the
    /// DequantizeLinear after it must undo it).
    pub(super) fn quantize_linear(&mut self, n: &OnnxNode) -> Step<()> {
        let x = self.value(&n.inputs[0])?;
        // Without a zero point the output type is uint8, or `output_dtype`.
        let int_type = match n.int("output_dtype", 0) {
            0 => UINT8,
            t => t as i32,
        };
        let p = self.qdq_params(n, int_type)?;
        let (&[scale], &[zero_point]) = (&p.scale[..], &p.zero_point[..]) else {
            return Err("per-channel quantization of an activation \
                        (kiln quantizes each activation with one scale)"
                .into());
        };
        // A tensor quantized twice (a batch norm folded into the conv before
        // it) ends up with its last parameters: the folded op's output.
        self.g.tensors[x].quantization = Some(Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        });
        if zero_point == -128 {
            self.restore_relu(x);
        }
        self.values.insert(n.outputs[0].clone(), x);
        self.quantized
            .insert(n.outputs[0].clone(), (scale, zero_point));
        Ok(())
    }

    /// An int8 range starting at 0 clamps like a Relu; onnxruntime drops
    /// the Relu there. Fused into the producer it costs nothing in int8 and
    /// keeps the float graph right. The transpose back to NCHW that the
    /// importer puts after a convolution commutes with a Relu and reads a
    /// tensor nothing else reads, so the Relu goes to the convolution.
    fn restore_relu(&mut self, mut t: TensorId) {
        while let Some(&i) = self.producer.get(&t) {
            let node = &mut self.g.nodes[i];
            let input = node.input(0);
            if let (OpKind::Transpose(_), Some(input)) = (&node.kind, input) {
                // The importer's own NHWC tensor has no ONNX name.
                if !self.values.values().any(|&v| v == input) {
                    t = input;
                    continue;
                }
            }
            crate::passes::fuse_activations::fuse(&mut node.kind, Activation::Relu);
            return;
        }
    }

    /// DequantizeLinear: after a QuantizeLinear it is the activation again;
    /// on an integer constant it folds into a float constant that keeps its
    /// scales for quantization.
    pub(super) fn dequantize_linear(&mut self, n: &OnnxNode) -> Step<()> {
        let name = &n.inputs[0];
        let out = n.outputs[0].clone();
        if let Some(&(scale, zero_point)) = self.quantized.get(name) {
            let p = self.qdq_params(n, UINT8)?;
            if p.scale != [scale] || p.zero_point != [zero_point] {
                return Err(format!(
                    "parameters ({:?}, {:?}) differ from those of the QuantizeLinear \
                     before it ({scale}, {zero_point}); kiln does not import requantization",
                    p.scale, p.zero_point
                ));
            }
            let x = self.value(name)?;
            self.values.insert(out, x);
            return Ok(());
        }
        let Some(t) = self.constants.get(name) else {
            return Err(format!(
                "'{name}' is neither a constant nor the output of a QuantizeLinear: \
                 kiln imports QDQ models with float32 inputs and outputs"
            ));
        };
        let q = integers(t).ok_or_else(|| quantized_type(t.data_type))?;
        let shape = t.shape().ok_or("negative dimension")?;
        let int_type = t.data_type;
        let p = self.qdq_params(n, int_type)?;
        let channels = p.scale.len();
        let rank = shape.len() as i64;
        let axis = n.int("axis", 1);
        let axis = if axis < 0 { axis + rank } else { axis };
        let inner: usize = if channels == 1 {
            1
        } else if (0..rank).contains(&axis) && shape[axis as usize] == channels {
            crate::ir::saturating_elements(&shape[axis as usize + 1..])
        } else {
            return Err(format!(
                "{channels} scales along axis {axis} of shape {shape:?}"
            ));
        };
        let shift = if int_type == UINT8 { 128 } else { 0 };
        let values: Vec<f32> = q
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / inner) % channels;
                (v - shift - p.zero_point[c]) as f32 * p.scale[c]
            })
            .collect();
        let float = OnnxTensor {
            name: out.clone(),
            dims: t.dims.clone(),
            data_type: 1,
            floats: values,
            ..OnnxTensor::default()
        };
        if int_type != INT32 {
            self.weight_quantization.insert(
                out.clone(),
                Quantization {
                    scale: p.scale,
                    zero_point: p.zero_point,
                    axis: axis.max(0) as usize,
                },
            );
        }
        self.constants.insert(out, float);
        Ok(())
    }
}

fn quantized_type(code: i32) -> String {
    format!(
        "{} quantization (kiln imports int8 and uint8 QDQ models)",
        data_type(code).name()
    )
}
