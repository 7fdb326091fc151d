//! TFLM's BasicClassifier custom op: the scores (int32, one dimension) of
//! some target classes, picked by index, and whether each reaches its
//! threshold. It is a GATHER and a GREATER_EQUAL, and the importer reads it
//! as those two nodes (`TfliteOp::runs_as`), so it has no kernel of its
//! own: the plain-integer GATHER writes the picked scores (output 1), which
//! the plain-integer comparison reads against the thresholds (output 0).
//!
//! Layer: ops; uses the TFLite reader's converter context and the
//! GATHER and comparison ops.

use kiln::graph::Op;
use kiln::kernels::compare::CompareKind;

use super::{Comparison, Dtypes, Formats, Gather, IrOp, QuantRule};
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
        dtypes: Dtypes {
            int8: false,
            int16: false,
            float32: false,
            other: true,
            note: "int32 scores, bool detections",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

/// Checks TFLM's Prepare (one dimension each, int32 scores, indices and
/// thresholds, as many targets as thresholds and outputs; bool detections)
/// and splits the op in two.
fn basic_classifier_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let (&[Some(scores), Some(indices), Some(thresholds)], &[detected, picked]) =
        (op.inputs.as_slice(), op.outputs.as_slice())
    else {
        return invalid("BasicClassifier takes 3 inputs and 2 outputs");
    };
    let t = |id: usize| &op.tensors[id];
    if [scores, indices, thresholds, detected, picked]
        .iter()
        .any(|&id| t(id).shape.len() != 1)
    {
        return invalid("BasicClassifier's tensors have one dimension each");
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
    op.runs_as(vec![
        (
            OpKind::Gather(Gather {
                axis: 0,
                batch_dims: 0,
            }),
            vec![Some(scores), Some(indices)],
            vec![picked],
        ),
        (
            OpKind::Comparison(Comparison {
                kind: CompareKind::GreaterEqual,
            }),
            vec![Some(picked), Some(thresholds)],
            vec![detected],
        ),
    ])
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
