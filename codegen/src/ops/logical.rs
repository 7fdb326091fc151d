//! The logical ops on bool tensors (one byte per value, 0 or 1, as the
//! comparisons write them): LOGICAL_AND and LOGICAL_OR (broadcast),
//! LOGICAL_NOT, and REDUCE_ALL over constant axes. On bytes that are 0 or
//! 1, AND is the minimum, OR the maximum, NOT one minus the value and ALL
//! the minimum over the axes, so they lower to the plain-integer binary op
//! and the int8 REDUCE_MIN, whose kernels (host, CUDA, every core) they
//! share; the binary ones clamp to 0..=1, and a constant operand is copied
//! as 0 or 1, so a stray byte of a file still reads as a bool.
//!
//! Layer: ops; uses `lower` and the elementwise ops' and reductions'
//! operand placement.

use kiln::graph::Op;
use kiln::kernels::mean::Extreme;
use kiln::ops::{
    ConstantOperand, IntegerBinaryOp, IntegerFunction, IntegerParams, ReduceExtremeOp,
};
use kiln::DType;

use super::elementwise::{binary_operands, broadcast, PLAIN_INTEGER_STACK};
use super::mean::{reduction, reduction_stack};
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// Which logical function of bools.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Logic {
    And,
    Or,
    Not,
}

/// LOGICAL_AND, LOGICAL_OR (two bool inputs, broadcast) or LOGICAL_NOT.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Logical {
    pub logic: Logic,
}

/// REDUCE_ALL: whether every bool along the axes (input 1, int32
/// constants) is true.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceAll {
    pub keep_dims: bool,
}

/// TFLM's logical kernels take bool tensors only: the "other" column.
const BOOL: Dtypes = Dtypes::other("bool");

macro_rules! logical {
    ($logic:ident) => {
        |_| {
            Ok(OpKind::Logical(Logical {
                logic: Logic::$logic,
            }))
        }
    };
}

impl Logical {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("LOGICAL_AND", logical!(And)),
            ("LOGICAL_OR", logical!(Or)),
            ("LOGICAL_NOT", logical!(Not)),
        ],
        onnx: &[],
        dtypes: BOOL,
    };
}

impl ReduceAll {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("REDUCE_ALL", |op| {
            Ok(OpKind::ReduceAll(ReduceAll {
                keep_dims: op.bool(0)?,
            }))
        })],
        onnx: &[],
        dtypes: BOOL,
    };
}

/// Requires `t` to be a bool tensor.
fn bool_tensor(cx: &Lowering, t: usize, what: &str) -> Lowered<()> {
    match cx.dtype(t) {
        DataType::Bool => Ok(()),
        other => unsupported(format!(
            "{what} of {} values (TFLM's takes bools)",
            other.name()
        )),
    }
}

impl IrOp for Logical {
    fn name(&self) -> &'static str {
        match self.logic {
            Logic::And => "LOGICAL_AND",
            Logic::Or => "LOGICAL_OR",
            Logic::Not => "LOGICAL_NOT",
        }
    }

    fn broadcasting(&self) -> bool {
        true
    }

    /// Bools have no parameters: nothing to quantize.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        PLAIN_INTEGER_STACK
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (a, out) = cx.input_output(node)?;
        bool_tensor(cx, a, self.name())?;
        bool_tensor(cx, out, self.name())?;
        let (function, broadcast, (constant, input1, input2)) = match self.logic {
            Logic::And | Logic::Or => {
                let b = cx.input(node, 1)?;
                bool_tensor(cx, b, self.name())?;
                let function = match self.logic {
                    Logic::And => IntegerFunction::Min,
                    _ => IntegerFunction::Max,
                };
                // Bool constants hold 0 or 1 (the reader makes them so).
                let operands = binary_operands(cx, a, b, DataType::Bool)?;
                (function, broadcast(cx, a, b, out)?, operands)
            }
            // 1 - x, the 1 a constant broadcast over x.
            Logic::Not => {
                let mut one_minus = broadcast(cx, a, a, out)?;
                one_minus.input1_strides = Default::default();
                one_minus.same_shape = false;
                let operands = (
                    ConstantOperand::First,
                    cx.constant(&[1])?,
                    cx.activation(a, DataType::Bool)?,
                );
                (IntegerFunction::Sub, one_minus, operands)
            }
        };
        Ok(Some(Op::IntegerBinary(IntegerBinaryOp {
            params: IntegerParams {
                function,
                broadcast,
                activation_min: 0,
                activation_max: 1,
            },
            dtype: DType::I8,
            constant,
            input1,
            input2,
            output: cx.activation(out, DataType::Bool)?,
        })))
    }
}

impl IrOp for ReduceAll {
    fn name(&self) -> &'static str {
        "REDUCE_ALL"
    }

    fn attributes(&self) -> String {
        format!("keep_dims {}", self.keep_dims)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn stack(&self, g: &Graph, node: &Node) -> Stack {
        reduction_stack(g, node)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        bool_tensor(cx, input, self.name())?;
        bool_tensor(cx, out, self.name())?;
        let reduction = reduction(cx, node)?;
        // The minimum of no values would be the kernel's starting 127.
        if reduction.reduced_elements() == 0 {
            return unsupported("REDUCE_ALL over an axis of length 0");
        }
        let (input, output) = cx.spans((input, out), DataType::Bool)?;
        Ok(Some(Op::ReduceExtreme(ReduceExtremeOp {
            reduction,
            extreme: Extreme::Min,
            input,
            output,
        })))
    }
}
