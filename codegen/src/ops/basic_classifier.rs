//! TFLM's BasicClassifier custom op: the scores (int32, one dimension) of
//! some target classes, picked by index, and whether each reaches its
//! threshold. It is a GATHER and a GREATER_EQUAL, and the importer reads it
//! as those two nodes (`TfliteOp::runs_as`; a RESHAPE first flattens
//! two-dimensional scores), so it has no kernel of its own: the
//! plain-integer GATHER writes the picked scores (output 1), which the
//! plain-integer comparison reads against the thresholds (output 0).
//!
//! Layer: ops; uses the TFLite reader's converter context and the
//! GATHER and comparison ops.

use kiln::graph::Op;
use kiln::kernels::compare::CompareKind;

use super::{Comparison, Dtypes, Formats, Gather, IrOp, QuantRule, Reshape};
use crate::import::tflite::{invalid, ReadResult, TfliteOp};
use crate::ir::{DataType, Node, OpKind};
use crate::lower::{invalid as invalid_lowering, Lowered, Lowering};

/// BasicClassifier (inputs: scores, target indices, thresholds; outputs:
/// detected, target scores), which never reaches lowering.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BasicClassifier;

impl BasicClassifier {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("BasicClassifier", basic_classifier_from_tflite)],
        onnx: &[],
        dtypes: Dtypes::other("int32 scores, bool detections; constant target indices"),
    };
}

/// Checks TFLM's Prepare (scores of one dimension, or two as hotword
/// models give them, read flattened; one-dimensional indices, thresholds
/// and outputs of one length; int32 but for the bool detections) and
/// splits the op in two (after a RESHAPE of two-dimensional scores).
fn basic_classifier_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let (&[Some(scores), Some(indices), Some(thresholds)], &[detected, picked]) =
        (op.inputs.as_slice(), op.outputs.as_slice())
    else {
        return invalid("BasicClassifier takes 3 inputs and 2 outputs");
    };
    let t = |id: usize| &op.tensors[id];
    let one_dimension = [indices, thresholds, detected, picked]
        .iter()
        .all(|&id| t(id).shape.len() == 1);
    if !one_dimension || !(1..=2).contains(&t(scores).shape.len()) {
        return invalid("BasicClassifier takes scores of one or two dimensions, the rest of one");
    }
    let targets = t(indices).shape[0];
    if [thresholds, detected, picked]
        .iter()
        .any(|&id| t(id).shape[0] != targets)
    {
        return invalid(
            "BasicClassifier's thresholds and outputs differ in length from its indices",
        );
    }
    let int32 = [scores, indices, thresholds, picked]
        .iter()
        .all(|&id| t(id).dtype == DataType::I32 && t(id).quantization.is_none());
    if !int32 || t(detected).dtype != DataType::Bool {
        return invalid(
            "BasicClassifier takes plain int32 scores, indices and thresholds, and gives bools",
        );
    }
    // TFLM fails the inference on an index outside the scores, which
    // kiln's run cannot do: constant indices are checked when compiling.
    if !t(indices).is_constant() {
        op.unsupported(
            "BasicClassifier with target indices computed at run time (kiln takes constants)"
                .into(),
        );
    }
    let mut nodes = Vec::new();
    let flat = if t(scores).shape.len() == 2 {
        let count = t(scores).elements();
        let name = format!("{} (flattened)", t(scores).name);
        let flat = op.intermediate(name, vec![count], DataType::I32);
        nodes.push((OpKind::Reshape(Reshape), vec![Some(scores)], vec![flat]));
        flat
    } else {
        scores
    };
    nodes.push((
        OpKind::Gather(Gather {
            axis: 0,
            batch_dims: 0,
        }),
        vec![Some(flat), Some(indices)],
        vec![picked],
    ));
    nodes.push((
        OpKind::Comparison(Comparison {
            kind: CompareKind::GreaterEqual,
        }),
        vec![Some(picked), Some(thresholds)],
        vec![detected],
    ));
    op.runs_as(nodes)
}

impl IrOp for BasicClassifier {
    fn name(&self) -> &'static str {
        "BasicClassifier"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::ConstantOperands
    }

    fn lower(&self, _cx: &mut Lowering, _node: &Node) -> Lowered<Option<Op>> {
        invalid_lowering("BasicClassifier is read as a GATHER and a GREATER_EQUAL")
    }
}
