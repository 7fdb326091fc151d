//! TRANSPOSE of int8, int16 or float32 values (a permutation of bytes,
//! quantization unchanged); the ONNX importer also uses it to move between
//! ONNX's NCHW and the kernels' NHWC.
//!
//! Layer: ops; uses `lower`.

use kiln::graph::Op;
use kiln::kernels::transpose::TransposeParams;
use kiln::ops::TransposeOp;
use kiln::tensor::MAX_RANK;

use super::{Dtypes, Formats, IrOp, OnnxConverter, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::import::tflite::{invalid as invalid_model, ReadResult, TfliteOp};
use crate::ir::{DataType, Node, OpKind, TensorId};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};

/// Output dimension `d` is input dimension `perm[d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Transpose {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("TRANSPOSE", transpose_from_tflite)],
        onnx: &[OnnxConverter {
            op_type: "Transpose",
            inputs: 1,
            convert: transpose_from_onnx,
        }],
        dtypes: Dtypes::INT8_INT16_FLOAT32,
    };
}

impl IrOp for Transpose {
    fn name(&self) -> &'static str {
        "TRANSPOSE"
    }

    fn attributes(&self) -> String {
        format!("perm {:?}", self.perm)
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::KeepsInputParameters
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (input, out) = cx.input_output(node)?;
        let shape = cx.shape(input).to_vec();
        transpose_op(cx, (input, out), &shape, &self.perm).map(Some)
    }
}

/// The TRANSPOSE descriptor that reads `input` as a tensor of shape `view`
/// (its own shape, or one of the same elements with more axes) and writes
/// output dimension `d` from view dimension `perm[d]`; shared with the ops
/// that are a transpose of a reshaped view (DEPTH_TO_SPACE, SPACE_TO_DEPTH).
pub(crate) fn transpose_op(
    cx: &mut Lowering,
    (input, out): (TensorId, TensorId),
    view: &[usize],
    perm: &[usize],
) -> Lowered<Op> {
    let dtype = cx.dtype(input);
    let rank = view.len();
    if rank > MAX_RANK || perm.len() != rank || (0..rank).any(|d| !perm.contains(&d)) {
        return invalid(format!("permutation {perm:?} does not fit shape {view:?}"));
    }
    if ![DataType::I8, DataType::I16, DataType::F32].contains(&dtype) {
        return unsupported(format!("TRANSPOSE of {}", dtype.name()));
    }
    let elements = cx.tensor(input).elements();
    if crate::ir::saturating_elements(view) != elements || cx.tensor(out).elements() != elements {
        return invalid("output size differs from the input's");
    }
    let lead = MAX_RANK - rank;
    let mut params = TransposeParams {
        input_dims: [1; MAX_RANK],
        perm: core::array::from_fn(|d| d as u8),
        element_size: dtype.size() as u32,
    };
    for (d, &s) in view.iter().enumerate() {
        params.input_dims[lead + d] = to_u32(s)?;
        params.perm[lead + d] = (lead + perm[d]) as u8;
    }
    let (input, output) = cx.spans((input, out), dtype)?;
    Ok(Op::Transpose(TransposeOp {
        params,
        input,
        output,
    }))
}

/// TFLite TRANSPOSE: the permutation is a constant int32 input.
fn transpose_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let tensor = |i: usize| op.input_tensor(i);
    let (Some(input), Some(perm)) = (tensor(0), tensor(1)) else {
        return invalid_model("TRANSPOSE needs an input and a permutation");
    };
    let rank = input.shape.len();
    let perm: Vec<usize> = perm
        .data_i32()
        .unwrap_or_default()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    if perm.len() != rank || (0..rank).any(|d| !perm.contains(&d)) {
        return invalid_model(format!(
            "TRANSPOSE permutation {perm:?} is not a constant permutation of {rank} axes"
        ));
    }
    op.inputs.truncate(1);
    Ok(OpKind::Transpose(Transpose { perm }))
}

/// ONNX Transpose.
fn transpose_from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    let op = n.op_type.as_str();
    let x = cx.value(&n.inputs[0])?;
    let s = cx.shape(x);
    let perm: Vec<usize> = match n.ints("perm") {
        Some(p) => p.iter().map(|&d| d as usize).collect(),
        None => (0..s.len()).rev().collect(),
    };
    if perm.len() != s.len() || (0..s.len()).any(|d| !perm.contains(&d)) {
        return Err(format!("perm {perm:?} does not fit shape {s:?}"));
    }
    let out = cx.new_output(n, perm.iter().map(|&d| s[d]).collect());
    cx.push(
        OpKind::Transpose(Transpose { perm }),
        vec![Some(x)],
        vec![out],
        op,
    );
    Ok(())
}
