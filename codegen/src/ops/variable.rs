//! READ_VARIABLE and ASSIGN_VARIABLE: copies between a resource variable
//! and a tensor, as TFLM's copy bytes. The importer has already made each
//! variable a variable tensor of the graph (`import::tflite`'s
//! `variables`), so input 0 of both is that tensor; VAR_HANDLE and
//! CALL_ONCE leave no node. The copy runs as a CAST to the same type.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::CastOp;

use super::cast::cast_type;
use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{invalid as read_invalid, ReadResult, TfliteOp};
use crate::ir::{Node, OpKind};
use crate::lower::{invalid, unsupported, Lowered, Lowering};

/// Which way a variable op copies. READ_VARIABLE: input 0 the variable,
/// output 0 its copy. ASSIGN_VARIABLE: input 0 the variable, input 1 the
/// value it takes; no output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableAccess {
    Read,
    Assign,
}

/// A variable op with TFLM's operand counts, its input 0 a variable (a
/// VAR_HANDLE the importer resolved).
fn operands(
    op: &mut TfliteOp,
    inputs: usize,
    outputs: usize,
    access: VariableAccess,
) -> ReadResult<OpKind> {
    if op.inputs.len() != inputs || op.outputs.len() != outputs {
        return read_invalid(format!(
            "{} takes {inputs} inputs and {outputs} outputs",
            access.name()
        ));
    }
    Ok(OpKind::VariableAccess(access))
}

/// VAR_HANDLE and CALL_ONCE are resolved before ops convert.
fn resolved_by_importer(_: &mut TfliteOp) -> ReadResult<OpKind> {
    read_invalid("VAR_HANDLE and CALL_ONCE are resolved with the model's variables")
}

impl VariableAccess {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("READ_VARIABLE", |op| {
                operands(op, 1, 1, VariableAccess::Read)
            }),
            ("ASSIGN_VARIABLE", |op| {
                operands(op, 2, 0, VariableAccess::Assign)
            }),
            ("VAR_HANDLE", resolved_by_importer),
            ("CALL_ONCE", resolved_by_importer),
        ],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: false,
            note: "CALL_ONCE's subgraph may only assign constants (the variables' initial values)",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

impl IrOp for VariableAccess {
    fn name(&self) -> &'static str {
        match self {
            VariableAccess::Read => "READ_VARIABLE",
            VariableAccess::Assign => "ASSIGN_VARIABLE",
        }
    }

    fn has_output(&self) -> bool {
        *self == VariableAccess::Read
    }

    /// Bytes are copied as they are: a float32 model quantized by kiln
    /// keeps its variables in float32.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let variable = cx.input(node, 0)?;
        if !cx.graph().variables.contains(&variable) {
            return unsupported(format!(
                "'{}' is not a variable of this subgraph",
                cx.tensor(variable).name
            ));
        }
        let (from, to) = match self {
            VariableAccess::Read => (variable, cx.output(node)?),
            VariableAccess::Assign => (cx.input(node, 1)?, variable),
        };
        let dtype = cx.dtype(from);
        if cx.dtype(to) != dtype || cx.tensor(to).bytes() != cx.tensor(from).bytes() {
            return invalid("the variable and the tensor differ in type or size");
        }
        let Some(t) = cast_type(dtype) else {
            return unsupported(format!("a {} variable", dtype.name()));
        };
        Ok(Some(Op::Cast(CastOp {
            from: t,
            to: t,
            input: cx.activation(from, dtype)?,
            output: cx.activation(to, dtype)?,
        })))
    }
}
