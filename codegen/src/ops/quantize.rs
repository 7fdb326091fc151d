//! QUANTIZE and DEQUANTIZE: float32 to int8 and back at the edges of a
//! model and around ops that run in float32, int8 to int8 rescaling
//! (QUANTIZE between two int8 scales), which the RELU family shares, and
//! QUANTIZE between integer widths (int8, int16, int32) at the edges of
//! int16 layers.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::kernels::activation::RequantizeParams;
use kiln::kernels::quantize::{AffineParams, IntRequantizeParams};
use kiln::ops::{
    DequantizeOp, DequantizeS16Op, QuantizeOp, QuantizeS16Op, RequantizeIntOp, RequantizeOp,
};
use kiln::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{Activation, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::{activation_range, quantize_multiplier};
use crate::stack::Stack;

/// QUANTIZE: float32 to int8, or int8 to int8 with another scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantize;

/// DEQUANTIZE: int8 to float32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dequantize;

impl Quantize {
    /// ONNX's QuantizeLinear is read by the importer's QDQ support
    /// (`import::onnx::qdq`), which turns it into the model's parameters.
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("QUANTIZE", |_| Ok(OpKind::Quantize(Quantize)))],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "float32 to int8 or int16; between int8, int16 and int32",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

impl Dequantize {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("DEQUANTIZE", |_| Ok(OpKind::Dequantize(Dequantize)))],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "int8 or int16 to float32",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

impl IrOp for Quantize {
    fn name(&self) -> &'static str {
        "QUANTIZE"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        Ok(Some(match cx.dtype(input) {
            DataType::F32 => {
                let (scale, zero_point) = cx.quant(out)?;
                let params = AffineParams { scale, zero_point };
                let input = cx.activation(input, DataType::F32)?;
                match cx.dtype(out) {
                    DataType::I16 => Op::QuantizeS16(QuantizeS16Op {
                        params,
                        input,
                        output: cx.activation(out, DataType::I16)?,
                    }),
                    _ => Op::Quantize(QuantizeOp {
                        params,
                        input,
                        output: cx.activation(out, DataType::I8)?,
                    }),
                }
            }
            DataType::I8 if cx.dtype(out) == DataType::I8 => {
                Op::Requantize(requantize(cx, input, out, Activation::None)?)
            }
            DataType::I8 | DataType::I16 | DataType::I32 => requantize_int(cx, input, out)?,
            other => return unsupported(format!("QUANTIZE from {}", other.name())),
        }))
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let dtype = |t: Option<TensorId>| t.map(|t| g.tensors[t].dtype);
        match (dtype(node.input(0)), dtype(node.outputs.first().copied())) {
            (Some(DataType::F32), Some(DataType::I16)) => FLOAT_INT16_STACK,
            (Some(DataType::F32), _) | (Some(DataType::I8), Some(DataType::I8)) => {
                crate::stack::SMALL_OP
            }
            _ => crate::stack::INT16_EDGES,
        }
    }
}

/// The runtime type of an integer tensor QUANTIZE converts.
fn int_type(dtype: DataType) -> Option<DType> {
    match dtype {
        DataType::I8 => Some(DType::I8),
        DataType::I16 => Some(DType::I16),
        DataType::I32 => Some(DType::I32),
        _ => None,
    }
}

/// QUANTIZE between two integer types, as TFLM prepares it: the ratio of
/// the scales, divided in double precision, as a Q31 multiplier.
fn requantize_int(cx: &Lowering, input: TensorId, out: TensorId) -> Lowered<Op> {
    let (in_type, out_type) = (cx.dtype(input), cx.dtype(out));
    let (Some(input_type), Some(output_type)) = (int_type(in_type), int_type(out_type)) else {
        return unsupported(format!(
            "QUANTIZE from {} to {}",
            in_type.name(),
            out_type.name()
        ));
    };
    let quant = |t: TensorId| -> Lowered<(f32, i32)> {
        let tensor = cx.tensor(t);
        match &tensor.quantization {
            Some(q) if q.scale0() > 0.0 && q.scale0().is_finite() => {
                let zp = q.zero_point0();
                let fits = match tensor.dtype {
                    DataType::I8 => i8::try_from(zp).is_ok(),
                    DataType::I16 => i16::try_from(zp).is_ok(),
                    _ => true,
                };
                if !fits {
                    return invalid(format!(
                        "tensor '{}' has zero point {zp} outside {}",
                        tensor.name,
                        tensor.dtype.name()
                    ));
                }
                Ok((q.scale0(), zp))
            }
            _ => unsupported(format!(
                "tensor '{}' has no usable quantization parameters",
                tensor.name
            )),
        }
    };
    let (in_scale, input_zero_point) = quant(input)?;
    let (out_scale, output_zero_point) = quant(out)?;
    let (multiplier, shift) = quantize_multiplier(f64::from(in_scale) / f64::from(out_scale));
    Ok(Op::RequantizeInt(RequantizeIntOp {
        params: IntRequantizeParams {
            input_zero_point,
            output_zero_point,
            multiplier,
            shift,
        },
        input_type,
        output_type,
        input: cx.activation(input, in_type)?,
        output: cx.activation(out, out_type)?,
    }))
}

/// QUANTIZE from float32 to int16 and DEQUANTIZE from int16: painted on
/// each core on the quantize_int16 fixture (the deeper of the two).
const FLOAT_INT16_STACK: Stack = Stack::new(212, 148, 152, 108);

impl IrOp for Dequantize {
    fn name(&self) -> &'static str {
        "DEQUANTIZE"
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        match node.input(0).map(|t| g.tensors[t].dtype) {
            Some(DataType::I16) => FLOAT_INT16_STACK,
            _ => crate::stack::SMALL_OP,
        }
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        let (scale, zero_point) = cx.quant(input)?;
        let params = AffineParams { scale, zero_point };
        let output = cx.activation(out, DataType::F32)?;
        Ok(Some(match cx.dtype(input) {
            DataType::I16 => Op::DequantizeS16(DequantizeS16Op {
                params,
                input: cx.activation(input, DataType::I16)?,
                output,
            }),
            _ => Op::Dequantize(DequantizeOp {
                params,
                input: cx.activation(input, DataType::I8)?,
                output,
            }),
        }))
    }
}

/// int8 `input` rescaled to `out`'s parameters and clamped by `activation`.
pub(crate) fn requantize(
    cx: &Lowering,
    input: TensorId,
    out: TensorId,
    activation: Activation,
) -> Lowered<RequantizeOp> {
    let (in_scale, in_zp) = cx.quant(input)?;
    let (out_scale, out_zp) = cx.quant(out)?;
    let (multiplier, shift) = quantize_multiplier(f64::from(in_scale) / f64::from(out_scale));
    let (activation_min, activation_max) = activation_range(activation, out_scale, out_zp);
    let (input, output) = cx.spans((input, out), DataType::I8)?;
    Ok(RequantizeOp {
        params: RequantizeParams {
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            multiplier,
            shift,
            activation_min,
            activation_max,
        },
        input,
        output,
    })
}
