//! Batch-norm folding. A batch normalization in inference mode is a
//! per-channel `x * scale + shift`; right after an op with per-channel
//! weights (conv, depthwise, fully connected) that has no activation yet and
//! no other reader, it folds into that op's weights and bias, as exporters
//! and TFLite's converter do (also through a RESHAPE of its output, as a
//! 1-D convolution has). Anywhere else it becomes a MUL and an ADD with
//! constant operands (kept in flash).
//!
//! Layer: passes; uses `ir` and the op facts of `ops`
//! (`QuantRule::Weights` gives the axis of a weight's output channels).

use super::{producer_through_reshape, readers};
use crate::error::{Error, Result};
use crate::ir::{DataType, Graph, Node, OpKind, Tensor, TensorId};
use crate::ops::{Add, BatchNorm, Mul, QuantRule};

fn constant(g: &mut Graph, name: String, shape: Vec<usize>, values: &[f32]) -> TensorId {
    g.tensors.push(Tensor {
        name,
        shape,
        dtype: DataType::F32,
        quantization: None,
        data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
    });
    g.tensors.len() - 1
}

/// The axis of the weights' output channels, if `node` can absorb a
/// per-channel scale: it has per-channel weights and a fused activation
/// that is still free.
fn absorbing_axis(node: &Node) -> Option<usize> {
    let QuantRule::Weights { axis } = node.kind.op().quantization(node) else {
        return None;
    };
    let mut kind = node.kind.clone();
    let free = kind
        .op_mut()
        .fused_activation()
        .is_some_and(|a| *a == crate::ir::Activation::None);
    free.then_some(axis)
}

pub fn run(g: &mut Graph) -> Result<()> {
    let mut i = 0;
    while i < g.nodes.len() {
        let OpKind::BatchNorm(bn) = g.nodes[i].kind.clone() else {
            i += 1;
            continue;
        };
        let node = g.nodes.remove(i);
        let path = g.source.clone();
        let invalid = |detail: String| Error::Invalid {
            path: path.clone(),
            detail,
        };
        let (Some(x), Some(&out)) = (node.input(0), node.outputs.first()) else {
            return Err(invalid("a batch norm without input or output".into()));
        };
        let [gamma, beta, mean, variance] = [1, 2, 3, 4].map(|k| {
            node.input(k)
                .map(|t| g.tensors[t].data_f32())
                .unwrap_or_default()
        });
        let channels = gamma.len();
        let scale: Vec<f32> = (0..channels)
            .map(|c| gamma[c] / (variance[c] + bn.epsilon).sqrt())
            .collect();
        let readers = readers(g);
        // Weighted ops write their output channels last (NHWC, or `[.., O]`
        // for a fully connected layer): the batch norm must scale that axis.
        let last_axis = bn.axis + 1 == g.tensors[x].shape.len();
        let target = producer_through_reshape(g, x, &readers).and_then(|(p, last)| {
            let axis = absorbing_axis(&g.nodes[p])?;
            (readers[x] == 0 && last_axis).then_some((p, last, axis))
        });
        match target {
            Some((p, last, axis)) => {
                let folded = Folded {
                    scale: &scale,
                    beta: &beta,
                    mean: &mean,
                };
                folded.apply_to(g, p, axis, out).map_err(invalid)?;
                g.nodes[last].outputs[0] = out;
                if let Some(slot) = g.nodes[p].kind.op_mut().fused_activation() {
                    *slot = bn.activation;
                }
            }
            None => {
                let shift: Vec<f32> = (0..channels)
                    .map(|c| beta[c] - mean[c] * scale[c])
                    .collect();
                let [scaled, add] = unfolded(g, &bn, (x, out), &scale, &shift);
                g.nodes.insert(i, scaled);
                g.nodes.insert(i + 1, add);
                i += 2;
            }
        }
    }
    Ok(())
}

/// A batch norm's per-channel scale, and the means and offsets its shift
/// comes from.
struct Folded<'a> {
    scale: &'a [f32],
    beta: &'a [f32],
    mean: &'a [f32],
}

impl Folded<'_> {
    /// Scales node `p`'s weights (output channels along `axis`) and sets its
    /// bias to `(bias - mean) * scale + beta`.
    fn apply_to(
        &self,
        g: &mut Graph,
        p: usize,
        axis: usize,
        out: TensorId,
    ) -> std::result::Result<(), String> {
        let channels = self.scale.len();
        let filter = g.nodes[p].input(1).ok_or("no filter")?;
        let f = &g.tensors[filter];
        let out_channels = f.shape.get(axis).copied().unwrap_or(0);
        if out_channels != channels {
            return Err(format!(
                "batch norm '{}': {channels} channels for {out_channels} outputs",
                g.tensors[out].name
            ));
        }
        let inner: usize = f.shape[axis + 1..].iter().product();
        let mut w = f.data_f32();
        for (i, v) in w.iter_mut().enumerate() {
            *v *= self.scale[(i / inner.max(1)) % channels];
        }
        g.tensors[filter].data = Some(w.iter().flat_map(|v| v.to_le_bytes()).collect());
        let old_bias = match g.nodes[p].input(2) {
            Some(b) => g.tensors[b].data_f32(),
            None => vec![0.0; channels],
        };
        let bias: Vec<f32> = (0..channels)
            .map(|c| (old_bias[c] - self.mean[c]) * self.scale[c] + self.beta[c])
            .collect();
        let name = format!("{} (folded bias)", g.tensors[out].name);
        let bias = constant(g, name, vec![channels], &bias);
        let node = &mut g.nodes[p];
        node.inputs.resize(3, None);
        node.inputs[2] = Some(bias);
        Ok(())
    }
}

/// `x * scale + shift` along the batch norm's channel axis: a MUL and an
/// ADD (which takes over the batch norm's activation) writing `out`.
fn unfolded(
    g: &mut Graph,
    bn: &BatchNorm,
    (x, out): (TensorId, TensorId),
    scale: &[f32],
    shift: &[f32],
) -> [Node; 2] {
    let rank = g.tensors[x].shape.len();
    // [C, 1, ..., 1]: broadcasts along `axis` of the input.
    let shape: Vec<usize> = std::iter::once(scale.len())
        .chain(std::iter::repeat_n(1, rank.saturating_sub(1 + bn.axis)))
        .collect();
    let base = g.tensors[out].name.clone();
    let scale = constant(g, format!("{base} (scale)"), shape.clone(), scale);
    let shift = constant(g, format!("{base} (shift)"), shape, shift);
    let mut scaled = g.tensors[x].clone();
    scaled.name = format!("{base} (scaled)");
    scaled.quantization = None;
    g.tensors.push(scaled);
    let scaled = g.tensors.len() - 1;
    [
        Node {
            kind: OpKind::Mul(Mul {
                activation: crate::ir::Activation::None,
            }),
            inputs: vec![Some(x), Some(scale)],
            outputs: vec![scaled],
            source_name: "Mul".into(),
        },
        Node {
            kind: OpKind::Add(Add {
                activation: bn.activation,
            }),
            inputs: vec![Some(scaled), Some(shift)],
            outputs: vec![out],
            source_name: "Add".into(),
        },
    ]
}
