//! Calibration: the float graph runs on calibration samples with kiln's own
//! f32 kernels, op by op, and an observer records every activation's values.
//!
//! Layer: quantize; uses `lower` (the compiled float model), `ir` and
//! `observer`.

use crate::error::{Error, Result};
use crate::ir::{DataType, TensorId};
use crate::lower::CompiledModel;
use crate::quantize::observer::{Observer, ObserverKind};

/// Every float activation's values seen over the samples.
pub struct Calibration {
    pub observers: Vec<Option<Observer>>,
    pub samples: usize,
}

fn read_f32(arena: &[u8], offset: usize, count: usize) -> Vec<f32> {
    arena[offset..offset + 4 * count]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Runs `samples` float32 samples (back to back, for the model's single
/// input) through `model`, observing every float activation; two passes when
/// the observer needs a histogram.
pub fn calibrate(
    model: &CompiledModel,
    samples: &[u8],
    count: usize,
    kind: ObserverKind,
) -> Result<Calibration> {
    let g = &model.graph;
    let path = model.source().clone();
    let [input] = model.inputs[..] else {
        return Err(Error::Data {
            path,
            detail: "calibration takes single-input models".into(),
        });
    };
    if input.dtype != kiln::DType::F32 || samples.len() != count * input.span.len as usize {
        return Err(Error::Data {
            path,
            detail: format!(
                "calibration data must be {count} float32 samples of {} values",
                input.elements()
            ),
        });
    }
    let mut observers: Vec<Option<Observer>> = g
        .tensors
        .iter()
        .enumerate()
        .map(|(t, tensor)| {
            (tensor.dtype == DataType::F32
                && !tensor.is_constant()
                && model.plan.offset(t).is_some())
            .then(Observer::default)
        })
        .collect();
    let mut arena = vec![0u128; model.arena_bytes().div_ceil(16).max(1)];
    let graph = model.runtime_graph();
    kiln::exec::validate(&graph).map_err(|error| Error::Runtime {
        path: path.clone(),
        error,
    })?;
    let passes = if kind == ObserverKind::MinMax { 1 } else { 2 };
    for pass in 0..passes {
        let observe = |observers: &mut Vec<Option<Observer>>, t: TensorId, bytes: &[u8]| {
            if let (Some(o), Some(offset)) = (observers[t].as_mut(), model.plan.offset(t)) {
                let values = read_f32(bytes, offset, g.tensors[t].elements());
                if pass == 0 {
                    o.observe_range(&values)
                } else {
                    o.observe_histogram(&values)
                }
            }
        };
        let len = input.span.len as usize;
        for s in 0..count {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
            bytes[input.span.range()].copy_from_slice(&samples[s * len..(s + 1) * len]);
            observe(&mut observers, g.inputs[0], bytes);
            // Each node's outputs once its op has run; a node that runs
            // none (a concatenation whose inputs were written into its
            // output, a slice inside its input) has its output whole by
            // then too.
            let mut next = 0;
            for (i, node) in g.nodes.iter().enumerate() {
                let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
                while model.op_nodes.get(next) == Some(&i) {
                    model.ops[next].run(bytes, graph.weights);
                    next += 1;
                }
                if (next > 0 && model.op_nodes[next - 1] == i) || model.plan.copies_nothing[i] {
                    for &t in &node.outputs {
                        observe(&mut observers, t, bytes);
                    }
                }
            }
        }
    }
    // RESHAPE outputs hold their input's bytes: same values, same observer.
    for node in &g.nodes {
        if node.kind.op().aliases_input() {
            if let (Some(i), Some(&o)) = (node.input(0), node.outputs.first()) {
                observers[o] = observers[i].clone();
            }
        }
    }
    Ok(Calibration {
        observers,
        samples: count,
    })
}
