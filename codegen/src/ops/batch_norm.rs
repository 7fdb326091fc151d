//! BATCH_NORM (ONNX BatchNormalization in inference mode): per channel
//! along `axis`, `(x - mean) * gamma / sqrt(variance + epsilon) + beta`.
//! It exists only between import and the passes: `passes::fold_batch_norm`
//! folds it into the op before it or turns it into MUL and ADD, so it never
//! reaches lowering. In training mode the batch's own statistics
//! normalize, which the ONNX importer writes out as the ops they are made
//! of (`import::onnx::batch_norm_training`).
//!
//! Layer: ops; uses `ir` and the ONNX importer's context.

use kiln::graph::Op;

use super::{Dtypes, Formats, IrOp, OnnxConverter, Permuted, QuantRule};
use crate::import::onnx::{Importer, OnnxNode, Step};
use crate::ir::{Activation, Graph, Node, OpKind};
use crate::lower::{unsupported, Lowered, Lowering};

/// BATCH_NORM. Inputs: data, gamma, beta, mean, variance (float32
/// constants, one value per channel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
    /// The channel axis of the data.
    pub axis: usize,
    /// A Relu after it (a QDQ model's, restored), which folding hands on.
    pub activation: Activation,
}

impl BatchNorm {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[],
        onnx: &[OnnxConverter {
            op_type: "BatchNormalization",
            inputs: 5,
            convert: from_onnx,
        }],
        dtypes: Dtypes::FLOAT32,
    };
}

impl IrOp for BatchNorm {
    fn permuted(&self, _node: &Node, to_new: &[usize], _g: &mut Graph) -> Option<Permuted> {
        Some(Permuted {
            kind: OpKind::BatchNorm(BatchNorm {
                axis: *to_new.get(self.axis)?,
                ..*self
            }),
            data_inputs: vec![0],
            params: vec![],
            output: to_new.to_vec(),
        })
    }

    fn name(&self) -> &'static str {
        "BATCH_NORM"
    }

    fn attributes(&self) -> String {
        format!(
            "epsilon {} axis {} {:?}",
            self.epsilon, self.axis, self.activation
        )
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Calibrated
    }

    fn lower(&self, _cx: &mut Lowering, _node: &Node) -> Lowered<Option<Op>> {
        unsupported("batch normalization left unfolded (the ONNX passes fold it)")
    }

    fn fused_activation(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }
}

/// A BatchNormalization's scale, B, mean and variance (inputs 1 to 4):
/// float32 constants of one length, the channels'.
pub(crate) fn batch_norm_parameters(cx: &Importer, n: &OnnxNode) -> Step<Vec<Vec<f32>>> {
    let params: Vec<Vec<f32>> = n.inputs[1..5]
        .iter()
        .map(|name| {
            cx.constant(name)
                .and_then(|t| t.f32s().ok_or_else(|| "parameters must be float32".into()))
        })
        .collect::<Step<_>>()?;
    if params.iter().any(|p| p.len() != params[0].len()) {
        return Err("batch-norm parameters differ in length".into());
    }
    Ok(params)
}

fn from_onnx(cx: &mut Importer, n: &OnnxNode) -> Step<()> {
    if n.int("training_mode", 0) != 0 {
        return crate::import::onnx::batch_norm_training(cx, n);
    }
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(
            "batch normalization with statistics as outputs outside training mode \
             (opsets before 14); export the model in eval mode"
                .into(),
        );
    }
    let x = cx.value(&n.inputs[0])?;
    let params = batch_norm_parameters(cx, n)?;
    let channels = params[0].len();
    let shape = cx.shape(x);
    if shape.len() < 2 {
        return Err(format!("batch norm of a rank-{} input", shape.len()));
    }
    // ONNX's channel axis.
    let axis = 1;
    if shape[axis] != channels {
        return Err(format!(
            "{channels} batch-norm channels for an input of shape {shape:?}"
        ));
    }
    let mut inputs = vec![Some(x)];
    for (name, values) in n.inputs[1..5].iter().zip(&params) {
        inputs.push(Some(cx.f32_constant(name.clone(), vec![channels], values)));
    }
    let out = cx.new_output(n, shape);
    let kind = OpKind::BatchNorm(BatchNorm {
        epsilon: n.float("epsilon", 1e-5),
        axis,
        activation: Activation::None,
    });
    cx.push(kind, inputs, vec![out], &n.op_type);
    Ok(())
}
