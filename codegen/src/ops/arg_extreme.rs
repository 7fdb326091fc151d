//! ARG_MAX and ARG_MIN over one constant axis, of int8 (the quantized
//! values' order is the reals'), int16, plain int32 or float32 values, to
//! int32 indices.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::arg_extreme::ArgExtremeParams;
use kiln::kernels::mean::Extreme;
use kiln::ops::ArgExtremeOp;
use kiln::tensor::DType;

use super::{Dtypes, Formats, IrOp, QuantRule};
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
        onnx: &[],
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
