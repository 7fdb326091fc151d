//! FILL, ZEROS_LIKE, SHAPE and BROADCAST_ARGS: outputs whose values do not
//! depend on the values of the input (one value repeated, zeros, the
//! input's dimensions, which are static, two such shapes broadcast). They
//! run as the FILL kernel, which repeats a constant from the weights over
//! the output; a FILL of a computed value is a broadcast of it instead
//! (BROADCAST_TO's slice).
//!
//! Layer: ops; uses `lower` and `ops::slice`.

use kiln::graph::Op;
use kiln::ops::FillOp;
use kiln::tensor::DType;

use super::slice::strided_read;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{invalid as read_invalid, ReadResult, TfliteOp};
use crate::ir::{broadcast_shape, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::{Stack, SMALL_OP};

/// What the output is made of; input 0 is the op's one input in each case.
/// Values are bytes, as TFLM copies them: a quantized FILL takes its
/// value's bytes whatever the two tensors' parameters, and ZEROS_LIKE
/// writes zero bytes, not the zero point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// FILL: input 0 (one value) everywhere. TFLite's dims input is the
    /// output's shape, which the file states.
    Value,
    /// ZEROS_LIKE: zero bytes in the input's type and shape.
    Zeros,
    /// SHAPE: the input's dimensions, as int32.
    Shape,
}

/// BROADCAST_ARGS: the shape two shapes (inputs 0 and 1, int32) broadcast
/// to. kiln's shapes are static, so each is a constant or a SHAPE's output
/// and the result is known when compiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BroadcastArgs;

/// TFLite FILL (dims, value): checks a constant dims against the output's
/// shape, then keeps only the value.
fn fill_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    if op.inputs.len() != 2 || op.outputs.len() != 1 {
        return read_invalid("FILL takes 2 inputs and 1 output");
    }
    let dims = op.input_tensor(0).and_then(|t| t.data_i32());
    let output = &op.tensors[op.outputs[0]].shape;
    if let Some(dims) = dims {
        let same = dims.len() == output.len()
            && dims
                .iter()
                .zip(output)
                .all(|(&d, &o)| usize::try_from(d) == Ok(o));
        if !same {
            return read_invalid(format!(
                "FILL dims {dims:?} differ from its output's shape {output:?}"
            ));
        }
    }
    op.inputs.remove(0);
    Ok(OpKind::Fill(Fill::Value))
}

/// One input, one output (ZEROS_LIKE, SHAPE).
fn unary(op: &mut TfliteOp, kind: Fill) -> ReadResult<OpKind> {
    if op.inputs.len() != 1 || op.outputs.len() != 1 {
        return read_invalid(format!("{} takes 1 input and 1 output", kind.name()));
    }
    Ok(OpKind::Fill(kind))
}

impl Fill {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("FILL", fill_from_tflite),
            ("ZEROS_LIKE", |op| unary(op, Fill::Zeros)),
            ("SHAPE", |op| unary(op, Fill::Shape)),
        ],
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl BroadcastArgs {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("BROADCAST_ARGS", |_| {
            Ok(OpKind::BroadcastArgs(BroadcastArgs))
        })],
        onnx: &[],
        dtypes: Dtypes::other("int32 shapes (TFLM's int64 ones refused by name)"),
    };
}

/// SHAPE's and BROADCAST_ARGS' frame (the FILL kernel), painted on each
/// core on the broadcast_args fixture, whose deepest op (a plain-integer
/// ADD) takes as much.
const SHAPE_STACK: Stack = super::elementwise::PLAIN_INTEGER_STACK;

/// The runtime type FILL writes `t` as (bool as its bytes).
fn stored_as(t: DataType) -> Option<DType> {
    match t {
        DataType::Bool => Some(DType::I8),
        other => super::elementwise::element_dtype(other),
    }
}

impl IrOp for Fill {
    fn name(&self) -> &'static str {
        match self {
            Fill::Value => "FILL",
            Fill::Zeros => "ZEROS_LIKE",
            Fill::Shape => "SHAPE",
        }
    }

    /// A float model's FILL and ZEROS_LIKE stay float32 (zero is 0.0, not
    /// an int8 zero byte); SHAPE's int32 output has nothing to quantize.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// A broadcast of a computed value runs BROADCAST_TO's slice kernel
    /// (its figure); a constant the small FILL kernel.
    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        let computed = node.input(0).is_some_and(|t| !g.tensors[t].is_constant());
        match self {
            Fill::Value if computed => Stack::new(224, 208, 208, 160),
            Fill::Shape => SHAPE_STACK,
            _ => SMALL_OP,
        }
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let (in_type, out_type) = (cx.dtype(input), cx.dtype(out));
        let Some(stored) = stored_as(out_type) else {
            return unsupported(format!("{} to {} values", self.name(), out_type.name()));
        };
        let value = match self {
            Fill::Value => {
                if in_type != out_type {
                    return invalid("FILL's value and output differ in type");
                }
                if cx.tensor(input).elements() != 1 {
                    return invalid("FILL's value must be one value");
                }
                if !cx.tensor(input).is_constant() {
                    let out_shape = cx.shape(out).to_vec();
                    let ones = vec![1; out_shape.len()];
                    let zeros = vec![0; out_shape.len()];
                    let step = vec![0; out_shape.len()];
                    let slice = strided_read(cx, (input, out), (&ones, &out_shape), &zeros, &step);
                    return slice.map(Some);
                }
                cx.weight_data(input, in_type)?.to_vec()
            }
            Fill::Zeros => {
                if in_type != out_type || cx.shape(input) != cx.shape(out) {
                    return invalid("ZEROS_LIKE's output differs from its input in type or shape");
                }
                vec![0; stored.size()]
            }
            Fill::Shape => {
                if out_type != DataType::I32 {
                    return unsupported(format!(
                        "SHAPE as {} (TFLM writes int32)",
                        out_type.name()
                    ));
                }
                let dims = cx
                    .shape(input)
                    .iter()
                    .map(|&d| to_u32(d).map(|d| d as i32))
                    .collect::<Lowered<Vec<i32>>>()?;
                if cx.tensor(out).elements() != dims.len() {
                    return invalid("SHAPE's output length differs from its input's rank");
                }
                dims.iter().flat_map(|d| d.to_le_bytes()).collect()
            }
        };
        if value.is_empty() {
            return unsupported(format!("{} of a rank-0 tensor", self.name()));
        }
        Ok(Some(Op::Fill(FillOp {
            dtype: stored,
            value: cx.constant(&value)?,
            output: cx.activation(out, out_type)?,
        })))
    }
}

/// The values of shape tensor `t`: a constant's, or the dimensions of the
/// tensor a SHAPE op reads (static in kiln).
fn shape_values(cx: &Lowering, t: usize) -> Lowered<Vec<i32>> {
    if cx.dtype(t) != DataType::I32 {
        let dtype = cx.dtype(t).name();
        return unsupported(format!(
            "BROADCAST_ARGS of {dtype} shapes (kiln takes int32)"
        ));
    }
    if let Some(values) = cx.tensor(t).data_i32() {
        return Ok(values);
    }
    let g = cx.graph();
    let shape_of = g
        .nodes
        .iter()
        .find(|n| n.outputs.contains(&t) && n.kind == OpKind::Fill(Fill::Shape))
        .and_then(|n| n.input(0));
    match shape_of {
        Some(input) => cx
            .shape(input)
            .iter()
            .map(|&d| to_u32(d).map(|d| d as i32))
            .collect(),
        None => unsupported(
            "BROADCAST_ARGS of a shape computed from values (kiln takes constants and SHAPE outputs)",
        ),
    }
}

/// Numpy's broadcast of two shapes (aligned on their last dimensions), as
/// TFLite's BroadcastArgs: a dimension of 1 takes the other's, others must
/// be equal.
fn broadcast_shapes(a: &[i32], b: &[i32]) -> Option<Vec<i32>> {
    let lengths =
        |s: &[i32]| -> Option<Vec<usize>> { s.iter().map(|&d| usize::try_from(d).ok()).collect() };
    let shape = broadcast_shape(&[&lengths(a)?, &lengths(b)?])?;
    shape.into_iter().map(|d| i32::try_from(d).ok()).collect()
}

impl IrOp for BroadcastArgs {
    fn name(&self) -> &'static str {
        "BROADCAST_ARGS"
    }

    /// int32 shapes: nothing to quantize.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        SHAPE_STACK
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (a, b, out) = (cx.input(node, 0)?, cx.input(node, 1)?, cx.output(node)?);
        let (sa, sb) = (shape_values(cx, a)?, shape_values(cx, b)?);
        let Some(shape) = broadcast_shapes(&sa, &sb) else {
            return invalid(format!(
                "BROADCAST_ARGS of {sa:?} and {sb:?}, which do not broadcast"
            ));
        };
        if cx.dtype(out) != DataType::I32 || cx.tensor(out).elements() != shape.len() {
            return invalid(format!(
                "BROADCAST_ARGS's output does not hold the int32 shape {shape:?}"
            ));
        }
        if shape.is_empty() {
            return unsupported("BROADCAST_ARGS of two rank-0 shapes");
        }
        let value: Vec<u8> = shape.iter().flat_map(|d| d.to_le_bytes()).collect();
        Ok(Some(Op::Fill(FillOp {
            dtype: DType::I32,
            value: cx.constant(&value)?,
            output: cx.activation(out, DataType::I32)?,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::broadcast_shapes;

    #[test]
    fn shapes_broadcast_as_numpy_does() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[5], &[3, 1, 5]), Some(vec![3, 1, 5]));
        assert_eq!(broadcast_shapes(&[], &[2]), Some(vec![2]));
        assert_eq!(broadcast_shapes(&[2, 3], &[3, 3]), None);
        assert_eq!(broadcast_shapes(&[-1], &[3]), None);
    }
}
