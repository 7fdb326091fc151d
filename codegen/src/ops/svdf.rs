//! SVDF: int8 with int16 time weights and state, as TFLM's integer kernel
//! computes it, and float32. Its state (input 4) is a variable tensor of
//! the graph.
//!
//! Layer: ops; uses `lower` and `quantize::multiplier`.

use kiln::graph::Op;
use kiln::ops::{SvdfF32Op, SvdfOp, SvdfParams, SvdfShape};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{Activation, DataType, Graph, Node, OpKind};
use crate::lower::{float_range, invalid, to_u32, unsupported, Lowered, Lowering};
use crate::quantize::multiplier::quantize_multiplier;
use crate::stack::Stack;

/// SVDF. Inputs: data `[batches, input_size]`, feature weights
/// `[filters, input_size]`, time weights `[filters, memory]`, optional
/// bias `[filters / rank]`, state `[batches, filters x memory]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Svdf {
    pub rank: usize,
    /// The fused activation, which only the float32 kernel applies (TFLM's
    /// integer kernel ignores it); `None` for one kiln cannot apply there
    /// (TANH, SIGN_BIT).
    pub activation: Option<Activation>,
}

impl Svdf {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("SVDF", from_tflite)],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: false,
            float32: true,
            other: false,
            note: "int8 with int16 time weights and state",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

/// `SVDFOptions`: rank, then the fused activation, which TFLM's integer
/// kernel ignores (and so does kiln's).
fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let activation = match op.i8(1, 0)? {
        0 => Some(Activation::None),
        1 => Some(Activation::Relu),
        2 => Some(Activation::ReluN1To1),
        3 => Some(Activation::Relu6),
        _ => None,
    };
    Ok(OpKind::Svdf(Svdf {
        rank: op.positive(0, 1, "SVDF rank")?,
        activation,
    }))
}

impl IrOp for Svdf {
    fn name(&self) -> &'static str {
        "SVDF"
    }

    fn attributes(&self) -> String {
        match self.activation {
            Some(a) => format!("rank {} {a:?}", self.rank),
            None => format!("rank {} (fused TANH or SIGN_BIT)", self.rank),
        }
    }

    /// A float32 model quantized by kiln keeps this layer in float32
    /// (its int8 kernel needs an int16 state kiln does not calibrate).
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (feature, time, state) = (cx.input(node, 1)?, cx.input(node, 2)?, cx.state(node, 4)?);
        if !matches!(cx.dtype(input), DataType::I8 | DataType::F32) {
            return unsupported(format!(
                "{} SVDF (kiln: int8 input with int16 state, or float32)",
                cx.dtype(input).name()
            ));
        }
        let ([batches, input_size], [filters, feature_size], [time_filters, memory]) = (
            dims2(cx.shape(input))?,
            dims2(cx.shape(feature))?,
            dims2(cx.shape(time))?,
        );
        let rank = self.rank;
        let units = filters / rank.max(1);
        if feature_size != input_size
            || time_filters != filters
            || !filters.is_multiple_of(rank)
            || cx.tensor(state).elements() != batches * filters * memory
            || cx.tensor(out).elements() != batches * units
        {
            return invalid(format!(
                "SVDF shapes do not agree: input {:?}, feature weights {:?}, time weights {:?}, state {:?}, output {:?}, rank {rank}",
                cx.shape(input),
                cx.shape(feature),
                cx.shape(time),
                cx.shape(state),
                cx.shape(out)
            ));
        }
        let shape = SvdfShape {
            batches: to_u32(batches)?,
            input_size: to_u32(input_size)?,
            filters: to_u32(filters)?,
            rank: to_u32(rank)?,
            memory: to_u32(memory)?,
        };
        if cx.is_float(node) {
            let Some(activation) = self.activation else {
                return unsupported("float32 SVDF with a fused TANH or SIGN_BIT");
            };
            return Ok(Some(Op::SvdfF32(SvdfF32Op {
                shape,
                activation: float_range(activation),
                input: cx.activation(input, DataType::F32)?,
                feature_weights: cx.copied_constant(feature, DataType::F32)?,
                time_weights: cx.copied_constant(time, DataType::F32)?,
                bias: cx.optional_constant(node.input(3), DataType::F32, units)?,
                state: cx.activation(state, DataType::F32)?,
                output: cx.activation(out, DataType::F32)?,
            })));
        }
        if cx.dtype(time) != DataType::I16 || cx.dtype(state) != DataType::I16 {
            return unsupported(format!(
                "SVDF with {} time weights and {} state (kiln: int16)",
                cx.dtype(time).name(),
                cx.dtype(state).name()
            ));
        }
        let (in_scale, in_zp) = cx.quant(input)?;
        let (feature_scale, feature_zp) = cx.quant(feature)?;
        let (time_scale, _) = cx.quant(time)?;
        let (state_scale, state_zp) = cx.quant(state)?;
        let (out_scale, out_zp) = cx.quant(out)?;
        if feature_zp != 0 {
            return unsupported("SVDF feature weights with a zero point");
        }
        // TFLM forms both scales in float32, then widens them.
        let (feature_multiplier, feature_shift) =
            quantize_multiplier(f64::from(in_scale * feature_scale / state_scale));
        let (output_multiplier, output_shift) =
            quantize_multiplier(f64::from(state_scale * time_scale / out_scale));
        Ok(Some(Op::Svdf(SvdfOp {
            params: SvdfParams {
                shape,
                input_offset: -in_zp,
                state_zero_point: state_zp,
                output_offset: out_zp,
                feature_multiplier,
                feature_shift,
                output_multiplier,
                output_shift,
            },
            input: cx.activation(input, DataType::I8)?,
            feature_weights: cx.copied_constant(feature, DataType::I8)?,
            time_weights: cx.copied_constant(time, DataType::I16)?,
            bias: cx.optional_constant(node.input(3), DataType::I32, units)?,
            state: cx.activation(state, DataType::I16)?,
            output: cx.activation(out, DataType::I8)?,
        })))
    }

    fn macs(&self, g: &Graph, node: &Node) -> u64 {
        let dims = |i: usize| node.input(i).map_or(&[][..], |t| &g.tensors[t].shape[..]);
        match (dims(0), dims(1), dims(2)) {
            ([batches, size], [filters, _], [_, memory]) => {
                (*batches * *filters * (*size + *memory)) as u64
            }
            _ => 0,
        }
    }

    /// Painted on each emulated core in generated code, the SVDF fixture
    /// (`tests/fixtures/op_zoo/svdf`), whose deepest op it is.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(448, 408, 408, 288)
    }
}

/// A rank-2 shape.
fn dims2(shape: &[usize]) -> Lowered<[usize; 2]> {
    match shape {
        &[a, b] => Ok([a, b]),
        _ => invalid(format!("SVDF tensor of shape {shape:?}, not rank 2")),
    }
}
