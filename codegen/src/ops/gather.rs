//! GATHER (ONNX Gather, and EMBEDDING_LOOKUP, a GATHER of rows) and
//! GATHER_ND of int8 or int16 (quantization unchanged), plain integer or
//! float32 values by int32 indices; the table or the indices may be a
//! constant, copied into the weights.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::gather::{GatherNdParams, GatherParams, MAX_INDEX_DEPTH};
use kiln::ops::{GatherNdOp, GatherOp};

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{invalid as read_invalid, ReadResult, TfliteOp};
use crate::ir::{saturating_elements, DataType, Graph, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// Slices of input 0 along `axis` picked by input 1; the first
/// `batch_dims` dimensions of both are shared (negative values count from
/// the end, as TFLite's options do).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
    pub batch_dims: i64,
}

impl Gather {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[
            ("GATHER", |op| {
                Ok(OpKind::Gather(Gather {
                    axis: op.i32(0, 0)?.into(),
                    batch_dims: op.i32(1, 0)?.into(),
                }))
            }),
            ("EMBEDDING_LOOKUP", embedding_lookup_from_tflite),
        ],
        onnx: &[OnnxConverter {
            op_type: "Gather",
            inputs: 2,
            convert: gather_from_onnx,
        }],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

/// EMBEDDING_LOOKUP (ids, table): rows of the table, a GATHER along axis
/// 0 with the operands in GATHER's order. TFLM's hybrid form, int8 rows
/// dequantized to float32, is refused.
fn embedding_lookup_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let [Some(ids), Some(table)] = op.inputs[..] else {
        return read_invalid("EMBEDDING_LOOKUP takes ids and a table");
    };
    let (table_type, out_type) = match op.outputs[..] {
        [out] => (op.tensors[table].dtype, op.tensors[out].dtype),
        _ => return read_invalid("EMBEDDING_LOOKUP has one output"),
    };
    if table_type == DataType::I8 && out_type == DataType::F32 {
        op.unsupported(
            "int8 rows dequantized to float32 (TFLM's hybrid lookup); kiln looks up rows of the \
             output's type"
                .into(),
        );
    }
    op.inputs = vec![Some(table), Some(ids)];
    Ok(OpKind::Gather(Gather {
        axis: 0,
        batch_dims: 0,
    }))
}

impl IrOp for Gather {
    fn name(&self) -> &'static str {
        "GATHER"
    }

    fn attributes(&self) -> String {
        format!("axis {} batch_dims {}", self.axis, self.batch_dims)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on each core on the embedding fixture (two GATHERs).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(160, 128, 128, 104)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (table, out) = cx.input_output(node)?;
        let indices = cx.input(node, 1)?;
        let (shape, index_shape) = (cx.shape(table).to_vec(), cx.shape(indices).to_vec());
        let dtype = value_type(cx, (table, indices, out), self.name())?;
        let from_end = |v: i64, rank: usize| if v < 0 { v + rank as i64 } else { v };
        let axis = usize::try_from(from_end(self.axis, shape.len())).ok();
        let batch = usize::try_from(from_end(self.batch_dims, index_shape.len())).ok();
        let (Some(axis), Some(batch)) = (axis, batch) else {
            return invalid(format!(
                "axis {} or batch_dims {} out of range",
                self.axis, self.batch_dims
            ));
        };
        if axis >= shape.len()
            || batch > axis
            || shape[..batch] != index_shape[..batch.min(index_shape.len())]
        {
            return invalid(format!(
                "GATHER of {shape:?} by {index_shape:?} along axis {axis} with {batch} batch dimensions"
            ));
        }
        let expected: Vec<usize> =
            [&shape[..axis], &index_shape[batch..], &shape[axis + 1..]].concat();
        if cx.shape(out) != expected {
            return invalid(format!(
                "output shape {:?}, expected {expected:?}",
                cx.shape(out)
            ));
        }
        let params = GatherParams {
            batches: to_u32(saturating_elements(&shape[..batch]))?,
            outer: to_u32(saturating_elements(&shape[batch..axis]))?,
            axis: to_u32(shape[axis])?,
            indices: to_u32(saturating_elements(&index_shape[batch..]))?,
            inner_bytes: to_u32(
                saturating_elements(&shape[axis + 1..]).saturating_mul(dtype.size()),
            )?,
        };
        // A constant index outside the axis fails every inference in TFLM
        // (kiln's kernel would write zeros): refused when compiling.
        let constant_indices = cx.tensor(indices).data_i32().unwrap_or_default();
        if let Some(i) = constant_indices
            .iter()
            .find(|&&i| usize::try_from(i).map_or(true, |i| i >= shape[axis]))
        {
            return invalid(format!(
                "{} index {i} outside an axis of {} (TFLM fails the inference)",
                self.name(),
                shape[axis]
            ));
        }
        let (constant, table, indices) =
            super::elementwise::two_operands(cx, (table, dtype), (indices, DataType::I32))?;
        Ok(Some(Op::Gather(GatherOp {
            params,
            constant,
            table,
            indices,
            output: cx.activation(out, dtype)?,
        })))
    }
}

/// The type both gathers move: the table's, of 1, 2 or 4 bytes, the
/// output's too (with its quantization), picked by int32 indices.
fn value_type(
    cx: &Lowering,
    (table, indices, out): (TensorId, TensorId, TensorId),
    op: &str,
) -> Lowered<DataType> {
    let dtype = cx.dtype(table);
    if ![1, 2, 4].contains(&dtype.size()) || dtype == DataType::F16 || cx.dtype(out) != dtype {
        return unsupported(format!("{op} of {}", dtype.name()));
    }
    if cx.dtype(indices) != DataType::I32 {
        return unsupported(format!(
            "{op} indices of {} (kiln: int32)",
            cx.dtype(indices).name()
        ));
    }
    if cx.tensor(table).quantization.is_some() || cx.tensor(out).quantization.is_some() {
        cx.same_quantization(table, out, op)?;
    }
    Ok(dtype)
}

/// ONNX Gather of a computed value by constant indices (negative ones
/// count from the end of the axis), which become int32.
fn gather_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let x = cx.value(&n.inputs[0])?;
    let shape = cx.shape(x);
    let rank = shape.len() as i64;
    let axis = n.int("axis", 0);
    let a = if axis < 0 { axis + rank } else { axis };
    let Some(&length) = usize::try_from(a).ok().and_then(|a| shape.get(a)) else {
        return Err(format!("Gather axis {axis} out of range for rank {rank}"));
    };
    let indices = cx.constant(&n.inputs[1])?;
    let values = indices
        .i64s()
        .ok_or("Gather indices must be an integer constant (kiln has no int64 values)")?;
    let index_shape: Vec<usize> = indices.dims.iter().map(|&d| d as usize).collect();
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        let i = if v < 0 { v + length as i64 } else { v };
        if !(0..length as i64).contains(&i) {
            return Err(format!("Gather index {v} outside an axis of {length}"));
        }
        bytes.extend((i as i32).to_le_bytes());
    }
    let name = format!("{} (int32)", n.inputs[1]);
    let picks = cx.tensor(name, index_shape.clone(), DataType::I32, Some(bytes));
    let a = a as usize;
    let out_shape = [&shape[..a], &index_shape, &shape[a + 1..]].concat();
    let out = cx.new_output(n, out_shape);
    cx.g.tensors[out].dtype = cx.g.tensors[x].dtype;
    cx.push(
        OpKind::Gather(Gather {
            axis: a as i64,
            batch_dims: 0,
        }),
        vec![Some(x), Some(picks)],
        vec![out],
        "Gather",
    );
    Ok(())
}

/// GATHER_ND: slices of input 0 picked by the index tuples along the last
/// axis of input 1 (no batch dimensions: TFLM has none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatherNd;

impl GatherNd {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("GATHER_ND", |_| Ok(OpKind::GatherNd(GatherNd)))],
        onnx: &[],
        dtypes: Dtypes::INT8_FLOAT32,
    };
}

impl IrOp for GatherNd {
    fn name(&self) -> &'static str {
        "GATHER_ND"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    /// Painted on each core on the gather_nd fixtures (three GATHER_NDs
    /// each).
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(232, 152, 152, 88)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (table, out) = cx.input_output(node)?;
        let indices = cx.input(node, 1)?;
        let (shape, index_shape) = (cx.shape(table).to_vec(), cx.shape(indices).to_vec());
        let dtype = value_type(cx, (table, indices, out), self.name())?;
        let Some((&depth, lookup_shape)) = index_shape.split_last() else {
            return invalid("GATHER_ND with scalar indices");
        };
        if depth == 0 || depth > shape.len() || depth > MAX_INDEX_DEPTH {
            return invalid(format!(
                "GATHER_ND of {shape:?} by index tuples of {depth} (1 to {})",
                shape.len().min(MAX_INDEX_DEPTH)
            ));
        }
        let expected = [lookup_shape, &shape[depth..]].concat();
        if cx.shape(out) != expected {
            return invalid(format!(
                "output shape {:?}, expected {expected:?}",
                cx.shape(out)
            ));
        }
        let mut dims = [0; MAX_INDEX_DEPTH];
        for (d, &len) in dims.iter_mut().zip(&shape[..depth]) {
            *d = to_u32(len)?;
        }
        let params = GatherNdParams {
            lookups: to_u32(saturating_elements(lookup_shape))?,
            depth: to_u32(depth)?,
            dims,
            slice_bytes: to_u32(saturating_elements(&shape[depth..]).saturating_mul(dtype.size()))?,
        };
        let (constant, table, indices) =
            super::elementwise::two_operands(cx, (table, dtype), (indices, DataType::I32))?;
        Ok(Some(Op::GatherNd(GatherNdOp {
            params,
            constant,
            table,
            indices,
            output: cx.activation(out, dtype)?,
        })))
    }
}
