//! CUMSUM: running sums along a constant axis, int8 (ADD_N's arithmetic,
//! as TFLM's kernel has it) or float32.
//!
//! Layer: ops; uses `lower` and ADD_N's int8 preparation.

use kiln::graph::Op;
use kiln::kernels::add_n::AddNParams;
use kiln::kernels::cumsum::CumSumShape;
use kiln::ops::CumSumOp;
use kiln::tensor::DType;

use super::add_n::params_s8;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{saturating_elements, DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// CUMSUM (input, axis): `exclusive` sums stop before each value,
/// `reverse` ones run from the end of the axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CumSum {
    pub exclusive: bool,
    pub reverse: bool,
}

impl CumSum {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("CUMSUM", |op| {
            Ok(OpKind::CumSum(CumSum {
                exclusive: op.bool(0)?,
                reverse: op.bool(1)?,
            }))
        })],
        onnx: &[],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for CumSum {
    fn name(&self) -> &'static str {
        "CUMSUM"
    }

    fn attributes(&self) -> String {
        let way = |on: bool, name: &'static str| if on { name } else { "" };
        [
            way(self.exclusive, "exclusive"),
            way(self.reverse, "reverse"),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// A running sum needs its own interval: calibrated.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    /// ADD_N's figure: the same arithmetic, one sum at a time.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 96, 96, 64)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let axis_tensor = cx.input(node, 1)?;
        let shape = cx.shape(input).to_vec();
        if cx.shape(out) != shape || cx.dtype(out) != cx.dtype(input) {
            return invalid("CUMSUM's output differs from its input in shape or type");
        }
        let axis = match cx.weight_data(axis_tensor, DataType::I32)? {
            [a, b, c, d] => i32::from_le_bytes([*a, *b, *c, *d]),
            _ => return invalid("CUMSUM's axis must be one int32"),
        };
        let rank = shape.len() as i64;
        let axis = i64::from(axis) + if axis < 0 { rank } else { 0 };
        let Some(axis) = usize::try_from(axis).ok().filter(|&a| a < shape.len()) else {
            return invalid(format!("CUMSUM axis out of range for shape {shape:?}"));
        };
        let sum_shape = CumSumShape {
            outer: to_u32(saturating_elements(&shape[..axis]))?,
            depth: to_u32(shape[axis])?,
            inner: to_u32(saturating_elements(&shape[axis + 1..]))?,
            exclusive: self.exclusive,
            reverse: self.reverse,
        };
        let (dtype, data, params) = match cx.dtype(input) {
            DataType::F32 => (DType::F32, DataType::F32, AddNParams::default()),
            DataType::I8 => (DType::I8, DataType::I8, params_s8(cx, &[input], out)?),
            other => return unsupported(format!("CUMSUM of {}", other.name())),
        };
        Ok(Some(Op::CumSum(CumSumOp {
            params,
            dtype,
            shape: sum_shape,
            input: cx.activation(input, data)?,
            output: cx.activation(out, data)?,
        })))
    }
}
