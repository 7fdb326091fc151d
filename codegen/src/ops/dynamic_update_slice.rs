//! DYNAMIC_UPDATE_SLICE (operand, update, start indices): the operand with
//! the update written over it at run-time starts, which the kernel clamps
//! as TFLM does. Bytes move as they are: TFLM compares no quantization.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::ops::{DynamicUpdateSliceOp, UpdateSliceShape};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, padded_dims, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// DYNAMIC_UPDATE_SLICE; its inputs in TFLite's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DynamicUpdateSlice;

impl DynamicUpdateSlice {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("DYNAMIC_UPDATE_SLICE", |_| {
            Ok(OpKind::DynamicUpdateSlice(DynamicUpdateSlice))
        })],
        onnx: &[],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for DynamicUpdateSlice {
    fn name(&self) -> &'static str {
        "DYNAMIC_UPDATE_SLICE"
    }

    /// A float model's update stays float32: int8 bytes would need the
    /// operand's and the update's parameters to agree.
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// Painted on the `dynamic_update_slice` fixture on each core.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(264, 232, 232, 168)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (operand, out) = cx.input_output(node)?;
        let (update, starts) = (cx.input(node, 1)?, cx.input(node, 2)?);
        let dtype = cx.dtype(operand);
        let Some(stored) = super::elementwise::element_dtype(dtype) else {
            return unsupported(format!("DYNAMIC_UPDATE_SLICE of {}", dtype.name()));
        };
        let (operand_shape, update_shape) = (cx.shape(operand), cx.shape(update));
        if cx.dtype(update) != dtype || cx.dtype(out) != dtype || cx.shape(out) != operand_shape {
            return invalid("DYNAMIC_UPDATE_SLICE's update or output differs from its operand");
        }
        let fits = update_shape.len() == operand_shape.len()
            && update_shape.iter().zip(operand_shape).all(|(u, o)| u <= o);
        if !fits || operand_shape.is_empty() || cx.shape(starts) != [operand_shape.len()] {
            return invalid(format!(
                "DYNAMIC_UPDATE_SLICE of {update_shape:?} into {operand_shape:?} from {:?} starts",
                cx.shape(starts)
            ));
        }
        let shape = UpdateSliceShape {
            operand: padded_dims(operand_shape)?,
            update: padded_dims(update_shape)?,
            element_size: to_u32(stored.size())?,
        };
        let constant_starts = cx.tensor(starts).is_constant();
        let starts = match cx.tensor(starts).data_i32() {
            Some(values) => cx.i32s(&values)?,
            None if constant_starts => {
                return unsupported("DYNAMIC_UPDATE_SLICE starts other than int32 or int64")
            }
            // Computed starts are read where they are: int32 only (kiln
            // runs nothing on int64 tensors).
            None => cx.activation(starts, DataType::I32)?,
        };
        let constant_update = cx.tensor(update).is_constant();
        let update = if constant_update {
            cx.copied_constant(update, dtype)?
        } else {
            cx.activation(update, dtype)?
        };
        Ok(Some(Op::DynamicUpdateSlice(DynamicUpdateSliceOp {
            dtype: stored,
            shape,
            constant_update,
            constant_starts,
            operand: cx.activation(operand, dtype)?,
            update,
            starts,
            output: cx.activation(out, dtype)?,
        })))
    }
}
