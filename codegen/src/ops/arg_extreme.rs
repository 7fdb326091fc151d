//! ARG_MAX and ARG_MIN over one constant axis, of int8 (the quantized
//! values' order is the reals'), int16, plain int32 or float32 values, to
//! int32 indices; ONNX's ArgMax and ArgMin become them.
//!
//! Layer: ops; uses `lower` and `import::onnx`.

use kiln::graph::Op;
use kiln::kernels::arg_extreme::ArgExtremeParams;
use kiln::kernels::mean::Extreme;
use kiln::ops::ArgExtremeOp;
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{saturating_elements, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// The index of the extreme value along the axis of input 1 (a constant).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArgExtreme {
    pub extreme: Extreme,
}

impl ArgExtreme {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("ARG_MAX", |_| {
                Ok(OpKind::ArgExtreme(ArgExtreme {
                    extreme: Extreme::Max,
                }))
            }),
            ("ARG_MIN", |_| {
                Ok(OpKind::ArgExtreme(ArgExtreme {
                    extreme: Extreme::Min,
                }))
            }),
        ],
        onnx: &[
            OnnxConverter {
                op_type: "ArgMax",
                inputs: 1,
                convert: |cx, n| arg_extreme_from_onnx(cx, n, Extreme::Max),
            },
            OnnxConverter {
                op_type: "ArgMin",
                inputs: 1,
                convert: |cx, n| arg_extreme_from_onnx(cx, n, Extreme::Min),
            },
        ],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for ArgExtreme {
    fn name(&self) -> &'static str {
        match self.extreme {
            Extreme::Max => "ARG_MAX",
            Extreme::Min => "ARG_MIN",
        }
    }

    /// The int8 input keeps the reals' order; the int32 indices take no
    /// parameters.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    /// Painted on each core on the arg_extremes fixtures: the deeper of the
    /// int8 and the float32 kernel.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(208, 168, 168, 128)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let shape = cx.shape(input).to_vec();
        let axis = cx.input(node, 1)?;
        let axis = match cx.tensor(axis).data_i32().as_deref() {
            Some(&[a]) => i64::from(a),
            _ => return unsupported("the axis must be one constant int32"),
        };
        let a = if axis < 0 {
            axis + shape.len() as i64
        } else {
            axis
        };
        let Some(a) = usize::try_from(a).ok().filter(|&a| a < shape.len()) else {
            return invalid(format!("axis {axis} out of range for shape {shape:?}"));
        };
        let expected: Vec<usize> = [&shape[..a], &shape[a + 1..]].concat();
        if cx.shape(out) != expected || cx.dtype(out) != DataType::I32 {
            return unsupported(format!(
                "{} to {} {:?} (kiln: int32 indices, the axis dropped)",
                self.name(),
                cx.dtype(out).name(),
                cx.shape(out)
            ));
        }
        let dtype = match cx.dtype(input) {
            DataType::I8 => DType::I8,
            DataType::I16 => DType::I16,
            DataType::I32 => DType::I32,
            DataType::F32 => DType::F32,
            other => return unsupported(format!("{} of {}", self.name(), other.name())),
        };
        let params = ArgExtremeParams {
            outer: to_u32(saturating_elements(&shape[..a]))?,
            axis: to_u32(shape[a])?,
            inner: to_u32(saturating_elements(&shape[a + 1..]))?,
            extreme: self.extreme,
        };
        Ok(Some(Op::ArgExtreme(ArgExtremeOp {
            params,
            dtype,
            input: cx.activation(input, cx.dtype(input))?,
            output: cx.activation(out, DataType::I32)?,
        })))
    }
}

/// ONNX's ArgMax or ArgMin: the op over `axis` (default 0), then, unless
/// `keepdims` is 0, a RESHAPE that keeps the axis as 1. Its indices are
/// int32 (TFLite's type; ONNX's are int64). The kernel takes the first
/// extreme, as ONNX's default `select_last_index` 0 does; the last is
/// refused.
fn arg_extreme_from_onnx(cx: &mut Importer, n: &OnnxNode, extreme: Extreme) -> Step<()> {
    if n.int("select_last_index", 0) != 0 {
        return Err("select_last_index 1 (kiln takes the first extreme's index)".into());
    }
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    let rank = shape.len() as i64;
    let axis = n.int("axis", 0);
    let a = usize::try_from(if axis < 0 { axis + rank } else { axis })
        .ok()
        .filter(|&a| (a as i64) < rank)
        .ok_or_else(|| format!("axis {axis} out of range for rank {rank}"))?;
    let name = n.outputs[0].clone();
    let axis_id = cx.tensor(
        format!("{name} (axis)"),
        vec![1],
        DataType::I32,
        Some((a as i32).to_le_bytes().to_vec()),
    );
    let dropped: Vec<usize> = [&shape[..a], &shape[a + 1..]].concat();
    let keep_dims = n.int("keepdims", 1) != 0;
    let indices = if keep_dims {
        cx.tensor(
            format!("{name} (axis dropped)"),
            dropped,
            DataType::I32,
            None,
        )
    } else {
        let t = cx.new_output(n, dropped);
        cx.g.tensors[t].dtype = DataType::I32;
        t
    };
    let kind = OpKind::ArgExtreme(ArgExtreme { extreme });
    cx.push(
        kind,
        vec![Some(x), Some(axis_id)],
        vec![indices],
        &n.op_type,
    );
    if keep_dims {
        let mut kept = shape;
        kept[a] = 1;
        let t = cx.reshaped(indices, kept, name.clone());
        cx.values.insert(name, t);
    }
    Ok(())
}
