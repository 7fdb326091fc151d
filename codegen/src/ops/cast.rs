//! CAST between int8, int16, int32, float32 and bool values, as TFLM's
//! cast.cc converts them (quantization parameters play no part).
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{CastOp, CastType};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};

/// Each input value converted to the output's type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cast;

impl Cast {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("CAST", |_| Ok(OpKind::Cast(Cast)))],
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

pub(super) fn cast_type(t: DataType) -> Option<CastType> {
    Some(match t {
        DataType::I8 => CastType::I8,
        DataType::I16 => CastType::I16,
        DataType::I32 => CastType::I32,
        DataType::F32 => CastType::F32,
        DataType::Bool => CastType::Bool,
        _ => return None,
    })
}

impl IrOp for Cast {
    fn name(&self) -> &'static str {
        "CAST"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        cx.same_elements(input, out)?;
        let (from, to) = (cx.dtype(input), cx.dtype(out));
        let (Some(from_type), Some(to_type)) = (cast_type(from), cast_type(to)) else {
            return unsupported(format!("CAST from {} to {}", from.name(), to.name()));
        };
        Ok(Some(Op::Cast(CastOp {
            from: from_type,
            to: to_type,
            input: cx.activation(input, from)?,
            output: cx.activation(out, to)?,
        })))
    }
}
